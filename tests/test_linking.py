"""Linking: candidate graph, costs, ILP (HiGHS and PuLP), greedy, pins, time limit."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from benchmark.errors import ConfigError, LinkingError
from benchmark.linking import (
    EdgeTerm,
    LinkingWeights,
    appearance_from_associations,
    appearance_from_embeddings,
    build_candidate_graph,
    build_model,
    edge_costs,
    link,
    objective_value,
    plan_pins,
    solve,
    zscore,
)


def random_points(seed: int, n_frames: int, per_frame: int, size: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random centroids, ``per_frame`` ± 1 nodes in each frame, frames shuffled in node order."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(per_frame - 1, per_frame + 2, n_frames)
    t = rng.permutation(np.repeat(np.arange(n_frames), counts))
    return t, rng.uniform(0, size, (len(t), 2))


def charged(t: np.ndarray, weights: LinkingWeights) -> tuple[np.ndarray, np.ndarray]:
    """Per-node appear / disappear costs as link() charges them."""
    return np.where(t == t.min(), 0.0, weights.appear), np.where(t == t.max(), 0.0, weights.disappear)


def assert_feasible(edges: np.ndarray, t: np.ndarray, candidates) -> None:
    """≤ 1 parent per node, ≤ 2 children per node, two children only through a candidate hyperedge."""
    assert np.all(t[edges[:, 1]] == t[edges[:, 0]] + 1)
    assert np.all(candidates.edge_ids(edges[:, 0], edges[:, 1]) >= 0)
    assert np.bincount(edges[:, 1], minlength=len(t)).max(initial=0) <= 1
    out = np.bincount(edges[:, 0], minlength=len(t))
    assert out.max(initial=0) <= 2
    for parent in np.flatnonzero(out == 2):
        kids = edges[edges[:, 0] == parent, 1]
        assert candidates.hyperedge_ids(np.array([parent]), kids[:1], kids[1:])[0] >= 0


def selection_of(candidates, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge/hyperedge indicator vectors of a lineage edge list (two children = one hyperedge)."""
    x_e = np.zeros(len(candidates.edges))
    x_h = np.zeros(len(candidates.hyperedges))
    parents, counts = np.unique(edges[:, 0], return_counts=True)
    for parent, count in zip(parents, counts):
        kids = edges[edges[:, 0] == parent, 1]
        if count == 1:
            x_e[candidates.edge_ids(np.array([parent]), kids)[0]] = 1
        else:
            x_h[candidates.hyperedge_ids(np.array([parent]), kids[:1], kids[1:])[0]] = 1
    return x_e, x_h


# --- candidate graph -------------------------------------------------------------------------------


def test_candidate_counts_on_hand_made_instance() -> None:
    # frame 0: nodes 0, 1; frame 1: nodes 2, 3, 4; frame 2: node 5; frame 4: node 6 (frame 3 empty).
    t = np.array([0, 0, 1, 1, 1, 2, 4])
    yx = np.array([[0, 0], [0, 10], [0, 1], [0, 9], [0, 20], [0, 2], [0, 2]], float)
    full = build_candidate_graph(t, yx, k_neighbors=10)
    assert full.edges.tolist() == [[0, 2], [0, 3], [0, 4], [1, 2], [1, 3], [1, 4], [2, 5], [3, 5], [4, 5]]
    assert full.hyperedges.tolist() == [[0, 2, 3], [0, 2, 4], [0, 3, 4], [1, 2, 3], [1, 2, 4], [1, 3, 4]]
    nearest = build_candidate_graph(t, yx, k_neighbors=1)
    assert nearest.edges.tolist() == [[0, 2], [1, 3], [1, 4], [2, 5]]
    assert nearest.hyperedges.tolist() == [[1, 3, 4]]


