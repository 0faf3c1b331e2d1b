"""Overlapping spatial tiles of a window, so that inference never runs more tokens at once than a cap.

A tile is a *core* (a set of tokens; the cores of a window partition its tokens) plus every token
within ``halo`` px of the core's bounding box in Chebyshev distance max(|Δy|, |Δx|). Every token
within ``halo`` px (Euclidean) of a core token is therefore in the core's tile: with ``halo`` = the
model's attention cutoff, a core token's whole attention neighbourhood and every parent candidate
the spatial mask leaves it are in its tile (docs/tokens.md says what that does and does not make
exact). Positions are (y, x) px; the same tiles serve every frame of the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tile:
    """Boolean masks over a window's tokens: ``members`` the tile's tokens, ``core`` those it answers for."""

    members: np.ndarray  # (n,) bool
    core: np.ndarray  # (n,) bool, a subset of members


def spatial_tiles(yx: np.ndarray, max_tokens: int, halo: float) -> list[Tile]:
    """Tiles of the tokens at ``yx`` ((n, 2) px) with at most ``max_tokens`` tokens each where the data allow.

    A window of at most ``max_tokens`` tokens is one tile (core = members = every token). Otherwise
    a tile above the cap is split in two at the median of its core's tokens along the core's longer
    side, until it holds at most ``max_tokens`` tokens or its core is no wider than ``halo`` on
    either side (splitting further would mostly repeat the halo). A tile that stops for the second
    reason is returned above the cap: there the tokens are denser than the cap and the halo allow.
    Always ends: each split halves a core, and a core of one position is no wider than ``halo``.
    """
    n = len(yx)
    if n <= max_tokens:
        everything = np.ones(n, dtype=bool)
        return [Tile(everything, everything)] if n else []
    tiles, pending = [], [np.arange(n)]
    while pending:
        core = pending.pop()
        low, high = yx[core].min(axis=0), yx[core].max(axis=0)
        members = np.all((yx >= low - halo) & (yx <= high + halo), axis=1)
        axis = int(np.argmax(high - low))
        if members.sum() <= max_tokens or high[axis] - low[axis] <= halo:
            in_core = np.zeros(n, dtype=bool)
            in_core[core] = True
            tiles.append(Tile(members, in_core))
            continue
        order = core[np.argsort(yx[core, axis], kind="stable")]
        middle = len(order) // 2
        pending += [np.sort(order[middle:]), np.sort(order[:middle])]
    return tiles
