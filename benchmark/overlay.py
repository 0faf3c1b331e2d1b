"""A picture of predicted tracks for a glance: a few frames side by side, each track in its own colour.

Each panel is one frame: the raw image in grey (the masks when there is none), every cell's
outline and centroid in the colour of its predicted track, and a line from each cell's predicted
parent (previous frame) to it, so motion and divisions show. Tracks are CTC tracks
(``ctc.predicted_tracks``: a division starts two new tracks), coloured by track id.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from skimage.segmentation import find_boundaries

from benchmark.data.ctc import predicted_tracks, read_image_stack
from benchmark.data.sequence import Sequence

#: Hue step between consecutive track ids (golden ratio: neighbouring ids get far-apart hues).
_HUE_STEP = 0.618033988749895


def track_colours(tracks: np.ndarray) -> np.ndarray:
    """An RGB colour in [0, 1] per track id, shape (len(tracks), 3); equal ids, equal colours."""
    return np.array([colorsys.hsv_to_rgb((int(t) * _HUE_STEP) % 1.0, 0.85, 1.0) for t in tracks]).reshape(-1, 3)


def shown_frames(n_frames: int, panels: int) -> list[int]:
    """``panels`` frames spread evenly over 0..n_frames-1 (all of them when there are fewer)."""
    return sorted({int(round(t)) for t in np.linspace(0, n_frames - 1, min(panels, n_frames))})


def write_track_strip(path: Path, sequence: Sequence, edges: np.ndarray, panels: int = 4) -> Path:
    """Draw ``sequence``'s predicted (parent, child) node-id ``edges`` on ``panels`` frames; write a PNG.

    The sequence needs masks (``has_masks``)."""
    frames, positions = sequence.frames(), sequence.positions()
    track, _ = predicted_tracks(frames, edges)
    colour = track_colours(track)
    labels = sequence.detections["label"].to_numpy()
    masks = read_image_stack(sequence.mask_paths, sequence.image_shape)
    images = read_image_stack(sequence.image_paths, sequence.image_shape) if sequence.has_images else masks
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)

    shown = shown_frames(sequence.n_frames, panels)
    height, width = sequence.image_shape
    figure = Figure(figsize=(3.2 * len(shown), 3.2 * height / width + 0.4), dpi=100)
    for index, t in enumerate(shown):
        axes = figure.add_subplot(1, len(shown), index + 1)
        in_frame = np.flatnonzero(frames == t)
        axes.imshow(_outlined(_grey(images[t]), masks[t], labels[in_frame], colour[in_frame]))
        into = edges[frames[edges[:, 1]] == t]
        for parent, child in into:
            axes.plot(positions[[parent, child], 1], positions[[parent, child], 0], color=colour[child], linewidth=1.2)
        axes.scatter(positions[in_frame, 1], positions[in_frame, 0], s=8, c=colour[in_frame], edgecolors="black", linewidths=0.3)
        axes.set_title(f"{sequence.name}, t = {t}", fontsize=9)
        axes.set_axis_off()
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def _grey(image: np.ndarray) -> np.ndarray:
    """The image scaled to [0, 1] by its [1st, 99.8th] percentiles, as (H, W, 3) grey."""
    low, high = np.percentile(image, [1.0, 99.8])
    grey = np.clip((image.astype(np.float64) - low) / max(high - low, 1e-9), 0.0, 1.0)
    return np.repeat(grey[..., None], 3, axis=2)


def _outlined(rgb: np.ndarray, mask: np.ndarray, labels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """``rgb`` with the outline of each region ``labels[i]`` of ``mask`` drawn in ``colours[i]``."""
    lookup = np.zeros((int(mask.max()) + 1, 3))
    lookup[labels] = colours
    edge = find_boundaries(mask, mode="inner") & (mask > 0)
    rgb[edge] = lookup[mask[edge]]
    return rgb