@pytest.mark.parametrize("seed", range(3))
def test_candidates_match_brute_force(seed: int) -> None:
    t, yx = random_points(seed, n_frames=5, per_frame=14)
    k = 4
    candidates = build_candidate_graph(t, yx, k_neighbors=k)
    expected = set()
    for child in range(len(t)):
        prev = np.flatnonzero(t == t[child] - 1)
        dist = np.linalg.norm(yx[prev] - yx[child], axis=1)
        expected |= {(int(p), child) for p in prev[np.argsort(dist)[:k]]}
    assert set(map(tuple, candidates.edges.tolist())) == expected
    pairs = {
        (p, *sorted(pair))
        for p in range(len(t))
        for pair in itertools.combinations([c for q, c in expected if q == p], 2)
    }
    assert set(map(tuple, candidates.hyperedges.tolist())) == pairs
    assert len(candidates.hyperedges) == len(pairs)


def test_candidate_lookups() -> None:
    t, yx = random_points(0, n_frames=3, per_frame=6)
    candidates = build_candidate_graph(t, yx, k_neighbors=3)
    ids = candidates.edge_ids(candidates.edges[:, 0], candidates.edges[:, 1])
    assert ids.tolist() == list(range(len(candidates.edges)))
    h = candidates.hyperedges
    assert candidates.hyperedge_ids(h[:, 0], h[:, 2], h[:, 1]).tolist() == list(range(len(h)))  # order-free
    same_frame = np.flatnonzero(t == 0)[:2]
    assert candidates.edge_ids(same_frame[:1], same_frame[1:]).tolist() == [-1]
    pair = candidates.hyperedge_edge_ids()
    assert np.array_equal(candidates.edges[pair[:, 0]], h[:, [0, 1]])
    assert np.array_equal(candidates.edges[pair[:, 1]], h[:, [0, 2]])


# --- costs -----------------------------------------------------------------------------------------


def test_zscore() -> None:
    z = zscore(np.array([1.0, 2.0, 3.0, 6.0]))
    assert z.mean() == pytest.approx(0) and z.std() == pytest.approx(1)
    assert zscore(np.full(4, 7.0)).tolist() == [0.0] * 4  # zero std guarded
    assert zscore(np.empty(0)).shape == (0,)


def test_costs_zscore_edges_and_hyperedges_separately() -> None:
    t, yx = random_points(1, n_frames=4, per_frame=8)
    candidates = build_candidate_graph(t, yx, k_neighbors=3)
    rng = np.random.default_rng(0)
    d2 = EdgeTerm(rng.normal(5, 3, len(candidates.edges)), rng.normal(-2, 0.5, len(candidates.hyperedges)))
    weights = LinkingWeights(w1=2.0, w2=-0.5, b=0.25)
    costs = edge_costs(candidates, yx, weights, d2)
    for values in (costs.edges, costs.hyperedges):
        assert values.mean() == pytest.approx(0.25)
    # position part alone: hyperedge distance is parent -> midpoint of the children
    position = edge_costs(candidates, yx, LinkingWeights(w1=1.0))
    parent, c1, c2 = candidates.hyperedges[0]
    d1_h = np.linalg.norm(
        yx[candidates.hyperedges[:, 0]] - 0.5 * (yx[candidates.hyperedges[:, 1]] + yx[candidates.hyperedges[:, 2]]),
        axis=1,
    )
    assert d1_h[0] == pytest.approx(np.linalg.norm(yx[parent] - (yx[c1] + yx[c2]) / 2))
    assert np.allclose(position.hyperedges, (d1_h - d1_h.mean()) / d1_h.std())
    assert np.allclose(costs.hyperedges - 2.0 * position.hyperedges - 0.25, -0.5 * zscore(d2.hyperedges))


def test_appearance_helpers() -> None:
    t = np.array([0, 1, 1])
    yx = np.array([[0, 0], [0, 1], [0, 2]], float)
    candidates = build_candidate_graph(t, yx)  # edges (0,1), (0,2); hyperedge (0,1,2)
    emb = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    d2 = appearance_from_embeddings(candidates, emb)
    assert d2.edges.tolist() == pytest.approx([5.0, 1.0])
    assert d2.hyperedges.tolist() == pytest.approx([np.linalg.norm([2.0, 2.0])])
    scores = appearance_from_associations(candidates, np.array([0, 1]), np.array([1, 2]), np.array([0.8, 0.5]))
    assert scores.edges.tolist() == pytest.approx([0.8, 0.0])  # (0,2) absent -> 0; (1,2) not a candidate
    assert scores.hyperedges.tolist() == pytest.approx([0.4])
    with pytest.raises(LinkingError, match="unique"):
        appearance_from_associations(candidates, np.array([0, 0]), np.array([1, 1]), np.array([0.1, 0.2]))


