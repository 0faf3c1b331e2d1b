"""The globally constrained linking problem (SPEC section 2) as one sparse ILP, and its solvers.

Columns: x_e (one per candidate edge), x_h (one per hyperedge), appear_v and disappear_v (one each
per node). Every node is selected, so node variables are the constant 1 and do not appear.

    minimise   Σ_e c_e x_e + Σ_h c_h x_h + Σ_v (C_a[v] appear_v + C_d[v] disappear_v)
    subject to in(v)  ≤ 1,  out(v) ≤ 1,  appear_v + in(v) ≥ 1,  disappear_v + out(v) ≥ 1,
               x binary,  appear, disappear ∈ [0, 1]

with in(v) = Σ_{e into v} x_e + Σ_{h with v as a child} x_h and out(v) = Σ_{e, h leaving v} x.
C_a[v] is 0 for nodes of the sequence's first frame, C_d[v] 0 for its last frame.
appear/disappear are continuous: for binary x their optimum is 1 − in(v) ∈ {0, 1} (C ≥ 0), so the
ILP's optimum is unchanged and the solver branches on x only.

The model is built once as scipy sparse matrices (IlpModel) and handed to HiGHS directly (highspy)
or, through PuLP, to any solver PuLP knows (CBC, HiGHS, Gurobi, CPLEX, ...). HiGHS first solves the
LP relaxation, which is integral for most tracking instances and then already optimal for the ILP,
and runs branch-and-bound only when it is not (bench/README.md has the measurements).

Branch-and-bound after a fractional LP works near the LP optimum, exactly. For any row multipliers y
and d = c − Aᵀy, every feasible x satisfies c·x ≥ L(y) + Σ_j |d_j|·|x_j − b_j|, where b_j is the bound
of column j that d_j prefers and L(y) the Lagrangian bound (``lagrangian_bound``; with the LP's
optimal duals L equals the LP optimum). So a solution that moves an integer column with |d_j| > δ off
b_j costs more than L + δ. The ILP restricted to the other columns (those fixed at b_j and removed)
is solved with HiGHS; when its optimum z satisfies z ≤ L + δ it is the optimum of the whole ILP.
Otherwise δ grows and the restricted ILP is solved again, starting from the best solution so far:
the first round keeps the integer columns with zero reduced cost (δ = 0, up to a slack), each next
one 4× as many integer columns, or δ = z − L if that is less (a round with δ = z − L always passes
the test, since its optimum is at most z; with nothing left to fix the restricted ILP is the whole).
A few thousand columns instead of tens of thousands make HiGHS's branch-and-bound several times
faster (bench/README.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import highspy
import numpy as np
import pulp
from scipy import sparse

from benchmark.errors import ConfigError
from benchmark.linking.candidates import CandidateGraph
from benchmark.linking.costs import EdgeTerm
from benchmark.linking.pins import FREE, PinPlan


@dataclass(frozen=True)
class IlpModel:
    """min c·x + offset  s.t.  row_lower ≤ A x ≤ row_upper,  col_lower ≤ x ≤ col_upper,
    x_j integer where ``integrality[j]``.

    Columns of a model from ``build_model``: E edges, H hyperedges, N appear, N disappear. Rows: N in(v),
    N out(v), N appear links, N disappear links (module docstring). Models derived from one (a frame
    pair, a restricted model) have n_edges = n_hyperedges = 0."""

    c: np.ndarray
    A: sparse.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    n_edges: int = 0
    n_hyperedges: int = 0
    offset: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        return self.A.shape


@dataclass(frozen=True)
class IlpResult:
    """Solver outcome. ``x`` is None when no feasible solution was found. ``bound`` is the best
    proven lower bound on the objective and ``mip_gap`` = |objective − bound| / |objective| (NaN
    where the solver does not report a bound). ``solve_s``: wall time, s. ``row_dual``: the row
    multipliers of an LP relaxation solved by HiGHS (else None). ``n_subproblems``: independent
    problems solved (frame pairs, see decompose.py; 1 for a whole model); ``n_branched``: how many of
    them went to branch-and-bound (a fractional or unsolved LP relaxation; every one without an LP
    step first)."""

    x: np.ndarray | None
    objective: float
    bound: float
    mip_gap: float
    status: str
    solve_s: float
    row_dual: np.ndarray | None = None
    n_subproblems: int = 1
    n_branched: int = 0


def build_model(
    candidates: CandidateGraph,
    costs: EdgeTerm,
    appear_cost: np.ndarray,
    disappear_cost: np.ndarray,
    plan: PinPlan,
) -> IlpModel:
    """The SPEC's ILP for one sequence. ``appear_cost`` / ``disappear_cost``: (N,) per-node C_a, C_d
    (0 where not charged); ``plan`` fixes pinned columns through their bounds."""
    n, n_e, n_h = candidates.n_nodes, len(candidates.edges), len(candidates.hyperedges)
    edges, hyper = candidates.edges, candidates.hyperedges
    x_cols = np.arange(n_e + n_h)
    # in(v): an edge into v, or a hyperedge with v as one of its children.
    incoming = sparse.csr_matrix(
        (
            np.ones(n_e + 2 * n_h),
            (np.concatenate([edges[:, 1], hyper[:, 1], hyper[:, 2]]), np.concatenate([x_cols, x_cols[n_e:]])),
        ),
        shape=(n, n_e + n_h),
    )
    # out(v): an edge or a hyperedge leaving v.
    outgoing = sparse.csr_matrix(
        (np.ones(n_e + n_h), (np.concatenate([edges[:, 0], hyper[:, 0]]), x_cols)), shape=(n, n_e + n_h)
    )
    eye = sparse.identity(n, format="csr")
    A = sparse.bmat(
        [[incoming, None, None], [outgoing, None, None], [incoming, eye, None], [outgoing, None, eye]],
        format="csr",
    )
    ones, infs = np.ones(n), np.full(n, np.inf)
    fixed = np.concatenate([plan.edges, plan.hyperedges])
    return IlpModel(
        c=np.concatenate([costs.edges, costs.hyperedges, appear_cost, disappear_cost]).astype(np.float64),
        A=A,
        row_lower=np.concatenate([-infs, -infs, ones, ones]),
        row_upper=np.concatenate([ones, ones, infs, infs]),
        col_lower=np.concatenate([np.where(fixed == FREE, 0.0, fixed), np.zeros(2 * n)]),
        col_upper=np.concatenate([np.where(fixed == FREE, 1.0, fixed), np.ones(2 * n)]),
        integrality=np.concatenate([np.ones(n_e + n_h, bool), np.zeros(2 * n, bool)]),
        n_edges=n_e,
        n_hyperedges=n_h,
    )


def node_degrees(candidates: CandidateGraph, x_e: np.ndarray, x_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """in(v) and out(v) of every node for selections ``x_e`` (E,) and ``x_h`` (H,)."""
    edges, hyper, n = candidates.edges, candidates.hyperedges, candidates.n_nodes
    x_e, x_h = np.asarray(x_e, np.float64), np.asarray(x_h, np.float64)
    incoming = np.bincount(edges[:, 1], x_e, n) + np.bincount(hyper[:, 1], x_h, n) + np.bincount(hyper[:, 2], x_h, n)
    outgoing = np.bincount(edges[:, 0], x_e, n) + np.bincount(hyper[:, 0], x_h, n)
    return incoming, outgoing


def start_columns(candidates: CandidateGraph, x_e: np.ndarray, x_h: np.ndarray) -> np.ndarray:
    """Full column vector of IlpModel for a feasible selection (a MIP start)."""
    incoming, outgoing = node_degrees(candidates, x_e, x_h)
    return np.concatenate([x_e, x_h, 1 - incoming, 1 - outgoing]).astype(np.float64)


def objective_value(
    candidates: CandidateGraph,
    costs: EdgeTerm,
    appear_cost: np.ndarray,
    disappear_cost: np.ndarray,
    x_e: np.ndarray,
    x_h: np.ndarray,
) -> float:
    """The ILP objective of a feasible selection (appear_v = 1 − in(v), disappear_v = 1 − out(v))."""
    incoming, outgoing = node_degrees(candidates, x_e, x_h)
    return float(
        costs.edges @ x_e + costs.hyperedges @ x_h + appear_cost @ (1 - incoming) + disappear_cost @ (1 - outgoing)
    )


def solve(
    model: IlpModel,
    solver: str = "highs",
    *,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.0,
    threads: int = 1,
    lp_relaxation: bool = False,
    start: np.ndarray | None = None,
    lp_first: bool = True,
) -> IlpResult:
    """Solve ``model`` with HiGHS (``"highs"``) or PuLP (``"pulp"`` = CBC, ``"pulp:<name>"``).

    On hitting ``time_limit_s`` the best solution found is returned with status ``"time_limit"``
    and its gap. ``lp_relaxation`` drops integrality (the result's objective is then a lower bound).
    ``start``: a feasible column vector (see ``start_columns``) HiGHS starts from, so that a
    time-limited solve always has a solution to return. ``lp_first``: HiGHS solves the LP relaxation
    first, stops there when its optimum is integral and otherwise branches near the LP optimum
    (``finish_from_lp``); without it HiGHS runs branch-and-bound on the whole model. PuLP solvers
    ignore both. ``threads``: HiGHS's (or the PuLP solver's) threads.
    """
    if solver == "highs":
        if lp_relaxation:
            return solve_lp_relaxation(model, time_limit_s, threads)
        if not lp_first:
            return replace(_run_highs(model, True, time_limit_s, mip_rel_gap, threads, start), n_branched=1)
        lp = solve_lp_relaxation(model, time_limit_s, threads)
        remaining = None if time_limit_s is None else time_limit_s - lp.solve_s
        return finish_from_lp(model, lp, time_limit_s=remaining, mip_rel_gap=mip_rel_gap, threads=threads, start=start)
    result = _solve_pulp(model, pulp_solver_name(solver), time_limit_s, mip_rel_gap, threads, lp_relaxation)
    return result if lp_relaxation else replace(result, n_branched=1)


def pulp_solver_name(solver: str) -> str:
    """PuLP's name of ``solver`` (``"pulp"`` -> CBC); ConfigError if PuLP lacks it or cannot run it."""
    prefix, _, name = solver.partition(":")
    if prefix != "pulp" or (_ and not name):
        raise ConfigError(f"solver {solver!r}: expected 'highs', 'greedy', 'pulp' or 'pulp:<PuLP solver name>'")
    name = name or "PULP_CBC_CMD"
    if name not in pulp.listSolvers():
        raise ConfigError(f"solver {solver!r}: PuLP knows no solver {name!r}; it knows {pulp.listSolvers()}")
    if name not in pulp.listSolvers(onlyAvailable=True):
        raise ConfigError(
            f"solver {solver!r}: {name} is not installed here; available: {pulp.listSolvers(onlyAvailable=True)}"
        )
    return name


