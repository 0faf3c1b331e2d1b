"""The linking ILP solved as one independent problem per frame pair, exactly.

Why it separates. Every detection is selected (node variables are the constant 1) and a candidate
edge or hyperedge always joins frame t to frame t + 1. Give every column and row of the model of
ilp.py the frame pair (t, t + 1) it belongs to, written t:

- x_e, x_h with parent in frame t: pair t;
- for a node v in frame t: the row out(v) ≤ 1 and the row disappear_v + out(v) ≥ 1 hold only
  columns leaving v (pair t) and disappear_v, which is given pair t too;
- for a node v in frame t: the row in(v) ≤ 1 and the row appear_v + in(v) ≥ 1 hold only columns
  entering v, whose parents are in frame t − 1 (pair t − 1), and appear_v, given pair t − 1.

So every row's nonzeros lie in its own pair's columns: after ordering rows and columns by pair the
constraint matrix is block diagonal, the bounds are per column, and the objective is a sum over
columns. The problem is the direct sum of one problem per pair: the optimum of the whole is the sum
of the pairs' optima and the union of their optimal solutions is optimal for the whole (the same
holds for the LP relaxation). Pins (the interpolation setup) only fix column bounds and change
nothing of this. ``split_model`` checks the block structure on the matrix itself and refuses a
model whose rows join two pairs: such a model is solved whole (``link(..., decompose=False)``).
"Pairs" without candidate edges (the first frame's appear columns, the frames around a gap) have no
integer column and are solved as the LPs they are.

Each pair is solved as the whole model is (ilp.py: the LP relaxation first, branch-and-bound near
its optimum only where it is fractional), on ``workers`` threads; HiGHS releases the GIL while it
solves, one HiGHS thread per pair. The result does not depend on the number of workers: each pair's
solve is the same deterministic computation whichever thread runs it (without a time limit).
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from benchmark.errors import LinkingError
from benchmark.linking.candidates import CandidateGraph
from benchmark.linking.ilp import IlpModel, IlpResult, finish_from_lp, relative_gap, solve_lp_relaxation


@dataclass(frozen=True)
class Subproblem:
    """One block of a model: its own IlpModel and the indices of its columns and rows in the whole."""

    model: IlpModel
    columns: np.ndarray
    rows: np.ndarray


def frame_pair_blocks(candidates: CandidateGraph, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame pair (labelled by its first frame) of every column and every row of ``build_model``'s
    layout (columns: E edges, H hyperedges, N appear, N disappear; rows: N in, N out, N appear,
    N disappear). ``t``: (N,) frame of each node."""
    t = np.asarray(t, np.int64)
    columns = np.concatenate([t[candidates.edges[:, 0]], t[candidates.hyperedges[:, 0]], t - 1, t])
    rows = np.concatenate([t - 1, t, t - 1, t])
    return columns, rows


def split_model(model: IlpModel, column_block: np.ndarray, row_block: np.ndarray) -> list[Subproblem]:
    """The independent problems of ``model`` for the given column and row labels, in label order.

    Raises LinkingError when a row has a nonzero in a column of another label (the labels do not
    split the model)."""
    A = model.A
    if column_block.shape != (A.shape[1],) or row_block.shape != (A.shape[0],):
        raise LinkingError(f"block labels of shape {column_block.shape}, {row_block.shape} for a model of shape {A.shape}")
    row_of_nonzero = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    coupled = np.flatnonzero(column_block[A.indices] != row_block[row_of_nonzero])
    if coupled.size:
        i, j = row_of_nonzero[coupled[0]], A.indices[coupled[0]]
        raise LinkingError(
            f"the model does not separate by frame pair: row {i} (pair {row_block[i]}) uses column {j} "
            f"(pair {column_block[j]}) and {coupled.size - 1} more such entries; solve it whole (decompose=False)"
        )
    labels = np.unique(np.concatenate([column_block, row_block]))
    col_order = np.argsort(column_block, kind="stable")
    row_order = np.argsort(row_block, kind="stable")
    col_bounds = np.searchsorted(column_block[col_order], np.append(labels, labels[-1] + 1))
    row_bounds = np.searchsorted(row_block[row_order], np.append(labels, labels[-1] + 1))
    position = np.empty(A.shape[1], np.int64)
    position[col_order] = np.arange(A.shape[1])
    permuted = A[row_order]  # rows grouped by label; each row's columns lie in its label's range
    parts = []
    for k in range(len(labels)):
        (c0, c1), (r0, r1) = col_bounds[k : k + 2], row_bounds[k : k + 2]
        p0, p1 = permuted.indptr[r0], permuted.indptr[r1]
        block = sparse.csr_matrix(
            (permuted.data[p0:p1], position[permuted.indices[p0:p1]] - c0, permuted.indptr[r0 : r1 + 1] - p0),
            shape=(r1 - r0, c1 - c0),
        )
        columns, rows = col_order[c0:c1], row_order[r0:r1]
        sub = IlpModel(
            c=model.c[columns],
            A=block,
            row_lower=model.row_lower[rows],
            row_upper=model.row_upper[rows],
            col_lower=model.col_lower[columns],
            col_upper=model.col_upper[columns],
            integrality=model.integrality[columns],
        )
        parts.append(Subproblem(sub, columns, rows))
    return parts


def solve_decomposed(
    model: IlpModel,
    column_block: np.ndarray,
    row_block: np.ndarray,
    *,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.0,
    workers: int = 1,
    start: np.ndarray | None = None,
) -> IlpResult:
    """Solve ``model`` block by block with HiGHS (module docstring) and assemble the whole solution.

    First the LP relaxation of every block, then branch-and-bound for the blocks whose LP is
    fractional; ``workers`` threads run the blocks of each phase in parallel. ``time_limit_s`` bounds
    the whole (wall clock): each solve gets what is left. ``start``: a feasible column vector of
    ``model``, restricted to each block as that block's MIP start. The status is ``"optimal"`` only
    when every block was solved to optimality; otherwise the first other status in block order. The
    objective and bound are the sums over blocks (plus the model's offset), ``solve_s`` the wall time.
    """
    began = time.perf_counter()
    deadline = None if time_limit_s is None else began + time_limit_s
    parts = split_model(model, column_block, row_block)

    def left() -> float | None:
        return None if deadline is None else deadline - time.perf_counter()

    def relax(part: Subproblem) -> IlpResult:
        return solve_lp_relaxation(part.model, left())

    def finish(part: Subproblem, lp: IlpResult) -> IlpResult:
        part_start = None if start is None else start[part.columns]
        return finish_from_lp(part.model, lp, time_limit_s=left(), mip_rel_gap=mip_rel_gap, start=part_start)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        lps = list(pool.map(relax, parts))
        results = list(pool.map(finish, parts, lps))

    statuses = [r.status for r in results if r.status != "optimal"]
    status = statuses[0] if statuses else "optimal"
    objective = math.fsum(r.objective for r in results) + model.offset
    bound = math.fsum(r.bound for r in results) + model.offset
    x = None
    if all(r.x is not None for r in results):
        x = np.empty(model.shape[1])
        for part, result in zip(parts, results):
            x[part.columns] = result.x
    else:
        objective = math.nan
    gap = math.nan if x is None else relative_gap(objective, bound)
    return IlpResult(
        x,
        objective,
        bound,
        gap,
        status,
        time.perf_counter() - began,
        n_subproblems=len(parts),
        n_branched=sum(r.n_branched for r in results),
    )
