"""What the fuzz tests share: the time limit, the outcome count, expectations, and the two inputs that
are corrupted (a CTC folder, a point CSV) with what each holds after its corruptions.

A corruption of a catalogue (one per test module: what it corrupts) changes a fresh copy of a valid
input and returns what reading it must then do (``Expect``): fail with a DataError naming one of the
culprit files (and, in a text file, one of the expected lines) and saying what is wrong (``says``, a
regular expression), or load. An input that loads is compared with what it holds (``Folder.truth``,
``Points.truth``): every detection with its frame, label, position and GT predecessor, nothing more,
nothing less; where the reader documents skipping something, a warning must say so (``warns``).

Every case runs under a hard time limit (``SECONDS_PER_CASE``, SIGALRM; hypothesis deadlines are off
because timings on a loaded CI machine are noisy). Runs are deterministic (derandomize, no example
database). ``OUTCOMES`` counts cases per family, kind and outcome; ``-s`` prints them per module.
"""

from __future__ import annotations

import re
import shutil
import signal
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import TINY_SQUARES, TINY_TRACKS, tiny_arrays
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from benchmark.data.ctc import write_ctc_sequence
from benchmark.data.datasets import resolve_dataset
from benchmark.data.sequence import NO_PARENT, Dataset
from benchmark.errors import DataError