#: HiGHS options for these models. Presolve finds almost nothing here (< 2 % of rows) but its clique
#: and probing work makes the MIP setup explode (HeLa scale: > 5 min before the root LP, against
#: 15 s with it off); symmetry detection and the feasibility-jump heuristic cost seconds for nothing.
#: See bench/README.md.
_HIGHS_OPTIONS = {"presolve": "off", "mip_detect_symmetry": False, "mip_heuristic_run_feasibility_jump": False}

_HIGHS_STATUS = {highspy.HighsModelStatus.kOptimal: "optimal", highspy.HighsModelStatus.kTimeLimit: "time_limit"}

#: Distance to 0/1 under which an LP value counts as integral.
_INTEGRALITY_TOL = 1e-6

#: Slack of the reduced-cost test, relative to max(1, |L|): above HiGHS's dual feasibility tolerance
#: (1e-7), so that a column fixed at the bound its reduced cost prefers is at that bound in the LP
#: optimum, and far above rounding in L(y) and d. Any slack keeps the test exact (module docstring).
_BOUND_TOL = 1e-7

#: Growth of the restricted model between rounds of branch-and-bound near the LP optimum.
_GROWTH = 4


def solve_lp_relaxation(model: IlpModel, time_limit_s: float | None = None, threads: int = 1) -> IlpResult:
    """HiGHS on ``model`` without integrality; the result carries the row multipliers (``row_dual``)."""
    return _run_highs(model, False, time_limit_s, 0.0, threads, None)


