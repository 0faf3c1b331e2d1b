"""A person's annotation file: the correct children of some nodes of a tracked movie (SPEC section 7).

CSV (the shape of ``suggest``'s ``suggestions.csv``): one row per annotated node. Required columns
``sequence``, ``node_id`` and ``children``: the node ids of the node's children in the next frame,
separated by ``;`` (``12;13`` for a division; empty: the track ends at this node). Optional columns
``t``, ``y``, ``x`` (when filled, checked against the node: the same frame, the centroid within
``POSITION_TOLERANCE`` px) and ``score`` (when filled, a number; otherwise unused). Other columns
are ignored. Line numbers are 1-based and count the header as line 1.

GEFF: a store of one sequence's nodes (ids = the movie's node ids, with the properties t, y, x and
label as ``suggest`` and every tracking run write them) whose edges are annotated links. When its
nodes have the property ``annotated`` (as ``suggestions/<seq>.geff`` has), the annotated nodes are
those with ``annotated`` = 1 and their children are their out-edges (none: the track ends there);
without it the annotated nodes are the edges' parents. The store belongs to the sequence its name
names (``<seq>.geff``) or, when the movie has one sequence, to that one.

Every problem is a DataError naming the file and the CSV line or the GEFF node or edge: an unknown
sequence or node id, a link that does not join a node to the next frame, more than two children, a
node annotated twice with different children, a child claimed by two parents, a malformed field.
Identical repeated annotations are accepted once.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.geff_io import read_geff
from benchmark.data.sequence import Sequence
from benchmark.errors import DataError

REQUIRED_COLUMNS = ("sequence", "node_id", "children")
#: Columns of a validated annotation table (``children``: a sorted tuple of node ids).
ANNOTATION_COLUMNS = ["sequence", "node_id", "t", "y", "x", "children"]
#: The node property of a GEFF annotation store that marks the annotated nodes.
ANNOTATED_PROPERTY = "annotated"
#: Largest distance (px) between a row's y, x and its node's centroid.
POSITION_TOLERANCE = 0.5
SEPARATOR = ";"


@dataclass(frozen=True)
class _Entry:
    """One annotation as read: ``where`` names its origin (``line 3``, ``node 12``) in messages."""

    sequence: str
    node: int
    children: tuple[int, ...]
    line: int | None
    where: str


def children_text(children: tuple[int, ...]) -> str:
    """``(12, 13)`` -> ``"12;13"``; ``()`` -> ``""`` (the CSV form of a node's children)."""
    return SEPARATOR.join(str(child) for child in children)


def read_annotations(path: Path, sequences: Mapping[str, Sequence]) -> pd.DataFrame:
    """The validated annotations of the CSV or GEFF file ``path`` on the movie ``sequences`` (by name):
    ANNOTATION_COLUMNS, one row per annotated node, in (sequence, node_id) order."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "annotation file not found")
    if path.suffix.lower() == ".csv":
        entries = _csv_entries(path, sequences)
    elif path.is_dir():
        entries = _geff_entries(path, sequences)
    else:
        raise DataError(path, "an annotation file is a .csv file or a GEFF store (folder)")
    if not entries:
        raise DataError(path, "has no annotations")
    return _validated(path, entries, sequences)


def _csv_entries(path: Path, sequences: Mapping[str, Sequence]) -> list[_Entry]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: a BOM as spreadsheets write it
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [name for name in REQUIRED_COLUMNS if name not in columns]
            if missing:
                raise DataError(path, f"needs the columns {', '.join(REQUIRED_COLUMNS)} (missing: {', '.join(missing)})", 1)
            entries = []
            for row in reader:
                line = reader.line_num
                if None in row or None in row.values():
                    raise DataError(path, f"has not the {len(columns)} fields of the header", line)
                entries.append(_csv_entry(path, row, line, sequences))
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(path, f"not a readable CSV file ({error})") from None
    return entries


def _csv_entry(path: Path, row: dict[str, str], line: int, sequences: Mapping[str, Sequence]) -> _Entry:
    sequence = row["sequence"].strip()
    node = _node_id(path, row["node_id"], "node_id", line)
    text = row["children"].strip()
    children = tuple(_node_id(path, item, "children", line) for item in text.split(SEPARATOR)) if text else ()
    entry = _Entry(sequence, node, children, line, f"line {line}")
    _known_node(path, entry, sequences)
    detections = sequences[sequence].detections
    frame = int(detections["t"].iat[node])
    if row.get("t", "").strip() and _number(path, row["t"], "t", line) != frame:
        raise DataError(path, f"t={row['t'].strip()}, but node {node} is in frame {frame}", line)
    for axis in ("y", "x"):
        value = float(detections[axis].iat[node])
        if row.get(axis, "").strip() and abs(_number(path, row[axis], axis, line) - value) > POSITION_TOLERANCE:
            raise DataError(path, f"{axis}={row[axis].strip()}, but node {node} is at {axis}={value:.1f}", line)
    if row.get("score", "").strip():
        _number(path, row["score"], "score", line)
    return entry


def _node_id(path: Path, text: str, column: str, line: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise DataError(
            path, f"{column} {text.strip()!r} is not a node id (an integer >= 0; children are separated by {SEPARATOR!r})",
            line,
        )
    return value


def _number(path: Path, text: str, column: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise DataError(path, f"{column} {text.strip()!r} is not a number", line)
    return value


def _geff_entries(path: Path, sequences: Mapping[str, Sequence]) -> list[_Entry]:
    stem = path.name.split(".")[0]
    if stem in sequences:
        sequence = stem
    elif len(sequences) == 1:
        sequence = next(iter(sequences))
    else:
        raise DataError(
            path, f"name the GEFF store after its sequence, one of {', '.join(sequences)} (e.g. {next(iter(sequences))}.geff)"
        )
    nodes, edges = read_geff(path, extra=(ANNOTATED_PROPERTY,))
    movie = sequences[sequence].detections
    for node, frame in zip(nodes["node_id"], nodes["t"]):
        _known_node(path, _Entry(sequence, int(node), (), None, f"node {node}"), sequences)
        if frame != movie["t"].iat[node]:
            raise DataError(path, f"node {node}: t={frame}, but the movie's node {node} is in frame {movie['t'].iat[node]}")
    children: dict[int, list[int]] = {}
    if ANNOTATED_PROPERTY in nodes:
        children = {int(node): [] for node in nodes.loc[nodes[ANNOTATED_PROPERTY].astype(bool), "node_id"]}
    for parent, child in edges.tolist():
        if ANNOTATED_PROPERTY in nodes and parent not in children:
            raise DataError(
                path, f"edge {parent} -> {child} leaves node {parent}, which is not annotated ({ANNOTATED_PROPERTY} = 0)"
            )
        children.setdefault(parent, []).append(child)
    return [_Entry(sequence, node, tuple(kids), None, f"node {node}") for node, kids in sorted(children.items())]


def _entry_error(path: Path, entry: _Entry, message: str) -> DataError:
    """An error about ``entry``: at its CSV line, or naming its GEFF node."""
    return DataError(path, message if entry.line is not None else f"{entry.where}: {message}", entry.line)


def _known_node(path: Path, entry: _Entry, sequences: Mapping[str, Sequence]) -> None:
    if entry.sequence not in sequences:
        raise _entry_error(path, entry, f"unknown sequence {entry.sequence!r} (the movie has {', '.join(sequences)})")
    n = sequences[entry.sequence].n_detections
    for node in (entry.node, *entry.children):
        if node >= n:
            raise _entry_error(
                path, entry, f"unknown node id {node} (sequence {entry.sequence!r} has node ids 0..{n - 1})"
            )


def _validated(path: Path, entries: list[_Entry], sequences: Mapping[str, Sequence]) -> pd.DataFrame:
    """Check links, child counts and consistency; the annotation table (ANNOTATION_COLUMNS)."""
    first: dict[tuple[str, int], _Entry] = {}
    parent_of: dict[tuple[str, int], _Entry] = {}
    for entry in entries:
        _known_node(path, entry, sequences)
        frames = sequences[entry.sequence].frames()
        if len(entry.children) > 2:
            raise _entry_error(path, entry, f"node {entry.node} has {len(entry.children)} children (at most 2)")
        if len(set(entry.children)) < len(entry.children):
            raise _entry_error(path, entry, f"node {entry.node} lists a child twice")
        for child in entry.children:
            if frames[child] != frames[entry.node] + 1:
                raise _entry_error(
                    path,
                    entry,
                    f"link {entry.node} -> {child} joins frame {frames[entry.node]} to frame "
                    f"{frames[child]}; a child is in the next frame",
                )
        key = (entry.sequence, entry.node)
        earlier = first.setdefault(key, entry)
        if sorted(earlier.children) != sorted(entry.children):
            raise _entry_error(
                path,
                entry,
                f"node {entry.node} is annotated again with other children "
                f"({children_text(entry.children) or 'none'}; {earlier.where}: {children_text(earlier.children) or 'none'})",
            )
        if earlier is not entry:
            continue
        for child in entry.children:
            claimed = parent_of.setdefault((entry.sequence, child), entry)
            if claimed.node != entry.node:
                raise _entry_error(
                    path, entry, f"node {child} is claimed as a child by node {entry.node} and by node "
                    f"{claimed.node} ({claimed.where})",
                )
    rows = []
    for (sequence, node), entry in sorted(first.items()):
        detections = sequences[sequence].detections
        t, y, x = (detections[column].iat[node] for column in ("t", "y", "x"))
        rows.append((sequence, node, int(t), float(y), float(x), tuple(sorted(entry.children))))
    return pd.DataFrame(rows, columns=ANNOTATION_COLUMNS)