SECONDS_PER_CASE = 10.0
CASES_PER_KIND = 12
FUZZ = settings(
    max_examples=CASES_PER_KIND,
    database=None,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

#: (family, kind, outcome) -> number of cases; outcome: DataError, ConfigError, usage, error, loaded.
OUTCOMES: Counter[tuple[str, str, str]] = Counter()
SLOWEST: dict[str, float] = {}

Draw = Callable[[st.SearchStrategy[Any]], Any]


class Hang(BaseException):
    """A case ran past SECONDS_PER_CASE (a BaseException, so that no ``except Exception`` hides it)."""


@contextmanager
def time_limit(seconds: float = SECONDS_PER_CASE) -> Iterator[None]:
    def hang(signum: int, frame: Any) -> None:
        raise Hang(f"a case ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def record(family: str, kind: str, outcome: str, seconds: float) -> None:
    OUTCOMES[family, kind, outcome] += 1
    SLOWEST[family] = max(SLOWEST.get(family, 0.0), seconds)
    event(f"{kind}: {outcome}")


@pytest.fixture(scope="module", autouse=True)
def outcome_table() -> Iterator[None]:
    """Print the module's cases per family, kind and outcome after it (visible with ``-s``)."""
    before = Counter(OUTCOMES)
    yield
    counts = OUTCOMES - before
    print("\nfuzzed cases (family / kind: outcome counts)")
    for family in sorted({key[0] for key in counts}):
        kinds = sorted({key[1] for key in counts if key[0] == family})
        total = sum(n for key, n in counts.items() if key[0] == family)
        print(f"{family}: {len(kinds)} kinds, {total} cases, slowest {SLOWEST[family]:.2f} s")
        for kind in kinds:
            outcomes = [f"{outcome} {n}" for (f, k, outcome), n in sorted(counts.items()) if (f, k) == (family, kind)]
            print(f"  {kind}: {', '.join(outcomes)}")


# --------------------------------------------------------------------------------------------------
# Expectations


@dataclass(frozen=True)
class Expect:
    """What reading a corrupted input must do.

    ``culprits``: the paths a DataError may name (empty: it must load); ``lines``: the lines it may
    give (None: not checked); ``says``: a regular expression its message must match (what is wrong);
    ``may_load``: loading is fine too; ``warns``: regular expressions that, when it loads, each match
    one of its warnings, and every warning matches one of (none: no warning at all).
    """

    culprits: frozenset[Path] = frozenset()
    lines: frozenset[int | None] | None = None
    says: str = ""
    may_load: bool = False
    warns: frozenset[str] = frozenset()


def fails(*culprits: Path, says: str, lines: Any = None) -> Expect:
    assert says, "a failing corruption names what the message must say"
    return Expect(frozenset(culprits), None if lines is None else frozenset(lines), says)


def loads(*warns: str) -> Expect:
    return Expect(may_load=True, warns=frozenset(warns))


LOADS = loads()


def either(expects: list[Expect], also: set[Path]) -> Expect:
    """Several corruptions of one input: an error of any of them (naming any of ``also`` too), or a
    load when they cancel out (with any of their warnings)."""
    says = "|".join(f"(?:{expect.says})" for expect in expects if expect.says)
    culprits = frozenset().union(*(expect.culprits for expect in expects), also)
    return Expect(culprits, None, says, may_load=True, warns=frozenset().union(*(expect.warns for expect in expects)))


def check_read(family: str, kind: str, expect: Expect, read: Callable[[], Dataset], truth: Callable[[], dict]) -> None:
    """Run ``read`` under the time limit and check what it did against ``expect``; a loaded dataset
    must hold exactly ``truth()`` (sequence name -> detections, see ``assert_holds``)."""
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with time_limit():
                dataset = read()
        except DataError as error:
            assert expect.culprits, f"{kind}: harmless, yet {error}"
            named = sorted(map(str, expect.culprits))
            assert error.path in expect.culprits, f"{kind}: {error}\n names {error.path}, expected one of {named}"
            if expect.lines is not None:
                assert error.line in expect.lines, f"{kind}: {error}\n line {error.line}, expected one of {expect.lines}"
            assert re.search(expect.says, str(error)), f"{kind}: {error}\n does not say /{expect.says}/"
            outcome = "DataError"
        else:
            assert expect.may_load, f"{kind}: loaded, expected an error naming {sorted(map(str, expect.culprits))}"
            assert_holds(dataset, truth(), kind)
            messages = [str(warning.message) for warning in caught if issubclass(warning.category, UserWarning)]
            for pattern in expect.warns:
                assert any(re.search(pattern, text) for text in messages), f"{kind}: no warning /{pattern}/ in {messages}"
            for text in messages:
                assert any(re.search(pattern, text) for pattern in expect.warns), f"{kind}: unexpected warning {text!r}"
            outcome = "loaded"
    record(family, kind, outcome, time.perf_counter() - started)


def assert_holds(dataset: Dataset, truth: dict[str, pd.DataFrame], kind: str) -> None:
    """``dataset`` holds exactly ``truth``: sequence name -> (t, label, y, x, parent_t, parent_label)
    rows, one per detection, parent_* -1 for a root. Positions are compared to 1e-9 px."""
    assert set(dataset.sequences) == set(truth), f"{kind}: sequences {sorted(dataset.sequences)}, expected {sorted(truth)}"
    key = ["t", "label"]
    for name, expected in truth.items():
        detections = dataset.sequences[name].detections
        assert detections["node_id"].tolist() == list(range(len(detections))), f"{kind}: node ids are not row numbers"
        parent = detections["parent_id"].to_numpy()
        root = parent == NO_PARENT
        of_parent = {
            column: np.where(root, NO_PARENT, detections[column].to_numpy()[np.where(root, 0, parent)]) for column in key
        }
        loaded = detections[[*key, "y", "x"]].assign(parent_t=of_parent["t"], parent_label=of_parent["label"])
        loaded = loaded.sort_values(key, ignore_index=True)
        expected = expected.sort_values(key, ignore_index=True)
        assert len(loaded) == len(expected), f"{kind}: {name} loaded {len(loaded)} detections, holds {len(expected)}"
        for column in (*key, "parent_t", "parent_label"):
            assert loaded[column].tolist() == expected[column].astype(np.int64).tolist(), f"{kind}: {name} {column} differs"
        assert np.allclose(loaded[["y", "x"]], expected[["y", "x"]], rtol=0, atol=1e-9), f"{kind}: {name} positions differ"


# --------------------------------------------------------------------------------------------------
# Strategies shared by the catalogues

LETTERS = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
PRINTABLE = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8)  # no space


def is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


NOT_INTEGERS = st.one_of(st.sampled_from(["x", "1.5", "nan", "inf", "1e3", "0x1f", "--1", "1-"]), PRINTABLE).filter(
    lambda text: not is_int(text)
)
NOT_NUMBERS = PRINTABLE.filter(lambda text: not is_number(text) and not set(text) & set(",\"'"))
NON_INTEGRAL = st.floats(-1e6, 1e6).filter(lambda value: value != int(value))
BEYOND_INT64 = st.one_of(st.integers(2**63, 2**200).map(str), st.sampled_from(["1e300", "-1e300", "1e19"]))


# --------------------------------------------------------------------------------------------------
# A CTC folder

TRACK_LINES = [f"{label} {begin} {end} {parent}" for label, begin, end, parent in TINY_TRACKS]
TRACKS = {label: (line, begin, end, parent) for line, (label, begin, end, parent) in enumerate(TINY_TRACKS, 1)}
DESCRIPTION = "name: tiny\nsplit: {train: ['01'], test: ['01']}\n"
FRAME_NAME = r"(t|man_track)\d+\.tiff?"


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[tuple[bool, bool], Path]:
    """Valid CTC datasets (sequence 01 of the tiny arrays) by (with images, with dataset.yaml)."""
    images, masks, tracks = tiny_arrays()
    roots = {}
    for with_images in (True, False):
        for described in (True, False):
            root = tmp_path_factory.mktemp("template") / "ctc"
            write_ctc_sequence(root, "01", images if with_images else None, masks, tracks)
            if described:
                (root / "dataset.yaml").write_text(DESCRIPTION)
            roots[with_images, described] = root
    return roots


def parse_track_lines(lines: list[str]) -> dict[int, tuple[int, int, int]] | None:
    """label -> (begin, end, parent) of man_track.txt lines; None when a non-blank line is not 4 integers."""
    tracks = {}
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4 or not all(is_int(value) for value in fields):
            return None
        label, begin, end, parent = map(int, fields)
        tracks[label] = (begin, end, parent)
    return tracks


@dataclass
class Folder:
    """A fresh copy of a valid dataset to corrupt, and what its files hold after the corruptions.

    ``masks``: the label masks by frame; ``tracks``: man_track.txt by label (None: not 4 integers a
    line); ``readable``: False once a corruption leaves a file that no reader may take (then the
    truth is unknown and the folder must not load).
    """

    root: Path
    images: np.ndarray | None  # (T, H, W) uint16
    masks: list[np.ndarray]
    described: bool
    tracks: dict[int, tuple[int, int, int]] | None = field(
        default_factory=lambda: {label: (begin, end, parent) for label, begin, end, parent in TINY_TRACKS}
    )
    readable: bool = True

    @property
    def image_dir(self) -> Path:
        return self.root / "01"

    @property
    def tra(self) -> Path:
        return self.root / "01_GT" / "TRA"

    @property
    def table(self) -> Path:
        return self.tra / "man_track.txt"

    @property
    def description(self) -> Path:
        return self.root / "dataset.yaml"

    @property
    def n_frames(self) -> int:
        return len(self.masks)

    def mask(self, t: int) -> Path:
        return self.tra / f"man_track{t:03d}.tif"

    def image(self, t: int) -> Path:
        return self.image_dir / f"t{t:03d}.tif"

    def frame_files(self) -> list[Path]:
        images = [self.image(t) for t in range(self.n_frames)] if self.images is not None else []
        return [*images, *(self.mask(t) for t in range(self.n_frames))]

    def first_frame(self, label: int) -> int:
        return next(t for t, mask in enumerate(self.masks) if (mask == label).any())

    def write_mask(self, t: int, mask: np.ndarray) -> None:
        """Mask file ``t`` (a new last frame when t = n_frames) holds ``mask``."""
        tifffile.imwrite(self.mask(t), mask)
        if t == self.n_frames:
            self.masks.append(mask)
        else:
            self.masks[t] = mask

    def write_table(self, lines: list[str], newline: str = "\n") -> None:
        self.table.write_bytes("".join(f"{line}{newline}" for line in lines).encode())
        self.tracks = parse_track_lines(lines)

    def truth(self) -> dict[str, pd.DataFrame]:
        """Sequence 01's detections as its files define them: one per (frame, label) of the masks at
        the centroid of its pixels; the predecessor is the label's previous occurrence or, for a
        track's first, the parent track's last occurrence."""
        assert self.readable and self.tracks is not None, "loaded a folder with a file no reader may take"
        rows, last_seen = [], {}
        for t, mask in enumerate(self.masks):
            for label in sorted(set(np.unique(mask).tolist()) - {0}):
                ys, xs = np.nonzero(mask == label)
                if label in last_seen:
                    parent = (last_seen[label], label)
                else:
                    parent_label = self.tracks[label][2]
                    parent = (self.last_frame(parent_label), parent_label) if parent_label else (NO_PARENT, NO_PARENT)
                rows.append((t, label, ys.mean(), xs.mean(), *parent))
                last_seen[label] = t
        return {"01": pd.DataFrame(rows, columns=["t", "label", "y", "x", "parent_t", "parent_label"])}

    def last_frame(self, label: int) -> int:
        return max(t for t, mask in enumerate(self.masks) if (mask == label).any())


def fresh_folder(draw: Draw, templates: dict[tuple[bool, bool], Path], tmp: Path, images: bool) -> Folder:
    """A copy of a valid dataset, with images when ``images`` (else drawn) and maybe a dataset.yaml."""
    with_images = images or draw(st.booleans())
    described = draw(st.booleans())
    shutil.copytree(templates[with_images, described], tmp / "ctc")
    arrays, masks, _ = tiny_arrays()
    return Folder(tmp / "ctc", arrays if with_images else None, list(masks), described)


def read_folder(folder: Folder, tmp: Path) -> Callable[[], Dataset]:
    return lambda: resolve_dataset(str(folder.root), data_dir=tmp, cache_dir=tmp / "cache")


def track_lines(*, begin: int | None = None, end: int | None = None) -> set[int]:
    """Lines of man_track.txt whose track begins at frame ``begin`` or ends at frame ``end``."""
    return {line for line, first, last, _ in TRACKS.values() if first == begin or last == end}


# --------------------------------------------------------------------------------------------------
# A point CSV

REQUIRED = ["t", "y", "x", "id", "parent_id"]
INTEGER_COLUMNS = ["t", "id", "parent_id"]
NA_TOKENS = ["", "NA", "NaN", "nan", "N/A", "NULL", "null", "None", "<NA>", "#N/A", "-nan", "n/a"]


def tiny_points() -> list[dict[str, str]]:
    """The tiny sequence as point rows: id = 10 * label + t, parent_id = the GT predecessor's id or -1."""
    parents = {label: parent for label, _, _, parent in TINY_TRACKS}
    latest: dict[int, int] = {}  # label -> id of its latest detection; parents have lower labels
    rows = []
    for label, squares in TINY_SQUARES.items():
        for t, row, col, size in squares:
            parent = latest[label] if label in latest else latest.get(parents[label], -1)
            latest[label] = 10 * label + t
            center = (size - 1) / 2
            point = {"t": t, "y": row + center, "x": col + center, "id": latest[label], "parent_id": parent}
            rows.append({column: str(value) for column, value in point.items()})
    return rows


@dataclass
class Points:
    """A point CSV to corrupt: header and rows of fields (or raw bytes), blank lines to insert."""

    path: Path
    columns: list[str]
    rows: list[list[str]]
    blank_before: list[int] = field(default_factory=list)  # data rows with a blank line before them
    newline: str = "\n"
    raw: bytes | None = None

    def line(self, row: int) -> int:
        """The file line of data row ``row``."""
        return row + 2 + sum(blank <= row for blank in self.blank_before)

    def get(self, row: int, column: str) -> str:
        return self.rows[row][self.columns.index(column)]

    def set(self, row: int, column: str, value: str) -> None:
        self.rows[row][self.columns.index(column)] = value

    def same_sequence(self, row: int) -> list[int]:
        """Rows of ``row``'s sequence."""
        if "sequence" not in self.columns:
            return list(range(len(self.rows)))
        return [other for other in range(len(self.rows)) if self.get(other, "sequence") == self.get(row, "sequence")]

    def write(self) -> None:
        if self.raw is not None:
            self.path.write_bytes(self.raw)
            return
        lines = [",".join(self.columns)]
        for number, row in enumerate([*self.rows, None]):
            lines += [""] * self.blank_before.count(number)
            if row is not None:
                lines.append(",".join(row))
        self.path.write_bytes("".join(f"{line}{self.newline}" for line in lines).encode())

    def truth(self) -> dict[str, pd.DataFrame]:
        """The detections the rows hold, by sequence (the file's stem without a sequence column); rows
        without any value are no detection."""
        assert self.raw is None, "loaded raw bytes"
        padded = [[value.strip('"') for value in row] + [""] * (len(self.columns) - len(row)) for row in self.rows]
        table = pd.DataFrame(padded, columns=self.columns)
        table = table[(table != "").any(axis=1)]
        names = table["sequence"] if "sequence" in table else pd.Series(self.path.stem, index=table.index)
        truth = {}
        for name, rows in table.groupby(names):
            rows = rows.assign(t=rows["t"].map(exact), label=rows["id"].map(exact), parent=rows["parent_id"].map(exact))
            frame_of = dict(zip(rows["label"], rows["t"]))
            truth[str(name)] = pd.DataFrame(
                {
                    "t": rows["t"], "label": rows["label"], "y": rows["y"].astype(float), "x": rows["x"].astype(float),
                    "parent_t": rows["parent"].map(lambda parent: frame_of.get(parent, NO_PARENT)),
                    "parent_label": rows["parent"],
                }
            )
        return truth


def exact(text: str) -> int:
    """The integer a CSV field holds."""
    return int(text) if is_int(text) else int(float(text))


def fresh_points(draw: Draw, tmp: Path) -> Points:
    """A valid point CSV: the tiny sequence, maybe twice as sequences a and b, maybe with a note column."""
    columns = [*(["sequence"] if draw(st.booleans()) else []), *REQUIRED, *(["note"] if draw(st.booleans()) else [])]
    sequences = ["a", "b"] if "sequence" in columns else [""]
    points = [{**point, "sequence": name, "note": "n"} for name in sequences for point in tiny_points()]
    rows = [[point[column] for column in columns] for point in points]
    blank_before = draw(st.lists(st.integers(0, len(rows)), max_size=3))
    return Points(tmp / "points.csv", columns, rows, blank_before)