def finish_from_lp(
    model: IlpModel,
    lp: IlpResult,
    *,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.0,
    threads: int = 1,
    start: np.ndarray | None = None,
) -> IlpResult:
    """The ILP optimum of ``model`` given its LP relaxation ``lp`` (from ``solve_lp_relaxation``).

    An integral optimal LP vertex is optimal for the ILP too (the LP optimum bounds the ILP from below
    and is attained by a feasible integral point): it is returned as is. Otherwise branch-and-bound
    runs near the LP optimum (module docstring), or on the whole model from ``start`` when the LP was
    not solved (time limit). ``time_limit_s``: what is left for branch-and-bound; the result's
    ``solve_s`` includes the LP's time.
    """
    if lp.status == "infeasible":
        return lp
    if lp.status == "optimal" and is_integral(model, lp.x):
        x = lp.x.copy()
        x[model.integrality] = np.round(x[model.integrality])
        return IlpResult(x, float(model.c @ x + model.offset), lp.objective, 0.0, "optimal", lp.solve_s)
    if lp.status == "optimal":
        result = _branch_and_bound_near_lp(model, lp.row_dual, time_limit_s, mip_rel_gap, threads, start)
    else:
        result = _run_highs(model, True, time_limit_s, mip_rel_gap, threads, start)
    return replace(result, solve_s=lp.solve_s + result.solve_s, n_branched=1)


