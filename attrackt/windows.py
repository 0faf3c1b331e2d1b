"""Windows of consecutive frames as model input: token arrays, lineage targets, padding and collation.

A window holds every detection of frames [start, start + length) of one sequence. Its tokens keep
the sequence's order (sorted by frame), so a window is a contiguous slice of the detections table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import torch

from benchmark.data.sequence import NO_PARENT, Sequence


@dataclass(frozen=True)
class SequenceTokens:
    """The arrays of one sequence a window is cut from; ``parent`` is the GT parent's row or -1."""

    name: str
    t: np.ndarray  # (N,) int frame
    yx: np.ndarray  # (N, 2) float px
    features: np.ndarray  # (N, 7) float
    parent: np.ndarray  # (N,) int row index of the GT parent, -1 for none (or no GT)
    n_frames: int

    @classmethod
    def from_sequence(cls, sequence: Sequence) -> SequenceTokens:
        detections = sequence.detections
        parent_ids = detections["parent_id"].to_numpy()
        node_ids = detections["node_id"].to_numpy()
        row_of = {int(node): row for row, node in enumerate(node_ids)}
        parent = np.array([row_of.get(int(p), -1) if p != NO_PARENT else -1 for p in parent_ids], dtype=np.int64)
        return cls(
            name=sequence.name,
            t=sequence.frames().astype(np.int64),
            yx=sequence.positions().astype(np.float64),
            features=sequence.features().astype(np.float64),
            parent=parent,
            n_frames=sequence.n_frames,
        )

    @cached_property
    def centre(self) -> np.ndarray:
        """(y, x) centre of the sequence's bounding box, px (the pivot of test-time rotations)."""
        return self.yx.min(axis=0) + 0.5 * np.ptp(self.yx, axis=0)

    def window_starts(self, length: int) -> range:
        """Every start frame of a window of ``length`` frames (one window if the sequence is shorter)."""
        return range(max(1, self.n_frames - length + 1))

    def window(self, start: int, length: int, with_targets: bool = True) -> Window:
        first, stop = np.searchsorted(self.t, [start, start + length])
        rows = np.arange(first, stop)
        return Window(
            sequence=self.name,
            rows=rows,
            t=self.t[rows] - start,
            yx=self.yx[rows].copy(),
            features=self.features[rows].copy(),
            target=self.lineage_targets(first, stop) if with_targets else None,
        )

    def lineage_targets(self, first: int, stop: int) -> np.ndarray:
        """(n, n) 1 where one token is an ancestor of the other inside the window, else 0."""
        n = stop - first
        target = np.zeros((n, n), dtype=np.float32)
        child = np.arange(first, stop)
        ancestor = self.parent[child]
        while child.size:
            inside = ancestor >= first  # rows are sorted by frame: row >= first means inside the window
            child, ancestor = child[inside], ancestor[inside]
            target[ancestor - first, child - first] = 1.0
            ancestor = self.parent[ancestor]
        return np.maximum(target, target.T)


@dataclass(frozen=True)
class Window:
    """Tokens of one window. ``t`` counts frames from the window's start; ``rows`` index the sequence."""

    sequence: str
    rows: np.ndarray  # (n,)
    t: np.ndarray  # (n,)
    yx: np.ndarray  # (n, 2)
    features: np.ndarray  # (n, 7)
    target: np.ndarray | None  # (n, n) lineage targets, None at inference
    mask: np.ndarray | None = None  # (n, n) which target entries are known (fine-tuning); None: all

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, keep: np.ndarray) -> Window:
        """The window restricted to the tokens where ``keep`` (boolean, (n,)) is true."""
        pairs = np.ix_(keep, keep)
        return replace(
            self,
            rows=self.rows[keep],
            t=self.t[keep],
            yx=self.yx[keep],
            features=self.features[keep],
            target=None if self.target is None else self.target[pairs],
            mask=None if self.mask is None else self.mask[pairs],
        )


@dataclass
class Batch:
    """Padded tensors of several windows; padding tokens have ``valid`` False and frame -1."""

    coordinates: torch.Tensor  # (B, N, 3) float: t, y, x
    features: torch.Tensor  # (B, N, 7) float
    valid: torch.Tensor  # (B, N) bool
    frames: torch.Tensor  # (B, N) long
    target: torch.Tensor | None  # (B, N, N) float
    rows: torch.Tensor  # (B, N) long: each token's row in its sequence, -1 for padding
    sequences: tuple[str, ...]  # (B,) the sequence each window comes from
    mask: torch.Tensor | None = None  # (B, N, N) bool: known target entries; None: all

    def to(self, device: torch.device) -> Batch:
        moved = {name: value.to(device) if isinstance(value, torch.Tensor) else value for name, value in vars(self).items()}
        return Batch(**moved)


def collate(windows: list[Window]) -> Batch:
    """Pad windows to the longest one and stack them."""
    size = max(1, max(len(w) for w in windows))
    n = len(windows)
    coordinates = np.zeros((n, size, 3), dtype=np.float32)
    features = np.zeros((n, size, windows[0].features.shape[1]), dtype=np.float32)
    valid = np.zeros((n, size), dtype=bool)
    frames = np.full((n, size), -1, dtype=np.int64)
    rows = np.full((n, size), -1, dtype=np.int64)
    with_targets = all(w.target is not None for w in windows)
    target = np.zeros((n, size, size), dtype=np.float32) if with_targets else None
    mask = np.zeros((n, size, size), dtype=bool) if all(w.mask is not None for w in windows) else None
    for b, window in enumerate(windows):
        k = len(window)
        coordinates[b, :k, 0] = window.t
        coordinates[b, :k, 1:] = window.yx
        features[b, :k] = window.features
        valid[b, :k] = True
        frames[b, :k] = window.t
        rows[b, :k] = window.rows
        if target is not None:
            target[b, :k, :k] = window.target
        if mask is not None:
            mask[b, :k, :k] = window.mask
    return Batch(
        coordinates=torch.from_numpy(coordinates),
        features=torch.from_numpy(features),
        valid=torch.from_numpy(valid),
        frames=torch.from_numpy(frames),
        target=None if target is None else torch.from_numpy(target),
        rows=torch.from_numpy(rows),
        sequences=tuple(w.sequence for w in windows),
        mask=None if mask is None else torch.from_numpy(mask),
    )
