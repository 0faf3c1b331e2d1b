"""Point data: detections and their GT lineage as a CSV, without images or masks.

Columns (any order, extra columns ignored):

- ``t``: frame, integer >= 0;  ``y``, ``x``: position in px (finite numbers);
- ``id``: integer >= 0, unique within its sequence;  ``parent_id``: ``id`` of the GT predecessor
  in an earlier frame of the same sequence, -1 for none;
- ``sequence`` (optional): the sequence's name, for several sequences in one file; without it the
  file is one sequence named after the file's stem.

Each sequence's detections are sorted by (t, id) to give node ids; ``label`` is the CSV ``id``.
There are no appearance features (all 0) and ``has_images`` is False. Blank lines, and lines with no
value in any field (an empty spreadsheet row), are skipped: they hold no detection. Every other line
is a detection or an error; a column the reader uses may not be named twice. Error messages give
CSV line numbers (the header is line 1).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.sequence import DETECTION_COLUMNS, FEATURE_COLUMNS, NO_PARENT, Sequence
from benchmark.errors import DataError

REQUIRED_COLUMNS: tuple[str, ...] = ("t", "y", "x", "id", "parent_id")
SEQUENCE_COLUMN = "sequence"
_INTEGER_COLUMNS = ("t", "id", "parent_id")
_MIN_INT64, _MAX_INT64 = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


def read_points_csv(path: Path) -> dict[str, Sequence]:
    """The sequences of a point CSV, by name (sorted). Raises DataError naming the file and line."""
    path = Path(path)
    table = _read_table(path)
    key = table[SEQUENCE_COLUMN] if SEQUENCE_COLUMN in table else pd.Series(path.stem, index=table.index)

    duplicated = pd.DataFrame({"sequence": key, "id": table["id"]}).duplicated()
    if duplicated.any():
        row = _first_row(table.assign(sequence=key), duplicated)
        raise DataError(path, f"id {row['id']} is used twice in sequence {row['sequence']!r}", row["line"])
    frame_of = pd.Series(table["t"].to_numpy(), index=pd.MultiIndex.from_arrays([key, table["id"]]))
    children = table["parent_id"] != NO_PARENT
    parent_frame = frame_of.reindex(
        pd.MultiIndex.from_arrays([key[children], table.loc[children, "parent_id"]])
    ).to_numpy()
    unknown = np.isnan(parent_frame)
    if unknown.any():
        row = _first_row(table[children], unknown)
        raise DataError(path, f"parent_id {row['parent_id']} is no id of this sequence (-1 = no parent)", row["line"])
    late = parent_frame >= table.loc[children, "t"].to_numpy()
    if late.any():
        row = _first_row(table[children], late)
        raise DataError(path, f"parent {row['parent_id']} of id {row['id']} is not in an earlier frame", row["line"])

    return {str(name): _sequence(str(name), rows, path) for name, rows in table.groupby(key, sort=True)}


def _first_row(table: pd.DataFrame, where: pd.Series | np.ndarray) -> dict:
    """The first row of ``table`` where ``where`` is True, each value of its column's type (a Series
    of the row would turn ids into floats)."""
    return table[np.asarray(where)].head(1).to_dict("records")[0]


def _read_table(path: Path) -> pd.DataFrame:
    """The CSV with checked column types and a ``line`` column (CSV line number), blank lines dropped."""
    try:
        _check_layout(path)
        table = pd.read_csv(path, skip_blank_lines=False, dtype=str)
    except (OSError, UnicodeDecodeError, csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(path, f"cannot read the CSV ({error})") from None
    missing = [name for name in REQUIRED_COLUMNS if name not in table.columns]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)}; need {', '.join(REQUIRED_COLUMNS)}", 1)
    table["line"] = np.arange(len(table)) + 2
    table = table[table.drop(columns="line").notna().any(axis=1)].reset_index(drop=True)
    if table.empty:
        raise DataError(path, "no detections: the file has only a header")

    columns = [*REQUIRED_COLUMNS, *([SEQUENCE_COLUMN] if SEQUENCE_COLUMN in table else [])]
    _raise_first(path, table, table[columns].isna(), "missing value in column {column}")
    for column in REQUIRED_COLUMNS:
        values = pd.to_numeric(table[column], errors="coerce")
        _raise_first(path, table, ~np.isfinite(values.to_frame()), f"{column} must be a finite number")
        if column not in _INTEGER_COLUMNS:  # y, x; integers are parsed exactly below
            table[column] = values.astype(np.float64)
    for column in _INTEGER_COLUMNS:
        values = table[column].map(_exact_integer)
        bad = values.map(lambda value: value is None or not _MIN_INT64 <= value <= _MAX_INT64)
        _raise_first(path, table, pd.DataFrame({column: bad}), f"{column} must be an integer")
        table[column] = values.astype(np.int64)
    _raise_first(path, table, table[["t", "id"]] < 0, "{column} must be >= 0")
    return table


def _exact_integer(text: str) -> int | None:
    """The integer a finite number's text holds ("12", "+12", "12.0", "1e3"), exactly for integer
    literals (a float column would round ids beyond 2**53); None when it is not integral."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
        return int(value) if value.is_integer() else None


def _check_layout(path: Path) -> None:
    """DataError when a column the reader uses is named twice in the header (pandas would rename the
    second one and ignore it), or at the first row with more fields than the header (pandas would take
    a first such row's extra fields for an index, shifting every column, and reports later ones
    without a line number)."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        rows = csv.reader(stream)
        header = next(rows, [])
        used = [name for name in header if name in (*REQUIRED_COLUMNS, SEQUENCE_COLUMN)]
        twice = sorted({name for name in used if used.count(name) > 1})
        if twice:
            raise DataError(path, f"column(s) {', '.join(twice)} named more than once in the header", 1)
        for row in rows:
            if len(row) > len(header):
                raise DataError(path, f"{len(row)} fields but the header has {len(header)}", rows.line_num)


def _raise_first(path: Path, table: pd.DataFrame, bad: pd.DataFrame, message: str) -> None:
    """DataError at the first line where boolean frame ``bad`` is True; ``{column}`` names its column."""
    rows = np.flatnonzero(bad.to_numpy().any(axis=1))
    if len(rows):
        row = rows[0]
        column = bad.columns[np.flatnonzero(bad.iloc[row].to_numpy())[0]]
        value = table[column].iloc[row]
        raise DataError(path, f"{message.format(column=column)} (got {value!r})", int(table["line"].iloc[row]))


def _sequence(name: str, rows: pd.DataFrame, path: Path) -> Sequence:
    rows = rows.sort_values(["t", "id"], ignore_index=True)
    node_of_id = pd.Series(np.arange(len(rows)), index=rows["id"].to_numpy())
    children = rows["parent_id"].to_numpy() != NO_PARENT
    parent_id = np.full(len(rows), NO_PARENT, dtype=np.int64)
    parent_id[children] = node_of_id.loc[rows.loc[children, "parent_id"]].to_numpy()
    detections = pd.DataFrame(
        {
            "node_id": np.arange(len(rows), dtype=np.int64),
            "t": rows["t"].to_numpy(),
            "label": rows["id"].to_numpy(),
            "y": rows["y"].to_numpy(dtype=np.float64),
            "x": rows["x"].to_numpy(dtype=np.float64),
            "parent_id": parent_id,
        }
    )
    for column in FEATURE_COLUMNS:
        detections[column] = 0.0
    return Sequence(
        name=name,
        detections=detections[[*DETECTION_COLUMNS, *FEATURE_COLUMNS]],
        n_frames=int(rows["t"].max()) + 1,
        source=path,
    )
