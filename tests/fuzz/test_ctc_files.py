"""Fuzzed CTC frame files (``NAME/tTTT.tif``, ``NAME_GT/TRA/man_trackTTT.tif``): missing, extra,
duplicated, unreadable or empty. Each corruption hits a fresh copy of the tiny sequence (conftest:
4 frames of 24x32, 5 tracks with a division and a late root); see fuzzing.py for the checks."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import (
    Draw, Expect, FUZZ, Folder, LOADS, check_read, fails, fresh_folder, outcome_table, read_folder, templates,
    track_lines,
)

__all__ = ["outcome_table", "FILE_KINDS", "templates"]

UNREADABLE = "not a readable TIFF file"
GAP = "without gaps; missing frame"
COUNTS = r"images tTTT\.tif but \d+ masks"
SPAN = r"but the masks show it in frames"


def missing_frame_file(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from(f.frame_files()))
    path.unlink()
    if path.parent == f.image_dir:
        f.readable = False
        return fails(f.image_dir, says=f"{GAP}|{COUNTS}")  # a gap, or fewer images than masks
    t = int(path.stem.removeprefix("man_track"))
    if t < f.n_frames - 1:
        f.readable = False
        return fails(f.tra, says=GAP)
    f.masks.pop()
    if f.images is not None:
        return fails(f.image_dir, says=COUNTS)  # more images than masks
    return fails(f.table, lines=track_lines(end=t), says=SPAN)  # those tracks now end a frame early


def extra_frame_file(draw: Draw, f: Folder) -> Expect:
    """Harmless only as an empty last mask without images."""
    is_image = f.images is not None and draw(st.booleans())
    number = f.n_frames + draw(st.one_of(st.just(0), st.integers(1, 3), st.integers(4, 10**40)))
    content = draw(st.sampled_from(["copy of the last frame", "empty frame", "new label"]))
    frame = np.zeros_like(f.masks[-1])
    if content == "copy of the last frame":
        frame = (f.images[-1] if is_image else f.masks[-1]).copy()
    elif content == "new label":
        frame[:3, :3] = draw(st.integers(6, 65535))
    if is_image or number > f.n_frames:
        path = f.image_dir / f"t{number:03d}.tif" if is_image else f.tra / f"man_track{number:03d}.tif"
        tifffile.imwrite(path, frame)
        f.readable = False
        return fails(path.parent, says=GAP if number > f.n_frames else COUNTS)
    path = f.mask(number)
    f.write_mask(number, frame)
    if f.images is not None:
        return fails(f.image_dir, says=COUNTS)  # images and masks differ in number
    if content == "copy of the last frame":
        return fails(f.table, lines=track_lines(end=f.n_frames - 2), says=SPAN)  # those tracks now end a frame later
    return fails(path, says="is in the mask but not in") if content == "new label" else LOADS


def duplicate_frame_number(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from(f.frame_files()))
    prefix = "t" if path.parent == f.image_dir else "man_track"
    number = path.stem.removeprefix(prefix)
    names = [f"{prefix}{int(number):04d}.tif", f"{prefix}{number}.tiff", f"{prefix}{int(number)}.tif"]
    copy = path.parent / draw(st.sampled_from(names))
    shutil.copy(path, copy)
    f.readable = False
    return fails(path, copy, says=rf"frame {int(number)} is also given by")  # whichever comes second in name order


def frame_file_is_a_folder(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from(f.frame_files()))
    path.unlink()
    path.mkdir()
    f.readable = False
    return fails(path, says=UNREADABLE)


def truncated_tiff(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from(f.frame_files()))
    data = path.read_bytes()
    path.write_bytes(data[: draw(st.integers(0, len(data) - 1))])
    f.readable = False
    return fails(path, says=UNREADABLE)


TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def non_tiff_bytes(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from(f.frame_files()))
    junk = st.one_of(st.binary(max_size=64), st.text(max_size=32).map(str.encode))
    path.write_bytes(draw(junk.filter(lambda data: not data.startswith(TIFF_MAGIC))))
    f.readable = False
    return fails(path, says=UNREADABLE)


def empty_file(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from([*f.frame_files(), f.table]))
    if path == f.table:  # every mask label is unlisted now: the smallest is named where it first appears
        f.write_table(draw(st.sampled_from([[], [""], [" ", ""]])))
        smallest = min(int(mask[mask > 0].min()) for mask in f.masks if mask.any())
        return fails(f.mask(f.first_frame(smallest)), says=rf"label {smallest} is in the mask but not in")
    path.write_bytes(b"")
    f.readable = False
    return fails(path, says=UNREADABLE)


#: Corruptions of the frame files, each applied to a fresh copy of a valid dataset.
FILE_KINDS = {
    "missing frame file": missing_frame_file,
    "extra frame file": extra_frame_file,
    "duplicate frame number": duplicate_frame_number,
    "frame file is a folder": frame_file_is_a_folder,
    "truncated TIFF": truncated_tiff,
    "non-TIFF bytes": non_tiff_bytes,
    "empty file": empty_file,
}


@FUZZ
@pytest.mark.parametrize("kind", FILE_KINDS)
@given(data=st.data())
def test_corrupted_frame_file(templates, kind, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = fresh_folder(data.draw, templates, Path(tmp), images=False)
        expect = FILE_KINDS[kind](data.draw, folder)
        check_read("ctc", kind, expect, read_folder(folder, Path(tmp)), folder.truth)
