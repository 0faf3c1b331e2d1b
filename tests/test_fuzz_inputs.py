"""Bad input, fuzzed: corrupted CTC folders, point CSVs, grid files and command-line values end in the
suite's own error naming the culprit, never in a library's exception or a hang.

CTC and CSV cases start from a small valid input (conftest's tiny sequence: 4 frames of 24x32, 5
tracks with a division and a late root) and apply one corruption of a catalogue (``CTC_KINDS``,
``CSV_KINDS``; ``test_stacked_ctc_corruptions`` applies up to three). A corruption returns what
reading must then do (``Expect``): fail with a DataError naming one of the culprit files (and, in a
text file, one of the expected lines), or load, for the few corruptions that leave valid data.
Bad grid files must raise a ConfigError naming the file; bad command-line (MLproject) values must end
with status 2 and one line "error: ..." (or argparse's usage error) naming the parameter, before any
run starts (``nothing_runs`` turns a run that would start into a failure).

Every case runs under a hard time limit (``SECONDS_PER_CASE``, SIGALRM; hypothesis deadlines are
off because timings on a loaded CI machine are noisy). Runs are deterministic (derandomize, no
example database). ``OUTCOMES`` counts cases per family, kind and outcome: ``-s`` prints the table
at the end of the module, and ``test_enough_malformed_inputs`` checks the total.
"""

from __future__ import annotations

import importlib
import io
import re
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import yaml
from conftest import TINY_SQUARES, TINY_TRACKS, tiny_arrays
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import benchmark.entry_points as entry_points
import benchmark.sweep.runner as sweep_runner
from attrackt.finetune import SETUPS
from attrackt.sampling import STRATEGIES, parse_k
from benchmark.cli import COMMANDS, WITHOUT_COMMON, main
from benchmark.config import PROFILES, flatten, load_config, parse_override
from benchmark.data.ctc import write_ctc_sequence
from benchmark.data.datasets import resolve_dataset
from benchmark.errors import ConfigError, DataError
from benchmark.sweep.executors import EXECUTORS, SCHEDULER_ADDRESS
from benchmark.sweep.grid import GRIDS, TABLE1_METHODS, load_grid

SECONDS_PER_CASE = 10.0
CASES_PER_KIND = 12
FUZZ = settings(
    max_examples=CASES_PER_KIND,
    database=None,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

#: (family, kind, outcome) -> number of cases; outcome: DataError, ConfigError, usage, loaded.
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
    """Print the cases per family, kind and outcome after the module (visible with ``-s``)."""
    yield
    print("\nfuzzed cases (family / kind: outcome counts)")
    for family in sorted({key[0] for key in OUTCOMES}):
        kinds = sorted({key[1] for key in OUTCOMES if key[0] == family})
        total = sum(n for key, n in OUTCOMES.items() if key[0] == family)
        print(f"{family}: {total} cases, slowest {SLOWEST[family]:.2f} s")
        for kind in kinds:
            counts = [f"{outcome} {n}" for (f, k, outcome), n in sorted(OUTCOMES.items()) if (f, k) == (family, kind)]
            print(f"  {kind}: {', '.join(counts)}")


# --------------------------------------------------------------------------------------------------
# Expectations


@dataclass(frozen=True)
class Expect:
    """What reading a corrupted input must do.

    ``culprits``: the paths a DataError may name (empty: it must load); ``lines``: the lines it may
    give (None: not checked); ``says``: a phrase its message must hold; ``may_load``: loading is fine
    too (a corruption that can be harmless).
    """

    culprits: frozenset[Path] = frozenset()
    lines: frozenset[int | None] | None = None
    says: str = ""
    may_load: bool = False


def fails(*culprits: Path, lines: Any = None, says: str = "") -> Expect:
    return Expect(frozenset(culprits), None if lines is None else frozenset(lines), says)


LOADS = Expect(may_load=True)


def check_read(family: str, kind: str, expect: Expect, read: Callable[[], object]) -> None:
    """Run ``read`` under the time limit and check what it did against ``expect``."""
    started = time.perf_counter()
    try:
        with time_limit():
            read()
    except DataError as error:
        assert expect.culprits, f"{kind}: harmless, yet {error}"
        named = sorted(map(str, expect.culprits))
        assert error.path in expect.culprits, f"{kind}: {error}\n names {error.path}, expected one of {named}"
        if expect.lines is not None:
            assert error.line in expect.lines, f"{kind}: {error}\n line {error.line}, expected one of {expect.lines}"
        assert expect.says in str(error), f"{kind}: {error}\n does not say {expect.says!r}"
        outcome = "DataError"
    else:
        assert expect.may_load, f"{kind}: loaded, expected an error naming {expect.culprits}"
        outcome = "loaded"
    record(family, kind, outcome, time.perf_counter() - started)


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
# CTC folders

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


@dataclass
class Folder:
    """A fresh copy of a valid dataset to corrupt, and the arrays it was written from."""

    root: Path
    images: np.ndarray | None  # (T, H, W) uint16
    masks: np.ndarray  # (T, H, W) uint16
    described: bool

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
        return int(np.flatnonzero((self.masks == label).any(axis=(1, 2)))[0])

    def write_table(self, lines: list[str], newline: str = "\n") -> None:
        self.table.write_bytes("".join(f"{line}{newline}" for line in lines).encode())


def track_lines(*, begin: int | None = None, end: int | None = None) -> set[int]:
    """Lines of man_track.txt whose track begins at frame ``begin`` or ends at frame ``end``."""
    return {line for line, first, last, _ in TRACKS.values() if first == begin or last == end}


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


# ---- frame files


def missing_frame_file(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from(f.frame_files()))
    path.unlink()
    if path.parent == f.image_dir:
        return fails(f.image_dir)  # a gap, or fewer images than masks
    t = int(path.stem.removeprefix("man_track"))
    if t < f.n_frames - 1:
        return fails(f.tra)  # a gap
    if f.images is not None:
        return fails(f.image_dir)  # more images than masks
    return fails(f.table, lines=track_lines(end=t))  # those tracks now end a frame early


def extra_frame_file(draw: Draw, f: Folder) -> Expect:
    """Harmless only as an empty last mask without images."""
    is_image = f.images is not None and draw(st.booleans())
    number = f.n_frames + draw(st.one_of(st.just(0), st.integers(1, 3), st.integers(4, 10**40)))
    content = draw(st.sampled_from(["copy of the last frame", "empty frame", "new label"]))
    frame = np.zeros_like(f.masks[-1])
    if content == "copy of the last frame":
        frame = (f.images if is_image else f.masks)[-1]
    elif content == "new label":
        frame[:3, :3] = draw(st.integers(6, 65535))
    path = f.image_dir / f"t{number:03d}.tif" if is_image else f.tra / f"man_track{number:03d}.tif"
    tifffile.imwrite(path, frame)
    if number > f.n_frames:
        return fails(path.parent)  # a gap
    if f.images is not None:
        return fails(f.image_dir)  # images and masks differ in number
    if content == "copy of the last frame":
        return fails(f.table, lines=track_lines(end=f.n_frames - 1))  # those tracks now end a frame later
    return fails(path) if content == "new label" else LOADS


def duplicate_frame_number(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from(f.frame_files()))
    prefix = "t" if path.parent == f.image_dir else "man_track"
    number = path.stem.removeprefix(prefix)
    names = [f"{prefix}{int(number):04d}.tif", f"{prefix}{number}.tiff", f"{prefix}{int(number)}.tif"]
    copy = path.parent / draw(st.sampled_from(names))
    shutil.copy(path, copy)
    return fails(path, copy)  # whichever comes second in name order


def frame_file_is_a_folder(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from(f.frame_files()))
    path.unlink()
    path.mkdir()
    return fails(path)


def truncated_tiff(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from(f.frame_files()))
    data = path.read_bytes()
    path.write_bytes(data[: draw(st.integers(0, len(data) - 1))])
    return fails(path)


TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def non_tiff_bytes(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from(f.frame_files()))
    junk = st.one_of(st.binary(max_size=64), st.text(max_size=32).map(str.encode))
    path.write_bytes(draw(junk.filter(lambda data: not data.startswith(TIFF_MAGIC))))
    return fails(path)


def empty_file(draw: Draw, f: Folder) -> Expect:
    path = draw(st.sampled_from([*f.frame_files(), f.table]))
    path.write_bytes(draw(st.sampled_from([b"", b"\n", b" \n\n"])) if path == f.table else b"")
    if path == f.table:  # every mask label is unlisted now: the smallest is named where it first appears
        return fails(f.mask(f.first_frame(int(f.masks[f.masks > 0].min()))))
    return fails(path)


def no_masks(draw: Draw, f: Folder) -> Expect:
    for t in range(f.n_frames):
        f.mask(t).unlink()
    return fails(f.tra)


def no_track_table(draw: Draw, f: Folder) -> Expect:
    f.table.unlink()  # 01 is no sequence any more
    return fails(f.description if f.described else f.root)


STRAY_NAMES = st.one_of(
    st.sampled_from(["notes.txt", "man_track.tif", "t1.tif.bak", "T001.tif", "t001.TIF", "mask000.tif", "x_GT", "01_RES"]),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=12),
).filter(lambda name: name not in (".", "..", "dataset.yaml", "man_track.txt") and not re.fullmatch(FRAME_NAME, name))


