"""Fuzzed ``man_track.txt`` (lines "label begin end parent"): fields, labels, spans, parents, encoding
and layout (see fuzzing.py for the checks)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import (
    Draw, Expect, FUZZ, Folder, LOADS, NOT_INTEGERS, TRACKS, TRACK_LINES, check_read, fails, fresh_folder,
    outcome_table, read_folder, templates,
)

__all__ = ["outcome_table", "TABLE_KINDS", "templates"]


def edited(line: int, fields: list[str]) -> list[str]:
    """TRACK_LINES with line ``line`` (1-based) made of ``fields``."""
    lines = list(TRACK_LINES)
    lines[line - 1] = " ".join(fields)
    return lines


def children(label: int) -> list[int]:
    return [child for child, (_, _, _, parent) in TRACKS.items() if parent == label]


def descendants(label: int) -> set[int]:
    found = set()
    for child in children(label):
        found |= {child, *descendants(child)}
    return found


def line_numbers(lines: list[str], label: int) -> list[int]:
    """1-based numbers of the lines of ``lines`` that define ``label``."""
    return [number for number, line in enumerate(lines, 1) if line.split()[:1] == [str(label)]]


def with_field(
    draw: Draw, f: Folder, values: st.SearchStrategy[str], says: str, columns: tuple[int, ...] = (0, 1, 2, 3)
) -> Expect:
    """One field of one line replaced by a drawn value: an error on that line saying ``says``."""
    line = draw(st.integers(1, len(TRACK_LINES)))
    fields = TRACK_LINES[line - 1].split()
    fields[draw(st.sampled_from(columns))] = draw(values)
    f.write_table(edited(line, fields))
    return fails(f.table, lines=[line], says=says)


def wrong_field_count(draw: Draw, f: Folder) -> Expect:
    line = draw(st.integers(1, len(TRACK_LINES)))
    fields = [*TRACK_LINES[line - 1].split(), *draw(st.lists(st.integers(0, 9).map(str), min_size=3, max_size=3))]
    count = draw(st.sampled_from([1, 2, 3, 5, 6, 7]))
    f.write_table(edited(line, fields[:count]))
    return fails(f.table, lines=[line], says=f"expected 4 integers 'label begin end parent', got {count} fields")


def non_integer_field(draw: Draw, f: Folder) -> Expect:
    return with_field(draw, f, NOT_INTEGERS, says="non-integer value in")


def negative_field(draw: Draw, f: Folder) -> Expect:
    return with_field(draw, f, st.integers(-(2**70), -1).map(str), says="negative value in")


def field_beyond_int64(draw: Draw, f: Folder) -> Expect:
    return with_field(draw, f, st.integers(2**63, 2**200).map(str), says="value above 9223372036854775807")


def label_zero(draw: Draw, f: Folder) -> Expect:
    return with_field(draw, f, st.sampled_from(["0", "00", "+0"]), says="label 0 is the background", columns=(0,))


def unknown_parent(draw: Draw, f: Folder) -> Expect:
    return with_field(draw, f, st.integers(6, 10**9).map(str), says=r"has parent \d+, which is not a track", columns=(3,))


def begin_after_end(draw: Draw, f: Folder) -> Expect:
    label = draw(st.sampled_from(sorted(TRACKS)))
    line, _, end, parent = TRACKS[label]
    f.write_table(edited(line, [str(label), str(end + draw(st.integers(1, 10**6))), str(end), str(parent)]))
    return fails(f.table, lines=[line], says=rf"label {label} begins \(frame \d+\) after it ends \(frame {end}\)")


def duplicate_label(draw: Draw, f: Folder) -> Expect:
    """A second line for a label, anywhere: the later of the two is named."""
    label = draw(st.sampled_from(sorted(TRACKS)))
    begin = draw(st.integers(0, 5))
    lines = list(TRACK_LINES)
    lines.insert(draw(st.integers(0, len(lines))), f"{label} {begin} {begin + draw(st.integers(0, 3))} 0")
    f.write_table(lines)
    first, *later = line_numbers(lines, label)
    return fails(f.table, lines=later, says=f"label {label} is already defined on line {first}")


def parent_in_the_future(draw: Draw, f: Folder) -> Expect:
    """A parent that does not end before its child begins (and is no descendant of it: no cycle)."""
    pairs = [
        (child, parent)
        for child, (_, begin, _, _) in TRACKS.items()
        for parent, (_, _, end, _) in TRACKS.items()
        if parent != child and parent not in descendants(child) and end >= begin
    ]
    child, parent = draw(st.sampled_from(pairs))
    line, begin, end, _ = TRACKS[child]
    f.write_table(edited(line, [str(child), str(begin), str(end), str(parent)]))
    return fails(f.table, lines=[line], says=f"label {child} begins at frame {begin} but its parent {parent} ends at frame")


def parent_cycle(draw: Draw, f: Folder) -> Expect:
    """Labels c1 -> c2 -> ... -> c1 each other's parent (one label: its own): named at the first line."""
    cycle = draw(st.lists(st.sampled_from(sorted(TRACKS)), min_size=1, max_size=3, unique=True))
    lines = list(TRACK_LINES)
    for label, parent in zip(cycle, [*cycle[1:], cycle[0]]):
        line, begin, end, _ = TRACKS[label]
        lines[line - 1] = f"{label} {begin} {end} {parent}"
    f.write_table(lines)
    listed = ", ".join(map(str, sorted(cycle)))
    return fails(f.table, lines=[min(TRACKS[label][0] for label in cycle)], says=f"the parents of labels {listed} form a cycle")


