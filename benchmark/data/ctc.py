"""Cell Tracking Challenge (CTC) layout: reading (validated) and writing sequences and tracking results.

Layout of one sequence ``NAME`` under a dataset folder (NAME is any folder name: ``01``,
``150309-04``, ...)::

    NAME/tTTT.tif                  raw images (optional; any numeric dtype)
    NAME_GT/TRA/man_trackTTT.tif   label masks (integer dtype), label = track id
    NAME_GT/TRA/man_track.txt      lines "label begin end parent" (0 = no parent)
    NAME_ST/SEG/man_segTTT.tif     optional silver-truth segmentation (read with ``merge_st``)
    NAME_RES/maskTTT.tif + res_track.txt   tracking results, same conventions

A *movie* (a user's time-lapse to track, without ground truth) is a sequence without ``NAME_GT``::

    NAME/tTTT.tif                  raw images (optional)
    NAME_SEG/maskTTT.tif           label masks (integer dtype), one label per cell and frame

Its labels need not be track ids (they only name regions within a frame) and its detections have no
parent (``Sequence.has_gt`` False).

Frame numbers TTT run 0..T-1 without gaps, zero-padded (the writers use 3 digits, 4 when a sequence
has 1000 frames or more; the reader accepts any padding). A track's label may be missing in some
frames between its begin and end; its next occurrence then links to the previous one.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import tifffile
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from benchmark.data.cache import cache_key, default_cache_dir, load_table, save_table
from benchmark.data.features import FEATURE_VERSION, sequence_features
from benchmark.data.sequence import DETECTION_COLUMNS, FEATURE_COLUMNS, NO_PARENT, Sequence
from benchmark.errors import DataError, LinkingError

#: Columns of a CTC track table, the content of man_track.txt / res_track.txt.
TRACK_COLUMNS = ("label", "begin", "end", "parent")

_IMAGE_FILE = re.compile(r"t(\d+)\.tiff?")
_MASK_FILE = re.compile(r"man_track(\d+)\.tiff?")
_SILVER_FILE = re.compile(r"man_seg(\d+)\.tiff?")
_SEGMENTATION_FILE = re.compile(r"mask(\d+)\.tiff?")
#: Suffix of a movie sequence's mask folder (``NAME_SEG``).
SEGMENTATION_SUFFIX = "_SEG"
_MAX_CTC_LABEL = np.iinfo(np.uint16).max
_MAX_INT64 = np.iinfo(np.int64).max


# --------------------------------------------------------------------------------------------------
# Writing


def frame_digits(n_frames: int) -> int:
    return max(3, len(str(max(n_frames - 1, 0))))


def write_track_table(path: Path, tracks: pd.DataFrame) -> None:
    """Write ``tracks`` (TRACK_COLUMNS, integers) as a CTC track file, one track a line."""
    table = tracks[list(TRACK_COLUMNS)].astype(np.int64).sort_values("label")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{a} {b} {c} {d}\n" for a, b, c, d in table.itertuples(index=False)))


def write_masks(folder: Path, masks: np.ndarray, prefix: str) -> None:
    """Write a (T, H, W) label stack as ``folder/{prefix}TTT.tif`` (uint16, zlib-compressed)."""
    folder.mkdir(parents=True, exist_ok=True)
    digits = frame_digits(len(masks))
    for t, mask in enumerate(masks):
        tifffile.imwrite(folder / f"{prefix}{t:0{digits}d}.tif", mask.astype(np.uint16), compression="zlib")


def write_images(folder: Path, images: np.ndarray) -> None:
    """Write a (T, H, W) image stack as ``folder/tTTT.tif`` (dtype kept, zlib-compressed)."""
    folder.mkdir(parents=True, exist_ok=True)
    digits = frame_digits(len(images))
    for t, image in enumerate(images):
        tifffile.imwrite(folder / f"t{t:0{digits}d}.tif", image, compression="zlib")


def write_ctc_sequence(
    root: Path,
    name: str,
    images: np.ndarray | None,
    masks: np.ndarray,
    tracks: pd.DataFrame,
) -> None:
    """Write one GT sequence: ``root/name/tTTT.tif`` (if images), ``root/name_GT/TRA/...``."""
    if images is not None:
        write_images(root / name, images)
    tra = root / f"{name}_GT" / "TRA"
    write_masks(tra, masks, "man_track")
    write_track_table(tra / "man_track.txt", tracks)


def write_movie(root: Path, name: str, images: np.ndarray | None, masks: np.ndarray) -> None:
    """Write one movie (no GT): ``root/name/tTTT.tif`` (if images) and ``root/name_SEG/maskTTT.tif``."""
    if images is not None:
        write_images(root / name, images)
    write_masks(root / f"{name}{SEGMENTATION_SUFFIX}", masks, "mask")


def write_ctc_result(root: Path, name: str, masks: np.ndarray, tracks: pd.DataFrame) -> Path:
    """Write tracking results as ``root/name_RES/maskTTT.tif`` + ``res_track.txt``; returns the folder."""
    folder = root / f"{name}_RES"
    write_masks(folder, masks, "mask")
    write_track_table(folder / "res_track.txt", tracks)
    return folder


def predicted_tracks(frames: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Split a predicted lineage into CTC tracks.

    ``frames``: (N,) frame of every node; ``edges``: (M, 2) node ids (parent, child), parent in an
    earlier frame, at most one parent per node. A track is a maximal chain of links from a parent
    with exactly one child to that child in the next frame; a division or a link that skips frames
    starts new tracks whose CTC parent is the track they come from. Tracks are numbered 1..K in the
    order of their first node id.

    Returns the track label of every node, shape (N,), and the track table (TRACK_COLUMNS).
    """
    n = len(frames)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    parent, child = edges[:, 0], edges[:, 1]
    if len(edges) and (edges.min() < 0 or edges.max() >= n):
        raise LinkingError(f"predicted edges: node ids must lie in 0..{n - 1}")
    if len(np.unique(child)) < len(child):
        raise LinkingError("predicted edges: a node has more than one parent")
    if np.any(frames[parent] >= frames[child]):
        raise LinkingError("predicted edges: a parent must be in an earlier frame than its child")

    n_children = np.bincount(parent, minlength=n)
    continues = (n_children[parent] == 1) & (frames[child] == frames[parent] + 1)
    chains = coo_matrix((np.ones(continues.sum()), (parent[continues], child[continues])), shape=(n, n))
    n_chains, chain = connected_components(chains, directed=False)
    starts = np.ones(n, dtype=bool)
    starts[child[continues]] = False
    first = np.flatnonzero(starts)  # first node of every track, in node id order
    label_of_chain = np.zeros(n_chains, dtype=np.int64)
    label_of_chain[chain[first]] = np.arange(1, len(first) + 1)
    track = label_of_chain[chain]

    parent_of = np.full(n, NO_PARENT)
    parent_of[child] = parent
    parent_track = np.zeros(len(first), dtype=np.int64)
    has_parent = parent_of[first] != NO_PARENT
    parent_track[has_parent] = track[parent_of[first][has_parent]]
    spans = pd.Series(frames).groupby(track).agg(["min", "max"])  # indexed by label 1..K
    tracks = pd.DataFrame(
        {"label": spans.index, "begin": spans["min"], "end": spans["max"], "parent": parent_track}
    ).reset_index(drop=True)
    return track, tracks