def stray_files(draw: Draw, f: Folder) -> Expect:
    """Files and folders that the layout does not name are ignored."""
    folders = [f.root, f.tra, *([f.image_dir] if f.images is not None else [])]
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(folders)) / draw(STRAY_NAMES)
        if path.exists():
            continue
        if draw(st.booleans()):
            path.write_bytes(draw(st.binary(max_size=32)))
        else:
            path.mkdir()
    return LOADS


# ---- pixels: dtypes, shapes, contents


def mask_of_wrong_dtype(draw: Draw, f: Folder) -> Expect:
    t = draw(st.integers(0, f.n_frames - 1))
    dtype = draw(st.sampled_from(["float16", "float32", "float64", "bool", "complex64", "negative label"]))
    if dtype == "negative label":
        mask = f.masks[t].astype(draw(st.sampled_from([np.int8, np.int16, np.int32, np.int64])))
        mask[draw(st.integers(0, 23)), draw(st.integers(0, 31))] = -draw(st.integers(1, 127))
    else:
        mask = f.masks[t].astype(dtype)
    tifffile.imwrite(f.mask(t), mask)
    return fails(f.mask(t))


def mask_of_other_integer_dtype(draw: Draw, f: Folder) -> Expect:
    """Any integer dtype holds labels."""
    t = draw(st.integers(0, f.n_frames - 1))
    dtype = draw(st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.int64, np.uint32, np.uint64]))
    tifffile.imwrite(f.mask(t), f.masks[t].astype(dtype))
    return LOADS


def image_of_other_dtype(draw: Draw, f: Folder) -> Expect:
    """Any integer or float image is an image; booleans and complex numbers are not."""
    t = draw(st.integers(0, f.n_frames - 1))
    dtypes = ["uint8", "int8", "int16", "int32", "uint32", "float16", "float32", "float64", "bool", "complex64"]
    dtype = draw(st.sampled_from(dtypes))
    tifffile.imwrite(f.image(t), f.images[t].astype(dtype))
    return fails(f.image(t)) if dtype in ("bool", "complex64") else LOADS


