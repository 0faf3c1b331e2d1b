"""Greedy linker: a fast feasible solution of the ILP (no optimality guarantee).

Candidates are taken in increasing order of cost; one is accepted while u has no outgoing and v
(and w) no incoming selection, and only if it lowers the objective: selecting an edge u -> v changes
it by c_e − C_d[u] − C_a[v] (u no longer disappears, v no longer appears), a hyperedge u -> (v, w)
by c_h − C_d[u] − C_a[v] − C_a[w]. (Ordering by that change instead favours divisions, which save
two appear costs, and gave a clearly worse objective on synthetic data.) Pinned links are accepted
first; pinned parents take nothing else.

Vectorised as rounds of "locally best" picks: a candidate is accepted when it ranks first among the
remaining candidates on each of its resources (out(u), in(v), in(w)); accepted candidates never
conflict, the conflicting ones are dropped, repeat. This selects exactly what the sequential greedy
in rank order selects.
"""

from __future__ import annotations

import numpy as np

from benchmark.linking.candidates import CandidateGraph
from benchmark.linking.costs import EdgeTerm
from benchmark.linking.pins import FREE, ON, PinPlan


def greedy_link(
    candidates: CandidateGraph,
    costs: EdgeTerm,
    appear_cost: np.ndarray,
    disappear_cost: np.ndarray,
    plan: PinPlan,
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean selections (E,) of edges and (H,) of hyperedges."""
    n, n_e = candidates.n_nodes, len(candidates.edges)
    edges, hyper = candidates.edges, candidates.hyperedges
    # Resources: out(u) is u, in(v) is n + v. An edge repeats its child resource in the third slot.
    resources = np.concatenate(
        [
            np.stack([edges[:, 0], n + edges[:, 1], n + edges[:, 1]], axis=1),
            np.stack([hyper[:, 0], n + hyper[:, 1], n + hyper[:, 2]], axis=1),
        ]
    )
    cost = np.concatenate([costs.edges, costs.hyperedges])
    change = np.concatenate(
        [
            costs.edges - disappear_cost[edges[:, 0]] - appear_cost[edges[:, 1]],
            costs.hyperedges - disappear_cost[hyper[:, 0]] - appear_cost[hyper[:, 1]] - appear_cost[hyper[:, 2]],
        ]
    )
    fixed = np.concatenate([plan.edges, plan.hyperedges])
    selected = fixed == ON
    used = np.zeros(2 * n, bool)
    used[resources[selected].ravel()] = True

    candidate = np.flatnonzero((fixed == FREE) & (change < 0))
    candidate = candidate[np.argsort(cost[candidate], kind="stable")]
    candidate = candidate[~used[resources[candidate]].any(axis=1)]
    rank = np.arange(len(candidate))
    while candidate.size:
        held = resources[candidate]
        best = np.full(2 * n, np.iinfo(np.int64).max)
        np.minimum.at(best, held.ravel(), np.repeat(rank, 3))
        accept = (best[held] == rank[:, None]).all(axis=1)
        selected[candidate[accept]] = True
        used[held[accept].ravel()] = True
        keep = ~used[held].any(axis=1)
        candidate, rank = candidate[keep], rank[keep]
    return selected[:n_e], selected[n_e:]