def write_ctc_prediction(out_root: Path, seq: Sequence, edges: np.ndarray) -> Path:
    """Write predicted lineage ``edges`` of ``seq`` as CTC results; returns ``out_root/NAME_RES``.

    The masks are the sequence's masks (``seq.mask_paths``: GT TRA masks, even when the detections
    were read with ``merge_st``, or a movie's masks) relabelled by predicted track (see ``predicted_tracks``).
    """
    if not seq.has_masks:
        raise DataError(seq.source or seq.name, f"sequence {seq.name} has no masks: CTC results need them")
    track, tracks = predicted_tracks(seq.frames(), edges)
    if len(tracks) > _MAX_CTC_LABEL:
        raise DataError(out_root, f"{len(tracks)} predicted tracks do not fit CTC's uint16 masks")
    masks = _read_label_stack(seq.mask_paths)
    labels = seq.detections["label"].to_numpy()
    frames = seq.frames()
    relabelled = np.zeros(masks.shape, dtype=np.uint16)
    for t, mask in enumerate(masks):
        in_frame = frames == t
        lookup = np.zeros(int(mask.max()) + 1, dtype=np.uint16)
        lookup[labels[in_frame]] = track[in_frame]
        relabelled[t] = lookup[mask]
    return write_ctc_result(Path(out_root), seq.name, relabelled, tracks)