def non_finite_pixel(draw: Draw, f: Folder) -> Expect:
    t = draw(st.integers(0, f.n_frames - 1))
    image = f.images[t].astype(draw(st.sampled_from([np.float32, np.float64])))
    image[draw(st.integers(0, 23)), draw(st.integers(0, 31))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    tifffile.imwrite(f.image(t), image)
    return fails(f.image(t))


OTHER_SHAPES = st.one_of(
    st.tuples(st.integers(1, 40), st.integers(1, 40)).filter(lambda shape: shape != (24, 32)),
    st.sampled_from([(2, 24, 32), (3, 24, 32), (24, 32, 3)]),
)


def mask_of_other_shape(draw: Draw, f: Folder) -> Expect:
    t = draw(st.integers(0, f.n_frames - 1))
    shape = draw(OTHER_SHAPES)
    tifffile.imwrite(f.mask(t), np.resize(f.masks[t], shape))
    if len(shape) == 2 and t == 0:  # the first mask sets the shape: the second one disagrees
        return fails(f.mask(0), f.mask(1))
    return fails(f.mask(t))


def image_of_other_shape(draw: Draw, f: Folder) -> Expect:
    t = draw(st.integers(0, f.n_frames - 1))
    tifffile.imwrite(f.image(t), np.resize(f.images[t], draw(OTHER_SHAPES)))
    return fails(f.image(t))


def empty_mask_frame(draw: Draw, f: Folder) -> Expect:
    """Harmless only when no track begins or ends in that frame (its labels then have gaps)."""
    t = draw(st.integers(0, f.n_frames - 1))
    tifffile.imwrite(f.mask(t), np.zeros_like(f.masks[t]))
    lines = track_lines(begin=t, end=t)
    return fails(f.table, lines=lines) if lines else LOADS


def label_erased_from_a_frame(draw: Draw, f: Folder) -> Expect:
    """Harmless between a track's first and last frame: a gap."""
    label = draw(st.sampled_from(sorted(TRACKS)))
    line, begin, end, _ = TRACKS[label]
    t = draw(st.sampled_from([t for t in range(f.n_frames) if (f.masks[t] == label).any()]))
    mask = f.masks[t].copy()
    mask[mask == label] = 0
    tifffile.imwrite(f.mask(t), mask)
    return fails(f.table, lines=[line]) if t in (begin, end) else LOADS


def unknown_label_in_a_mask(draw: Draw, f: Folder) -> Expect:
    t = draw(st.integers(0, f.n_frames - 1))
    row, col, size = draw(st.integers(0, 23)), draw(st.integers(0, 31)), draw(st.integers(1, 6))
    mask = f.masks[t].copy()
    mask[row : row + size, col : col + size] = draw(st.integers(6, 65535))
    tifffile.imwrite(f.mask(t), mask)
    return fails(f.mask(t))


def label_split_into_pieces(draw: Draw, f: Folder) -> Expect:
    """A label's pixels need not be connected: harmless."""
    t = draw(st.integers(0, f.n_frames - 1))
    mask = f.masks[t].copy()
    label = draw(st.sampled_from(sorted(set(np.unique(mask).tolist()) - {0})))
    rows, cols = np.nonzero(mask == 0)
    pick = draw(st.integers(0, len(rows) - 1))
    mask[rows[pick], cols[pick]] = label
    tifffile.imwrite(f.mask(t), mask)
    return LOADS


# ---- man_track.txt


def edited(line: int, fields: list[str]) -> list[str]:
    """TRACK_LINES with line ``line`` (1-based) made of ``fields``."""
    lines = list(TRACK_LINES)
    lines[line - 1] = " ".join(fields)
    return lines


def with_field(
    draw: Draw, f: Folder, values: st.SearchStrategy[str], columns: tuple[int, ...] = (0, 1, 2, 3), says: str = ""
) -> Expect:
    """One field of one line replaced by a drawn value: an error on that line."""
    line = draw(st.integers(1, len(TRACK_LINES)))
    fields = TRACK_LINES[line - 1].split()
    fields[draw(st.sampled_from(columns))] = draw(values)
    f.write_table(edited(line, fields))
    return fails(f.table, lines=[line], says=says)


def wrong_field_count(draw: Draw, f: Folder) -> Expect:
    line = draw(st.integers(1, len(TRACK_LINES)))
    fields = [*TRACK_LINES[line - 1].split(), *draw(st.lists(st.integers(0, 9).map(str), min_size=3, max_size=3))]
    f.write_table(edited(line, fields[: draw(st.sampled_from([1, 2, 3, 5, 6, 7]))]))
    return fails(f.table, lines=[line])


def non_integer_field(draw: Draw, f: Folder) -> Expect:
    return with_field(draw, f, NOT_INTEGERS)


def negative_field(draw: Draw, f: Folder) -> Expect:
    return with_field(draw, f, st.integers(-(2**70), -1).map(str))


def field_beyond_int64(draw: Draw, f: Folder) -> Expect:
    return with_field(draw, f, st.integers(2**63, 2**200).map(str), says="value above")


def label_zero(draw: Draw, f: Folder) -> Expect:
    return with_field(draw, f, st.sampled_from(["0", "00", "+0"]), (0,))


def unknown_parent(draw: Draw, f: Folder) -> Expect:
    return with_field(draw, f, st.integers(6, 10**9).map(str), (3,))


def begin_after_end(draw: Draw, f: Folder) -> Expect:
    label = draw(st.sampled_from(sorted(TRACKS)))
    line, _, end, parent = TRACKS[label]
    f.write_table(edited(line, [str(label), str(end + draw(st.integers(1, 10**6))), str(end), str(parent)]))
    return fails(f.table, lines=[line])


def duplicate_label(draw: Draw, f: Folder) -> Expect:
    """A second line for a label, anywhere: the later of the two is named."""
    label = draw(st.sampled_from(sorted(TRACKS)))
    begin = draw(st.integers(0, 5))
    lines = list(TRACK_LINES)
    lines.insert(draw(st.integers(0, len(lines))), f"{label} {begin} {begin + draw(st.integers(0, 3))} 0")
    f.write_table(lines)
    return fails(f.table, lines=line_numbers(lines, label)[1:])


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
    return fails(f.table, lines=[line])


def parent_cycle(draw: Draw, f: Folder) -> Expect:
    """Labels c1 -> c2 -> ... -> c1 each other's parent (one label: its own): named at the first line."""
    cycle = draw(st.lists(st.sampled_from(sorted(TRACKS)), min_size=1, max_size=3, unique=True))
    lines = list(TRACK_LINES)
    for label, parent in zip(cycle, [*cycle[1:], cycle[0]]):
        line, begin, end, _ = TRACKS[label]
        lines[line - 1] = f"{label} {begin} {end} {parent}"
    f.write_table(lines)
    return fails(f.table, lines=[min(TRACKS[label][0] for label in cycle)])


def label_missing_from_table(draw: Draw, f: Folder) -> Expect:
    """A parent's children then have an unknown parent; any other label is unlisted in its first mask."""
    label = draw(st.sampled_from(sorted(TRACKS)))
    lines = [line for line in TRACK_LINES if line.split()[0] != str(label)]
    f.write_table(lines)
    if children(label):
        return fails(f.table, lines=[line_numbers(lines, child)[0] for child in children(label)])
    return fails(f.mask(f.first_frame(label)))


def label_absent_from_masks(draw: Draw, f: Folder) -> Expect:
    label = draw(st.integers(6, 10**6))
    begin = draw(st.integers(0, 10))
    lines = list(TRACK_LINES)
    lines.insert(draw(st.integers(0, len(lines))), f"{label} {begin} {begin + draw(st.integers(0, 10))} 0")
    f.write_table(lines)
    return fails(f.table, lines=line_numbers(lines, label))


def span_disagrees_with_masks(draw: Draw, f: Folder) -> Expect:
    """Named at its own line or, when it now ends after its children begin, at a child's line."""
    label = draw(st.sampled_from(sorted(TRACKS)))
    line, begin, end, parent = TRACKS[label]
    span = draw(st.tuples(st.integers(0, 6), st.integers(0, 6)).filter(lambda s: s[0] <= s[1] and s != (begin, end)))
    f.write_table(edited(line, [str(label), str(span[0]), str(span[1]), str(parent)]))
    return fails(f.table, lines=[line, *(TRACKS[child][0] for child in children(label))])


def table_not_utf8(draw: Draw, f: Folder) -> Expect:
    text = "".join(f"{line}\n" for line in TRACK_LINES).encode()
    at = draw(st.integers(0, len(text)))
    f.table.write_bytes(text[:at] + draw(st.sampled_from([b"\xff", b"\x80", b"\xc3\x28", b"\xed\xa0\x80"])) + text[at:])
    return fails(f.table)


def table_layout(draw: Draw, f: Folder) -> Expect:
    """Line order, blank lines, tabs, extra spaces and CRLF endings do not matter."""
    separator = draw(st.sampled_from([" ", "  ", "\t", " \t "]))
    padding = st.sampled_from(["", " ", "\t"])
    lines = [draw(padding) + separator.join(line.split()) + draw(padding) for line in draw(st.permutations(TRACK_LINES))]
    for _ in range(draw(st.integers(0, 3))):
        lines.insert(draw(st.integers(0, len(lines))), draw(padding))
    f.write_table(lines, draw(st.sampled_from(["\n", "\r\n"])))
    return LOADS


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
    return fails(f.description)


Corruption = Callable[[Draw, Folder], Expect]
#: Corruptions of the files they name, each applied to a fresh copy of a valid dataset.
FILE_KINDS: dict[str, Corruption] = {
    "missing frame file": missing_frame_file,
    "extra frame file": extra_frame_file,
    "duplicate frame number": duplicate_frame_number,
    "frame file is a folder": frame_file_is_a_folder,
    "truncated TIFF": truncated_tiff,
    "non-TIFF bytes": non_tiff_bytes,
    "empty file": empty_file,
}
PIXEL_KINDS: dict[str, Corruption] = {
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
TABLE_KINDS: dict[str, Corruption] = {
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
CTC_KINDS: dict[str, Corruption] = {
    **FILE_KINDS,
    **PIXEL_KINDS,
    **TABLE_KINDS,
    "no masks": no_masks,
    "no man_track.txt": no_track_table,
    "stray files (harmless)": stray_files,
    "bad dataset.yaml": bad_dataset_yaml,
}
IMAGE_KINDS = {"image of other dtype", "non-finite image pixel", "image of other shape"}


def fresh_folder(draw: Draw, templates: dict[tuple[bool, bool], Path], tmp: Path, images: bool) -> Folder:
    """A copy of a valid dataset, with images when ``images`` (else drawn) and maybe a dataset.yaml."""
    with_images = images or draw(st.booleans())
    described = draw(st.booleans())
    shutil.copytree(templates[with_images, described], tmp / "ctc")
    arrays, masks, _ = tiny_arrays()
    return Folder(tmp / "ctc", arrays if with_images else None, masks, described)


def read_folder(folder: Folder, tmp: Path) -> Callable[[], object]:
    return lambda: resolve_dataset(str(folder.root), data_dir=tmp, cache_dir=tmp / "cache")


@FUZZ
@pytest.mark.parametrize("kind", CTC_KINDS)
@given(data=st.data())
def test_corrupted_ctc_folder(templates, kind, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = fresh_folder(data.draw, templates, Path(tmp), images=kind in IMAGE_KINDS)
        expect = CTC_KINDS[kind](data.draw, folder)
        check_read("ctc", kind, expect, read_folder(folder, Path(tmp)))


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_stacked_ctc_corruptions(templates, data):
    """Two or three corruptions of different files (table, then pixels, then one file): a DataError naming
    one of the dataset's paths, or a load when they happen to cancel out."""
    order = [TABLE_KINDS, PIXEL_KINDS, FILE_KINDS]
    groups = sorted(data.draw(st.lists(st.sampled_from(order), min_size=2, max_size=3, unique_by=id)), key=order.index)
    kinds = [data.draw(st.sampled_from(sorted(group))) for group in groups]
    with tempfile.TemporaryDirectory() as tmp:
        folder = fresh_folder(data.draw, templates, Path(tmp), images=bool(IMAGE_KINDS & set(kinds)))
        named = set().union(*(CTC_KINDS[kind](data.draw, folder).culprits for kind in kinds))
        named |= {folder.root, *folder.root.rglob("*")}
        expect = Expect(frozenset(named), may_load=True)
        check_read("ctc stacked", " + ".join(kinds), expect, read_folder(folder, Path(tmp)))


# --------------------------------------------------------------------------------------------------
# Point CSVs

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


def fresh_points(draw: Draw, tmp: Path) -> Points:
    """A valid point CSV: the tiny sequence, maybe twice as sequences a and b, maybe with a note column."""
    columns = [*(["sequence"] if draw(st.booleans()) else []), *REQUIRED, *(["note"] if draw(st.booleans()) else [])]
    sequences = ["a", "b"] if "sequence" in columns else [""]
    points = [{**point, "sequence": name, "note": "n"} for name in sequences for point in tiny_points()]
    rows = [[point[column] for column in columns] for point in points]
    blank_before = draw(st.lists(st.integers(0, len(rows)), max_size=3))
    return Points(tmp / "points.csv", columns, rows, blank_before)


def csv_cell(draw: Draw, doc: Points, columns: list[str]) -> tuple[int, str]:
    return draw(st.integers(0, len(doc.rows) - 1)), draw(st.sampled_from(columns))


def with_value(columns: list[str], values: st.SearchStrategy[str], says: str = "") -> Callable[[Draw, Points], Expect]:
    """A corruption that puts a drawn value in one cell of ``columns``: an error on that line."""

    def corrupt(draw: Draw, doc: Points) -> Expect:
        row, column = csv_cell(draw, doc, columns)
        doc.set(row, column, draw(values))
        return fails(doc.path, lines=[doc.line(row)], says=says)

    return corrupt


def missing_value(draw: Draw, doc: Points) -> Expect:
    row, column = csv_cell(draw, doc, [*REQUIRED, *(["sequence"] if "sequence" in doc.columns else [])])
    doc.set(row, column, draw(st.sampled_from(NA_TOKENS if column != "sequence" else ["", "NA"])))
    return fails(doc.path, lines=[doc.line(row)])


def negative(draw: Draw, doc: Points) -> Expect:
    """A negative frame or id, or a negative parent other than -1 (no such id)."""
    row, column = csv_cell(draw, doc, INTEGER_COLUMNS)
    doc.set(row, column, str(draw(st.integers(-(10**12), -1 if column != "parent_id" else -2))))
    return fails(doc.path, lines=[doc.line(row)])


def missing_column(draw: Draw, doc: Points) -> Expect:
    index = doc.columns.index(draw(st.sampled_from(REQUIRED)))
    del doc.columns[index]
    for row in doc.rows:
        del row[index]
    return fails(doc.path, lines=[1])


def renamed_column(draw: Draw, doc: Points) -> Expect:
    index = doc.columns.index(draw(st.sampled_from(REQUIRED)))
    names = st.one_of(st.sampled_from(["T", " t", "time", "ID", "parent", ""]), NOT_NUMBERS)
    doc.columns[index] = draw(names.filter(lambda name: name not in REQUIRED))
    return fails(doc.path, lines=[1])


def duplicate_id(draw: Draw, doc: Points) -> Expect:
    row = draw(st.integers(0, len(doc.rows) - 1))
    other = draw(st.sampled_from([other for other in doc.same_sequence(row) if other != row]))
    doc.set(row, "id", doc.get(other, "id"))
    return fails(doc.path, lines=[doc.line(max(row, other))])


def unknown_parent_id(draw: Draw, doc: Points) -> Expect:
    row = draw(st.integers(0, len(doc.rows) - 1))
    ids = {int(doc.get(other, "id")) for other in doc.same_sequence(row)} | {-1}
    doc.set(row, "parent_id", str(draw(st.integers(-(10**9), 10**9).filter(lambda value: value not in ids))))
    return fails(doc.path, lines=[doc.line(row)])


def parent_not_earlier(draw: Draw, doc: Points) -> Expect:
    """A parent in the same or a later frame (itself included)."""
    row = draw(st.integers(0, len(doc.rows) - 1))
    later = [other for other in doc.same_sequence(row) if int(doc.get(other, "t")) >= int(doc.get(row, "t"))]
    doc.set(row, "parent_id", doc.get(draw(st.sampled_from(later)), "id"))
    return fails(doc.path, lines=[doc.line(row)])


def parent_cycle_of_points(draw: Draw, doc: Points) -> Expect:
    """Two detections of one frame each other's parent: named at the first of them."""
    pairs = [
        (a, b) for a in range(len(doc.rows)) for b in doc.same_sequence(a) if a < b and doc.get(a, "t") == doc.get(b, "t")
    ]
    a, b = draw(st.sampled_from(pairs))
    doc.set(a, "parent_id", doc.get(b, "id"))
    doc.set(b, "parent_id", doc.get(a, "id"))
    return fails(doc.path, lines=[doc.line(a)])


def extra_fields(draw: Draw, doc: Points) -> Expect:
    """More fields than the header in some rows (a trailing comma, a stray value): named at the first."""
    rows = sorted(draw(st.lists(st.integers(0, len(doc.rows) - 1), min_size=1, max_size=len(doc.rows), unique=True)))
    extra = draw(st.lists(st.sampled_from(["", "1", "x", "-1"]), min_size=1, max_size=2))
    for row in rows:
        doc.rows[row] += extra
    return fails(doc.path, lines=[doc.line(rows[0])])


def too_few_fields(draw: Draw, doc: Points) -> Expect:
    """A short row: missing values, harmless when only the note column is missing."""
    row = draw(st.integers(0, len(doc.rows) - 1))
    kept = draw(st.integers(1, len(doc.columns) - 1))
    doc.rows[row] = doc.rows[row][:kept]
    return LOADS if doc.columns[kept:] == ["note"] else fails(doc.path, lines=[doc.line(row)])


def no_detections(draw: Draw, doc: Points) -> Expect:
    doc.raw = draw(st.sampled_from([b"", b"\n", b"\n\n", b"t,y,x,id,parent_id\n", b"t,y,x,id,parent_id\n\n\n", b"  \n"]))
    return fails(doc.path, lines=[None, 1])


def csv_not_utf8(draw: Draw, doc: Points) -> Expect:
    doc.write()
    text = doc.path.read_bytes()
    at = draw(st.integers(0, len(text)))
    doc.raw = text[:at] + draw(st.sampled_from([b"\xff", b"\x80", b"\xc3\x28", b"\xed\xa0\x80"])) + text[at:]
    return fails(doc.path, lines=[None])


def binary_junk(draw: Draw, doc: Points) -> Expect:
    doc.raw = draw(st.binary(min_size=1, max_size=64))
    return fails(doc.path)


def unterminated_quote(draw: Draw, doc: Points) -> Expect:
    row, column = csv_cell(draw, doc, doc.columns)
    doc.set(row, column, '"' + doc.get(row, column))
    return fails(doc.path)


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


CSV_KINDS: dict[str, Callable[[Draw, Points], Expect]] = {
    "missing value (NaN)": missing_value,
    "non-finite value": with_value(REQUIRED, st.sampled_from(["inf", "-inf", "Infinity", "-Infinity", "1e999", "INF"])),
    "non-numeric value": with_value(REQUIRED, NOT_NUMBERS),
    "non-integer frame or id": with_value(INTEGER_COLUMNS, NON_INTEGRAL.map(str)),
    "integer beyond int64": with_value(INTEGER_COLUMNS, BEYOND_INT64, says="must be an integer"),
    "negative frame or id": negative,
    "missing column": missing_column,
    "renamed column": renamed_column,
    "duplicate id": duplicate_id,
    "unknown parent": unknown_parent_id,
    "parent not in an earlier frame": parent_not_earlier,
    "parent cycle": parent_cycle_of_points,
    "extra fields": extra_fields,
    "too few fields": too_few_fields,
    "no detections": no_detections,
    "not UTF-8": csv_not_utf8,
    "binary junk": binary_junk,
    "unterminated quote": unterminated_quote,
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
        check_read("csv", kind, expect, lambda: resolve_dataset(str(doc.path), data_dir=tmp))


# --------------------------------------------------------------------------------------------------
# Grid files

VALID_GRID = {
    "profile": "smoke",
    "datasets": ["synth-bacteria"],
    "seeds": [0],
    "methods": ["position"],
    "finetune": {"k": [10], "sampling": ["confidence"], "setup": ["interpolation"]},
    "overrides": {"linking.w1": 1.0},
}
CONFIG = flatten(load_config("quick"))
#: Numeric profile fields (data.synth takes any keys and values).
NUMERIC_KEYS = sorted(key for key, value in CONFIG.items() if type(value) in (int, float) and "synth." not in key)
NOT_FLOATS = LETTERS.filter(lambda text: not is_number(text) and isinstance(yaml.safe_load(text), str))
JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.lists(st.integers()))
BAD_OVERRIDE_MAPPINGS = st.one_of(
    NOT_FLOATS.map(lambda text: {f"linking.{text}": 1}),
    st.tuples(st.sampled_from(NUMERIC_KEYS), NOT_FLOATS).map(lambda item: dict([item])),
    st.sampled_from([{"linking": 5}, {"profile.x": 1}, {"": 1}, {"linking.k_neighbors": 0}, {"model.dropout": 1.5}]),
)


def names_except(allowed: Any) -> st.SearchStrategy[str]:
    return LETTERS.filter(lambda name: name not in allowed)


def grid_with(*keys: str, values: st.SearchStrategy[Any]) -> Callable[[Draw], dict[str, Any]]:
    """The valid grid with the value at ``keys`` replaced by a drawn one."""

    def corrupt(draw: Draw) -> dict[str, Any]:
        tree = yaml.safe_load(yaml.safe_dump(VALID_GRID))
        node = tree
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = draw(values)
        return tree

    return corrupt


def grid_without(draw: Draw) -> dict[str, Any]:
    missing = draw(st.sampled_from(["profile", "datasets", "seeds"]))
    return {key: value for key, value in VALID_GRID.items() if key != missing}


def grid_with_unknown_field(draw: Draw) -> dict[str, Any]:
    return {**VALID_GRID, draw(names_except([*VALID_GRID, "scratch"])): draw(JUNK)}


def impossible_date(draw: Draw) -> bytes:
    date = f"{draw(st.integers(1000, 9999))}-{draw(st.integers(13, 99))}-01"  # PyYAML raises ValueError
    return f"profile: smoke\ndatasets: [x]\nseeds: [{date}]\n".encode()


BAD_K = st.one_of(
    st.integers(max_value=0),
    names_except(["all"]),
    st.none(),
    NON_INTEGRAL,
    st.sampled_from([float("inf"), float("nan")]),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
BAD_ANNOTATION_GRIDS = st.one_of(
    LETTERS, st.lists(st.integers(), max_size=2), st.sampled_from([{}, {"k": [10]}, {**VALID_GRID["finetune"], "extra": 1}])
)
#: name -> a bad grid (a tree to write as YAML, or bytes); load_grid must raise a ConfigError naming the file.
GRID_KINDS: dict[str, Callable[[Draw], Any]] = {
    "profile": grid_with("profile", values=st.one_of(names_except(PROFILES), st.integers(), st.none(), st.lists(LETTERS))),
    "datasets": grid_with(
        "datasets",
        values=st.one_of(
            st.just([]),
            LETTERS,
            st.lists(st.integers(), min_size=1, max_size=3),
            st.none(),
            st.dictionaries(LETTERS, st.integers(), min_size=1, max_size=2),
        ),
    ),
    "seeds": grid_with(
        "seeds",
        values=st.one_of(
            st.just([]),
            st.lists(st.integers(max_value=-1), min_size=1, max_size=3),
            st.integers(0, 9).map(lambda seed: [seed, seed]),
            st.lists(LETTERS, min_size=1, max_size=2),
            st.lists(NON_INTEGRAL, min_size=1, max_size=2),
            st.none(),
            LETTERS,
        ),
    ),
    "methods": grid_with(
        "methods", values=st.one_of(st.lists(names_except(TABLE1_METHODS), min_size=1, max_size=2), LETTERS, st.integers())
    ),
    "k": grid_with("finetune", "k", values=st.one_of(st.just([]), st.lists(BAD_K, min_size=1, max_size=3))),
    "sampling": grid_with(
        "finetune", "sampling", values=st.one_of(st.just([]), st.lists(names_except(STRATEGIES), min_size=1), LETTERS)
    ),
    "setup": grid_with(
        "finetune", "setup", values=st.one_of(st.just([]), st.lists(names_except(SETUPS), min_size=1), LETTERS)
    ),
    "annotation grid": grid_with("finetune", values=BAD_ANNOTATION_GRIDS),
    "overrides": grid_with(
        "overrides", values=st.one_of(NOT_FLOATS, st.lists(st.integers(), min_size=1, max_size=2), BAD_OVERRIDE_MAPPINGS)
    ),
    "unknown field": grid_with_unknown_field,
    "missing field": grid_without,
    "not a mapping": lambda draw: draw(st.one_of(st.lists(JUNK, max_size=3), JUNK)),
    "random text": lambda draw: draw(st.text(max_size=60)).encode(),
    "not UTF-8": lambda draw: yaml.safe_dump(VALID_GRID).encode() + draw(st.sampled_from([b"\xff", b"\x80\n", b"\xc3("])),
    "impossible date": impossible_date,
}


@FUZZ
@pytest.mark.parametrize("kind", GRID_KINDS)
@given(data=st.data())
def test_bad_grid_file(kind, data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.yaml"
        content = GRID_KINDS[kind](data.draw)
        path.write_bytes(content if isinstance(content, bytes) else yaml.safe_dump(content).encode())
        started = time.perf_counter()
        with pytest.raises(ConfigError) as caught, time_limit():
            load_grid(str(path))
        assert str(path) in str(caught.value)
        record("grid", kind, "ConfigError", time.perf_counter() - started)


@FUZZ
@given(name=st.text(max_size=20).filter(lambda name: name.strip() and name not in GRIDS and not Path(name).exists()))
def test_grid_that_is_no_file(name):
    with pytest.raises(ConfigError, match="parameter grid=") as caught:
        load_grid(name)
    assert repr(name) in str(caught.value)
    record("grid", "no such file", "ConfigError", 0.0)


# --------------------------------------------------------------------------------------------------
# Command-line (MLproject) parameter values

ENTRY_MODULES = (
    "baselines.position",
    "baselines.supervised",
    "baselines.autoencoder",
    "baselines.reid",
    "attrackt.unsupervised",
    "attrackt.finetune",
)
COMMON_COMMANDS = [name for name in COMMANDS if name not in WITHOUT_COMMON]  # with --dataset, --profile, --seed
RUN_SWEEP = sweep_runner.run_sweep
RUN_OPTIONS = {
    "finetune": "--attrackt-run",
    "scratch": "--attrackt-run",
    "attrackt": "--autoencoder-run",
    "autoencoder": "--autoencoder-run",
}


@pytest.fixture(scope="module")
def nothing_runs() -> Iterator[None]:
    """Parameters that pass validation would start a run: make that fail the test instead."""
    for module in ENTRY_MODULES:  # imported up front, not inside a case's time limit
        importlib.import_module(module)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the parameters passed validation: a run would have started")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(entry_points, "entry_point_run", refuse)
        patch.setattr(sweep_runner, "run_sweep", refuse)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        yield


def not_at_least(minimum: int) -> Callable[[str], bool]:
    return lambda text: not (is_int(text) and int(text) >= minimum)


NOT_SEEDS = st.one_of(PRINTABLE, st.integers(max_value=-1).map(str), st.text(max_size=6)).filter(not_at_least(0))
NOT_POSITIVE = st.one_of(PRINTABLE, st.integers(max_value=0).map(str), st.text(max_size=6)).filter(not_at_least(1))
BAD_YAML = ["[1", "{a", "2001-13-01", "*alias", "!!python/name:os.system", "@x", "`x", "a:b:\n-c"]
BAD_OVERRIDES = st.one_of(
    st.sampled_from(["abc", "=5", "'linking.w1=1", 'linking.w1="1', "linking.w1=1 b", "a.b.c"]),  # malformed
    st.sampled_from(BAD_YAML).map(lambda value: f"linking.w1={value}"),
    NOT_FLOATS.map(lambda name: f"linking.{name}=1"),  # unknown keys
    st.tuples(NOT_FLOATS, LETTERS).filter(lambda item: item[0] not in CONFIG).map(lambda item: f"{item[0]}.{item[1]}=1"),
    st.tuples(st.sampled_from(NUMERIC_KEYS), NOT_FLOATS).map(lambda item: f"{item[0]}={item[1]}"),  # wrong types
    st.sampled_from(["linking.k_neighbors=0", "linking.threads=-1", "model.dropout=1.5", "profile.x=1", "device=gpu"]),
)
Argv = tuple[list[str], str]  # the arguments, and what the error must name


def argv_seed(draw: Draw) -> Argv:
    return [draw(st.sampled_from(COMMON_COMMANDS)), f"--seed={draw(NOT_SEEDS)}"], "argument --seed"


def argv_profile(draw: Draw) -> Argv:
    profile = draw(st.text(max_size=8).filter(lambda text: text not in PROFILES))
    return [draw(st.sampled_from(COMMON_COMMANDS)), f"--profile={profile}"], "argument --profile"


def argv_overrides(draw: Draw) -> Argv:
    """A bad override, maybe among good ones."""
    items = [draw(BAD_OVERRIDES), *draw(st.lists(st.sampled_from(["linking.w1=2", "model.dropout=0.2"]), max_size=2))]
    return [draw(st.sampled_from(COMMON_COMMANDS)), f"--overrides={' '.join(draw(st.permutations(items)))}"], "override"


def argv_annotation(option: str, values: st.SearchStrategy[str]) -> Callable[[Draw], Argv]:
    def argv(draw: Draw) -> Argv:
        return [draw(st.sampled_from(["finetune", "scratch"])), f"--{option}={draw(values)}"], f"parameter {option}="

    return argv


def argv_run_id(draw: Draw) -> Argv:
    command = draw(st.sampled_from(sorted(RUN_OPTIONS)))
    not_ids = st.one_of(PRINTABLE, st.text("0123456789abcdefABCDEF", min_size=1, max_size=40))
    run_id = draw(not_ids.filter(lambda text: not re.fullmatch("[0-9a-f]{32}", text)))
    parameter = RUN_OPTIONS[command].removeprefix("--").replace("-", "_")
    return [command, f"{RUN_OPTIONS[command]}={run_id}"], f"parameter {parameter}="


def argv_workers(draw: Draw) -> Argv:
    return [draw(st.sampled_from(["sweep", "main"])), f"--workers={draw(NOT_POSITIVE)}"], "parameter workers="


def argv_executor(draw: Draw) -> Argv:
    executor = draw(st.text(max_size=8).filter(lambda text: text not in EXECUTORS))
    return ["sweep", f"--executor={executor}"], "parameter executor="


def argv_scheduler(draw: Draw) -> Argv:
    scheduler = draw(st.text(min_size=1, max_size=24).filter(lambda text: not SCHEDULER_ADDRESS.fullmatch(text)))
    command = draw(st.sampled_from(["sweep", "main"]))
    return [command, "--executor=dask", f"--scheduler={scheduler}"], "parameter scheduler="


CLI_KINDS: dict[str, Callable[[Draw], Argv]] = {
    "--seed": argv_seed,
    "--profile": argv_profile,
    "--overrides": argv_overrides,
    "--k": argv_annotation("k", st.one_of(st.just(""), NOT_POSITIVE).filter(lambda text: text.strip().lower() != "all")),
    "--sampling": argv_annotation("sampling", st.text(max_size=10).filter(lambda text: text not in STRATEGIES)),
    "--setup": argv_annotation("setup", st.text(max_size=10).filter(lambda text: text not in SETUPS)),
    "--attrackt-run / --autoencoder-run": argv_run_id,
    "--workers": argv_workers,
    "--executor": argv_executor,
    "--scheduler": argv_scheduler,
}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Exit status of ``main(argv)``, its stderr, and how it ended ("error" line or argparse "usage")."""
    stderr = io.StringIO()
    with redirect_stderr(stderr), redirect_stdout(io.StringIO()), time_limit():
        try:
            status, how = main(argv), "error"
        except SystemExit as stop:
            status, how = stop.code, "usage"
    return status, stderr.getvalue(), how


@FUZZ
@pytest.mark.parametrize("kind", CLI_KINDS)
@given(data=st.data())
def test_bad_command_line_values(nothing_runs, kind, data):
    """Status 2 and one line "error: ..." naming the parameter, or argparse's usage message naming it."""
    argv, names = CLI_KINDS[kind](data.draw)
    started = time.perf_counter()
    status, stderr, how = run_cli(argv)
    assert status == 2 and "Traceback" not in stderr, f"{argv}: status {status}\n{stderr}"
    if how == "usage":
        assert stderr.startswith("usage: ") and names in stderr.splitlines()[-1], f"{argv}:\n{stderr}"
    else:
        assert len(stderr.splitlines()) == 1 and stderr.startswith("error: ") and names in stderr, f"{argv}:\n{stderr}"
    record("cli", kind, how, time.perf_counter() - started)


class Loaded(BaseException):
    """The dataset passed the readers (raised where ``prepare`` would log it)."""


DATA_KINDS: dict[tuple[str, str], Callable[[Draw, Any], Expect]] = {
    **{("ctc", kind): corrupt for kind, corrupt in CTC_KINDS.items()},
    **{("csv", kind): corrupt for kind, corrupt in CSV_KINDS.items()},
}


def error_prefixes(expect: Expect) -> tuple[str, ...]:
    """How the CLI's error line may begin: ``error: DataError: <culprit>:`` and the line, where checked."""
    if expect.lines is None:
        return tuple(f"error: DataError: {path}:" for path in expect.culprits)
    where = [f"{path}:{line}" if line else str(path) for path in expect.culprits for line in expect.lines]
    return tuple(f"error: DataError: {place}: " for place in where)


@settings(FUZZ, max_examples=3)
@pytest.mark.parametrize("family, kind", [key for key in DATA_KINDS if "harmless" not in key[1]])
@given(data=st.data())
def test_corrupted_data_through_the_command_line(templates, nothing_runs, family, kind, data):
    """``prepare --dataset=<corrupted folder or CSV>``: status 2 and one line "error: DataError: <culprit>..."."""

    def loaded(*args: Any) -> None:
        raise Loaded

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(entry_points, "entry_point_run", lambda *args, **kwargs: nullcontext())
        patch.setattr(entry_points, "log_dataset", loaded)
        if family == "ctc":
            folder = fresh_folder(data.draw, templates, Path(tmp), images=kind in IMAGE_KINDS)
            expect, spec = DATA_KINDS[family, kind](data.draw, folder), folder.root
        else:
            doc = fresh_points(data.draw, Path(tmp))
            expect, spec = DATA_KINDS[family, kind](data.draw, doc), doc.path
            doc.write()
        started = time.perf_counter()
        try:
            status, stderr, how = run_cli(["prepare", f"--dataset={spec}"])
        except Loaded:
            assert expect.may_load, f"{kind}: loaded, expected an error naming {expect.culprits}"
            outcome = "loaded"
        else:
            assert (status, how) == (2, "error") and len(stderr.splitlines()) == 1, f"{kind}: status {status}\n{stderr}"
            assert stderr.startswith(error_prefixes(expect)), f"{kind}: {stderr}"
            outcome = "error"
    record("cli data", f"{family}: {kind}", outcome, time.perf_counter() - started)


# --------------------------------------------------------------------------------------------------
# What the fuzzing found outside the data layer, as plain examples


@pytest.mark.parametrize("k", [None, float("inf"), [1], 1.5, True, "", "0"])
def test_k_is_a_positive_integer_or_all(k):
    """None, inf and lists raised TypeError/OverflowError; 1.5 and True passed as 1."""
    with pytest.raises(ConfigError, match="parameter k="):
        parse_k(k)


@pytest.mark.parametrize("value", ["[1", "2001-13-01", "*alias"])
def test_an_override_that_is_no_yaml_is_a_config_error(value):
    """yaml's errors (and its ValueError for impossible dates) escaped parse_override."""
    with pytest.raises(ConfigError, match="linking.w1.*not valid YAML"):
        parse_override(f"linking.w1={value}")


def test_a_grid_with_an_impossible_date_is_a_config_error(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("profile: smoke\ndatasets: [x]\nseeds: [2001-13-01]\n")
    with pytest.raises(ConfigError, match=f"grid file {path}: not valid YAML"):
        load_grid(str(path))


def test_a_multiline_library_message_is_one_error_line(tmp_path, monkeypatch):
    """YAML's error messages span lines (here through ``sweep --grid``); the command line prints one."""
    path = tmp_path / "grid.yaml"
    path.write_text("profile: smoke\ndatasets: [x\n")
    monkeypatch.setattr(sweep_runner, "run_sweep", RUN_SWEEP)  # the real one: it reads the grid first
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    status, stderr, _ = run_cli(["sweep", f"--grid={path}"])
    assert status == 2 and stderr.startswith(f"error: ConfigError: grid file {path}: not valid YAML")
    assert len(stderr.splitlines()) == 1


# --------------------------------------------------------------------------------------------------


DATA_FAMILIES = ("ctc", "ctc stacked", "csv")


def test_enough_malformed_inputs():
    """The module's data fuzzing (run as a whole) tried at least 300 malformed CTC folders and CSVs."""
    tried = {kind for family, kind, _ in OUTCOMES if family in ("ctc", "csv")}
    if tried != {*CTC_KINDS, *CSV_KINDS}:
        pytest.skip("counts only when the whole module runs")
    failed = sum(n for (family, _, outcome), n in OUTCOMES.items() if family in DATA_FAMILIES and outcome == "DataError")
    assert failed >= 300
