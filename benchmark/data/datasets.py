"""Turn a dataset spec (a path, a named real dataset or a synthetic preset) into a Dataset.

Specs:

- a folder in CTC layout. With a ``dataset.yaml`` (``name``, ``split: {train: [...], val: [...],
  test: [...]}``, sequence names quoted as strings) that split is used; without one every CTC
  sequence found is both a training and an evaluation sequence (val empty): a method that trains with
  ground truth refuses such overlap unless asked (``check_train_eval_overlap``).
- a folder of movies without GT (``NAME/tTTT.tif`` + ``NAME_SEG/maskTTT.tif``, see ``ctc.py``),
  used when the folder has no GT sequence: every movie is an evaluation sequence, none a training
  or validation one (a dataset.yaml may say otherwise); runs track them without scoring.
- a ``.csv`` file of point data (see ``points.py``): every sequence is train and test, val empty (the
  same overlap).
- ``hela``: CTC Fluo-N2DL-HeLa at ``<data_dir>/Fluo-N2DL-HeLa`` (or ``$ATTRACKT_HELA_DIR``); train
  01, test 02, val empty (the supervised baseline validates on 01's last frames instead, see
  ``supervised.held_out_fraction``); masks merged with the silver truth (``merge_st``) as in the paper.
- ``bacteria``: van Vliet et al. (2018) in the Trackastra split at ``<data_dir>/bacteria`` (or
  ``$ATTRACKT_BACTERIA_DIR``); test = BACTERIA_TEST; val from its dataset.yaml when present, else
  the reference's BACTERIA_VAL; train = the rest.
- ``synth-bacteria``, ``synth-hela``, ``synth-hela-large``: generated once per (seed, overrides) into
  ``<data_dir>/<preset>-<hash>`` by ``benchmark.data.synthetic``, then read as a folder.

``Dataset.fingerprint`` is the sha256 of the input files' contents, their relative paths and the
split (see ``cache.fingerprint``), for reproducibility logging.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import yaml
from tqdm import tqdm

from benchmark.data.cache import fingerprint
from benchmark.data.ctc import (
    SequenceFiles,
    list_ctc_sequences,
    list_movie_sequences,
    movie_files,
    read_ctc_sequence,
    read_movie_sequence,
    sequence_files,
    write_movie,
)
from benchmark.data.points import read_points_csv
from benchmark.data.sequence import Dataset, Sequence, Split
from benchmark.errors import ConfigError, DataError

DATASET_FILE = "dataset.yaml"
SYNTHETIC_PRESETS = ("synth-bacteria", "synth-hela", "synth-hela-large")
REAL_DATASETS = ("hela", "bacteria")
HELA_FOLDER = "Fluo-N2DL-HeLa"
BACTERIA_FOLDER = "bacteria"
#: The Trackastra split's 6 test sequences of the Bacteria data (SPEC section 1).
BACTERIA_TEST = ("150309-04", "150310-11", "151029_E1-1", "151029_E1-5", "151101_E3-12", "160112-06")
#: The Bacteria validation sequences of the reference (attrackt_experiments), used without a dataset.yaml.
BACTERIA_VAL = ("140415-13", "151031-03")

_HELA_SOURCE = (
    "Download Fluo-N2DL-HeLa (training data, with GT and ST) from the Cell Tracking Challenge, "
    "https://celltrackingchallenge.net/2d-datasets/, and unpack it there."
)
_BACTERIA_SOURCE = (
    "The data are the bacterial colony time-lapses of van Vliet et al. (2018, Cell Systems) as "
    "prepared for the Trackastra paper (Gallusser & Weigert, ECCV 2024), in CTC layout; put them there."
)


def resolve_dataset(
    spec: str,
    *,
    data_dir: Path,
    cache_dir: Path | None = None,
    synth_seed: int = 0,
    synth_overrides: dict[str, Any] | None = None,
) -> Dataset:
    """The Dataset named by ``spec`` (see the module docstring), read (and generated) as needed.

    ``data_dir``: where named and generated datasets live; ``cache_dir``: feature cache (default
    ``cache.default_cache_dir()``). Raises DataError for missing or bad data, ConfigError for a
    spec that is neither a known name nor an existing path.
    """
    data_dir = Path(data_dir)
    if spec in SYNTHETIC_PRESETS:
        root = _synthetic_root(spec, data_dir, synth_seed, synth_overrides or {})
        return _read_folder(root, cache_dir, name=spec)
    if spec == "hela":
        return _read_hela(data_dir, cache_dir)
    if spec == "bacteria":
        return _read_bacteria(data_dir, cache_dir)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _read_folder(path, cache_dir)
    if path.is_file() and path.suffix.lower() == ".csv":
        return _read_points(path)
    if path.exists():
        raise DataError(path, "a dataset is a CTC folder or a point .csv file")
    if os.sep in spec or "/" in spec or path.suffix:
        raise DataError(path, "no such file or folder")
    names = ", ".join((*SYNTHETIC_PRESETS, *REAL_DATASETS))
    raise ConfigError(f"dataset {spec!r}: unknown; use one of {names}, or the path of a CTC folder or .csv file")


def read_movie(images: Path | str, masks: Path | str | None = None, *, data_dir: Path, cache_dir: Path | None = None) -> Dataset:
    """A movie to track, without GT: a folder (``resolve_dataset``'s folder spec: movies, or GT
    sequences) when ``masks`` is None, else an images stack and a masks stack as TIFF files.

    A pair of stacks, (T, Y, X) images of any numeric dtype and (T, Y, X) integer labels (one label
    per cell and frame), is written once as the movie ``<images file stem>`` in CTC layout under
    ``<data_dir>/movies/<stem>-<hash of both files' contents>`` and read from there. Raises DataError
    naming the file for a missing file, a folder without sequences, an images TIFF without masks, a
    stack that is not 3D, masks that are not integer labels in 0..65535 or whose shape differs from the
    images'.
    """
    images = Path(images).expanduser()
    if not images.exists():
        raise DataError(images, "no such file or folder")
    if masks is None:
        if images.is_dir():
            return _read_folder(images, cache_dir)
        raise DataError(images, "a movie given as a TIFF stack needs its masks: a (T, Y, X) TIFF stack of labels")
    masks = Path(masks).expanduser()
    if images.is_dir():
        raise DataError(masks, f"masks are given as a stack only with an images stack, not with the folder {images}")
    if not masks.is_file():
        raise DataError(masks, "no such file")
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", images.stem.removesuffix(".ome")) or "movie"
    digest = hashlib.sha256()
    for path in (images, masks):
        with path.open("rb") as stream:
            digest.update(hashlib.file_digest(stream, "sha256").digest())
    root = _materialised(
        Path(data_dir) / "movies" / f"{stem}-{digest.hexdigest()[:12]}",
        lambda folder: write_movie(folder, stem, *_read_movie_stacks(images, masks)),
    )
    return _read_folder(root, cache_dir, name=stem)


def _read_movie_stacks(images: Path, masks: Path) -> tuple[np.ndarray, np.ndarray]:
    """The (T, Y, X) images and label stacks of a movie, checked against each other."""
    arrays = []
    for path in (images, masks):
        try:
            array = tifffile.imread(path)
        except Exception as error:  # noqa: BLE001 - tifffile and its codecs raise many unrelated types
            raise DataError(path, f"not a readable TIFF file ({type(error).__name__}: {error})") from None
        if array.ndim != 3:
            raise DataError(path, f"a movie stack must be 3D (T, Y, X), not of shape {array.shape}")
        arrays.append(array)
    image_stack, label_stack = arrays
    if not np.issubdtype(label_stack.dtype, np.integer):
        raise DataError(masks, f"masks need an integer dtype (labels), not {label_stack.dtype}")
    if label_stack.size and not 0 <= label_stack.min() <= label_stack.max() <= np.iinfo(np.uint16).max:
        raise DataError(masks, f"labels must lie in 0..65535 (CTC masks are uint16), not {label_stack.min()}..{label_stack.max()}")
    if label_stack.shape != image_stack.shape:
        raise DataError(masks, f"masks of shape {label_stack.shape} but the images {images.name} are {image_stack.shape}")
    return image_stack, label_stack


def _read_folder(root: Path, cache_dir: Path | None, name: str | None = None) -> Dataset:
    """A CTC folder, split by its dataset.yaml when there is one, else every sequence in train and test;
    a folder without GT sequences is read as movies (every one an evaluation sequence only)."""
    found = list_ctc_sequences(root)
    movies = not found
    if movies:
        found = list_movie_sequences(root)
    if (root / DATASET_FILE).is_file():
        described_name, split = _read_dataset_file(root / DATASET_FILE, found)
        name = name or described_name
    elif found and movies:
        split = Split(train=(), val=(), test=tuple(found))
    elif found:
        split = Split(train=tuple(found), val=(), test=tuple(found))
    else:
        raise DataError(
            root,
            "no CTC sequence found (a sequence NAME needs NAME_GT/TRA/man_track.txt; a movie without GT "
            "needs NAME_SEG/mask000.tif, ...)",
        )
    return _ctc_dataset(name or root.name, root, split, cache_dir, merge_st=False, movies=movies)


def _ctc_dataset(
    name: str, root: Path, split: Split, cache_dir: Path | None, merge_st: bool, movies: bool = False
) -> Dataset:
    """The dataset of ``split``'s sequences under ``root``: GT sequences, or movies when ``movies``."""

    def read(seq: str) -> Sequence:
        if movies:
            return read_movie_sequence(root, seq, cache_dir=cache_dir)
        return read_ctc_sequence(root, seq, merge_st=merge_st, cache_dir=cache_dir)

    def files_of(seq: str) -> SequenceFiles:
        return movie_files(root, seq) if movies else sequence_files(root, seq, merge_st=merge_st)

    names = tqdm(split.all(), desc=f"reading {name}", unit="sequence", disable=None, leave=False)
    sequences = {seq: read(seq) for seq in names}
    files = [path for seq in split.all() for path in files_of(seq).all()]
    return Dataset(
        name=name,
        sequences=sequences,
        split=split,
        root=root,
        fingerprint=fingerprint(files, root, {"split": _split_dict(split), "merge_st": merge_st}),
    )


