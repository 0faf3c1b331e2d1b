"""Training augmentations of a window (SPEC section 4) and the 8 rotations/flips of test-time augmentation.

Geometry is applied consistently to every token attribute it affects: positions turn as
p' = M (p − c) + c, the inertia tensor as I' = M I Mᵀ, the diameter scales by sqrt(|det M|).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from attrackt.windows import Window
from benchmark.data.sequence import FEATURE_COLUMNS

_DIAMETER = FEATURE_COLUMNS.index("diameter")
_INTENSITY = FEATURE_COLUMNS.index("intensity")
_INERTIA = [FEATURE_COLUMNS.index(name) for name in ("inertia_yy", "inertia_yx", "inertia_xy", "inertia_xx")]

#: Ranges of the random training augmentations (SPEC section 4).
SCALE_RANGE = (0.5, 2.0)
SHEAR_MAX = 0.1
BRIGHTNESS_SCALE = (0.5, 2.0)
BRIGHTNESS_SHIFT = 0.1
JITTER_PX = 3.0
TRANSLATION_PX = 128.0  # decision: the global shift is uniform in ±half the paper's 256 px crop

#: The 8 symmetries of the square (rotations by 90° with and without a flip), as (y, x) matrices.
SQUARE_SYMMETRIES: tuple[np.ndarray, ...] = tuple(
    np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]).round() @ np.diag([1.0, flip])
    for flip in (1.0, -1.0)
    for a in (0.0, math.pi / 2, math.pi, 3 * math.pi / 2)
)


def affine(window: Window, matrix: np.ndarray, centre: np.ndarray) -> Window:
    """Apply the (y, x) linear map ``matrix`` about ``centre`` to positions, inertia tensors and diameters."""
    features = window.features.copy()
    inertia = features[:, _INERTIA].reshape(-1, 2, 2)
    features[:, _INERTIA] = (matrix @ inertia @ matrix.T).reshape(-1, 4)
    features[:, _DIAMETER] *= math.sqrt(abs(np.linalg.det(matrix)))
    yx = (window.yx - centre) @ matrix.T + centre
    return replace(window, yx=yx, features=features)


def crop(window: Window, size: float, max_tokens: int, rng: np.random.Generator) -> Window:
    """A random square crop of side ``size`` px (the same for every frame), shrunk by 20% steps
    until it holds at most ``max_tokens`` tokens."""
    if len(window) == 0:
        return window
    low, high = window.yx.min(axis=0), window.yx.max(axis=0)
    while True:
        origin = rng.uniform(low, np.maximum(low, high - size))
        keep = np.all((window.yx >= origin) & (window.yx <= origin + size), axis=1)
        if keep.sum() <= max_tokens:
            return window.subset(keep)
        size *= 0.8


def random_matrix(rng: np.random.Generator) -> np.ndarray:
    """Rotation (±180°) · isotropic scale (log-uniform in SCALE_RANGE) · shear (±SHEAR_MAX) · random flips."""
    angle = rng.uniform(-math.pi, math.pi)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    scale = math.exp(rng.uniform(math.log(SCALE_RANGE[0]), math.log(SCALE_RANGE[1])))
    shear = np.array([[1.0, rng.uniform(-SHEAR_MAX, SHEAR_MAX)], [0.0, 1.0]])
    flips = np.diag(rng.choice([-1.0, 1.0], size=2))
    return rotation @ (scale * shear) @ flips


def augment(window: Window, rng: np.random.Generator, crop_size: float, max_tokens: int) -> Window:
    """Crop, affine, brightness, per-token jitter and a global translation (all random from ``rng``).

    ``crop_size`` inf keeps every token (up to the ``max_tokens`` cap)."""
    window = crop(window, crop_size, max_tokens, rng)
    if len(window) == 0:
        return window
    window = affine(window, random_matrix(rng), window.yx.mean(axis=0))
    features = window.features.copy()
    features[:, _INTENSITY] = features[:, _INTENSITY] * rng.uniform(*BRIGHTNESS_SCALE) + rng.uniform(
        -BRIGHTNESS_SHIFT, BRIGHTNESS_SHIFT
    )
    jitter = rng.uniform(-JITTER_PX, JITTER_PX, size=window.yx.shape)
    translation = rng.uniform(-TRANSLATION_PX, TRANSLATION_PX, size=2)
    return replace(window, yx=window.yx + jitter + translation, features=features)
