"""Square image patches centred on detections (SPEC section 5), the input of the appearance networks.

Conventions:

- The patch of a detection whose centroid is (y, x) covers rows r − S//2 ... r − S//2 + S − 1 and
  columns c − S//2 ... c − S//2 + S − 1, with S the patch size and (r, c) = (y, x) rounded to the
  nearest pixel (``np.rint``, ties to even). The centroid pixel sits at patch index (S//2, S//2).
- Intensities are scaled per sequence like the intensity feature (benchmark/data/features.py):
  (image − p1) / (p99.8 − p1) with the 1st and 99.8th percentiles of the whole sequence, then
  clipped to [0, 1]. The same scaling serves training and inference.
- Pixels outside the image are 0, i.e. the 1st-percentile (background) level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from benchmark.data.ctc import read_image_stack
from benchmark.data.features import normalisation_range
from benchmark.data.sequence import Sequence
from benchmark.errors import DataError

#: Detections embedded per forward pass (bounds memory at inference).
EMBED_CHUNK = 256


def extract_patches(image: np.ndarray, centres: np.ndarray, size: int) -> np.ndarray:
    """(n, size, size) patches of a 2D ``image`` around integer (row, col) ``centres`` (n, 2), 0 outside.

    The frame is padded once and the patches are gathered from a strided window view (no per-pixel
    loop). Centres must lie inside the image.
    """
    half = size // 2
    windows = sliding_window_view(np.pad(image, half), (size, size))  # window (r, c) is centred on pixel (r, c)
    return windows[centres[:, 0], centres[:, 1]]


def sequence_patches(sequence: Sequence, size: int) -> np.ndarray:
    """(N, size, size) float32 patches of every detection of ``sequence``, in node-id order.

    Raises DataError naming the sequence's folder when it has no raw images.
    """
    if not sequence.image_paths:
        raise DataError(
            _sequence_folder(sequence), f"sequence {sequence.name!r} has no raw images (tTTT.tif): patches need them"
        )
    images = read_image_stack(sequence.image_paths, sequence.image_shape)
    low, scale = normalisation_range(images)
    frames = sequence.frames()  # sorted: node ids are ordered by (t, label)
    centres = np.rint(sequence.positions()).astype(np.int64)
    bounds = np.searchsorted(frames, np.arange(sequence.n_frames + 1))
    patches = np.empty((len(frames), size, size), dtype=np.float32)
    for t in range(sequence.n_frames):
        begin, end = bounds[t], bounds[t + 1]
        image = np.clip((images[t].astype(np.float32) - low) / scale, 0.0, 1.0)
        patches[begin:end] = extract_patches(image, centres[begin:end], size)
    return patches


def random_batches(
    patches: np.ndarray, batch_size: int, rng: np.random.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """Endless (batch_size, 1, S, S) batches of patches drawn uniformly with replacement."""
    while True:
        chosen = rng.integers(0, len(patches), batch_size)
        yield torch.from_numpy(patches[chosen]).unsqueeze(1).to(device)


def embed_patches(
    encode: Callable[[torch.Tensor], torch.Tensor], patches: np.ndarray, device: torch.device
) -> np.ndarray:
    """(N, D) float32 embeddings ``encode(batch)`` of (N, S, S) patches, computed in chunks without gradients."""
    chunks = []
    with torch.no_grad():
        for begin in range(0, len(patches), EMBED_CHUNK):
            batch = torch.from_numpy(patches[begin : begin + EMBED_CHUNK]).unsqueeze(1).to(device)
            chunks.append(encode(batch).flatten(1).float().cpu().numpy())
    return np.concatenate(chunks)


def _sequence_folder(sequence: Sequence) -> Path:
    """The folder of a CTC sequence (``root/NAME``), else its source file, else its name."""
    if sequence.source is None:
        return Path(sequence.name)
    return sequence.source / sequence.name if sequence.source.is_dir() else sequence.source