# --------------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class SequenceFiles:
    """The input files of one CTC sequence, each list ordered by frame."""

    images: list[Path]  # empty when the sequence has no raw images
    masks: list[Path]
    track_table: Path | None  # None for a movie (no GT)
    silver_truth: list[Path]  # empty unless read with merge_st and NAME_ST/SEG exists

    def all(self) -> list[Path]:
        table = [] if self.track_table is None else [self.track_table]
        return [*self.images, *self.masks, *table, *self.silver_truth]


def list_ctc_sequences(root: Path) -> list[str]:
    """Sorted names of the sequences under ``root``: every NAME with ``NAME_GT/TRA/man_track.txt``.

    A folder ``NAME_GT`` without that file is no sequence; a warning counts and names such folders.
    """
    found, skipped = [], []
    for folder in sorted(path for path in Path(root).glob("*_GT") if path.is_dir()):
        (found if (folder / "TRA" / "man_track.txt").is_file() else skipped).append(folder.name)
    if skipped:
        warnings.warn(
            f"{root}: skipped {len(skipped)} folder(s) without TRA/man_track.txt, so not read as sequences: "
            f"{', '.join(skipped)}",
            stacklevel=2,
        )
    return [name.removesuffix("_GT") for name in found]


def list_movie_sequences(root: Path) -> list[str]:
    """Sorted names of the movies under ``root``: every NAME with ``NAME_SEG/maskTTT.tif`` files."""
    return sorted(
        folder.name.removesuffix(SEGMENTATION_SUFFIX)
        for folder in Path(root).glob(f"*{SEGMENTATION_SUFFIX}")
        if folder.is_dir() and any(_SEGMENTATION_FILE.fullmatch(path.name) for path in folder.iterdir())
    )


def movie_files(root: Path, name: str) -> SequenceFiles:
    """Find and check the files of movie ``name`` (``NAME_SEG/maskTTT.tif``, optional ``NAME/tTTT.tif``).

    Raises DataError when the masks are missing, frame numbers have gaps, or images and masks differ
    in number.
    """
    folder = Path(root) / f"{name}{SEGMENTATION_SUFFIX}"
    masks = _numbered_files(folder, _SEGMENTATION_FILE)
    if not masks:
        raise DataError(folder, f"no maskTTT.tif masks: movie {name!r} needs {name}{SEGMENTATION_SUFFIX}/mask000.tif, ...")
    images = _numbered_files(Path(root) / name, _IMAGE_FILE)
    if images and len(images) != len(masks):
        raise DataError(Path(root) / name, f"{len(images)} images tTTT.tif but {len(masks)} masks in {folder}")
    return SequenceFiles(images, masks, None, [])


def sequence_files(root: Path, name: str, *, merge_st: bool = False) -> SequenceFiles:
    """Find and check the files of sequence ``name`` (see the module docstring for the layout).

    Raises DataError when man_track.txt or the masks are missing, frame numbers have gaps, or the
    numbers of images, masks and silver-truth masks differ.
    """
    root = Path(root)
    tra = root / f"{name}_GT" / "TRA"
    track_table = tra / "man_track.txt"
    if not track_table.is_file():
        raise DataError(track_table, f"missing: sequence {name!r} needs {name}_GT/TRA/man_track.txt")
    masks = _numbered_files(tra, _MASK_FILE)
    if not masks:
        raise DataError(tra, "no man_trackTTT.tif masks: the sequence is empty")
    images = _numbered_files(root / name, _IMAGE_FILE)
    if images and len(images) != len(masks):
        raise DataError(root / name, f"{len(images)} images tTTT.tif but {len(masks)} masks in {tra}")
    silver = root / f"{name}_ST" / "SEG"
    silver_truth = _numbered_files(silver, _SILVER_FILE) if merge_st else []
    if silver_truth and len(silver_truth) != len(masks):
        raise DataError(silver, f"{len(silver_truth)} man_segTTT.tif masks but {len(masks)} masks in {tra}")
    return SequenceFiles(images, masks, track_table, silver_truth)


def read_ctc_sequence(
    root: Path, name: str, *, merge_st: bool = False, cache_dir: Path | None = None
) -> Sequence:
    """Read and validate CTC sequence ``name`` under ``root`` into a Sequence with features.

    ``merge_st``: when ``NAME_ST/SEG`` exists, grow each GT TRA label by silver-truth regions (see
    ``merge_silver_truth``) before computing centroids and features.
    ``cache_dir``: where computed detection tables are cached (default: ``default_cache_dir()``);
    an unchanged sequence is read from there without recomputing.

    Without raw images ``has_images`` is False and the intensity feature is 0; the others come from
    the masks. Every inconsistency raises DataError naming the file (and line of man_track.txt).
    """
    return _read_sequence(Path(root), name, sequence_files(root, name, merge_st=merge_st), merge_st, cache_dir)