def _read_points(path: Path) -> Dataset:
    sequences = read_points_csv(path)
    names = tuple(sequences)
    split = Split(train=names, val=(), test=names)
    return Dataset(
        name=path.stem,
        sequences=sequences,
        split=split,
        root=path,
        fingerprint=fingerprint([path], path.parent, {"split": _split_dict(split)}),
    )


def _read_dataset_file(
    path: Path, found: list[str], required: tuple[str, ...] = ("train", "test")
) -> tuple[str | None, Split]:
    """``name`` and ``split`` of a dataset.yaml; every listed sequence must exist in the folder.

    Parts of the split not in ``required`` may be left out (empty).
    """
    try:
        description = yaml.safe_load(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as error:  # ValueError: not UTF-8, or an impossible date
        mark = getattr(error, "problem_mark", None)  # where YAML syntax errors are
        problem = getattr(error, "problem", None) or error
        raise DataError(path, f"cannot read the dataset description ({problem})", mark and mark.line + 1) from None
    if not isinstance(description, dict) or not isinstance(description.get("split"), dict):
        raise DataError(path, "needs a mapping 'split' with lists 'train', 'test' (and optionally 'val')")
    parts = {}
    for part in ("train", "val", "test"):
        names = description["split"].get(part, None if part in required else [])
        if not isinstance(names, list) or not all(isinstance(seq, str) for seq in names):
            raise DataError(path, f"split.{part} must be a list of sequence names as quoted strings, e.g. ['01']")
        missing = [seq for seq in names if seq not in found]
        if missing:
            raise DataError(path, f"split.{part} names sequence(s) {', '.join(missing)} not found in {path.parent}")
        parts[part] = tuple(names)
    name = description.get("name")
    return (str(name) if name is not None else None), Split(**parts)


def check_train_eval_overlap(dataset: Dataset, trained_on: Iterable[str], method: str, allow: bool) -> tuple[str, ...]:
    """The evaluation sequences among ``trained_on`` (sequences ``method`` trains on with their ground
    truth). ConfigError when there are any and ``allow`` (``data.allow_train_eval_overlap``) is false:
    scored on the sequences it learnt, the method would report an inflated result."""
    overlap = tuple(seq for seq in dict.fromkeys(trained_on) if seq in dataset.split.test)
    if overlap and not allow:
        if dataset.root.is_dir():
            fix = (f"give the folder a split: {dataset.root / DATASET_FILE} with split: {{train: [...], test: [...]}} "
                   "(a CTC folder without it uses every sequence for training and evaluation)")
        else:
            fix = f"{dataset.root} has no split (a point CSV uses every sequence for training and evaluation)"
        raise ConfigError(
            f"dataset {dataset.name!r}: {method} would train with the ground truth of sequence(s) {', '.join(overlap)} "
            f"and be scored on them; {fix}, or run it anyway with -P overrides=\"data.allow_train_eval_overlap=true\" "
            f"(--overrides on the command line; the run is then tagged leakage.train_eval_overlap=true)"
        )
    return overlap


def _split_dict(split: Split) -> dict[str, list[str]]:
    return {"train": list(split.train), "val": list(split.val), "test": list(split.test)}


def _named_root(env: str, data_dir: Path, folder: str) -> Path:
    return Path(os.environ[env]).expanduser() if os.environ.get(env) else data_dir / folder


def _missing_named(root: Path, dataset: str, source: str, layout: str, missing: list[str]) -> DataError:
    return DataError(
        root,
        f"dataset {dataset!r} not found (missing sequence(s): {', '.join(missing)}). {source} "
        f"Expected layout: {layout}",
    )


def _read_hela(data_dir: Path, cache_dir: Path | None) -> Dataset:
    root = _named_root("ATTRACKT_HELA_DIR", data_dir, HELA_FOLDER)
    missing = [seq for seq in ("01", "02") if seq not in list_ctc_sequences(root)]
    if missing:
        layout = (
            f"{root}/01/t000.tif..t091.tif, {root}/01_GT/TRA/man_track000.tif..man_track091.tif + "
            f"man_track.txt, {root}/01_ST/SEG/man_seg000.tif..man_seg091.tif, and the same for 02 "
            "(or set ATTRACKT_HELA_DIR to that folder)."
        )
        raise _missing_named(root, "hela", _HELA_SOURCE, layout, missing)
    split = Split(train=("01",), val=(), test=("02",))
    return _ctc_dataset("hela", root, split, cache_dir, merge_st=True)


def _read_bacteria(data_dir: Path, cache_dir: Path | None) -> Dataset:
    root = _named_root("ATTRACKT_BACTERIA_DIR", data_dir, BACTERIA_FOLDER)
    found = list_ctc_sequences(root)
    described = (root / DATASET_FILE).is_file()
    missing = [seq for seq in (*BACTERIA_TEST, *(() if described else BACTERIA_VAL)) if seq not in found]
    if missing:
        layout = (
            f"one CTC sequence per movie directly in {root}: NAME/tTTT.tif, NAME_GT/TRA/man_trackTTT.tif + "
            f"man_track.txt for the 38 movies (30 train, the 2 val ones {', '.join(BACTERIA_VAL)} and the 6 test "
            f"ones {', '.join(BACTERIA_TEST)}), optionally {root}/{DATASET_FILE} giving another split.val "
            "(or set ATTRACKT_BACTERIA_DIR to that folder)."
        )
        raise _missing_named(root, "bacteria", _BACTERIA_SOURCE, layout, missing)
    val = _read_dataset_file(root / DATASET_FILE, found, required=())[1].val if described else BACTERIA_VAL
    others = [seq for seq in found if seq not in BACTERIA_TEST]
    split = Split(train=tuple(seq for seq in others if seq not in val), val=val, test=BACTERIA_TEST)
    return _ctc_dataset("bacteria", root, split, cache_dir, merge_st=False)


def _synthetic_root(preset: str, data_dir: Path, seed: int, overrides: dict[str, Any]) -> Path:
    """``<data_dir>/<preset>-<hash of seed, overrides, generator version>``, generated unless complete.

    Generation writes into a temporary sibling folder that is renamed when whole, so an interrupted
    or concurrent run never leaves or reads a partial dataset.
    """
    from benchmark.data.synthetic import GENERATOR_VERSION, generate_dataset  # only for presets

    identity = json.dumps(
        {"seed": seed, "overrides": overrides, "generator": GENERATOR_VERSION}, sort_keys=True, default=str
    )
    root = data_dir / f"{preset}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"
    return _materialised(root, lambda folder: generate_dataset(preset, folder, seed=seed, **overrides))


def _materialised(root: Path, write: Callable[[Path], None]) -> Path:
    """``root``, written by ``write(folder)`` unless it is complete (holds COMPLETE_MARKER).

    ``write`` fills a temporary sibling folder, which gets the marker and is renamed when whole, so
    an interrupted or concurrent run never leaves or reads a partial folder.
    """
    from benchmark.data.synthetic import COMPLETE_MARKER  # noqa: PLC0415 - the marker's home

    if (root / COMPLETE_MARKER).is_file():
        return root
    scratch = root.parent / f".{root.name}.{uuid.uuid4().hex[:8]}"
    scratch.mkdir(parents=True)
    try:
        write(scratch)
        (scratch / COMPLETE_MARKER).touch()
        if root.exists() and not (root / COMPLETE_MARKER).is_file():
            shutil.rmtree(root)  # left by an older, interrupted write
        try:
            scratch.rename(root)
        except OSError:
            if not (root / COMPLETE_MARKER).is_file():  # not another run finishing first
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return root
