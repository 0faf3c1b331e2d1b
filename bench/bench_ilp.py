"""Benchmark of the linking ILP (a benchmark, not a test; see bench/README.md).

Instances, each built exactly as ``benchmark.linking.link`` builds it:

- synthetic random-walk cells with divisions and an appearance embedding that drifts slowly and is
  inherited by daughters (d2 = embedding distance, w2 = +1), sized like the paper's HeLa (~25,000
  detections) and Bacteria (~6,400) and a small "check" instance; and ``bacteria-w2neg``, the
  Bacteria-scale one with w2 = -1 (rewarding dissimilar links), whose LP is fractional in many pairs;
- the epithelium simulation (``tests/data/epithelium-simulation``, a copy of ``../shared/data``, dense tissue, ~515 cells per
  frame, position only): LP relaxations fractional in 1 (sample0) and 4 (sample1) of 14 frame pairs.

Per instance: the LP relaxation of the whole model (HiGHS), our ILP (``solve_decomposed``: frame
pairs, LP first, branch-and-bound near the LP optimum where it is fractional) with 1 worker and with
one per core, the number of fractional frame pairs, HiGHS branch-and-bound on the whole model
(without our LP-first step; capped by ``--bnb-time-limit``), the objectives and the ratios ILP / LP.
LP and ILP are timed best-of-``--repeats``, interleaved so that load from other processes hits both
alike. On ``check`` and ``bacteria`` it also solves the same objective with motile 1.0.1 + ilpy 0.6.0
(SCIP) when they are importable: SCIP does not reach a proven optimum on ``bacteria`` within its time
limit, so ``check`` (the Bacteria preset cut to 8 frames), which SCIP solves to optimality, shows that
both models have the same optimum.

Usage: python bench/bench_ilp.py [--repeats 2] [--bnb-time-limit 600] [--skip-motile] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.linking import (  # noqa: E402
    CandidateGraph,
    EdgeTerm,
    IlpModel,
    LinkingWeights,
    appearance_from_embeddings,
    build_candidate_graph,
    build_model,
    edge_costs,
    frame_pair_blocks,
    objective_value,
    plan_pins,
    solve,
    solve_decomposed,
)
from benchmark.linking.ilp import is_integral  # noqa: E402
from benchmark.results import write_results  # noqa: E402
from benchmark.runtime import machine as runtime_machine  # noqa: E402
from benchmark.runtime import package_versions  # noqa: E402

#: Synthetic presets sized like the paper's data (SPEC section 2 sizes in the comments).
PRESETS: dict[str, dict] = {
    # 25,420 nodes -> 252,950 edges, 1,210,959 hyperedges
    "hela": dict(n_start=168, n_frames=92, p_divide=0.0115, p_vanish=0.002, step_px=4.0, shape=(700, 1100)),
    # 6,387 nodes -> 63,363 edges, 319,091 hyperedges
    "bacteria": dict(n_start=39, n_frames=92, p_divide=0.0115, p_vanish=0.002, step_px=4.0, shape=(187, 1100)),
    # small enough for SCIP to prove optimality in minutes
    "check": dict(n_start=39, n_frames=8, p_divide=0.0115, p_vanish=0.002, step_px=4.0, shape=(187, 1100)),
}
#: Which presets are also solved with motile.
MOTILE_PRESETS = ("check", "bacteria")
WEIGHTS = LinkingWeights(w1=1.0, w2=1.0, b=0.0, appear=1.0, disappear=1.0)
#: The Bacteria-scale preset with embedding distances rewarded: fractional LPs in many frame pairs.
WEIGHTS_W2NEG = LinkingWeights(w1=1.0, w2=-1.0, b=0.0, appear=1.0, disappear=1.0)
#: The dense point data (next to the repository, see its SOURCE.md); position only.
EPITHELIUM = Path(__file__).resolve().parents[1] / "tests" / "data" / "epithelium-simulation"
INSTANCES = ("hela", "bacteria", "check", "bacteria-w2neg", "epithelium-sample0", "epithelium-sample1")


def random_walk_cells(
    n_start: int,
    n_frames: int,
    p_divide: float,
    p_vanish: float,
    step_px: float,
    shape: tuple[int, int],
    seed: int,
    emb_dim: int = 16,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames t (N,), centroids yx (N, 2) px and embeddings (N, emb_dim) of random-walk cells.

    Each frame a cell vanishes with p_vanish, divides with p_divide (daughters 8 px either side of
    the mother along a random axis, same embedding) and moves by N(0, step_px²) per axis; embeddings
    drift by N(0, 0.3²) per frame.
    """
    rng = np.random.default_rng(seed)
    pos = rng.uniform((0, 0), shape, (n_start, 2))
    emb = rng.normal(size=(n_start, emb_dim))
    frames, centroids, embeddings = [], [], []
    for t in range(n_frames):
        frames.append(np.full(len(pos), t))
        centroids.append(pos)
        embeddings.append(emb)
        keep = rng.random(len(pos)) >= p_vanish
        divide = keep & (rng.random(len(pos)) < p_divide)
        stay = keep & ~divide
        angle = rng.uniform(0, np.pi, divide.sum())
        offset = 8.0 * np.stack([np.sin(angle), np.cos(angle)], axis=1)
        pos = np.concatenate([pos[stay], pos[divide] + offset, pos[divide] - offset])
        pos = np.clip(pos + rng.normal(0, step_px, pos.shape), 0, shape)
        emb = np.concatenate([emb[stay], emb[divide], emb[divide]])
        emb = emb + rng.normal(0, 0.3, emb.shape)
    return np.concatenate(frames), np.concatenate(centroids), np.concatenate(embeddings)