def test_cost_validation() -> None:
    t = np.array([0, 1, 1])
    yx = np.array([[0, 0], [0, 1], [0, 2]], float)
    candidates = build_candidate_graph(t, yx)
    with pytest.raises(ConfigError, match="w2"):
        edge_costs(candidates, yx, LinkingWeights(), EdgeTerm(np.zeros(2), np.zeros(1)))
    with pytest.raises(LinkingError, match=r"appearance\.edges"):
        edge_costs(candidates, yx, LinkingWeights(w2=1.0), EdgeTerm(np.array([0.0, np.nan]), np.zeros(1)))
    with pytest.raises(LinkingError, match=r"appearance\.hyperedges"):
        edge_costs(candidates, yx, LinkingWeights(w2=1.0), EdgeTerm(np.zeros(2), np.zeros(3)))
    with pytest.raises(ConfigError, match="weights.appear"):
        LinkingWeights(appear=-1.0)


# --- ILP on hand-made instances with known optima ----------------------------------------------


def hand_model(t, yx, edge_cost, hyper_cost, weights=LinkingWeights(), pins=None):
    candidates = build_candidate_graph(t, yx)
    costs = EdgeTerm(np.asarray(edge_cost, float), np.asarray(hyper_cost, float))
    appear, disappear = charged(t, weights)
    plan = plan_pins(candidates, pins)
    return candidates, costs, appear, disappear, plan, build_model(candidates, costs, appear, disappear, plan)


def selected(candidates, model, x):
    x_e = x[: model.n_edges] > 0.5
    x_h = x[model.n_edges : model.n_edges + model.n_hyperedges] > 0.5
    return candidates.edges[x_e].tolist(), candidates.hyperedges[x_h].tolist()


DIVISION = (np.array([0, 1, 1]), np.array([[0.0, 0.0], [0.0, -5.0], [0.0, 5.0]]))


@pytest.mark.parametrize("solver", ["highs", "pulp"])
def test_ilp_selects_division(solver: str) -> None:
    # nothing: d(0) + a(1) + a(2) = 3; one edge: 0.5 + a = 1.5; hyperedge: -1 (optimum).
    candidates, costs, *_, model = hand_model(*DIVISION, [0.5, 0.5], [-1.0])
    result = solve(model, solver)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(-1.0)
    assert selected(candidates, model, result.x) == ([], [[0, 1, 2]])


def test_ilp_honours_pin() -> None:
    candidates, costs, appear, disappear, plan, model = hand_model(*DIVISION, [0.5, 0.5], [-1.0], pins={0: (1,)})
    result = solve(model)
    assert result.objective == pytest.approx(1.5)  # edge 0 -> 1 plus the appear cost of node 2
    assert selected(candidates, model, result.x) == ([[0, 1]], [])
    assert plan.n_pins == 1 and plan.n_missing == 0


@pytest.mark.parametrize(("cost", "expected", "objective"), [(1.0, [[1, 2]], 2.5), (2.0, [[0, 1], [1, 2]], 3.0)])
def test_ilp_appear_disappear_trade_off(cost: float, expected: list, objective: float) -> None:
    # Chain 0 (t0) -> 1 (t1) -> 2 (t2), edge costs 2.5 and 0.5. With C = 1 the edge 0 -> 1 costs more
    # than the disappear + appear it saves (2.5 > 2); with C = 2 it pays off.
    t, yx = np.array([0, 1, 2]), np.zeros((3, 2))
    weights = LinkingWeights(appear=cost, disappear=cost)
    candidates, costs, appear, disappear, plan, model = hand_model(t, yx, [2.5, 0.5], [], weights)
    assert appear.tolist() == [0, cost, cost] and disappear.tolist() == [cost, cost, 0]  # frame exemptions
    result = solve(model)
    assert result.objective == pytest.approx(objective)
    assert selected(candidates, model, result.x) == (expected, [])


