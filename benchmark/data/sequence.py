"""The suite's in-memory data model: a sequence of detections with its GT lineage, and a dataset.

Conventions used everywhere in the suite:

- Coordinates are in pixels, ``y`` is the row and ``x`` the column of a region's centroid.
- ``t`` is the 0-based frame index within its sequence.
- ``node_id`` is the row index of a detection in its sequence's table (0..N-1, sorted by t, label),
  so arrays indexed by node id need no lookup.
- ``parent_id`` is the node id of the GT predecessor (previous occurrence of the same CTC label, or
  for a track's first node the last node of its parent track), ``-1`` for roots or when unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

#: The 7 shallow per-detection features (SPEC section 1), in this order.
FEATURE_COLUMNS: tuple[str, ...] = (
    "diameter",  # equivalent diameter, px
    "intensity",  # mean of the image normalised to its [1st, 99.8th] percentile over the sequence
    "inertia_yy",  # inertia tensor of the region, px^2 (skimage convention)
    "inertia_yx",
    "inertia_xy",
    "inertia_xx",
    "border",  # 1 - min(distance to image border / 5 px, 1), maximised over the region
)

#: Identity and lineage columns of every detections table.
DETECTION_COLUMNS: tuple[str, ...] = ("node_id", "t", "label", "y", "x", "parent_id")

NO_PARENT = -1


@dataclass
class Sequence:
    """One time-lapse: its detections (with features) and where its frames come from.

    ``detections`` has DETECTION_COLUMNS + FEATURE_COLUMNS. Without raw images (``has_images`` False)
    the intensity feature is 0; point data (no masks either) has all features 0. A movie to track
    has no GT lineage (``has_gt`` False, every ``parent_id`` NO_PARENT) and is never scored.
    """

    name: str
    detections: pd.DataFrame
    n_frames: int
    image_shape: tuple[int, int] | None = None
    has_images: bool = False
    has_masks: bool = False
    has_gt: bool = True
    source: Path | None = None
    image_paths: list[Path] = field(default_factory=list)
    mask_paths: list[Path] = field(default_factory=list)

    @property
    def n_detections(self) -> int:
        return len(self.detections)

    def positions(self) -> np.ndarray:
        """Centroids as an (N, 2) float array of (y, x) in px, indexed by node id."""
        return self.detections[["y", "x"]].to_numpy(dtype=np.float64)

    def frames(self) -> np.ndarray:
        """Frame index of every node, shape (N,)."""
        return self.detections["t"].to_numpy(dtype=np.int64)

    def features(self) -> np.ndarray:
        """The 7 shallow features as an (N, 7) float array, indexed by node id."""
        return self.detections[list(FEATURE_COLUMNS)].to_numpy(dtype=np.float64)

    def gt_edges(self) -> np.ndarray:
        """GT lineage edges as an (M, 2) int array of (parent node id, child node id)."""
        parents = self.detections["parent_id"].to_numpy(dtype=np.int64)
        children = np.flatnonzero(parents != NO_PARENT)
        return np.stack([parents[children], children], axis=1)

    def gt_graph(self) -> nx.DiGraph:
        """GT lineage as a DiGraph over node ids; nodes carry t, y, x and label."""
        return lineage_graph(self.detections, self.gt_edges())


def lineage_graph(detections: pd.DataFrame, edges: np.ndarray) -> nx.DiGraph:
    """A DiGraph over all detections (attributes t, y, x, label) with the given (parent, child) edges."""
    graph = nx.DiGraph()
    ids = detections["node_id"].to_numpy(dtype=np.int64)
    ts = detections["t"].to_numpy(dtype=np.int64)
    ys = detections["y"].to_numpy(dtype=np.float64)
    xs = detections["x"].to_numpy(dtype=np.float64)
    labels = detections["label"].to_numpy(dtype=np.int64)
    graph.add_nodes_from(
        (int(n), {"t": int(t), "y": float(y), "x": float(x), "label": int(lab)})
        for n, t, y, x, lab in zip(ids, ts, ys, xs, labels)
    )
    graph.add_edges_from((int(p), int(c)) for p, c in edges)
    return graph


@dataclass(frozen=True)
class Split:
    """Which sequences a method may train on and which it is evaluated on."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def all(self) -> tuple[str, ...]:
        """Every sequence once, in train, val, test order."""
        seen: dict[str, None] = {}
        for name in (*self.train, *self.val, *self.test):
            seen.setdefault(name, None)
        return tuple(seen)


@dataclass
class Dataset:
    """A named collection of sequences with a train/val/test split (test = evaluation sequences)."""

    name: str
    sequences: dict[str, Sequence]
    split: Split
    root: Path | None = None
    fingerprint: str = ""

    def evaluation_sequences(self) -> list[Sequence]:
        return [self.sequences[name] for name in self.split.test]

    def training_sequences(self) -> list[Sequence]:
        return [self.sequences[name] for name in self.split.train]

    def validation_sequences(self) -> list[Sequence]:
        return [self.sequences[name] for name in self.split.val]