def label_missing_from_table(draw: Draw, f: Folder) -> Expect:
    """A parent's children then have an unknown parent; any other label is unlisted in its first mask."""
    label = draw(st.sampled_from(sorted(TRACKS)))
    lines = [line for line in TRACK_LINES if line.split()[0] != str(label)]
    f.write_table(lines)
    if children(label):
        return fails(
            f.table, lines=[line_numbers(lines, child)[0] for child in children(label)],
            says=rf"has parent {label}, which is not a track",
        )
    return fails(f.mask(f.first_frame(label)), says=f"label {label} is in the mask but not in")


def label_absent_from_masks(draw: Draw, f: Folder) -> Expect:
    label = draw(st.integers(6, 10**6))
    begin = draw(st.integers(0, 10))
    lines = list(TRACK_LINES)
    lines.insert(draw(st.integers(0, len(lines))), f"{label} {begin} {begin + draw(st.integers(0, 10))} 0")
    f.write_table(lines)
    return fails(f.table, lines=line_numbers(lines, label), says=f"label {label} appears in no mask")


def span_disagrees_with_masks(draw: Draw, f: Folder) -> Expect:
    """Named at its own line (also when it now begins before its parent ends) or, when it now ends
    after its children begin, at a child's line."""
    label = draw(st.sampled_from(sorted(TRACKS)))
    line, begin, end, parent = TRACKS[label]
    span = draw(st.tuples(st.integers(0, 6), st.integers(0, 6)).filter(lambda s: s[0] <= s[1] and s != (begin, end)))
    f.write_table(edited(line, [str(label), str(span[0]), str(span[1]), str(parent)]))
    return fails(
        f.table, lines=[line, *(TRACKS[child][0] for child in children(label))],
        says=rf"label {label}: begin {span[0]}, end {span[1]}, but the masks show it in frames {begin}\.\.{end}"
        rf"|label {label} begins at frame {span[0]} but its parent {parent} ends"
        rf"|but its parent {label} ends at frame {span[1]}: a parent must end before its children begin",
    )


def table_not_utf8(draw: Draw, f: Folder) -> Expect:
    text = "".join(f"{line}\n" for line in TRACK_LINES).encode()
    at = draw(st.integers(0, len(text)))
    f.table.write_bytes(text[:at] + draw(st.sampled_from([b"\xff", b"\x80", b"\xc3\x28", b"\xed\xa0\x80"])) + text[at:])
    f.tracks = None
    return fails(f.table, says="cannot read the track table: 'utf-8' codec can't decode")


def table_layout(draw: Draw, f: Folder) -> Expect:
    """Line order, blank lines, tabs, extra spaces and CRLF endings do not matter."""
    separator = draw(st.sampled_from([" ", "  ", "\t", " \t "]))
    padding = st.sampled_from(["", " ", "\t"])
    lines = [draw(padding) + separator.join(line.split()) + draw(padding) for line in draw(st.permutations(TRACK_LINES))]
    for _ in range(draw(st.integers(0, 3))):
        lines.insert(draw(st.integers(0, len(lines))), draw(padding))
    f.write_table(lines, draw(st.sampled_from(["\n", "\r\n"])))
    return LOADS


#: Corruptions of man_track.txt, each applied to a fresh copy of a valid dataset.
TABLE_KINDS = {
    "man_track: wrong field count": wrong_field_count,
    "man_track: non-integer field": non_integer_field,
    "man_track: negative field": negative_field,
    "man_track: field beyond int64": field_beyond_int64,
    "man_track: label 0": label_zero,
    "man_track: unknown parent": unknown_parent,
    "man_track: begin after end": begin_after_end,
    "man_track: duplicate label": duplicate_label,
    "man_track: parent in the future": parent_in_the_future,
    "man_track: parent cycle": parent_cycle,
    "man_track: label missing": label_missing_from_table,
    "man_track: label absent from masks": label_absent_from_masks,
    "man_track: span disagrees with masks": span_disagrees_with_masks,
    "man_track: not UTF-8": table_not_utf8,
    "man_track: layout (harmless)": table_layout,
}


@FUZZ
@pytest.mark.parametrize("kind", TABLE_KINDS)
@given(data=st.data())
def test_corrupted_track_table(templates, kind, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = fresh_folder(data.draw, templates, Path(tmp), images=False)
        expect = TABLE_KINDS[kind](data.draw, folder)
        check_read("ctc", kind, expect, read_folder(folder, Path(tmp)), folder.truth)

