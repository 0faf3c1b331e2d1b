"""Candidate graph (SPEC section 2): k-NN edges to the previous frame and division hyperedges.

Node ids are row indices of the ``t`` / ``yx`` arrays handed in (the suite's ``node_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.spatial import cKDTree

from benchmark.errors import ConfigError, LinkingError


@dataclass(frozen=True)
class CandidateGraph:
    """Candidate links of one sequence.

    ``edges``: (E, 2) int64 rows ``[parent, child]``, child in frame t, parent in frame t - 1, sorted by
    (parent, child). ``hyperedges``: (H, 3) int64 rows ``[parent, child1, child2]`` with
    child1 < child2, one per unordered pair of candidate children of a parent, sorted likewise.
    ``n_nodes``: N, node ids are 0..N-1.
    """

    edges: np.ndarray
    hyperedges: np.ndarray
    n_nodes: int

    @cached_property
    def _edge_keys(self) -> np.ndarray:
        return _sorted_keys(self.edges[:, 0] * self.n_nodes + self.edges[:, 1], "edges")

    @cached_property
    def _hyperedge_keys(self) -> np.ndarray:
        return _sorted_keys(self._hyperedge_key(*self.hyperedges.T), "hyperedges")

    def _hyperedge_key(self, parents: np.ndarray, child1: np.ndarray, child2: np.ndarray) -> np.ndarray:
        """One int64 per (parent, child1, child2); exact while N³ < 2⁶³ (N up to 2 million)."""
        n = np.int64(self.n_nodes)
        return (parents.astype(np.int64) * n + child1) * n + child2

    def edge_ids(self, parents: np.ndarray, children: np.ndarray) -> np.ndarray:
        """Row index in ``edges`` of each (parent, child) pair, -1 where it is not a candidate."""
        return _lookup(self._edge_keys, np.asarray(parents, np.int64) * self.n_nodes + np.asarray(children, np.int64))

    def hyperedge_ids(self, parents: np.ndarray, child1: np.ndarray, child2: np.ndarray) -> np.ndarray:
        """Row index in ``hyperedges`` of each (parent, {child1, child2}), -1 where it is not a candidate."""
        lo, hi = np.minimum(child1, child2), np.maximum(child1, child2)
        return _lookup(self._hyperedge_keys, self._hyperedge_key(np.asarray(parents), lo, hi))

    def hyperedge_edge_ids(self) -> np.ndarray:
        """(H, 2) row indices in ``edges`` of each hyperedge's (parent, child1) and (parent, child2)."""
        parents = self.hyperedges[:, 0]
        return np.stack(
            [self.edge_ids(parents, self.hyperedges[:, 1]), self.edge_ids(parents, self.hyperedges[:, 2])], axis=1
        )


def _sorted_keys(keys: np.ndarray, name: str) -> np.ndarray:
    if keys.size > 1 and not np.all(keys[1:] > keys[:-1]):
        raise LinkingError(f"CandidateGraph.{name} must be unique and sorted by node ids")
    return keys


def _lookup(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Position of each query in the sorted ``keys``, -1 where absent."""
    if keys.size == 0:
        return np.full(query.shape, -1, np.int64)
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return np.where(keys[pos] == query, pos, -1)


def build_candidate_graph(t: np.ndarray, yx: np.ndarray, k_neighbors: int = 10) -> CandidateGraph:
    """Every node in frame t gets an edge from each of its ``k_neighbors`` nearest nodes (Euclidean on
    centroids, px) in frame t - 1 (all of them when that frame has fewer); every parent gets a
    hyperedge for each unordered pair of its candidate children.

    ``t``: (N,) integer frame of each node; ``yx``: (N, 2) centroids. Frames need not be sorted.
    """
    if k_neighbors < 1:
        raise ConfigError(f"k_neighbors must be >= 1, got {k_neighbors}")
    t = np.asarray(t, dtype=np.int64)
    yx = np.asarray(yx, dtype=np.float64)
    n_nodes = len(t)
    order = np.argsort(t, kind="stable")
    frames, starts = np.unique(t[order], return_index=True)
    bounds = dict(zip(frames.tolist(), zip(starts.tolist(), np.append(starts[1:], n_nodes).tolist())))

    parts = []
    for frame, (lo, hi) in bounds.items():
        if frame - 1 not in bounds:
            continue
        prev_lo, prev_hi = bounds[frame - 1]
        prev_nodes, nodes = order[prev_lo:prev_hi], order[lo:hi]
        k = min(k_neighbors, len(prev_nodes))
        _, nearest = cKDTree(yx[prev_nodes]).query(yx[nodes], k=k)
        nearest = nearest.reshape(len(nodes), k)
        parts.append(np.stack([prev_nodes[nearest].ravel(), np.repeat(nodes, k)], axis=1))
    edges = np.concatenate(parts) if parts else np.empty((0, 2), np.int64)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
    return CandidateGraph(edges=edges, hyperedges=_division_hyperedges(edges), n_nodes=n_nodes)


def _division_hyperedges(edges: np.ndarray) -> np.ndarray:
    """All pairs of out-edges of each parent, from edges sorted by (parent, child)."""
    n_edges = len(edges)
    if n_edges == 0:
        return np.empty((0, 3), np.int64)
    group_start = np.flatnonzero(np.r_[True, edges[1:, 0] != edges[:-1, 0]])
    group_end = np.append(group_start[1:], n_edges)
    sizes = group_end - group_start
    end_of_edge = np.repeat(group_end, sizes)
    n_partners = end_of_edge - np.arange(n_edges) - 1  # later edges of the same parent
    first = np.repeat(np.arange(n_edges), n_partners)
    block_start = np.repeat(np.cumsum(n_partners) - n_partners, n_partners)
    second = first + 1 + (np.arange(len(first)) - block_start)
    return np.stack([edges[first, 0], edges[first, 1], edges[second, 1]], axis=1)
