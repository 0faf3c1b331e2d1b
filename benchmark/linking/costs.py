"""Edge and hyperedge costs (SPEC section 2): w1·z(d1) + w2·z(d2) + b.

d1 is the centroid distance in px (for a hyperedge: parent to the midpoint of its two children);
d2 is a method's appearance term. Each feature is z-scored over all edges, and separately over all
hyperedges, of one sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmark.errors import ConfigError, LinkingError
from benchmark.linking.candidates import CandidateGraph

#: Hyperedges handled per block where a (H, D) temporary would be large.
_BLOCK = 1 << 16


@dataclass(frozen=True)
class EdgeTerm:
    """One value per candidate edge (E,) and per candidate hyperedge (H,), in CandidateGraph order."""

    edges: np.ndarray
    hyperedges: np.ndarray


@dataclass(frozen=True)
class LinkingWeights:
    """Cost weights. ``w2`` must be set exactly when an appearance term d2 is given (SPEC: -1 for
    association scores, +1 for embedding distances). ``appear`` / ``disappear`` are the per-node costs
    C_a, C_d (>= 0) of starting / ending a track."""

    w1: float = 1.0
    w2: float | None = None
    b: float = 0.0
    appear: float = 1.0
    disappear: float = 1.0

    def __post_init__(self) -> None:
        for name in ("w1", "b", "appear", "disappear") + (("w2",) if self.w2 is not None else ()):
            if not np.isfinite(getattr(self, name)):
                raise ConfigError(f"weights.{name} must be finite, got {getattr(self, name)}")
        for name in ("appear", "disappear"):
            if getattr(self, name) < 0:
                raise ConfigError(f"weights.{name} must be >= 0, got {getattr(self, name)}")


def zscore(values: np.ndarray) -> np.ndarray:
    """(values - mean) / std; all zeros when the std is 0 (or there are no values)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values.copy()
    centred = values - values.mean()
    std = centred.std()
    return centred / std if std > 0 else np.zeros_like(centred)


def position_distance(candidates: CandidateGraph, yx: np.ndarray) -> EdgeTerm:
    """d1 in px: ‖p_u − p_v‖ per edge, ‖p_u − ½(p_v + p_w)‖ per hyperedge."""
    edges, hyper = candidates.edges, candidates.hyperedges
    return EdgeTerm(
        edges=np.linalg.norm(yx[edges[:, 0]] - yx[edges[:, 1]], axis=1),
        hyperedges=np.linalg.norm(yx[hyper[:, 0]] - 0.5 * (yx[hyper[:, 1]] + yx[hyper[:, 2]]), axis=1),
    )


def appearance_from_embeddings(candidates: CandidateGraph, embeddings: np.ndarray) -> EdgeTerm:
    """d2 = ‖e_u − e_v‖ per edge, ‖e_u − ½(e_v + e_w)‖ per hyperedge; ``embeddings`` is (N, D)."""
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2 or len(emb) != candidates.n_nodes:
        raise LinkingError(f"embeddings must have shape ({candidates.n_nodes}, D), got {emb.shape}")
    return EdgeTerm(
        edges=_blockwise(lambda e: np.linalg.norm(emb[e[:, 0]] - emb[e[:, 1]], axis=1), candidates.edges),
        hyperedges=_blockwise(
            lambda h: np.linalg.norm(emb[h[:, 0]] - 0.5 * (emb[h[:, 1]] + emb[h[:, 2]]), axis=1),
            candidates.hyperedges,
        ),
    )


def appearance_from_associations(
    candidates: CandidateGraph, parent: np.ndarray, child: np.ndarray, weight: np.ndarray
) -> EdgeTerm:
    """d2 = association score Â(u, v) per edge (0 where no score is given), the mean of the two
    children's scores per hyperedge. (parent, child) pairs must be unique; pairs that are not
    candidate edges are ignored."""
    parent, child = np.asarray(parent, dtype=np.int64), np.asarray(child, dtype=np.int64)
    weight = np.asarray(weight, dtype=np.float64)
    if not (parent.shape == child.shape == weight.shape and parent.ndim == 1):
        raise LinkingError(
            f"associations: parent, child and weight must be 1-D of one length, got "
            f"{parent.shape}, {child.shape}, {weight.shape}"
        )
    if not np.all(np.isfinite(weight)):
        raise LinkingError("associations: weight contains NaN or inf")
    keys = parent * candidates.n_nodes + child
    if len(np.unique(keys)) != len(keys):
        raise LinkingError("associations: (parent, child) pairs must be unique")
    ids = candidates.edge_ids(parent, child)
    score = np.zeros(len(candidates.edges))
    score[ids[ids >= 0]] = weight[ids >= 0]
    pair = candidates.hyperedge_edge_ids()
    return EdgeTerm(edges=score, hyperedges=0.5 * (score[pair[:, 0]] + score[pair[:, 1]]))


def edge_costs(
    candidates: CandidateGraph, yx: np.ndarray, weights: LinkingWeights, appearance: EdgeTerm | None = None
) -> EdgeTerm:
    """Cost of selecting each edge and hyperedge: w1·z(d1) + w2·z(d2) + b."""
    if (appearance is None) != (weights.w2 is None):
        raise ConfigError(
            "weights.w2 must be set exactly when an appearance term is given "
            f"(w2={weights.w2}, appearance {'given' if appearance is not None else 'absent'})"
        )
    d1 = position_distance(candidates, yx)
    cost = EdgeTerm(weights.w1 * zscore(d1.edges) + weights.b, weights.w1 * zscore(d1.hyperedges) + weights.b)
    if appearance is None:
        return cost
    for name, values, n in (
        ("edges", appearance.edges, len(candidates.edges)),
        ("hyperedges", appearance.hyperedges, len(candidates.hyperedges)),
    ):
        values = np.asarray(values)
        if values.shape != (n,):
            raise LinkingError(f"appearance.{name} must have shape ({n},), got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise LinkingError(f"appearance.{name} contains NaN or inf")
    return EdgeTerm(
        cost.edges + weights.w2 * zscore(appearance.edges),
        cost.hyperedges + weights.w2 * zscore(appearance.hyperedges),
    )


def _blockwise(fn: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> np.ndarray:
    """fn applied to blocks of rows, concatenated (bounds the memory of (block, D) temporaries)."""
    return np.concatenate([np.empty(0)] + [fn(rows[i : i + _BLOCK]) for i in range(0, len(rows), _BLOCK)])
