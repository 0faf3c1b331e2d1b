"""Two or three fuzzed corruptions of one CTC folder (man_track.txt, then pixels, then one frame file):
an error naming one of the folder's paths and saying what one of them broke, or, when they cancel
out, a load that holds exactly what the files then hold (see fuzzing.py for the checks)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzing import FUZZ, check_read, either, fresh_folder, outcome_table, read_folder, templates
from test_ctc_files import FILE_KINDS
from test_ctc_man_track import TABLE_KINDS
from test_ctc_pixels import IMAGE_KINDS, PIXEL_KINDS

__all__ = ["outcome_table", "templates"]


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_stacked_ctc_corruptions(templates, data):
    order = [TABLE_KINDS, PIXEL_KINDS, FILE_KINDS]
    groups = sorted(data.draw(st.lists(st.sampled_from(order), min_size=2, max_size=3, unique_by=id)), key=order.index)
    kinds = [data.draw(st.sampled_from(sorted(group))) for group in groups]
    with tempfile.TemporaryDirectory() as tmp:
        folder = fresh_folder(data.draw, templates, Path(tmp), images=bool(IMAGE_KINDS & set(kinds)))
        expects = [group[kind](data.draw, folder) for group, kind in zip(groups, kinds)]
        expect = either(expects, {folder.root, *folder.root.rglob("*")})
        check_read("ctc stacked", " + ".join(kinds), expect, read_folder(folder, Path(tmp)), folder.truth)
