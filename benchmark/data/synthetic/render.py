"""Label masks and fluorescence images of simulated bodies.

A pixel (row i, column j) has its centre at (y, x) = (i, j), the convention of regionprops
centroids. Where bodies overlap a pixel goes to the body whose normalised distance (0 at the axis,
1 on the outline) is smallest, so every body keeps the pixels around its own centre.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from benchmark.data.synthetic.cells import Bodies


def _normalised_distance(u: np.ndarray, v: np.ndarray, h: float, a: float, b: float) -> np.ndarray:
    """0 on the axis segment [-h, h], 1 on the outline of the capsule/ellipse (body frame u, v)."""
    return np.hypot(np.maximum(np.abs(u) - h, 0.0) / a, v / b)


def render(bodies: Bodies, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Label mask (uint16) and noiseless signal (float, counts above background) of one frame.

    Signal inside a body = brightness · (1 + contrast·cos(2π·frequency·w + phase)) · (1 - 0.3 d²),
    with w the coordinate along the texture direction in the body frame and d the normalised distance.
    """
    mask = np.zeros(shape, dtype=np.uint16)
    signal = np.zeros(shape, dtype=np.float64)
    nearest = np.full(shape, np.inf)
    for k in range(len(bodies)):
        cy, cx, angle = bodies.y[k], bodies.x[k], bodies.angle[k]
        h, a, b = bodies.h[k], bodies.a[k], bodies.b[k]
        reach = h + max(a, b) + 1
        y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 2, shape[0])
        x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 2, shape[1])
        dy = np.arange(y0, y1)[:, None] - cy
        dx = np.arange(x0, x1)[None, :] - cx
        u = dy * np.sin(angle) + dx * np.cos(angle)
        v = dy * np.cos(angle) - dx * np.sin(angle)
        distance = _normalised_distance(u, v, h, a, b)
        window = nearest[y0:y1, x0:x1]
        owns = (distance <= 1.0) & (distance < window)
        w = u * np.cos(bodies.texture_angle[k]) + v * np.sin(bodies.texture_angle[k])
        wave = np.cos(2 * np.pi * bodies.texture_frequency[k] * w + bodies.texture_phase[k])
        texture = 1 + bodies.texture_contrast[k] * wave
        window[owns] = distance[owns]
        mask[y0:y1, x0:x1][owns] = bodies.label[k]
        signal[y0:y1, x0:x1][owns] = (bodies.brightness[k] * texture * (1 - 0.3 * distance**2))[owns]
    # Every body keeps the pixel at its centre, even under a (rare) deep overlap.
    rows = np.clip(np.rint(bodies.y).astype(np.int64), 0, shape[0] - 1)
    cols = np.clip(np.rint(bodies.x).astype(np.int64), 0, shape[1] - 1)
    mask[rows, cols] = bodies.label
    return mask, signal


def camera(
    signal: np.ndarray, rng: np.random.Generator, background: float, blur_sigma: float, read_noise: float
) -> np.ndarray:
    """uint16 image: blurred signal on a constant background, Poisson shot noise plus read noise."""
    expected = background + gaussian_filter(signal, blur_sigma)
    counts = rng.poisson(expected) + rng.normal(0.0, read_noise, signal.shape)
    return np.clip(np.rint(counts), 0, np.iinfo(np.uint16).max).astype(np.uint16)