def read_movie_sequence(root: Path, name: str, *, cache_dir: Path | None = None) -> Sequence:
    """Read movie ``name`` under ``root`` (see the module docstring) into a Sequence without GT:
    every ``parent_id`` is NO_PARENT and ``has_gt`` is False. Otherwise as ``read_ctc_sequence``."""
    return _read_sequence(Path(root), name, movie_files(root, name), False, cache_dir)


def _read_sequence(root: Path, name: str, files: SequenceFiles, merge_st: bool, cache_dir: Path | None) -> Sequence:
    """The Sequence of ``files``, its detections computed or read from the cache."""
    folder = default_cache_dir() if cache_dir is None else Path(cache_dir)
    key = cache_key(files.all(), {"feature_version": FEATURE_VERSION, "merge_st": merge_st})
    cached = load_table(folder, key)
    if cached is None:
        detections, image_shape = _compute_detections(files)
        try:
            save_table(folder, key, detections, {"image_shape": list(image_shape)})
        except OSError as error:  # a read-only cache only costs time
            warnings.warn(f"feature cache {folder} not written ({error}); set ATTRACKT_CACHE", stacklevel=2)
    else:
        detections, meta = cached
        image_shape = tuple(meta["image_shape"])
    return Sequence(
        name=name,
        detections=detections,
        n_frames=len(files.masks),
        image_shape=(int(image_shape[0]), int(image_shape[1])),
        has_images=bool(files.images),
        has_masks=True,
        has_gt=files.track_table is not None,
        source=root,
        image_paths=files.images,
        mask_paths=files.masks,
    )


