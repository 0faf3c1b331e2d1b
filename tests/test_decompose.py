"""The ILP solved per frame pair (benchmark/linking/decompose.py) and branch-and-bound near the LP
optimum (ilp.finish_from_lp): the same optimum as HiGHS's branch-and-bound on the whole model, on
instances whose LP relaxation is fractional."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from benchmark.errors import LinkingError
from benchmark.linking import (
    EdgeTerm,
    LinkingWeights,
    appearance_from_embeddings,
    build_candidate_graph,
    build_model,
    edge_costs,
    frame_pair_blocks,
    link,
    plan_pins,
    solve,
    solve_decomposed,
    split_model,
)
from benchmark.linking.ilp import finish_from_lp, is_integral, solve_lp_relaxation
from conftest import unavailable
from test_linking import assert_feasible, charged, random_points

#: The epithelium simulation (dense tissue, ~515 cells per frame): see its SOURCE.md.
EPITHELIUM = Path(__file__).resolve().parent / "data" / "epithelium-simulation"  # copy of ../shared/data


def odd_cycles(n_frames: int = 4, pins=None):
    """Three cells per frame; between frames t and t + 1 the only cheap candidates are the divisions
    p_i -> (c_i, c_(i+1 mod 3)) (cost -10; every other edge and division costs +10). Each child is in
    two of the three, so the LP takes each at 1/2 (objective -15 + 1.5 per pair) while an integer
    solution takes one (-10 + 3): every frame pair's LP is fractional.

    Returns (t, candidates, model)."""
    t = np.repeat(np.arange(n_frames), 3)
    yx = np.stack([np.zeros(len(t)), np.tile([0.0, 10.0, 20.0], n_frames)], axis=1)
    candidates = build_candidate_graph(t, yx)
    parent, child1, child2 = candidates.hyperedges.T
    first_child, k = 3 * (t[parent] + 1), parent % 3  # node ids: 3 * frame + position in the frame
    a, b = first_child + k, first_child + (k + 1) % 3
    cyclic = (child1 == np.minimum(a, b)) & (child2 == np.maximum(a, b))
    costs = EdgeTerm(np.full(len(candidates.edges), 10.0), np.where(cyclic, -10.0, 10.0))
    appear, disappear = charged(t, LinkingWeights())
    model = build_model(candidates, costs, appear, disappear, plan_pins(candidates, pins))
    return t, candidates, model


def assert_satisfies(model, x: np.ndarray) -> None:
    """x within the column bounds and the rows (1e-6), integral where it must be."""
    assert np.all(x >= model.col_lower - 1e-6) and np.all(x <= model.col_upper + 1e-6)
    ax = model.A @ x
    assert np.all(ax >= model.row_lower - 1e-6) and np.all(ax <= model.row_upper + 1e-6)
    assert is_integral(model, x)


def test_hand_made_instance_has_fractional_pairs_and_the_decomposed_optimum_is_the_whole_one():
    t, candidates, model = odd_cycles()
    lp = solve(model, lp_relaxation=True)
    assert not is_integral(model, lp.x)
    assert lp.objective == pytest.approx(3 * (-15 + 1.5))  # each pair: three halves, three half-disappears
    whole = solve(model, lp_first=False)  # HiGHS branch-and-bound on the whole model
    assert whole.status == "optimal" and whole.objective == pytest.approx(3 * (-10 + 3))
    for workers in (1, 3):
        result = solve_decomposed(model, *frame_pair_blocks(candidates, t), workers=workers)
        assert result.status == "optimal"
        assert result.objective == pytest.approx(whole.objective, abs=1e-9)
        assert result.bound == pytest.approx(whole.objective, abs=1e-9) and result.mip_gap <= 1e-12
        assert result.n_subproblems == 5  # pairs 0-2, the first frame's appear columns, the last frame's rows
        assert result.n_branched == 3
        assert_satisfies(model, result.x)
        assert float(model.c @ result.x) == pytest.approx(result.objective)


def test_the_number_of_workers_does_not_change_the_solution():
    t, yx = random_points(2, n_frames=6, per_frame=60, size=300.0)  # 3 fractional pairs
    emb = np.random.default_rng(2).normal(size=(len(t), 8))
    solutions = [
        link(t, yx, lambda c: appearance_from_embeddings(c, emb), weights=LinkingWeights(w2=-1.0), threads=n)
        for n in (1, 2, 4)
    ]
    assert solutions[0].stats["n_branch_and_bound"] > 0  # fractional pairs were branched on
    for other in solutions[1:]:
        assert np.array_equal(other.edges, solutions[0].edges)
        assert other.stats["objective"] == solutions[0].stats["objective"]


@pytest.mark.parametrize("seed", [0, 2])
def test_link_decomposed_equals_whole_model_branch_and_bound(seed: int):
    """Random cells with embedding distances rewarded (w2 = -1): LPs fractional in several pairs."""
    t, yx = random_points(seed, n_frames=6, per_frame=30, size=150.0)
    emb = np.random.default_rng(seed).normal(size=(len(t), 8))
    appearance = lambda c: appearance_from_embeddings(c, emb)  # noqa: E731
    weights = LinkingWeights(w2=-1.0)
    decomposed = link(t, yx, appearance, weights=weights)
    whole = link(t, yx, appearance, weights=weights, decompose=False)
    candidates = build_candidate_graph(t, yx)
    model = build_model(
        candidates, edge_costs(candidates, yx, weights, appearance(candidates)), *charged(t, weights),
        plan_pins(candidates, None),
    )  # fmt: skip
    reference = solve(model, lp_first=False)
    assert decomposed.stats["n_branch_and_bound"] > 0 and whole.stats["n_branch_and_bound"] == 1
    for solution in (decomposed, whole):
        assert solution.stats["status"] == "optimal" and solution.stats["proven_optimal"] == 1.0
        assert solution.stats["objective"] == pytest.approx(reference.objective, abs=1e-6)
        assert_feasible(solution.edges, t, candidates)
    assert decomposed.stats["n_subproblems"] == 7 and whole.stats["n_subproblems"] == 1


def test_a_frame_gap_leaves_blocks_without_edges():
    """Frame 3 is empty: frame 2's disappear and frame 4's appear form blocks of their own."""
    t = np.array([0, 0, 1, 1, 1, 2, 4, 4, 5])
    yx = np.array([[0, 0], [0, 10], [0, 1], [0, 9], [0, 20], [0, 2], [0, 2], [0, 8], [0, 3]], float)
    decomposed, whole = link(t, yx), link(t, yx, decompose=False)
    assert decomposed.stats["n_subproblems"] == 7  # labels -1 (frame 0's appear) to 5 (frame 5's rows)
    assert decomposed.stats["objective"] == pytest.approx(whole.stats["objective"], abs=1e-9)
    assert decomposed.edges.tolist() == whole.edges.tolist() == [[0, 2], [1, 3], [1, 4], [2, 5], [6, 8]]


def test_pins_keep_the_decomposition_exact():
    pins = {0: (3,), 4: (7, 8)}  # an edge off the cycle, and a division on it
    t, candidates, model = odd_cycles(pins=pins)
    whole = solve(model, lp_first=False)
    result = solve_decomposed(model, *frame_pair_blocks(candidates, t))
    assert result.status == "optimal" and result.objective == pytest.approx(whole.objective, abs=1e-9)
    x_e = result.x[: model.n_edges] > 0.5
    x_h = result.x[model.n_edges : model.n_edges + model.n_hyperedges] > 0.5
    assert [0, 3] in candidates.edges[x_e].tolist() and [4, 7, 8] in candidates.hyperedges[x_h].tolist()


def test_split_model_blocks_are_the_model_and_coupling_rows_are_refused():
    t, candidates, model = odd_cycles(n_frames=3)
    columns, rows = frame_pair_blocks(candidates, t)
    parts = split_model(model, columns, rows)
    assert sorted(np.concatenate([p.columns for p in parts]).tolist()) == list(range(model.shape[1]))
    assert sorted(np.concatenate([p.rows for p in parts]).tolist()) == list(range(model.shape[0]))
    dense = model.A.toarray()
    for part in parts:
        assert np.array_equal(part.model.A.toarray(), dense[np.ix_(part.rows, part.columns)])
        assert np.array_equal(part.model.c, model.c[part.columns])
    # A row joining an edge of pair 0 with one of pair 1 (a constraint across frames) cannot be split.
    pair0, pair1 = int(np.flatnonzero(columns == 0)[0]), int(np.flatnonzero(columns == 1)[0])
    extra = sparse.csr_matrix(([1.0, 1.0], ([0, 0], [pair0, pair1])), shape=(1, model.shape[1]))
    coupled = dataclasses.replace(
        model,
        A=sparse.vstack([model.A, extra], format="csr"),
        row_lower=np.append(model.row_lower, -np.inf),
        row_upper=np.append(model.row_upper, 1.0),
    )
    with pytest.raises(LinkingError, match="does not separate by frame pair"):
        split_model(coupled, columns, np.append(rows, 0))


def epithelium(sample: str) -> tuple[np.ndarray, np.ndarray]:
    """Frames and centroids of the epithelium simulation's ``sample``."""
    path = EPITHELIUM / f"{sample}.csv"
    if not path.is_file():
        unavailable(f"{path} is missing")
    points = pd.read_csv(path)
    return points["t"].to_numpy(), points[["y", "x"]].to_numpy(float)


