"""Fuzzed CTC folders as a whole: missing parts, stray and misnamed files, another GT folder without
its table, and ``dataset.yaml`` (see fuzzing.py for the checks)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import (
    Draw, Expect, FRAME_NAME, FUZZ, Folder, LETTERS, LOADS, check_read, fails, fresh_folder, loads, outcome_table,
    read_folder, templates,
)

__all__ = ["outcome_table", "templates"]

#: The warnings of files and folders the reader skips.
MISNAMED_FRAMES = r"skipped \d+ file\(s\) named like frames but in other case"
GT_WITHOUT_TABLE = r"skipped \d+ folder\(s\) without TRA/man_track\.txt"


def no_masks(draw: Draw, f: Folder) -> Expect:
    for t in range(f.n_frames):
        f.mask(t).unlink()
    f.readable = False
    return fails(f.tra, says="no man_trackTTT.tif masks")


def no_track_table(draw: Draw, f: Folder) -> Expect:
    f.table.unlink()  # 01 is no sequence any more
    f.tracks = None
    if f.described:
        return fails(f.description, says=r"split\.train names sequence\(s\) 01 not found")
    return fails(f.root, says="no CTC sequence found")


STRAY_NAMES = st.one_of(
    st.sampled_from(["notes.txt", "man_track.tif", "t1.tif.bak", "T001.tif", "t001.TIF", "mask000.tif", "x_GT", "01_RES"]),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=12),
).filter(lambda name: name not in (".", "..", "dataset.yaml", "man_track.txt") and not re.fullmatch(FRAME_NAME, name))


def stray_files(draw: Draw, f: Folder) -> Expect:
    """Files and folders that the layout does not name are ignored; those named like frames but for
    the case, and folders NAME_GT without a table, with a warning."""
    folders = [f.root, f.tra, *([f.image_dir] if f.images is not None else [])]
    warns = set()
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(folders)) / draw(STRAY_NAMES)
        if path.exists():
            continue
        if draw(st.booleans()):
            path.write_bytes(draw(st.binary(max_size=32)))
        else:
            path.mkdir()
            if path.parent == f.root and path.name.endswith("_GT"):
                warns.add(GT_WITHOUT_TABLE)
        frame = {f.image_dir: r"t\d+\.tiff?", f.tra: r"man_track\d+\.tiff?"}.get(path.parent)
        if frame and re.fullmatch(frame, path.name, re.IGNORECASE):
            warns.add(MISNAMED_FRAMES)
    return loads(*warns)


def frame_named_in_other_case(draw: Draw, f: Folder) -> Expect:
    """A copy of a frame file whose name differs only in case is not read, with a warning."""
    path = draw(st.sampled_from(f.frame_files()))
    name = draw(st.sampled_from([path.name.upper(), path.stem + ".TIF", path.name.capitalize()]))
    shutil.copy(path, path.parent / name)
    return loads(MISNAMED_FRAMES)


def gt_folder_without_table(draw: Draw, f: Folder) -> Expect:
    """Another sequence's GT folder without man_track.txt: not read, with a warning naming it."""
    name = draw(st.sampled_from(["02", "03", "old"]))
    tra = f.root / f"{name}_GT" / "TRA"
    if draw(st.booleans()):
        shutil.copytree(f.tra, tra)
        (tra / "man_track.txt").unlink()
    else:
        tra.mkdir(parents=True)
    return loads(GT_WITHOUT_TABLE + rf".*{name}_GT")


BAD_DESCRIPTIONS = [
    b"\xff\xfename: tiny\n",  # not UTF-8
    b"split: {train: ['01'], test: ['01']\n",  # unclosed flow mapping
    b"- '01'\n",  # not a mapping
    b"",  # empty
    b"split: ['01']\n",
    b"split: {train: [01], test: ['01']}\n",  # 01 unquoted: the integer 1
    b"split: {train: ['02'], test: ['01']}\n",  # no such sequence
    b"split: {train: ['01']}\n",  # no test part
    b"split: {train: '01', test: ['01']}\n",
    b"split: {train: ['01'], test: [2001-13-01]}\n",  # a date that does not exist
    b"name: !!python/name:os.system\nsplit: {train: ['01'], test: ['01']}\n",
]
DESCRIPTION_PROBLEMS = (
    r"cannot read the dataset description|needs a mapping 'split'|split\.(train|val|test) (must be a list|names sequence)"
)


def bad_dataset_yaml(draw: Draw, f: Folder) -> Expect:
    """Every malformed description fails; a name, extra keys and an empty val part are harmless."""
    variant = draw(st.sampled_from(["listed", "random text", "harmless"]))
    if variant == "harmless":
        f.description.write_text(
            f"name: {draw(LETTERS)}\nsplit: {{train: ['01'], val: [], test: ['01']}}\nnotes: {draw(LETTERS)}\n"
        )
        return LOADS
    text = draw(st.sampled_from(BAD_DESCRIPTIONS)) if variant == "listed" else draw(st.text(max_size=40)).encode()
    f.description.write_bytes(text)
    return fails(f.description, says=DESCRIPTION_PROBLEMS)


FOLDER_KINDS = {
    "no masks": no_masks,
    "no man_track.txt": no_track_table,
    "stray files (harmless)": stray_files,
    "frame named in other case (warned)": frame_named_in_other_case,
    "GT folder without man_track.txt (warned)": gt_folder_without_table,
    "bad dataset.yaml": bad_dataset_yaml,
}


@FUZZ
@pytest.mark.parametrize("kind", FOLDER_KINDS)
@given(data=st.data())
def test_corrupted_folder(templates, kind, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = fresh_folder(data.draw, templates, Path(tmp), images=False)
        expect = FOLDER_KINDS[kind](data.draw, folder)
        check_read("ctc", kind, expect, read_folder(folder, Path(tmp)), folder.truth)
