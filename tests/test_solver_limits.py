"""Solver limits through the pipeline: contradictory pins are a clear error naming them, and an ILP cut
short by its time limit returns its best solution with the gap it proved, logged with the run.
(The linker-level versions: tests/test_linking.py, test_contradictory_pins_raise and
test_time_limit_returns_solution_with_gap.)"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from baselines.position import run_position
from benchmark.config import load_config
from benchmark.errors import LinkingError
from benchmark.linking import LinkingWeights, appearance_from_embeddings, build_candidate_graph, link
from benchmark.pipeline import track_sequence
from conftest import hand_made_sequence, last_run
from test_linking import assert_feasible, random_points


@pytest.mark.parametrize("solver", ["highs", "greedy"])
def test_contradictory_pins_name_the_pins(solver: str):
    linking = load_config("smoke", {"linking.solver": solver}).linking
    sequence = hand_made_sequence()  # nodes 0 and 1 in frame 0, node 2 (child of 0) in frame 1
    with pytest.raises(LinkingError, match=re.escape("contradictory pins: nodes 0 and 1 both claim node 2")):
        track_sequence(sequence, linking, pins={0: (2,), 1: (2,)})
    with pytest.raises(LinkingError, match=re.escape("nodes 2 and 3 both claim node 5")):
        track_sequence(sequence, linking, pins={2: (4, 5), 3: (5,)})  # a division and a link share a child


def test_time_limit_keeps_the_best_solution_and_a_finite_gap():
    """Long enough for the LP bound (about 0.3 s), far too short to prove optimality (> 3 s)."""
    t, yx = random_points(6, n_frames=30, per_frame=60, size=300.0)
    emb = np.random.default_rng(6).normal(size=(len(t), 8))
    solution = link(
        t, yx, lambda c: appearance_from_embeddings(c, emb), weights=LinkingWeights(w2=-1.0), time_limit_s=2.0
    )
    stats = solution.stats
    assert stats["status"] == "time_limit"
    assert stats["bound"] < stats["objective"] and 0 < stats["mip_gap"] < math.inf
    assert stats["mip_gap"] == pytest.approx(abs(stats["objective"] - stats["bound"]) / abs(stats["objective"]))
    assert_feasible(solution.edges, t, build_candidate_graph(t, yx))


def test_run_logs_the_solver_status_and_gap(tracking, tmp_path):
    run_position("synth-bacteria", "smoke", seed=0, overrides={**tracking, "linking.time_limit_s": 1e-3})
    client, run = last_run()
    assert run.info.status == "FINISHED"
    table = Path(client.download_artifacts(run.info.run_id, "linking.csv", str(tmp_path)))
    stats = pd.read_csv(table, dtype={"sequence": str})
    assert set(stats["status"]) == {"time_limit"} and (stats["mip_gap"] > 0).all()
    for sequence in stats["sequence"]:
        assert f"{sequence}/linking/mip_gap" in run.data.metrics
