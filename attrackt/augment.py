"""Training augmentations of a window (SPEC section 4) and the 8 rotations/flips of test-time augmentation.

Geometry is applied consistently to every token attribute it affects: positions turn as
p' = M (p − c) + c, the inertia tensor as I' = M I Mᵀ, the diameter scales by sqrt(|det M|). (The
reference leaves the inertia tensor unflipped and scales the diameter by det(M) / 2: bugs not
reproduced, see docs/deviations.md.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from attrackt.windows import Window
from benchmark.data.sequence import FEATURE_COLUMNS

_DIAMETER = FEATURE_COLUMNS.index("diameter")
_INTENSITY = FEATURE_COLUMNS.index("intensity")
_INERTIA = [FEATURE_COLUMNS.index(name) for name in ("inertia_yy", "inertia_yx", "inertia_xy", "inertia_xx")]

#: Probabilities and ranges of the random training augmentations (SPEC section 4), the reference's
#: (Attrackt's augmentation level 2): each applied independently with its probability.
FLIP_P = 0.5  # then each axis mirrored with probability 1/2
AFFINE_P = 0.8
BRIGHTNESS_P = 0.8
JITTER_P = 0.8
SCALE_RANGE = (0.5, 2.0)  # per axis, uniform
SHEAR_MAX = 0.1  # per axis, uniform in ±SHEAR_MAX
BRIGHTNESS_SCALE = (0.5, 2.0)
BRIGHTNESS_SHIFT = 0.1
JITTER_PX = 3.0
TRANSLATION_PX = 256  # always: an integer shift in [0, TRANSLATION_PX) px per axis

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


def crop(
    window: Window,
    size: float,
    max_tokens: int,
    rng: np.random.Generator,
    centre: np.ndarray | None = None,
    required: np.ndarray | None = None,
) -> Window:
    """A square crop of side ``size`` px (the same square in every frame) holding at most ``max_tokens`` tokens.

    The square lies inside the tokens' (y, x) bounding box at a uniformly random position; where
    ``size`` is at least the box's extent (``inf`` included) it is centred on the box. ``centre``
    (y, x) px, when given, fixes the square's centre instead. When the square holds more than
    ``max_tokens`` tokens, only the ``max_tokens`` nearest to its centre in Chebyshev distance
    max(|Δy|, |Δx|) stay: a smaller concentric square. Ties at its edge go to earlier tokens (earlier
    frames); ``required`` (boolean, (n,)) tokens are kept before any other, inside the square or not.
    One pass, no loop: it ends for any input (an infinite ``size``, every token at one position, a cap
    smaller than one frame). Draws two uniforms from ``rng`` whether or not they are needed.
    """
    if len(window) == 0:
        return window
    yx = window.yx
    low, high = yx.min(axis=0), yx.max(axis=0)
    extent = high - low
    draw = rng.uniform(size=2)
    if centre is None:
        slack = np.maximum(extent - size, 0.0)  # room to move a square smaller than the box
        centre = low + 0.5 * np.minimum(extent, size) + draw * slack
    distance = np.abs(yx - centre).max(axis=1)
    rank = np.where(distance <= 0.5 * size, distance, np.inf)
    if required is not None:
        rank[required] = -1.0
    keep = np.isfinite(rank)
    if keep.sum() > max_tokens:
        keep = np.zeros(len(window), dtype=bool)
        keep[np.argsort(rank, kind="stable")[:max_tokens]] = True
    return window if keep.all() else window.subset(keep)


def random_matrix(rng: np.random.Generator) -> np.ndarray:
    """The reference's random affine, a (y, x) matrix: rotation (uniform ±180°) · diag(s_y, s_x) (each
    uniform in SCALE_RANGE) · shear [[1, h_y], [h_x, 1]] (each uniform in ±SHEAR_MAX)."""
    angle = rng.uniform(-math.pi, math.pi)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    scale = np.diag(rng.uniform(*SCALE_RANGE, size=2))
    h_y, h_x = rng.uniform(-SHEAR_MAX, SHEAR_MAX, size=2)
    return rotation @ scale @ np.array([[1.0, h_y], [h_x, 1.0]])


@dataclass(frozen=True)
class AugmentationDraw:
    """The random choices of one window's augmentation; None: that augmentation is not applied."""

    flip: np.ndarray | None  # (2, 2) diagonal of ±1
    affine: np.ndarray | None  # (2, 2), see random_matrix
    brightness: tuple[float, float] | None  # intensity factor, shift
    jitter: np.ndarray | None  # (n, 2) px per token
    translation: np.ndarray  # (2,) px


def draw_augmentation(n_tokens: int, rng: np.random.Generator) -> AugmentationDraw:
    """Flip, affine, brightness and jitter each with its probability (FLIP_P, ...), drawn in that order
    from ``rng``, and the global translation."""
    flip = np.diag(rng.choice([-1.0, 1.0], size=2)) if rng.random() < FLIP_P else None
    matrix = random_matrix(rng) if rng.random() < AFFINE_P else None
    brightness = None
    if rng.random() < BRIGHTNESS_P:
        brightness = (rng.uniform(*BRIGHTNESS_SCALE), rng.uniform(-BRIGHTNESS_SHIFT, BRIGHTNESS_SHIFT))
    jitter = rng.uniform(-JITTER_PX, JITTER_PX, size=(n_tokens, 2)) if rng.random() < JITTER_P else None
    return AugmentationDraw(flip, matrix, brightness, jitter, rng.integers(0, TRANSLATION_PX, size=2).astype(float))


def apply_augmentation(window: Window, draw: AugmentationDraw) -> Window:
    """Flip, then the affine (both about the origin (0, 0), as the reference's; features follow, see
    ``affine``), the intensity factor and shift, the jitter and the translation of ``draw``."""
    matrix = np.eye(2)
    for step in (draw.flip, draw.affine):
        if step is not None:
            matrix = step @ matrix
    window = affine(window, matrix, np.zeros(2))
    features = window.features.copy()
    if draw.brightness is not None:
        factor, shift = draw.brightness
        features[:, _INTENSITY] = features[:, _INTENSITY] * factor + shift
    yx = window.yx + draw.translation if draw.jitter is None else window.yx + draw.jitter + draw.translation
    return replace(window, yx=yx, features=features)


def augment(window: Window, rng: np.random.Generator, crop_size: float, max_tokens: int) -> Window:
    """Crop (``crop_size`` inf keeps every token, up to the ``max_tokens`` cap), then the random
    augmentations of ``draw_augmentation`` (all random from ``rng``)."""
    window = crop(window, crop_size, max_tokens, rng)
    if len(window) == 0:
        return window
    return apply_augmentation(window, draw_augmentation(len(window), rng))
