"""Fuzzed point CSVs (columns t, y, x, id, parent_id, optional sequence): values, columns, rows, lineage,
encoding and layout. Each corruption hits a fresh valid CSV of the tiny sequence (maybe as two
sequences, maybe with a note column, maybe with blank lines); see fuzzing.py for the checks."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmark.data.datasets import resolve_dataset
from fuzzing import (
    BEYOND_INT64, Draw, Expect, FUZZ, INTEGER_COLUMNS, LOADS, NA_TOKENS, NON_INTEGRAL, NOT_NUMBERS, Points,
    REQUIRED, check_read, fails, fresh_points, outcome_table,
)

__all__ = ["outcome_table", "CSV_KINDS"]

UNREADABLE = r"cannot read the CSV"
MISSING_COLUMN = r"missing column\(s\) [a-z_, ]+; need t, y, x, id, parent_id"


def csv_cell(draw: Draw, doc: Points, columns: list[str]) -> tuple[int, str]:
    return draw(st.integers(0, len(doc.rows) - 1)), draw(st.sampled_from(columns))


def with_value(columns: list[str], values: st.SearchStrategy[str], says: str) -> Callable[[Draw, Points], Expect]:
    """A corruption that puts a drawn value in one cell of ``columns``: an error on that line saying
    ``says`` (``{column}``: the cell's column)."""

    def corrupt(draw: Draw, doc: Points) -> Expect:
        row, column = csv_cell(draw, doc, columns)
        doc.set(row, column, draw(values))
        return fails(doc.path, lines=[doc.line(row)], says=says.format(column=column))

    return corrupt


def missing_value(draw: Draw, doc: Points) -> Expect:
    row, column = csv_cell(draw, doc, [*REQUIRED, *(["sequence"] if "sequence" in doc.columns else [])])
    doc.set(row, column, draw(st.sampled_from(NA_TOKENS if column != "sequence" else ["", "NA"])))
    return fails(doc.path, lines=[doc.line(row)], says=f"missing value in column {column}")


def negative(draw: Draw, doc: Points) -> Expect:
    """A negative frame or id, or a negative parent other than -1 (no such id)."""
    row, column = csv_cell(draw, doc, INTEGER_COLUMNS)
    value = draw(st.integers(-(10**12), -1 if column != "parent_id" else -2))
    doc.set(row, column, str(value))
    if column == "parent_id":
        return fails(doc.path, lines=[doc.line(row)], says=rf"parent_id {value} is no id of this sequence")
    return fails(doc.path, lines=[doc.line(row)], says=rf"{column} must be >= 0")


def missing_column(draw: Draw, doc: Points) -> Expect:
    name = draw(st.sampled_from(REQUIRED))
    index = doc.columns.index(name)
    del doc.columns[index]
    for row in doc.rows:
        del row[index]
    return fails(doc.path, lines=[1], says=rf"missing column\(s\) {name}; need")


def renamed_column(draw: Draw, doc: Points) -> Expect:
    index = doc.columns.index(draw(st.sampled_from(REQUIRED)))
    names = st.one_of(st.sampled_from(["T", " t", "time", "ID", "parent", ""]), NOT_NUMBERS)
    doc.columns[index] = draw(names.filter(lambda name: name not in [*REQUIRED, "sequence"]))
    return fails(doc.path, lines=[1], says=MISSING_COLUMN)


def duplicate_column(draw: Draw, doc: Points) -> Expect:
    """A used column named twice (pandas would read the second as "t.1" and ignore it)."""
    name = draw(st.sampled_from([*REQUIRED, *(["sequence"] if "sequence" in doc.columns else [])]))
    index = doc.columns.index(name)
    doc.columns.append(name)
    for row in doc.rows:
        row.append(row[index])
    return fails(doc.path, lines=[1], says=rf"column\(s\) {name} named more than once in the header")


def duplicate_id(draw: Draw, doc: Points) -> Expect:
    row = draw(st.integers(0, len(doc.rows) - 1))
    other = draw(st.sampled_from([other for other in doc.same_sequence(row) if other != row]))
    doc.set(row, "id", doc.get(other, "id"))
    return fails(doc.path, lines=[doc.line(max(row, other))], says=rf"id {doc.get(row, 'id')} is used twice in sequence")


def unknown_parent_id(draw: Draw, doc: Points) -> Expect:
    row = draw(st.integers(0, len(doc.rows) - 1))
    ids = {int(doc.get(other, "id")) for other in doc.same_sequence(row)} | {-1}
    value = draw(st.integers(-(10**9), 10**9).filter(lambda value: value not in ids))
    doc.set(row, "parent_id", str(value))
    return fails(doc.path, lines=[doc.line(row)], says=rf"parent_id {value} is no id of this sequence")


def parent_not_earlier(draw: Draw, doc: Points) -> Expect:
    """A parent in the same or a later frame (itself included)."""
    row = draw(st.integers(0, len(doc.rows) - 1))
    later = [other for other in doc.same_sequence(row) if int(doc.get(other, "t")) >= int(doc.get(row, "t"))]
    parent = doc.get(draw(st.sampled_from(later)), "id")
    doc.set(row, "parent_id", parent)
    return fails(doc.path, lines=[doc.line(row)], says=rf"parent {parent} of id {doc.get(row, 'id')} is not in an earlier frame")


def parent_cycle_of_points(draw: Draw, doc: Points) -> Expect:
    """Two detections of one frame each other's parent: named at the first of them."""
    pairs = [
        (a, b) for a in range(len(doc.rows)) for b in doc.same_sequence(a) if a < b and doc.get(a, "t") == doc.get(b, "t")
    ]
    a, b = draw(st.sampled_from(pairs))
    doc.set(a, "parent_id", doc.get(b, "id"))
    doc.set(b, "parent_id", doc.get(a, "id"))
    return fails(doc.path, lines=[doc.line(a)], says=r"of id \d+ is not in an earlier frame")


def extra_fields(draw: Draw, doc: Points) -> Expect:
    """More fields than the header in some rows (a trailing comma, a stray value): named at the first."""
    rows = sorted(draw(st.lists(st.integers(0, len(doc.rows) - 1), min_size=1, max_size=len(doc.rows), unique=True)))
    extra = draw(st.lists(st.sampled_from(["", "1", "x", "-1"]), min_size=1, max_size=2))
    for row in rows:
        doc.rows[row] += extra
    fields = len(doc.columns) + len(extra)
    return fails(doc.path, lines=[doc.line(rows[0])], says=rf"{fields} fields but the header has {len(doc.columns)}")


def too_few_fields(draw: Draw, doc: Points) -> Expect:
    """A short row: missing values, harmless when only the note column is missing."""
    row = draw(st.integers(0, len(doc.rows) - 1))
    kept = draw(st.integers(1, len(doc.columns) - 1))
    doc.rows[row] = doc.rows[row][:kept]
    if doc.columns[kept:] == ["note"]:
        return LOADS
    return fails(doc.path, lines=[doc.line(row)], says=r"missing value in column")


def rows_without_values(draw: Draw, doc: Points) -> Expect:
    """Rows of separators only (an empty spreadsheet row) hold no detection and are skipped."""
    for _ in range(draw(st.integers(1, 3))):
        doc.rows.insert(draw(st.integers(0, len(doc.rows))), [""] * len(doc.columns))
    return LOADS


def no_detections(draw: Draw, doc: Points) -> Expect:
    doc.raw = draw(st.sampled_from([b"", b"\n", b"\n\n", b"t,y,x,id,parent_id\n", b"t,y,x,id,parent_id\n\n\n", b"  \n"]))
    says = r"no detections: the file has only a header|No columns to parse from file|missing column"
    return fails(doc.path, lines=[None, 1], says=says)


def csv_not_utf8(draw: Draw, doc: Points) -> Expect:
    doc.write()
    text = doc.path.read_bytes()
    at = draw(st.integers(0, len(text)))
    doc.raw = text[:at] + draw(st.sampled_from([b"\xff", b"\x80", b"\xc3\x28", b"\xed\xa0\x80"])) + text[at:]
    return fails(doc.path, lines=[None], says=rf"{UNREADABLE} \('utf-8' codec can't decode")


def binary_junk(draw: Draw, doc: Points) -> Expect:
    doc.raw = draw(st.binary(min_size=1, max_size=64))
    return fails(doc.path, says=rf"{UNREADABLE}|{MISSING_COLUMN}|fields but the header has|named more than once")


def unterminated_quote(draw: Draw, doc: Points) -> Expect:
    row, column = csv_cell(draw, doc, doc.columns)
    doc.set(row, column, '"' + doc.get(row, column))
    return fails(doc.path, says=rf"{UNREADABLE} \(Error tokenizing data. C error: EOF inside string")


def large_ids(draw: Draw, doc: Points) -> Expect:
    """Ids beyond 2**53 (exact in int64, not in a float) beside a root written "7.0" at frame "0.0":
    a reader that let a float column hold the ids would change them."""
    shift = draw(st.integers(2**53, 2**62))
    for row in range(len(doc.rows)):
        for column in ("id", "parent_id"):
            if doc.get(row, column) != "-1":
                doc.set(row, column, str(int(doc.get(row, column)) + shift))
    root = dict(zip(doc.columns, doc.rows[0])) | {"t": "0.0", "y": "1", "x": "1", "id": "7.0", "parent_id": "-1"}
    doc.rows.append([root[column] for column in doc.columns])
    return LOADS


def csv_layout(draw: Draw, doc: Points) -> Expect:
    """Row and column order, quotes, CRLF endings, an extra text column and huge finite coordinates do not matter."""
    order = draw(st.permutations(range(len(doc.columns))))
    doc.columns = [doc.columns[i] for i in order]
    doc.rows = [[row[i] for i in order] for row in draw(st.permutations(doc.rows))]
    if draw(st.booleans()):
        doc.columns.append("comment")
        for row in doc.rows:
            row.append(draw(st.text("abc xyz;:", max_size=6)))
    if draw(st.booleans()):
        doc.rows = [[f'"{value}"' for value in row] for row in doc.rows]
    if draw(st.booleans()):
        doc.set(draw(st.integers(0, len(doc.rows) - 1)), draw(st.sampled_from(["y", "x"])), "1e300")
    doc.newline = draw(st.sampled_from(["\n", "\r\n"]))
    return LOADS


#: Corruptions of a point CSV, each applied to a fresh valid one.
CSV_KINDS: dict[str, Callable[[Draw, Points], Expect]] = {
    "missing value (NaN)": missing_value,
    "non-finite value": with_value(
        REQUIRED, st.sampled_from(["inf", "-inf", "Infinity", "-Infinity", "1e999", "INF"]), "{column} must be a finite number"
    ),
    "non-numeric value": with_value(REQUIRED, NOT_NUMBERS, "{column} must be a finite number"),
    "non-integer frame or id": with_value(INTEGER_COLUMNS, NON_INTEGRAL.map(str), "{column} must be an integer"),
    "integer beyond int64": with_value(INTEGER_COLUMNS, BEYOND_INT64, "{column} must be an integer"),
    "negative frame or id": negative,
    "missing column": missing_column,
    "renamed column": renamed_column,
    "duplicate column": duplicate_column,
    "duplicate id": duplicate_id,
    "unknown parent": unknown_parent_id,
    "parent not in an earlier frame": parent_not_earlier,
    "parent cycle": parent_cycle_of_points,
    "extra fields": extra_fields,
    "too few fields": too_few_fields,
    "rows without values (harmless)": rows_without_values,
    "no detections": no_detections,
    "not UTF-8": csv_not_utf8,
    "binary junk": binary_junk,
    "unterminated quote": unterminated_quote,
    "ids beyond 2**53 (harmless)": large_ids,
    "layout (harmless)": csv_layout,
}


@FUZZ
@pytest.mark.parametrize("kind", CSV_KINDS)
@given(data=st.data())
def test_corrupted_point_csv(kind, data):
    with tempfile.TemporaryDirectory() as tmp:
        doc = fresh_points(data.draw, Path(tmp))
        expect = CSV_KINDS[kind](data.draw, doc)
        doc.write()
        check_read("csv", kind, expect, lambda: resolve_dataset(str(doc.path), data_dir=tmp), doc.truth)