def is_integral(model: IlpModel, x: np.ndarray) -> bool:
    """Whether every integer column of ``x`` is within 1e-6 of an integer."""
    values = x[model.integrality]
    return bool(np.all(np.abs(values - np.round(values)) <= _INTEGRALITY_TOL))


def lagrangian_bound(model: IlpModel, row_dual: np.ndarray) -> tuple[float, np.ndarray]:
    """L(y) and the reduced costs d = c − Aᵀy for row multipliers y = ``row_dual``.

    For every x with r ≤ A x ≤ R (row bounds) and l ≤ x ≤ u (column bounds):
    c·x + offset = d·x + y·(A x) + offset ≥ Σ_j min(d_j l_j, d_j u_j) + Σ_i min(y_i r_i, y_i R_i) + offset
    = L(y), and a column j away from the bound b_j its d_j prefers adds |d_j|·|x_j − b_j| on top. This
    holds for any y, so no solver tolerance is trusted: a multiplier that would face an infinite row
    bound is set to 0.
    """
    y = np.where(
        ((row_dual > 0) & np.isfinite(model.row_lower)) | ((row_dual < 0) & np.isfinite(model.row_upper)),
        row_dual,
        0.0,
    )
    reduced = model.c - model.A.T @ y
    rows = y * np.where(y > 0, model.row_lower, np.where(y < 0, model.row_upper, 0.0))
    cols = reduced * np.where(reduced > 0, model.col_lower, np.where(reduced < 0, model.col_upper, 0.0))
    return float(rows.sum() + cols.sum() + model.offset), reduced