@dataclass
class Instance:
    """One linking problem, built as link() builds it."""

    t: np.ndarray
    yx: np.ndarray
    weights: LinkingWeights
    candidates: CandidateGraph
    costs: EdgeTerm
    appear: np.ndarray
    disappear: np.ndarray
    model: IlpModel
    timings: dict[str, float] = field(default_factory=dict)


def instance_points(name: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, LinkingWeights]:
    """Frames, centroids, embeddings (None: position only) and weights of instance ``name``."""
    if name.startswith("epithelium-"):
        points = pd.read_csv(EPITHELIUM / f"{name.removeprefix('epithelium-')}.csv")
        return points["t"].to_numpy(), points[["y", "x"]].to_numpy(float), None, LinkingWeights()
    if name == "bacteria-w2neg":
        return (*random_walk_cells(**PRESETS["bacteria"], seed=seed), WEIGHTS_W2NEG)
    return (*random_walk_cells(**PRESETS[name], seed=seed), WEIGHTS)


def build_instance(name: str, seed: int) -> Instance:
    t, yx, emb, weights = instance_points(name, seed)
    tracemalloc.start()
    timings = {}
    began = time.perf_counter()
    candidates = build_candidate_graph(t, yx, k_neighbors=10)
    timings["candidates_s"] = time.perf_counter() - began
    began = time.perf_counter()
    appearance = None if emb is None else appearance_from_embeddings(candidates, emb)
    costs = edge_costs(candidates, yx, weights, appearance)
    timings["costs_s"] = time.perf_counter() - began
    began = time.perf_counter()
    appear = np.where(t == t.min(), 0.0, weights.appear)
    disappear = np.where(t == t.max(), 0.0, weights.disappear)
    model = build_model(candidates, costs, appear, disappear, plan_pins(candidates, None))
    timings["model_s"] = time.perf_counter() - began
    timings["build_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return Instance(t, yx, weights, candidates, costs, appear, disappear, model, timings)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (HiGHS's C++ allocations included)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_highs(instance: Instance, repeats: int, workers: int) -> dict:
    """Best-of-``repeats`` times of the whole model's LP relaxation and of our ILP with 1 and with
    ``workers`` workers, interleaved (load from other processes hits all alike)."""
    model = instance.model
    blocks = frame_pair_blocks(instance.candidates, instance.t)
    lp_times, ilp_times, parallel_times = [], [], []
    for _ in range(repeats):
        lp = solve(model, lp_relaxation=True)
        lp_times.append(lp.solve_s)
        ilp = solve_decomposed(model, *blocks, workers=1)
        ilp_times.append(ilp.solve_s)
        parallel = solve_decomposed(model, *blocks, workers=workers)
        parallel_times.append(parallel.solve_s)
    x = ilp.x[: model.n_edges + model.n_hyperedges]
    return {
        "lp_s": min(lp_times),
        "ilp_s": min(ilp_times),
        "ilp_parallel_s": min(parallel_times),
        "workers": workers,
        "lp_objective": lp.objective,
        "lp_integral": is_integral(model, lp.x),
        "ilp_objective": ilp.objective,
        "ilp_status": ilp.status,
        "ilp_gap": ilp.mip_gap,
        "ilp_parallel_objective": parallel.objective,
        "subproblems": ilp.n_subproblems,  # frame pairs + the first frame's appear columns + the last frame's rows
        "fractional_frame_pairs": ilp.n_branched,
        "n_divisions": int(x[model.n_edges :].sum().round()),
        "peak_rss_mib": peak_rss_mib(),
    }


def bench_whole_bnb(instance: Instance, time_limit_s: float) -> dict:
    """HiGHS branch-and-bound on the whole model (our HiGHS options, no LP-first step), once."""
    mip = solve(instance.model, lp_first=False, time_limit_s=time_limit_s)
    return {
        "bnb_whole_s": mip.solve_s,
        "bnb_whole_status": mip.status,
        "bnb_whole_objective": mip.objective,
        "bnb_whole_bound": mip.bound,
    }


def bench_motile(instance: Instance, timeout_s: float) -> dict | None:
    """Solve the same objective with motile + ilpy (SCIP, 1 thread); None when motile is missing.

    motile 1.0.1 has no hyperedges: a division is two selected out-edges of one node (MaxChildren(2)),
    and every such pair has an EdgeSplitPair indicator. Giving that indicator the cost
    c_h − c_(u,v) − c_(u,w) makes a division cost exactly c_h, so the feasible sets and objectives of
    both models correspond one to one (every pair of candidate children is a candidate hyperedge).
    """
    try:
        import ilpy
        import motile
        from motile.constraints import MaxChildren, MaxParents, Pin
        from motile.costs import Cost, EdgeSelectedCost, NodeAppearCost, NodeDisappearCost, Weight
        from motile.variables import EdgeSelected, EdgeSplitPair
    except ImportError:
        return None

    candidates, costs = instance.candidates, instance.costs
    edge_cost = dict(zip(map(tuple, candidates.edges.tolist()), costs.edges.tolist()))
    pair_cost = {
        (u, v, w): c_h - edge_cost[u, v] - edge_cost[u, w]
        for (u, v, w), c_h in zip(map(tuple, candidates.hyperedges.tolist()), costs.hyperedges.tolist())
    }

    class DivisionPairCost(Cost):
        """Cost of selecting both u -> v and u -> w: c_h − c_(u,v) − c_(u,w)."""

        def __init__(self) -> None:
            self.weight = Weight(1.0)

        def apply(self, solver: motile.Solver) -> None:
            for ((u, v), (_, w)), index in solver.get_variables(EdgeSplitPair).items():
                solver.add_variable_cost(index, pair_cost[(u, *sorted((v, w)))], self.weight)

    print("  building the motile model ...", flush=True)
    began = time.perf_counter()
    graph = motile.TrackGraph()
    for node, frame in enumerate(instance.t.tolist()):
        graph.add_node(node, {"t": frame, "selected": True})
    for (u, v), cost in edge_cost.items():
        graph.add_edge((u, v), {"cost": cost})
    solver = motile.Solver(graph)
    solver.add_cost(EdgeSelectedCost(weight=1.0, attribute="cost"))
    solver.add_cost(DivisionPairCost())
    solver.add_cost(NodeAppearCost(constant=instance.weights.appear))
    solver.add_cost(NodeDisappearCost(constant=instance.weights.disappear))
    solver.add_constraint(MaxParents(1))
    solver.add_constraint(MaxChildren(2))
    solver.add_constraint(Pin("selected"))  # every node is selected
    build_s = time.perf_counter() - began
    print(f"  solving it with SCIP (time limit {timeout_s:.0f} s) ...", flush=True)
    began = time.perf_counter()
    solution = solver.solve(timeout=timeout_s, num_threads=1, backend=ilpy.Preference.Scip)
    solve_s = time.perf_counter() - began

    edge_vars = solver.get_variables(EdgeSelected)
    chosen = np.array([edge for edge, index in edge_vars.items() if solution[index] > 0.5], np.int64).reshape(-1, 2)
    x_e, x_h = _as_selection(candidates, chosen)
    return {
        "motile_build_s": build_s,
        "motile_solve_s": solve_s,
        "motile_status": solution.get_status(),
        "motile_objective_reported": float(solution.get_value()),
        "motile_objective": objective_value(candidates, costs, instance.appear, instance.disappear, x_e, x_h),
        "motile_variables": solver.num_variables,
        "motile_peak_rss_mib": peak_rss_mib(),  # of the whole process so far
    }


def _as_selection(candidates: CandidateGraph, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge list -> our edge / hyperedge indicators (a parent with two children is a hyperedge)."""
    x_e = np.zeros(len(candidates.edges))
    x_h = np.zeros(len(candidates.hyperedges))
    chosen = chosen[np.argsort(chosen[:, 0], kind="stable")]
    parents, counts = np.unique(chosen[:, 0], return_counts=True)
    start = np.cumsum(counts) - counts
    single, double = counts == 1, counts == 2
    x_e[candidates.edge_ids(parents[single], chosen[start[single], 1])] = 1
    x_h[candidates.hyperedge_ids(parents[double], chosen[start[double], 1], chosen[start[double] + 1, 1])] = 1
    return x_e, x_h


def describe(instance: Instance) -> dict:
    return {
        "nodes": len(instance.t),
        "frames": int(instance.t.max() - instance.t.min() + 1),
        "frame_pairs": int(instance.t.max() - instance.t.min()),
        "edges": len(instance.candidates.edges),
        "hyperedges": len(instance.candidates.hyperedges),
        "rows": instance.model.shape[0],
        "cols": instance.model.shape[1],
        "nnz": instance.model.A.nnz,
        **instance.timings,
    }


def machine() -> dict:
    """Where the benchmark ran (``benchmark.runtime.machine``) and the cores this process may use."""
    return {**runtime_machine(), "cores_available": str(len(os.sched_getaffinity(0)))}


def versions() -> dict:
    """Python's and the suite's package versions, and scipy's (which builds the sparse model)."""
    return {**package_versions(), "scipy": version("scipy")}


def _plain(value):
    """A JSON value of a row: numpy scalars as Python numbers."""
    return value.item() if hasattr(value, "item") else float(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="LP / ILP solves per instance (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--instances", nargs="+", default=list(INSTANCES), choices=INSTANCES)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="parallel frame pairs")
    parser.add_argument("--bnb-time-limit", type=float, default=600.0, help="HiGHS B&B on the whole model, s")
    parser.add_argument("--skip-bnb", action="store_true", help="skip HiGHS B&B on the whole model")
    parser.add_argument("--motile-timeout", type=float, default=900.0, help="SCIP time limit, s")
    parser.add_argument("--skip-motile", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    began = time.perf_counter()
    date = time.strftime("%Y-%m-%d")
    load_average_start = os.getloadavg()
    rows = []
    for name in args.instances:
        print(f"== {name}", flush=True)
        instance = build_instance(name, args.seed)
        row = {"instance": name, **describe(instance), **bench_highs(instance, args.repeats, args.workers)}
        row["ilp_over_lp"] = row["ilp_s"] / row["lp_s"]
        row["ilp_parallel_over_lp"] = row["ilp_parallel_s"] / row["lp_s"]
        if not args.skip_bnb:
            row.update(bench_whole_bnb(instance, args.bnb_time_limit))
            row["bnb_time_limit_s"] = args.bnb_time_limit
            row["bnb_whole_over_lp"] = row["bnb_whole_s"] / row["lp_s"]
            row["objective_difference_vs_bnb"] = row["ilp_objective"] - row["bnb_whole_objective"]
        if name in MOTILE_PRESETS and not args.skip_motile:
            motile_row = bench_motile(instance, args.motile_timeout)
            if motile_row is None:
                print("motile / ilpy not importable: skipping the comparison (see bench/README.md)")
            else:
                row.update(motile_row)
                row["objective_difference"] = row["motile_objective"] - row["ilp_objective"]
                ours = row["model_s"] + row["ilp_s"]
                row["speedup_solve"] = row["motile_solve_s"] / row["ilp_s"]
                if "bnb_whole_s" in row:  # without our LP-first shortcut
                    row["speedup_solve_direct_mip"] = row["motile_solve_s"] / row["bnb_whole_s"]
                row["speedup_total"] = (row["motile_build_s"] + row["motile_solve_s"]) / ours
                row["speedup_is_lower_bound"] = row["motile_status"] != "OPTIMAL"  # SCIP stopped early
        rows.append(json.loads(json.dumps(row, default=_plain)))  # flat, plain values
        print(_table(row), flush=True)
    total_s = time.perf_counter() - began

    # the results-file format of benchmark.results (date, machine, versions, rows: one per instance)
    path = write_results(
        args.out / f"ilp-{date}.json",
        rows,
        source=" ".join(["bench/bench_ilp.py", *sys.argv[1:]]),
        date=date,
        machine=machine(),
        versions=versions(),
        load_average_start=list(load_average_start),
        load_average_end=list(os.getloadavg()),
        total_s=total_s,
    )
    print(f"results written to {path} (total {total_s:.0f} s)")


def _table(row: dict) -> str:
    width = max(map(len, row))
    lines = []
    for key, value in row.items():
        if isinstance(value, float):
            text = f"{value:,.4f}"
        elif isinstance(value, int) and not isinstance(value, bool):
            text = f"{value:,}"
        else:
            text = str(value)
        lines.append(f"  {key:<{width}}  {text:>20}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
