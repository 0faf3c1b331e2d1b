"""Cheap soft-body relaxation: push overlapping cells apart so no cell hides another.

Each cell is a chain of disks along its axis (a rod) or a single disk (h = 0). One sweep finds the
overlapping disk pairs of different cells with a KD-tree, pushes each disk of a pair half the
overlap apart and moves every cell rigidly by the least-squares fit of its disks' pushes
(translation = mean push, rotation = Σ s·push⊥ / Σ s² for disks at offset s along the axis).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

#: Largest turn of a cell in one sweep, rad; keeps long rods from spinning on a single contact.
_MAX_TURN = 0.1


def axis_of(angle: np.ndarray) -> np.ndarray:
    """Unit axis vectors (y, x) = (sin angle, cos angle), shape (N, 2)."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=1)


def _disks(h: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owner cell and axial offset (px) of every disk: spaced by about one radius over [-h, h]."""
    counts = 1 + np.floor(2 * h / radius).astype(np.int64)
    owner = np.repeat(np.arange(len(h)), counts)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    step = np.where(counts > 1, 2 * h / np.maximum(counts - 1, 1), 0.0)
    offset = -h[owner] + rank * step[owner]
    return owner, offset


def relax(
    yx: np.ndarray, angle: np.ndarray, h: np.ndarray, radius: np.ndarray, sweeps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (N, 2) and angles (N,) after ``sweeps`` relaxation sweeps.

    ``h`` is each cell's half axis segment and ``radius`` its disk radius (px); two cells overlap
    where disks of theirs are closer than the sum of the radii.
    """
    yx, angle = yx.copy(), angle.copy()
    if len(yx) < 2:
        return yx, angle
    owner, offset = _disks(h, radius)
    r = radius[owner]
    n_cells = len(yx)
    spin = np.bincount(owner, weights=offset**2, minlength=n_cells)
    n_disks = np.bincount(owner, minlength=n_cells)
    for _ in range(sweeps):
        axis = axis_of(angle)
        points = yx[owner] + offset[:, None] * axis[owner]
        pairs = cKDTree(points).query_pairs(2 * r.max(), output_type="ndarray")
        i, j = pairs[owner[pairs[:, 0]] != owner[pairs[:, 1]]].T
        delta = points[i] - points[j]
        distance = np.linalg.norm(delta, axis=1)
        overlap = r[i] + r[j] - distance
        hit = overlap > 0
        if not hit.any():
            break
        i, j, delta, distance, overlap = i[hit], j[hit], delta[hit], distance[hit], overlap[hit]
        # Coincident disks get pushed along y: deterministic, and they never stay coincident.
        direction = np.where(distance[:, None] > 1e-9, delta / np.maximum(distance, 1e-9)[:, None], [1.0, 0.0])
        push = 0.5 * overlap[:, None] * direction
        force = np.zeros_like(points)
        np.add.at(force, i, push)
        np.add.at(force, j, -push)
        move = np.stack([np.bincount(owner, weights=force[:, k], minlength=n_cells) for k in (0, 1)], axis=1)
        yx += move / n_disks[:, None]
        normal = np.stack([axis[:, 1], -axis[:, 0]], axis=1)[owner]  # d(axis)/d(angle)
        torque = np.bincount(owner, weights=offset * np.einsum("ij,ij->i", force, normal), minlength=n_cells)
        angle += np.clip(torque / np.maximum(spin, 1e-9), -_MAX_TURN, _MAX_TURN)
    return yx, angle