def _branch_and_bound_near_lp(
    model: IlpModel,
    row_dual: np.ndarray,
    time_limit_s: float | None,
    mip_rel_gap: float,
    threads: int,
    start: np.ndarray | None,
) -> IlpResult:
    """Exact ILP optimum through restricted models around the LP optimum (module docstring)."""
    began = time.perf_counter()
    deadline = None if time_limit_s is None else began + time_limit_s
    lower, reduced = lagrangian_bound(model, row_dual)
    tol = _BOUND_TOL * max(1.0, abs(lower))
    preferred = np.where(reduced > 0, model.col_lower, model.col_upper)
    thresholds = np.sort(np.abs(reduced[model.integrality]))
    best, delta = start, 0.0
    while True:
        fixed = model.integrality & (np.abs(reduced) > delta + 2 * tol)
        restricted, value = _restricted(model, fixed, preferred)
        warm = best if best is not None and np.allclose(best[fixed], value[fixed], atol=1e-9) else None
        remaining = None if deadline is None else deadline - time.perf_counter()
        mip = _run_highs(restricted, True, remaining, mip_rel_gap, threads, None if warm is None else warm[~fixed])
        if mip.x is not None:
            value[~fixed] = mip.x
            if best is None or model.c @ value < model.c @ best:
                best = value
        if mip.status != "optimal":
            # Solutions outside the restricted model cost more than lower + delta.
            bound = max(lower, min(mip.bound, lower + delta)) if math.isfinite(mip.bound) else lower
            return _result(model, best, bound, mip.status, began)
        objective = float(model.c @ best + model.offset)
        if objective - lower <= delta + tol or not fixed.any():
            return _result(model, best, min(mip.bound, lower + delta) if fixed.any() else mip.bound, "optimal", began)
        # Grow delta to the gap, or to keep _GROWTH times as many integer columns if that is less.
        kept = int(np.searchsorted(thresholds, delta + 2 * tol, side="right"))
        delta = min(objective - lower, float(thresholds[min(_GROWTH * max(kept, 1), len(thresholds)) - 1]))


def _restricted(model: IlpModel, fixed: np.ndarray, value: np.ndarray) -> tuple[IlpModel, np.ndarray]:
    """``model`` with the columns ``fixed`` set to ``value`` and removed (rows and offset absorb them);
    also the full column vector holding those values (the others 0)."""
    full = np.where(fixed, value, 0.0)
    shift = model.A @ full
    keep = ~fixed
    restricted = IlpModel(
        c=model.c[keep],
        A=model.A[:, keep].tocsr(),
        row_lower=model.row_lower - shift,
        row_upper=model.row_upper - shift,
        col_lower=model.col_lower[keep],
        col_upper=model.col_upper[keep],
        integrality=model.integrality[keep],
        offset=model.offset + float(model.c @ full),
    )
    return restricted, full


def _result(model: IlpModel, x: np.ndarray | None, bound: float, status: str, began: float) -> IlpResult:
    solve_s = time.perf_counter() - began
    if x is None:
        return IlpResult(None, math.nan, bound, math.nan, status, solve_s)
    objective = float(model.c @ x + model.offset)
    return IlpResult(x, objective, bound, relative_gap(objective, bound), status, solve_s)


def relative_gap(objective: float, bound: float) -> float:
    """HiGHS's relative MIP gap |objective − bound| / |objective| (0 when both are 0)."""
    if objective == bound:
        return 0.0
    return abs(objective - bound) / abs(objective) if objective != 0 else math.inf