def position_model(t: np.ndarray, yx: np.ndarray):
    """Candidates and model of a position-only instance with the default weights, as link builds them."""
    candidates = build_candidate_graph(t, yx)
    weights = LinkingWeights()
    costs = edge_costs(candidates, yx, weights)
    return candidates, build_model(candidates, costs, *charged(t, weights), plan_pins(candidates, None))


@pytest.mark.slow
def test_epithelium_decomposed_optimum_equals_whole_model():
    """Dense tissue, position only (sample0): the LP is fractional in 1 of 14 frame pairs; HiGHS's
    branch-and-bound on the whole model takes ~15-30 s."""
    t, yx = epithelium("sample0")
    decomposed = link(t, yx, threads=2)
    candidates, model = position_model(t, yx)
    whole = solve(model, lp_first=False)
    assert whole.status == "optimal" and decomposed.stats["status"] == "optimal"
    assert decomposed.stats["n_branch_and_bound"] == 1
    assert decomposed.stats["objective"] == pytest.approx(whole.objective, abs=1e-6)
    assert math.isclose(decomposed.stats["bound"], decomposed.stats["objective"], abs_tol=1e-6)
    assert_feasible(decomposed.edges, t, candidates)


@pytest.mark.slow
def test_epithelium_branching_near_the_lp_equals_branch_and_bound_per_pair():
    """sample1: fractional in 4 of 14 pairs (HiGHS needs ~8 minutes on the whole model, so each
    fractional pair is checked against HiGHS's branch-and-bound on that pair instead)."""
    t, yx = epithelium("sample1")
    candidates, model = position_model(t, yx)
    total, fractional = model.offset, 0
    for part in split_model(model, *frame_pair_blocks(candidates, t)):
        lp = solve_lp_relaxation(part.model)
        ours = finish_from_lp(part.model, lp)
        assert ours.status == "optimal" and ours.mip_gap <= 1e-9
        assert_satisfies(part.model, ours.x)
        if not is_integral(part.model, lp.x):
            fractional += 1
            reference = solve(part.model, lp_first=False)
            assert reference.status == "optimal" and ours.objective == pytest.approx(reference.objective, abs=1e-6)
            assert ours.objective > lp.objective + 1e-3  # the integrality gap is real
        total += ours.objective
    assert fractional == 4
    decomposed = link(t, yx)
    assert decomposed.stats["status"] == "optimal" and decomposed.stats["n_branch_and_bound"] == 4
    assert decomposed.stats["objective"] == pytest.approx(total, abs=1e-6)
