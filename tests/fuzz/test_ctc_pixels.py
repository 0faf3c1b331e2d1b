"""Fuzzed CTC pixels: dtypes, shapes and contents of masks and images (see fuzzing.py for the checks)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import (
    Draw, Expect, FUZZ, Folder, LOADS, TRACKS, check_read, fails, fresh_folder, outcome_table, read_folder,
    templates, track_lines,
)

__all__ = ["outcome_table", "IMAGE_KINDS", "PIXEL_KINDS", "templates"]

SPAN = r"but the masks show it in frames"


def mask_of_wrong_dtype(draw: Draw, f: Folder) -> Expect:
    t = draw(st.integers(0, f.n_frames - 1))
    dtype = draw(st.sampled_from(["float16", "float32", "float64", "bool", "complex64", "negative label"]))
    if dtype == "negative label":
        mask = f.masks[t].astype(draw(st.sampled_from([np.int8, np.int16, np.int32, np.int64])))
        mask[draw(st.integers(0, 23)), draw(st.integers(0, 31))] = -draw(st.integers(1, 127))
        says = "negative label in mask"
    else:
        mask, says = f.masks[t].astype(dtype), f"a label mask needs an integer dtype, not {dtype}"
    f.write_mask(t, mask)
    f.readable = False
    return fails(f.mask(t), says=says)


def mask_of_other_integer_dtype(draw: Draw, f: Folder) -> Expect:
    """Any integer dtype holds labels."""
    t = draw(st.integers(0, f.n_frames - 1))
    dtype = draw(st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.int64, np.uint32, np.uint64]))
    f.write_mask(t, f.masks[t].astype(dtype))
    return LOADS


def image_of_other_dtype(draw: Draw, f: Folder) -> Expect:
    """Any integer or float image is an image; booleans and complex numbers are not."""
    t = draw(st.integers(0, f.n_frames - 1))
    dtypes = ["uint8", "int8", "int16", "int32", "uint32", "float16", "float32", "float64", "bool", "complex64"]
    dtype = draw(st.sampled_from(dtypes))
    tifffile.imwrite(f.image(t), f.images[t].astype(dtype))
    if dtype in ("bool", "complex64"):
        return fails(f.image(t), says=f"an image needs a numeric dtype, not {dtype}")
    return LOADS


def non_finite_pixel(draw: Draw, f: Folder) -> Expect:
    t = draw(st.integers(0, f.n_frames - 1))
    image = f.images[t].astype(draw(st.sampled_from([np.float32, np.float64])))
    image[draw(st.integers(0, 23)), draw(st.integers(0, 31))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    tifffile.imwrite(f.image(t), image)
    return fails(f.image(t), says="the image has NaN or infinite pixel values")


OTHER_SHAPES = st.one_of(
    st.tuples(st.integers(1, 40), st.integers(1, 40)).filter(lambda shape: shape != (24, 32)),
    st.sampled_from([(2, 24, 32), (3, 24, 32), (24, 32, 3)]),
)


def mask_of_other_shape(draw: Draw, f: Folder) -> Expect:
    t = draw(st.integers(0, f.n_frames - 1))
    shape = draw(OTHER_SHAPES)
    f.write_mask(t, np.resize(f.masks[t], shape))
    f.readable = False
    if len(shape) == 3:
        return fails(f.mask(t), says=r"a label mask must be 2D, not of shape")
    if t == 0:  # the first mask sets the shape: the second one disagrees
        return fails(f.mask(0), f.mask(1), says=r"mask of shape \(\d+, \d+\), expected")
    return fails(f.mask(t), says=r"mask of shape \(\d+, \d+\), expected")


def image_of_other_shape(draw: Draw, f: Folder) -> Expect:
    t = draw(st.integers(0, f.n_frames - 1))
    tifffile.imwrite(f.image(t), np.resize(f.images[t], draw(OTHER_SHAPES)))
    return fails(f.image(t), says=r"image of shape \([\d, ]+\) but the masks are \(24, 32\)")


def empty_mask_frame(draw: Draw, f: Folder) -> Expect:
    """Harmless only when no track begins or ends in that frame (its labels then have gaps)."""
    t = draw(st.integers(0, f.n_frames - 1))
    f.write_mask(t, np.zeros_like(f.masks[t]))
    lines = track_lines(begin=t, end=t)
    return fails(f.table, lines=lines, says=SPAN) if lines else LOADS


def label_erased_from_a_frame(draw: Draw, f: Folder) -> Expect:
    """Harmless between a track's first and last frame: a gap."""
    label = draw(st.sampled_from(sorted(TRACKS)))
    line, begin, end, _ = TRACKS[label]
    t = draw(st.sampled_from([t for t in range(f.n_frames) if (f.masks[t] == label).any()]))
    mask = f.masks[t].copy()
    mask[mask == label] = 0
    f.write_mask(t, mask)
    if t in (begin, end):
        return fails(f.table, lines=[line], says=rf"label {label}: begin \d+, end \d+, {SPAN}")
    return LOADS


def unknown_label_in_a_mask(draw: Draw, f: Folder) -> Expect:
    t = draw(st.integers(0, f.n_frames - 1))
    row, col, size = draw(st.integers(0, 23)), draw(st.integers(0, 31)), draw(st.integers(1, 6))
    mask = f.masks[t].copy()
    label = draw(st.integers(6, 65535))
    mask[row : row + size, col : col + size] = label
    f.write_mask(t, mask)
    return fails(f.mask(t), says=rf"label {label} is in the mask but not in")


def label_split_into_pieces(draw: Draw, f: Folder) -> Expect:
    """A label's pixels need not be connected: harmless (its centroid is that of all its pixels)."""
    t = draw(st.integers(0, f.n_frames - 1))
    mask = f.masks[t].copy()
    label = draw(st.sampled_from(sorted(set(np.unique(mask).tolist()) - {0})))
    rows, cols = np.nonzero(mask == 0)
    pick = draw(st.integers(0, len(rows) - 1))
    mask[rows[pick], cols[pick]] = label
    f.write_mask(t, mask)
    return LOADS


#: Corruptions of pixels, each applied to a fresh copy of a valid dataset.
PIXEL_KINDS = {
    "mask of wrong dtype": mask_of_wrong_dtype,
    "mask of other integer dtype (harmless)": mask_of_other_integer_dtype,
    "image of other dtype": image_of_other_dtype,
    "non-finite image pixel": non_finite_pixel,
    "mask of other shape": mask_of_other_shape,
    "image of other shape": image_of_other_shape,
    "empty mask frame": empty_mask_frame,
    "label erased from a frame": label_erased_from_a_frame,
    "unknown label in a mask": unknown_label_in_a_mask,
    "label split into pieces (harmless)": label_split_into_pieces,
}
#: The kinds that need raw images.
IMAGE_KINDS = {"image of other dtype", "non-finite image pixel", "image of other shape"}


@FUZZ
@pytest.mark.parametrize("kind", PIXEL_KINDS)
@given(data=st.data())
def test_corrupted_pixels(templates, kind, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = fresh_folder(data.draw, templates, Path(tmp), images=kind in IMAGE_KINDS)
        expect = PIXEL_KINDS[kind](data.draw, folder)
        check_read("ctc", kind, expect, read_folder(folder, Path(tmp)), folder.truth)