def _run_highs(
    model: IlpModel,
    integer: bool,
    time_limit_s: float | None,
    mip_rel_gap: float,
    threads: int,
    start: np.ndarray | None,
) -> IlpResult:
    """One HiGHS run of ``model``, as a MIP (``integer``) or as its LP relaxation. With no time left
    (``time_limit_s`` ≤ 0) HiGHS is not called: the result is ``start`` (MIP) or nothing, with status
    ``"time_limit"`` and no bound."""
    if time_limit_s is not None and time_limit_s <= 0:
        if not integer or start is None:
            return IlpResult(None, math.nan, math.nan, math.nan, "time_limit", 0.0)
        return IlpResult(start, float(model.c @ start + model.offset), -math.inf, math.inf, "time_limit", 0.0)
    highs = highspy._Highs()  # the bare binding: unlike highspy.Highs it prints no banner
    highs.setOptionValue("output_flag", False)
    for key, value in _HIGHS_OPTIONS.items():
        highs.setOptionValue(key, value)
    highs.setOptionValue("threads", int(threads))
    highs.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if time_limit_s is not None:
        highs.setOptionValue("time_limit", float(time_limit_s))
    A = model.A
    integrality = (model.integrality if integer else np.zeros(A.shape[1], bool)).astype(np.int32)
    highs.passModel(
        A.shape[1], A.shape[0], A.nnz, int(highspy.MatrixFormat.kRowwise), int(highspy.ObjSense.kMinimize),
        model.offset, model.c, model.col_lower, model.col_upper, model.row_lower, model.row_upper,
        A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(np.float64), integrality,
    )  # fmt: skip
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = start
        highs.setSolution(solution)
    highspy._Highs.resetGlobalScheduler(True)  # `threads` only applies to a fresh thread pool
    began = time.perf_counter()
    highs.run()
    solve_s = time.perf_counter() - began

    status = highs.getModelStatus()
    info = highs.getInfo()
    status_name = _HIGHS_STATUS.get(status, highs.modelStatusToString(status).lower().replace(" ", "_"))
    if info.primal_solution_status != int(highspy.SolutionStatus.kSolutionStatusFeasible):
        return IlpResult(None, math.nan, math.nan, math.nan, status_name, solve_s)
    objective = info.objective_function_value
    solution = highs.getSolution()
    if integer:
        bound, gap, row_dual = info.mip_dual_bound, info.mip_gap, None
    elif status_name == "optimal":
        bound, gap, row_dual = objective, 0.0, np.asarray(solution.row_dual)
    else:
        bound, gap, row_dual = -math.inf, math.inf, None
    return IlpResult(np.asarray(solution.col_value), objective, bound, gap, status_name, solve_s, row_dual)


def _solve_pulp(
    model: IlpModel, name: str, time_limit_s: float | None, mip_rel_gap: float, threads: int, lp_relaxation: bool
) -> IlpResult:
    """Hand the same matrices to a PuLP solver. PuLP holds one Python object per variable and
    constraint, so this path is much slower to build than HiGHS at HeLa scale."""
    problem = pulp.LpProblem("linking", pulp.LpMinimize)
    integer = np.zeros_like(model.integrality) if lp_relaxation else model.integrality
    variables = [
        pulp.LpVariable(f"x{j}", lo, up, pulp.LpInteger if is_int else pulp.LpContinuous)
        for j, (lo, up, is_int) in enumerate(zip(model.col_lower, model.col_upper, integer))
    ]
    nonzero = np.flatnonzero(model.c)
    problem += pulp.LpAffineExpression([(variables[j], model.c[j]) for j in nonzero.tolist()], constant=model.offset)
    A = model.A
    for i in range(A.shape[0]):
        cols, vals = A.indices[A.indptr[i] : A.indptr[i + 1]], A.data[A.indptr[i] : A.indptr[i + 1]]
        expr = pulp.LpAffineExpression([(variables[j], v) for j, v in zip(cols.tolist(), vals.tolist())])
        lo, up = model.row_lower[i], model.row_upper[i]
        if lo == up:
            problem += expr == lo
            continue
        if np.isfinite(lo):
            problem += expr >= lo
        if np.isfinite(up):
            problem += expr <= up

    options = {"msg": False, "gapRel": mip_rel_gap, "threads": threads}
    if time_limit_s is not None:
        options["timeLimit"] = time_limit_s
    start = time.perf_counter()
    problem.solve(pulp.getSolver(name, **options))
    solve_s = time.perf_counter() - start

    sol_status = problem.sol_status
    if sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        return IlpResult(None, math.nan, math.nan, math.nan, pulp.LpStatus[problem.status].lower(), solve_s)
    x = np.array([v.varValue or 0.0 for v in variables])
    objective = float(model.c @ x + model.offset)
    optimal = sol_status == pulp.LpSolutionOptimal and mip_rel_gap == 0
    status = "optimal" if sol_status == pulp.LpSolutionOptimal else "feasible"
    return IlpResult(x, objective, objective if optimal else math.nan, 0.0 if optimal else math.nan, status, solve_s)
