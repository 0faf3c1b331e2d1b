"""The one linking entry point of the suite: candidates -> costs -> ILP (or greedy) -> lineage edges."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from benchmark.errors import ConfigError, LinkingError
from benchmark.linking.candidates import CandidateGraph, build_candidate_graph
from benchmark.linking.costs import EdgeTerm, LinkingWeights, edge_costs
from benchmark.linking.decompose import frame_pair_blocks, solve_decomposed
from benchmark.linking.greedy import greedy_link
from benchmark.linking.ilp import build_model, objective_value, pulp_solver_name, solve, start_columns
from benchmark.linking.pins import PinPlan, Pins, plan_pins

#: d2 of a candidate graph, computed by a method (None: position only).
Appearance = Callable[[CandidateGraph], EdgeTerm]

#: A solution counts as proven optimal when its solver says "optimal" and its objective is within
#: this of the proven bound, relative to max(1, |objective|) (HiGHS's absolute MIP gap is 1e-6).
PROVEN_GAP = 1e-6


@dataclass
class LinkingSolution:
    """Selected lineage edges (M, 2) int64 ``[parent, child]`` (a division appears as its two edges),
    sorted, and solver statistics (floats, ints and str, ready for MLflow). ``stats["proven_optimal"]``
    is 1.0 only for an ILP solution proven optimal (``is_proven_optimal``), never for greedy."""

    edges: np.ndarray
    stats: dict[str, float | int | str] = field(default_factory=dict)


def link(
    t: np.ndarray,
    yx: np.ndarray,
    appearance: Appearance | None = None,
    *,
    weights: LinkingWeights = LinkingWeights(),
    k_neighbors: int = 10,
    solver: str = "highs",
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.0,
    pins: Pins | None = None,
    threads: int = 1,
    decompose: bool = True,
) -> LinkingSolution:
    """Link the detections of one sequence (SPEC section 2).

    ``t``: (N,) frame of each node; ``yx``: (N, 2) centroids in px; node ids are row indices.
    ``appearance`` gives d2 on the candidate graph (requires ``weights.w2``). ``solver``: ``"highs"``
    (default), ``"greedy"``, ``"pulp"`` (CBC) or ``"pulp:<PuLP solver name>"``. ``pins``: annotated
    parent -> its GT children (fixed in the solution; GT links that are not candidates are counted
    in ``stats["n_pins_missing"]``). Appear costs are not charged in the first frame of ``t``,
    disappear costs not in its last. ``decompose`` (HiGHS only): solve one independent problem per
    frame pair (decompose.py; exact, the same optimum), on ``threads`` worker threads of one HiGHS
    thread each; otherwise the whole model, with ``threads`` HiGHS threads. PuLP solvers always get
    the whole model. ``time_limit_s``: wall-clock limit of the solver, s (all frame pairs together);
    under it HiGHS starts from the greedy solution. Raises LinkingError when no feasible solution is
    found.
    """
    t, yx = _validated_nodes(t, yx)
    _check_options(solver, time_limit_s, mip_rel_gap, threads)
    start = time.perf_counter()
    candidates = build_candidate_graph(t, yx, k_neighbors)
    costs = edge_costs(candidates, yx, weights, None if appearance is None else appearance(candidates))
    problem = (
        candidates,
        costs,
        np.where(t == t.min(), 0.0, weights.appear),
        np.where(t == t.max(), 0.0, weights.disappear),
        plan_pins(candidates, pins),
    )
    prepare_s = time.perf_counter() - start
    if solver == "greedy":
        x_e, x_h, outcome = _solve_greedy(*problem)
    else:
        blocks = frame_pair_blocks(problem[0], t) if decompose and solver == "highs" else None
        x_e, x_h, outcome = _solve_ilp(*problem, solver, time_limit_s, mip_rel_gap, threads, blocks)

    edges = selected_edges(candidates, x_e, x_h)
    plan = problem[-1]
    stats: dict[str, float | int | str] = {
        **outcome,
        "build_s": prepare_s + outcome["build_s"],
        "n_candidate_edges": len(candidates.edges),
        "n_candidate_hyperedges": len(candidates.hyperedges),
        "n_selected_edges": len(edges),
        "n_divisions": int(x_h.sum()),
        "n_pins": plan.n_pins,
        "n_pins_missing": plan.n_missing,
        "solver": solver,
        "proven_optimal": float(solver != "greedy" and is_proven_optimal(outcome)),
    }
    return LinkingSolution(edges=edges, stats=stats)


def is_proven_optimal(stats: dict) -> bool:
    """Whether ``stats`` (status, objective, bound) describe a solution proven optimal: status
    ``"optimal"`` and a bound within PROVEN_GAP (so "optimal within mip_rel_gap > 0" is not)."""
    objective, bound = float(stats["objective"]), float(stats["bound"])
    return stats["status"] == "optimal" and objective - bound <= PROVEN_GAP * max(1.0, abs(objective))


def _solve_greedy(
    candidates: CandidateGraph, costs: EdgeTerm, appear: np.ndarray, disappear: np.ndarray, plan: PinPlan
) -> tuple[np.ndarray, np.ndarray, dict]:
    start = time.perf_counter()
    x_e, x_h = greedy_link(candidates, costs, appear, disappear, plan)
    outcome = {
        "objective": objective_value(candidates, costs, appear, disappear, x_e, x_h),
        "bound": math.nan,
        "mip_gap": math.nan,
        "status": "heuristic",
        "solve_s": time.perf_counter() - start,
        "build_s": 0.0,
    }
    return x_e, x_h, outcome


def _solve_ilp(
    candidates: CandidateGraph,
    costs: EdgeTerm,
    appear: np.ndarray,
    disappear: np.ndarray,
    plan: PinPlan,
    solver: str,
    time_limit_s: float | None,
    mip_rel_gap: float,
    threads: int,
    blocks: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """The ILP with ``solver``; by blocks (``solve_decomposed``) when ``blocks`` is given."""
    start = time.perf_counter()
    model = build_model(candidates, costs, appear, disappear, plan)
    # Under a time limit HiGHS starts from the greedy solution, so it always has one to return.
    mip_start = None
    if solver == "highs" and time_limit_s is not None:
        mip_start = start_columns(candidates, *greedy_link(candidates, costs, appear, disappear, plan))
    build_s = time.perf_counter() - start
    if blocks is None:
        result = solve(model, solver, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, threads=threads, start=mip_start)
    else:
        result = solve_decomposed(
            model, *blocks, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, workers=threads, start=mip_start
        )
    if result.x is None:
        pinned = plan.pinned_nodes.tolist()
        raise LinkingError(
            f"solver {solver!r} found no feasible solution (status {result.status})"
            + (f"; pinned nodes: {pinned[:20]}{' ...' if len(pinned) > 20 else ''}" if pinned else "")
            + (f"; time_limit_s={time_limit_s}" if time_limit_s is not None else "")
        )
    n_e, n_h = model.n_edges, model.n_hyperedges
    outcome = {
        "objective": result.objective,
        "bound": result.bound,
        "mip_gap": result.mip_gap,
        "status": result.status,
        "solve_s": result.solve_s,
        "build_s": build_s,
        "n_subproblems": result.n_subproblems,
        "n_branch_and_bound": result.n_branched,
    }
    return result.x[:n_e] > 0.5, result.x[n_e : n_e + n_h] > 0.5, outcome


def selected_edges(candidates: CandidateGraph, x_e: np.ndarray, x_h: np.ndarray) -> np.ndarray:
    """(M, 2) sorted parent -> child pairs of selected edges and of both halves of selected hyperedges."""
    hyper = candidates.hyperedges[x_h]
    edges = np.concatenate([candidates.edges[x_e], hyper[:, [0, 1]], hyper[:, [0, 2]]])
    return edges[np.lexsort((edges[:, 1], edges[:, 0]))]


def _validated_nodes(t: np.ndarray, yx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, yx = np.asarray(t), np.asarray(yx, dtype=np.float64)
    if t.ndim != 1 or len(t) == 0:
        raise LinkingError(f"t must be a non-empty 1-D array of frames, got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.integer) and not np.all(np.mod(t, 1) == 0):
        raise LinkingError("t must hold integer frame indices")
    if yx.shape != (len(t), 2):
        raise LinkingError(f"yx must have shape ({len(t)}, 2) to match t, got {yx.shape}")
    if not np.all(np.isfinite(yx)):
        raise LinkingError("yx contains NaN or inf")
    return t.astype(np.int64), yx


def _check_options(solver: str, time_limit_s: float | None, mip_rel_gap: float, threads: int) -> None:
    if solver not in ("highs", "greedy"):
        pulp_solver_name(solver)  # raises ConfigError naming the solver
    if time_limit_s is not None and not time_limit_s > 0:
        raise ConfigError(f"time_limit_s must be > 0 or None, got {time_limit_s}")
    if not mip_rel_gap >= 0:
        raise ConfigError(f"mip_rel_gap must be >= 0, got {mip_rel_gap}")
    if threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