def test_link_end_to_end_recovers_simple_lineage() -> None:
    # two cells drifting right; the upper one divides at frame 2.
    t = np.array([0, 0, 1, 1, 2, 2, 2, 3, 3, 3])
    yx = np.array([[10, 0], [50, 0], [10, 2], [50, 2], [5, 4], [15, 4], [50, 4], [5, 6], [15, 6], [50, 6]], float)
    solution = link(t, yx)
    assert solution.edges.tolist() == [[0, 2], [1, 3], [2, 4], [2, 5], [3, 6], [4, 7], [5, 8], [6, 9]]
    assert solution.stats["n_divisions"] == 1 and solution.stats["n_selected_edges"] == 8
    assert solution.stats["status"] == "optimal"


# --- solvers agree, greedy is feasible and no better --------------------------------------------


@pytest.mark.parametrize("seed", range(2))
def test_highs_and_pulp_cbc_agree(seed: int) -> None:
    t, yx = random_points(seed, n_frames=5, per_frame=6, size=40.0)
    emb = np.random.default_rng(seed).normal(size=(len(t), 4))
    appearance = lambda candidates: appearance_from_embeddings(candidates, emb)  # noqa: E731
    weights = LinkingWeights(w2=1.0, appear=0.5, disappear=0.5)
    by_solver = {
        s: link(t, yx, appearance, weights=weights, k_neighbors=4, solver=s) for s in ("highs", "pulp", "pulp:HiGHS")
    }
    objectives = [solution.stats["objective"] for solution in by_solver.values()]
    assert objectives == pytest.approx([objectives[0]] * 3, abs=1e-6)
    # the reported objective is the objective of the returned edges
    candidates = build_candidate_graph(t, yx, 4)
    costs = edge_costs(candidates, yx, weights, appearance(candidates))
    for solution in by_solver.values():
        assert_feasible(solution.edges, t, candidates)
        value = objective_value(candidates, costs, *charged(t, weights), *selection_of(candidates, solution.edges))
        assert value == pytest.approx(solution.stats["objective"], abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_greedy_is_feasible_and_no_better_than_ilp(seed: int) -> None:
    t, yx = random_points(seed, n_frames=6, per_frame=10, size=60.0)
    weights = LinkingWeights(appear=1.5, disappear=1.5)
    greedy = link(t, yx, weights=weights, solver="greedy")
    ilp = link(t, yx, weights=weights)
    candidates = build_candidate_graph(t, yx)
    assert_feasible(greedy.edges, t, candidates)
    assert greedy.stats["objective"] >= ilp.stats["objective"] - 1e-9
    costs = edge_costs(candidates, yx, weights)
    value = objective_value(candidates, costs, *charged(t, weights), *selection_of(candidates, greedy.edges))
    assert value == pytest.approx(greedy.stats["objective"])
    assert value < objective_value(
        candidates, costs, *charged(t, weights), *selection_of(candidates, np.empty((0, 2), int))
    )


def test_lp_relaxation_bounds_the_ilp() -> None:
    t, yx = random_points(3, n_frames=5, per_frame=8, size=50.0)
    candidates = build_candidate_graph(t, yx)
    weights = LinkingWeights()
    costs = edge_costs(candidates, yx, weights)
    model = build_model(candidates, costs, *charged(t, weights), plan_pins(candidates, None))
    lp, ilp = solve(model, lp_relaxation=True), solve(model)
    assert lp.objective <= ilp.objective + 1e-9
    assert ilp.bound <= ilp.objective + 1e-9


# --- pins ------------------------------------------------------------------------------------------


def test_pins_missing_from_candidates_are_counted() -> None:
    t, yx = random_points(4, n_frames=4, per_frame=8)
    frame1, frame2 = np.flatnonzero(t == 1), np.flatnonzero(t == 2)
    # k = 1: each child has one candidate parent; pick a child whose candidate parent is not frame1[0].
    candidates = build_candidate_graph(t, yx, k_neighbors=1)
    foreign = next(int(c) for c in frame2 if candidates.edge_ids(frame1[:1], [c])[0] < 0)
    own = candidates.edges[candidates.edges[:, 0] == frame1[1], 1]
    pins = {int(frame1[0]): (foreign,), int(frame1[1]): tuple(own[:1].tolist()), int(frame1[2]): (int(frame1[3]),)}
    solution = link(t, yx, k_neighbors=1, pins=pins)
    assert solution.stats["n_pins"] == 3
    assert solution.stats["n_pins_missing"] == 2  # not a candidate / same frame
    assert [int(frame1[1]), int(own[0])] in solution.edges.tolist()
    assert [int(frame1[0]), foreign] not in solution.edges.tolist()


def test_pins_fix_every_other_out_link() -> None:
    t, yx = random_points(5, n_frames=3, per_frame=6)
    parent = int(np.flatnonzero(t == 0)[0])
    candidates = build_candidate_graph(t, yx)
    kids = candidates.edges[candidates.edges[:, 0] == parent, 1][:2]
    plan = plan_pins(candidates, {parent: tuple(kids.tolist())})
    out_edges = candidates.edges[:, 0] == parent
    assert np.all(plan.edges[out_edges] == 0) and np.all(plan.edges[~out_edges] == -1)
    solution = link(t, yx, pins={parent: tuple(kids.tolist())})
    assert sorted(solution.edges[solution.edges[:, 0] == parent, 1].tolist()) == sorted(kids.tolist())
    ended = link(t, yx, pins={parent: ()})
    assert parent not in ended.edges[:, 0]


@pytest.mark.parametrize("solver", ["highs", "greedy"])
def test_contradictory_pins_raise(solver: str) -> None:
    t = np.array([0, 0, 1])
    yx = np.array([[0, 0], [0, 2], [0, 1]], float)
    with pytest.raises(LinkingError, match=re.escape("nodes 0 and 1 both claim node 2")):
        link(t, yx, pins={0: (2,), 1: (2,)}, solver=solver)


def test_bad_pins_raise_config_error() -> None:
    t, yx = np.array([0, 1]), np.zeros((2, 2))
    with pytest.raises(ConfigError, match=r"pins\[0\]"):
        link(t, yx, pins={0: (5,)})
    with pytest.raises(ConfigError, match=r"pins\[0\]"):
        link(t, yx, pins={0: (1, 1)})


# --- options and validation -------------------------------------------------------------------


def test_time_limit_returns_solution_with_gap() -> None:
    t, yx = random_points(6, n_frames=30, per_frame=60, size=300.0)
    rng = np.random.default_rng(6)
    emb = rng.normal(size=(len(t), 8))
    solution = link(
        t, yx, lambda c: appearance_from_embeddings(c, emb), weights=LinkingWeights(w2=-1.0), time_limit_s=1e-3
    )
    assert solution.stats["status"] == "time_limit"
    assert solution.stats["mip_gap"] > 0
    assert_feasible(solution.edges, t, build_candidate_graph(t, yx))


def test_argument_validation() -> None:
    t, yx = random_points(0, n_frames=2, per_frame=3)
    with pytest.raises(ConfigError, match="solver 'cplex'"):
        link(t, yx, solver="cplex")
    with pytest.raises(ConfigError, match="NOSUCH"):
        link(t, yx, solver="pulp:NOSUCH")
    with pytest.raises(LinkingError, match="yx"):
        link(t, yx[:-1])
    with pytest.raises(LinkingError, match="yx"):
        link(t, np.where(yx > 50, np.nan, yx))
    with pytest.raises(ConfigError, match="time_limit_s"):
        link(t, yx, time_limit_s=0)
    with pytest.raises(ConfigError, match="k_neighbors"):
        link(t, yx, k_neighbors=0)
    with pytest.raises(LinkingError, match="appearance.edges"):
        link(
            t,
            yx,
            lambda c: EdgeTerm(np.full(len(c.edges), np.nan), np.zeros(len(c.hyperedges))),
            weights=LinkingWeights(w2=1.0),
        )