def read_track_table(path: Path) -> pd.DataFrame:
    """Parse and validate a CTC track file (man_track.txt / res_track.txt).

    Returns TRACK_COLUMNS plus ``line`` (1-based line number), in file order. Raises DataError naming
    the file and line for: a line without exactly 4 fields, non-integer, negative or too large (beyond
    int64) values, label 0, begin > end, a duplicate label, an unknown parent, a cycle of parents, or a
    parent that does not end before its child begins. Blank lines are skipped.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read the track table: {error}") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            raise DataError(path, f"expected 4 integers 'label begin end parent', got {len(fields)} fields", number)
        try:
            label, begin, end, parent = (int(field) for field in fields)
        except ValueError:
            raise DataError(path, f"non-integer value in {line.strip()!r}", number) from None
        if min(label, begin, end, parent) < 0:
            raise DataError(path, f"negative value in {line.strip()!r}", number)
        if max(label, begin, end, parent) > _MAX_INT64:
            raise DataError(path, f"value above {_MAX_INT64} in {line.strip()!r}", number)
        if label == 0:
            raise DataError(path, "label 0 is the background and cannot be a track", number)
        if begin > end:
            raise DataError(path, f"label {label} begins (frame {begin}) after it ends (frame {end})", number)
        rows.append((label, begin, end, parent, number))
    tracks = pd.DataFrame(rows, columns=[*TRACK_COLUMNS, "line"], dtype=np.int64)
    _check_track_lineage(path, tracks)
    return tracks


def _check_track_lineage(path: Path, tracks: pd.DataFrame) -> None:
    duplicated = tracks["label"].duplicated()
    if duplicated.any():
        row = tracks[duplicated].iloc[0]
        first = tracks.loc[tracks["label"] == row.label, "line"].iloc[0]
        raise DataError(path, f"label {row.label} is already defined on line {first}", int(row.line))
    by_label = tracks.set_index("label")
    children = tracks[tracks["parent"] != 0]
    unknown = children[~children["parent"].isin(by_label.index)]
    if len(unknown):
        row = unknown.iloc[0]
        raise DataError(path, f"label {row.label} has parent {row.parent}, which is not a track", int(row.line))
    lineage = nx.DiGraph(zip(children["parent"], children["label"]))
    try:
        cycle = nx.find_cycle(lineage)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle is not None:
        labels = sorted(int(edge[0]) for edge in cycle)
        first = by_label.line[labels].idxmin()
        listed = ", ".join(map(str, labels))
        raise DataError(path, f"the parents of labels {listed} form a cycle", int(by_label.line[first]))
    parent_end = by_label["end"].reindex(children["parent"]).to_numpy()
    late = children[parent_end >= children["begin"].to_numpy()]
    if len(late):
        row = late.iloc[0]
        raise DataError(
            path,
            f"label {row.label} begins at frame {row.begin} but its parent {row.parent} ends at frame "
            f"{by_label.end[row.parent]}: a parent must end before its children begin",
            int(row.line),
        )


def merge_silver_truth(tra: np.ndarray, silver: np.ndarray) -> np.ndarray:
    """Grow GT TRA labels by silver-truth (ST SEG) regions; both (T, H, W), returns a new stack.

    The suite's reading of "the pixelwise maximum of GT TRA and ST SEG" (SPEC section 1), whose
    label spaces differ: in each frame, every ST region that overlaps GT TRA labels is given to the
    TRA label it overlaps most (ties: the larger label), so a TRA label takes the ST region(s) that
    overlap it most. The region's pixels that are background in TRA get that label; TRA pixels are
    kept as they are and ST regions touching no TRA label are dropped. Labels stay track ids.
    """
    merged = tra.copy()
    for t, (tra_frame, silver_frame) in enumerate(zip(tra, silver)):
        both = (tra_frame > 0) & (silver_frame > 0)
        n_tra = int(tra_frame.max()) + 1
        pairs, counts = np.unique(silver_frame[both].astype(np.int64) * n_tra + tra_frame[both], return_counts=True)
        region, owner = np.divmod(pairs, n_tra)
        order = np.lexsort((owner, counts, region))  # per region: most overlap last, ties by label
        last = np.r_[region[order][1:] != region[order][:-1], True]
        lookup = np.zeros(int(silver_frame.max()) + 1, dtype=tra.dtype)
        lookup[region[order][last]] = owner[order][last]
        merged[t] = np.where(tra_frame > 0, tra_frame, lookup[silver_frame])
    return merged


def _numbered_files(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Files of ``folder`` matching ``pattern`` (group 1 = frame number), ordered by frame.

    Empty when the folder does not exist. Frame numbers must run 0..T-1 without gaps or repeats.
    Files named like frames but for the letters' case (``T000.TIF``) are not read; a warning counts
    and names them.
    """
    if not folder.is_dir():
        return []
    by_frame: dict[int, Path] = {}
    misnamed = []
    for path in sorted(folder.iterdir()):
        match = pattern.fullmatch(path.name)
        if match is None:
            if re.fullmatch(pattern.pattern, path.name, re.IGNORECASE):
                misnamed.append(path.name)
            continue
        frame = int(match.group(1))
        if frame in by_frame:
            raise DataError(path, f"frame {frame} is also given by {by_frame[frame].name}")
        by_frame[frame] = path
    if misnamed:
        shown = ", ".join(misnamed[:5]) + (", ..." if len(misnamed) > 5 else "")
        warnings.warn(
            f"{folder}: skipped {len(misnamed)} file(s) named like frames but in other case: {shown}", stacklevel=2
        )
    n_frames = max(by_frame, default=-1) + 1
    if len(by_frame) < n_frames:  # the first 11 gaps lie below len(by_frame) + 11: never walk a huge range
        missing = list(islice((frame for frame in range(n_frames) if frame not in by_frame), 11))
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise DataError(folder, f"frame numbers must run 0..{n_frames - 1} without gaps; missing frame(s) {shown}")
    return [by_frame[frame] for frame in sorted(by_frame)]


def _read_tiff(path: Path) -> np.ndarray:
    """The array stored in ``path``; any decoding failure becomes a DataError naming the file."""
    try:
        return tifffile.imread(path)
    except Exception as error:  # noqa: BLE001 - tifffile and its codecs raise many unrelated types
        raise DataError(path, f"not a readable TIFF file ({type(error).__name__}: {error})") from error


def _read_label_stack(paths: list[Path], shape: tuple[int, ...] | None = None) -> np.ndarray:
    """(T, H, W) stack of 2D label masks with non-negative integer labels, all of one shape."""
    masks = []
    for path in paths:
        mask = _read_tiff(path)
        if not np.issubdtype(mask.dtype, np.integer):
            raise DataError(path, f"a label mask needs an integer dtype, not {mask.dtype}")
        if mask.ndim != 2:
            raise DataError(path, f"a label mask must be 2D, not of shape {mask.shape}")
        shape = shape or mask.shape
        if mask.shape != shape:
            raise DataError(path, f"mask of shape {mask.shape}, expected {shape} like the sequence's other masks")
        if mask.size and mask.min() < 0:
            raise DataError(path, "negative label in mask")
        masks.append(mask)
    return np.stack(masks)


