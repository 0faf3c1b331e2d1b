"""Patches around detections: centring, zero padding at borders and corners, per-sequence scaling."""

from __future__ import annotations

import numpy as np
import pytest

from attrackt.patches import extract_patches, sequence_patches
from benchmark.data.ctc import read_ctc_sequence, write_ctc_sequence
from benchmark.data.features import normalisation_range
from benchmark.errors import DataError

#: A 10 x 12 image whose every pixel is distinct and non-zero: value = 100 * row + col + 1.
IMAGE = (100 * np.arange(10)[:, None] + np.arange(12)[None, :] + 1).astype(np.float32)


def test_interior_patch_is_the_window_around_the_centre():
    [patch] = extract_patches(IMAGE, np.array([[5, 6]]), 8)
    assert patch.shape == (8, 8)
    assert patch[4, 4] == IMAGE[5, 6]
    np.testing.assert_array_equal(patch, IMAGE[1:9, 2:10])


def test_corner_patches_are_zero_padded():
    top_left, bottom_right = extract_patches(IMAGE, np.array([[0, 0], [9, 11]]), 8)
    assert top_left[4, 4] == IMAGE[0, 0]
    assert not top_left[:4].any() and not top_left[:, :4].any()
    np.testing.assert_array_equal(top_left[4:, 4:], IMAGE[:4, :4])
    assert bottom_right[4, 4] == IMAGE[9, 11]
    assert not bottom_right[5:].any() and not bottom_right[:, 5:].any()
    np.testing.assert_array_equal(bottom_right[:5, :5], IMAGE[5:, 7:])


def test_border_patch_and_odd_size():
    [left_edge] = extract_patches(IMAGE, np.array([[4, 1]]), 5)  # odd size: centre at index 2
    assert left_edge[2, 2] == IMAGE[4, 1]
    assert not left_edge[:, 0].any()
    np.testing.assert_array_equal(left_edge[:, 1:], IMAGE[2:7, 0:4])


def test_sequence_patches_follow_the_detections_and_the_sequence_scaling(tiny_ctc):
    sequence = read_ctc_sequence(tiny_ctc.root, tiny_ctc.name)
    patches = sequence_patches(sequence, 16)
    assert patches.shape == (sequence.n_detections, 16, 16) and patches.dtype == np.float32
    assert patches.min() >= 0.0 and patches.max() <= 1.0
    low, scale = normalisation_range(tiny_ctc.images)
    rows, cols = np.rint(sequence.positions()).astype(int).T
    centre_values = tiny_ctc.images[sequence.frames(), rows, cols].astype(np.float64)
    np.testing.assert_allclose(patches[:, 8, 8], np.clip((centre_values - low) / scale, 0, 1), rtol=1e-6)
    # Track 4 (an upper-left 6x6 square at rows 18-23, cols 24-29) touches the bottom border.
    border = sequence.detections.index[(sequence.detections["label"] == 4) & (sequence.detections["t"] == 0)][0]
    assert rows[border] == 20 and not patches[border, 8 + 4 :].any()  # rows 24.. lie outside the 24-row image


def test_a_sequence_without_images_names_its_folder(tiny_ctc):
    write_ctc_sequence(tiny_ctc.root, "02", None, tiny_ctc.masks, tiny_ctc.tracks)
    sequence = read_ctc_sequence(tiny_ctc.root, "02")
    with pytest.raises(DataError, match=str(tiny_ctc.root / "02")):
        sequence_patches(sequence, 16)
