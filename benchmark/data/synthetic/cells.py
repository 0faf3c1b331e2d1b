"""Per-cell state shared by the simulators: identity appearance, rendered bodies, lineage bookkeeping.

A cell's *appearance* (size, intensity, texture frequency and contrast, plus the texture's angle
and phase) is its identity: it drifts slowly from frame to frame and daughters inherit it with
some variation. A *body* is what one frame renders: an elongated ellipse-capsule of half-segment
``h`` and semi-axes ``a`` (along the axis) and ``b`` (across), oriented by ``angle``: the axis
direction in (y, x) is (sin angle, cos angle). A rod is h > 0, a = b; an ellipse is h = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Self

import numpy as np
import pandas as pd

#: The appearance parameters written to appearance.csv, in column order.
APPEARANCE_COLUMNS: tuple[str, ...] = ("size", "intensity", "texture_frequency", "texture_contrast")


class Columns:
    """A struct of equally long numpy arrays, one row per cell."""

    def take(self, index: np.ndarray) -> Self:
        """The rows at ``index`` (integer indices or a boolean mask)."""
        return type(self)(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list[Self]) -> Self:
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))


@dataclass
class Appearance(Columns):
    """Identity parameters: size (px; rod width or nucleus radius), intensity (counts above
    background), texture frequency (cycles/px), contrast (0-1), angle and phase (rad)."""

    size: np.ndarray
    intensity: np.ndarray
    texture_frequency: np.ndarray
    texture_contrast: np.ndarray
    texture_angle: np.ndarray
    texture_phase: np.ndarray

    @classmethod
    def sample(cls, rng: np.random.Generator, n: int, size: float, intensity: float) -> Appearance:
        """``n`` founders: log-normal size (10 %) and intensity (35 %), varied texture."""
        return cls(
            size=size * np.exp(rng.normal(0.0, 0.1, n)),
            intensity=intensity * np.exp(rng.normal(0.0, 0.35, n)),
            texture_frequency=np.exp(rng.uniform(np.log(0.05), np.log(0.22), n)),
            texture_contrast=rng.uniform(0.1, 0.6, n),
            texture_angle=rng.uniform(0.0, np.pi, n),
            texture_phase=rng.uniform(0.0, 2 * np.pi, n),
        )

    def varied(self, rng: np.random.Generator, log_sd: float) -> Appearance:
        """A copy with size, intensity, frequency and contrast multiplied by exp(N(0, log_sd)).

        Used every frame (slow drift) and at division (daughters vary from their mother);
        texture angle and phase are fixed in the cell's body frame.
        """
        n = len(self)

        def vary(values: np.ndarray) -> np.ndarray:
            return values * np.exp(rng.normal(0.0, log_sd, n))

        return Appearance(
            size=vary(self.size),
            intensity=vary(self.intensity),
            texture_frequency=vary(self.texture_frequency),
            texture_contrast=np.clip(vary(self.texture_contrast), 0.02, 0.9),
            texture_angle=self.texture_angle.copy(),
            texture_phase=self.texture_phase.copy(),
        )


@dataclass
class Bodies(Columns):
    """What one frame shows of each cell: label, centre (px), shape, brightness and texture."""

    label: np.ndarray
    y: np.ndarray
    x: np.ndarray
    angle: np.ndarray
    h: np.ndarray
    a: np.ndarray
    b: np.ndarray
    brightness: np.ndarray
    texture_frequency: np.ndarray
    texture_contrast: np.ndarray
    texture_angle: np.ndarray
    texture_phase: np.ndarray


@dataclass
class Frame:
    """One simulated frame: the bodies to render and the cells' identity appearance."""

    bodies: Bodies
    appearance: Appearance


class Lineage:
    """Hands out track labels (1, 2, ...) and remembers each label's parent (0 for founders)."""

    def __init__(self) -> None:
        self.parents: list[int] = []

    def new(self, parents: np.ndarray) -> np.ndarray:
        """Fresh labels for cells whose parents are ``parents`` (0 = none)."""
        first = len(self.parents) + 1
        self.parents.extend(int(p) for p in parents)
        return np.arange(first, first + len(parents), dtype=np.int64)

    def tracks(self, frames: list[Frame]) -> pd.DataFrame:
        """The CTC track table (label, begin, end, parent) of the labels seen in ``frames``."""
        t = np.concatenate([np.full(len(f.bodies), i) for i, f in enumerate(frames)])
        labels = np.concatenate([f.bodies.label for f in frames])
        spans = pd.DataFrame({"label": labels, "t": t}).groupby("label")["t"].agg(["min", "max"])
        parents = np.asarray(self.parents, dtype=np.int64)[spans.index.to_numpy() - 1]
        return pd.DataFrame(
            {"label": spans.index, "begin": spans["min"].to_numpy(), "end": spans["max"].to_numpy(), "parent": parents}
        )


def appearance_table(frames: list[Frame]) -> pd.DataFrame:
    """Columns t, label, then APPEARANCE_COLUMNS: every cell's identity parameters in every frame."""
    parts = [
        pd.DataFrame(
            {"t": t, "label": f.bodies.label, **{c: getattr(f.appearance, c) for c in APPEARANCE_COLUMNS}}
        )
        for t, f in enumerate(frames)
    ]
    return pd.concat(parts, ignore_index=True)
