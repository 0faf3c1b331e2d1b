"""Solver limits through the pipeline: contradictory pins are a clear error naming them; an ILP cut
short by its time limit returns its best solution with the gap it proved; every run logs whether its
links are proven optimal. (The linker-level versions: tests/test_linking.py,
test_contradictory_pins_raise and test_time_limit_returns_solution_with_gap.)"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from baselines.position import run_position
from benchmark.config import load_config
from benchmark.errors import LinkingError
from benchmark.linking.ilp import finish_from_lp, solve_lp_relaxation, start_columns
from benchmark.pipeline import track_sequence
from conftest import hand_made_sequence, last_run
from test_decompose import assert_satisfies, odd_cycles


@pytest.mark.parametrize("solver", ["highs", "greedy"])
def test_contradictory_pins_name_the_pins(solver: str):
    linking = load_config("smoke", {"linking.solver": solver}).linking
    sequence = hand_made_sequence()  # nodes 0 and 1 in frame 0, node 2 (child of 0) in frame 1
    with pytest.raises(LinkingError, match=re.escape("contradictory pins: nodes 0 and 1 both claim node 2")):
        track_sequence(sequence, linking, pins={0: (2,), 1: (2,)})
    with pytest.raises(LinkingError, match=re.escape("nodes 2 and 3 both claim node 5")):
        track_sequence(sequence, linking, pins={2: (4, 5), 3: (5,)})  # a division and a link share a child


def test_branch_and_bound_out_of_time_returns_the_start_with_the_lp_bound():
    """No time left after the LP: the MIP start comes back, bounded by the LP optimum (finite gap)."""
    t, candidates, model = odd_cycles()
    lp = solve_lp_relaxation(model)
    start = start_columns(candidates, np.zeros(len(candidates.edges)), np.zeros(len(candidates.hyperedges)))
    assert_satisfies(model, start)  # nothing linked: every appear and disappear taken
    result = finish_from_lp(model, lp, time_limit_s=0.0, start=start)
    assert result.status == "time_limit"
    assert np.array_equal(result.x, start) and result.objective == pytest.approx(float(model.c @ start))
    assert result.bound == pytest.approx(lp.objective)
    assert result.mip_gap == pytest.approx((result.objective - lp.objective) / abs(result.objective))


def test_run_logs_the_solver_status_and_gap(tracking, tmp_path, capfd):
    """A time limit far too short (1 µs): every sequence returns its greedy start, logged as such."""
    run_position("synth-bacteria", "smoke", seed=0, overrides={**tracking, "linking.time_limit_s": 1e-6})
    client, run = last_run()
    assert run.info.status == "FINISHED"
    table = Path(client.download_artifacts(run.info.run_id, "linking.csv", str(tmp_path)))
    stats = pd.read_csv(table, dtype={"sequence": str})
    assert set(stats["status"]) == {"time_limit"} and (stats["mip_gap"] > 0).all()
    metrics, tags, err = run.data.metrics, run.data.tags, capfd.readouterr().err
    for sequence in stats["sequence"]:
        assert f"{sequence}/linking/mip_gap" in metrics
        assert metrics[f"{sequence}/linking/proven_optimal"] == 0.0
        assert tags[f"linking.status.{sequence}"] == "time_limit"
        assert f"WARNING: the links of sequence {sequence} are not proven optimal (solver highs, status time_limit" in err
    assert metrics["linking/proven_optimal"] == 0.0
    assert tags["linking.optimal"] == "false" and tags["linking.solver"] == "highs"


def test_run_without_limit_logs_proven_optimal_links(tracking, capfd):
    run_position("synth-bacteria", "smoke", seed=0, overrides=tracking)
    _, run = last_run()
    metrics, tags = run.data.metrics, run.data.tags
    sequences = [key.split("/")[0] for key in metrics if key.endswith("/linking/proven_optimal")]
    assert sequences and all(metrics[f"{name}/linking/proven_optimal"] == 1.0 for name in sequences)
    assert all(tags[f"linking.status.{name}"] == "optimal" for name in sequences)
    assert all(metrics[f"{name}/linking/mip_gap"] <= 1e-6 for name in sequences)
    assert metrics["linking/proven_optimal"] == 1.0
    assert tags["linking.optimal"] == "true" and tags["linking.solver"] == "highs"
    assert "not proven optimal" not in capfd.readouterr().err