def read_image_stack(paths: list[Path], shape: tuple[int, int]) -> np.ndarray:
    """(T, H, W) stack of 2D raw images (e.g. ``Sequence.image_paths``), each of the masks' ``shape``."""
    images = []
    for path in paths:
        image = _read_tiff(path)
        if image.shape != shape:
            raise DataError(path, f"image of shape {image.shape} but the masks are {shape}")
        if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
            raise DataError(path, f"an image needs a numeric dtype, not {image.dtype}")
        if not np.isfinite(image).all():  # would make every detection's intensity NaN
            raise DataError(path, "the image has NaN or infinite pixel values")
        images.append(image)
    return np.stack(images)


def _compute_detections(files: SequenceFiles) -> tuple[pd.DataFrame, tuple[int, int]]:
    """The validated detections table (DETECTION_COLUMNS + FEATURE_COLUMNS) and the frame shape.

    Without a track table (a movie) every detection is a root (NO_PARENT)."""
    tracks = None if files.track_table is None else read_track_table(files.track_table)
    masks = _read_label_stack(files.masks)
    shape = masks.shape[1:]
    images = read_image_stack(files.images, shape) if files.images else None
    if files.silver_truth:
        masks = merge_silver_truth(masks, _read_label_stack(files.silver_truth, shape))
    table = sequence_features(masks, images)
    if table.empty:
        raise DataError(files.masks[0].parent, "no labelled cell in any mask: the sequence is empty")
    table.insert(0, "node_id", np.arange(len(table), dtype=np.int64))
    if tracks is None:
        table["parent_id"] = np.full(len(table), NO_PARENT, dtype=np.int64)
    else:
        _check_labels_match(files, tracks, table)
        table["parent_id"] = _parent_ids(table["t"].to_numpy(), table["label"].to_numpy(), tracks)
    return table[[*DETECTION_COLUMNS, *FEATURE_COLUMNS]], (int(shape[0]), int(shape[1]))


def _check_labels_match(files: SequenceFiles, tracks: pd.DataFrame, table: pd.DataFrame) -> None:
    """Every mask label has a track line whose begin/end are its first/last frame, and vice versa."""
    spans = table.groupby("label")["t"].agg(["min", "max"])
    by_label = tracks.set_index("label")
    unlisted = spans.index.difference(by_label.index)
    if len(unlisted):
        label = unlisted[0]
        raise DataError(
            files.masks[spans.loc[label, "min"]], f"label {label} is in the mask but not in {files.track_table}"
        )
    unseen = tracks[~tracks["label"].isin(spans.index)]
    if len(unseen):
        row = unseen.iloc[0]
        raise DataError(files.track_table, f"label {row.label} appears in no mask", int(row.line))
    seen = tracks.join(spans, on="label")
    wrong = seen[(seen["begin"] != seen["min"]) | (seen["end"] != seen["max"])]
    if len(wrong):
        row = wrong.iloc[0]
        raise DataError(
            files.track_table,
            f"label {row.label}: begin {row.begin}, end {row.end}, but the masks show it in frames "
            f"{row['min']}..{row['max']}",
            int(row.line),
        )


def _parent_ids(t: np.ndarray, label: np.ndarray, tracks: pd.DataFrame) -> np.ndarray:
    """GT predecessor node id of each detection (rows sorted by (t, label)), NO_PARENT for roots.

    The predecessor is the previous occurrence of the same label or, for a track's first node, the
    last node of its parent track.
    """
    order = np.lexsort((t, label))  # by label, then frame
    sorted_labels = label[order]
    same_track = sorted_labels[1:] == sorted_labels[:-1]
    parent_id = np.full(len(t), NO_PARENT, dtype=np.int64)
    parent_id[order[1:][same_track]] = order[:-1][same_track]
    first = np.r_[True, ~same_track]
    last = np.r_[~same_track, True]
    last_node = pd.Series(order[last], index=sorted_labels[last])
    parent_label = tracks.set_index("label")["parent"].loc[sorted_labels[first]].to_numpy()
    has_parent = parent_label != 0
    parent_id[order[first][has_parent]] = last_node.loc[parent_label[has_parent]].to_numpy()
    return parent_id
