"""The data layer: CTC and point readers with their validation, features, cache, writers, datasets."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from conftest import TINY_SQUARES, TinyCTC, tiny_arrays
from skimage.measure import regionprops

import benchmark.data.ctc as ctc
from benchmark.data.cache import load_table, save_table
from benchmark.data.ctc import (
    list_ctc_sequences,
    merge_silver_truth,
    predicted_tracks,
    read_ctc_sequence,
    write_ctc_prediction,
    write_ctc_sequence,
    write_masks,
)
from benchmark.data.datasets import BACTERIA_TEST, BACTERIA_VAL, resolve_dataset
from benchmark.data.features import frame_features, sequence_features
from benchmark.data.geff_io import read_geff, write_geff
from benchmark.data.points import read_points_csv
from benchmark.data.sequence import DETECTION_COLUMNS, FEATURE_COLUMNS, Sequence
from benchmark.errors import ConfigError, DataError, LinkingError


def lineage(seq: Sequence, edges: np.ndarray | None = None) -> set[tuple[tuple[int, int], tuple[int, int]]]:
    """Edges as ((t, label), (t, label)) pairs: comparable across differently numbered tables."""
    edges = seq.gt_edges() if edges is None else edges
    key = list(zip(seq.frames().tolist(), seq.detections["label"].tolist()))
    return {(key[p], key[c]) for p, c in edges}


def expected_tiny_lineage() -> set[tuple[tuple[int, int], tuple[int, int]]]:
    """The tiny sequence's lineage from its definition: track continuations and 1 -> 2, 3."""
    edges = set()
    for label, squares in TINY_SQUARES.items():
        frames = [t for t, *_ in squares]
        edges |= {((a, label), (b, label)) for a, b in zip(frames, frames[1:])}
    return edges | {((1, 1), (2, 2)), ((1, 1), (2, 3))}


# --------------------------------------------------------------------------------------------------
# CTC reading


def test_ctc_round_trip_of_a_hand_made_sequence(tiny_ctc: TinyCTC, tmp_path):
    seq = read_ctc_sequence(tiny_ctc.root, "01", cache_dir=tmp_path / "cache")
    assert list(seq.detections.columns) == [*DETECTION_COLUMNS, *FEATURE_COLUMNS]
    assert (seq.n_frames, seq.image_shape, seq.has_images, seq.has_masks) == (4, (24, 32), True, True)
    table = seq.detections
    assert table["node_id"].tolist() == list(range(12))
    assert table[["t", "label"]].equals(table[["t", "label"]].sort_values(["t", "label"], ignore_index=True))
    assert lineage(seq) == expected_tiny_lineage()
    assert (table.loc[table["parent_id"] == -1, ["t", "label"]].values.tolist()) == [[0, 1], [0, 4], [1, 5]]

    first = table[(table["t"] == 0) & (table["label"] == 1)].iloc[0]  # rows 6..10, cols 6..10
    assert (first.y, first.x) == (8.0, 8.0)
    assert first.diameter == pytest.approx(np.sqrt(4 * 25 / np.pi))
    assert first.inertia_yy == first.inertia_xx == pytest.approx(2.0)  # variance of 5 consecutive integers
    assert first.inertia_yx == first.inertia_xy == 0.0
    low, high = np.percentile(tiny_ctc.images, [1, 99.8])
    assert first.intensity == pytest.approx((250 - low) / (high - low))
    border = table.groupby("label")["border"].max()
    assert border[4] == 1.0  # touches the last row
    assert border[2] == pytest.approx(1 - 2 / 5)  # two px from the top at t = 3
    assert border[3] == 0.0


def test_names_are_any_folder_name_and_images_are_optional(tiny_ctc: TinyCTC):
    images, masks, tracks = tiny_arrays()
    write_ctc_sequence(tiny_ctc.root, "151029_E1-1", None, masks, tracks)
    assert list_ctc_sequences(tiny_ctc.root) == ["01", "151029_E1-1"]
    with_images = read_ctc_sequence(tiny_ctc.root, "01")
    gt_only = read_ctc_sequence(tiny_ctc.root, "151029_E1-1")
    assert not gt_only.has_images and gt_only.image_paths == []
    assert (gt_only.detections["intensity"] == 0).all()
    shape_columns = [column for column in gt_only.detections.columns if column != "intensity"]
    pd.testing.assert_frame_equal(gt_only.detections[shape_columns], with_images.detections[shape_columns])


def test_a_track_missing_in_a_frame_links_to_its_previous_occurrence(tiny_ctc: TinyCTC):
    masks = tiny_ctc.masks.copy()
    masks[2][masks[2] == 4] = 0
    write_masks(tiny_ctc.tra, masks, "man_track")
    seq = read_ctc_sequence(tiny_ctc.root, "01")
    assert ((1, 4), (3, 4)) in lineage(seq)
    assert ((2, 4), (3, 4)) not in lineage(seq)


def test_real_gt_only_data_loads(real_data):
    seq = read_ctc_sequence(real_data, "01")
    assert (seq.n_detections, len(seq.gt_edges()), seq.n_frames) == (576, 452, 5)
    assert not seq.has_images and seq.image_shape == (256, 256)
    children = pd.Series(seq.gt_edges()[:, 0]).value_counts()
    assert (children == 2).sum() == 39
    per_frame = seq.detections.groupby("t").size()
    assert per_frame.min() == 107 and per_frame.max() == 126


# --------------------------------------------------------------------------------------------------
# Features


def test_features_equal_regionprops_on_random_masks():
    rng = np.random.default_rng(7)
    mask = np.zeros((40, 50), dtype=np.int32)
    for label in rng.choice(np.arange(1, 300), size=12, replace=False):
        row, col = rng.integers(0, 36), rng.integers(0, 46)
        mask[row : row + rng.integers(1, 8), col : col + rng.integers(1, 8)] = label
    mask[0, 49] = mask[39, 0]  # a label in two disconnected pieces
    image = rng.normal(size=mask.shape)

    table = frame_features(mask, image).set_index("label")
    rows, cols = np.indices(mask.shape)
    distance = np.minimum.reduce([rows, cols, 39 - rows, 49 - cols])  # to the image border, px
    props = regionprops(mask, intensity_image=image)
    assert table.index.tolist() == [region.label for region in props]
    for region in props:
        row = table.loc[region.label]
        assert (row.y, row.x) == pytest.approx(region.centroid)
        assert row.diameter == pytest.approx(region.equivalent_diameter_area)
        assert row.intensity == pytest.approx(region.intensity_mean)
        inertia = [row.inertia_yy, row.inertia_yx, row.inertia_xy, row.inertia_xx]
        assert inertia == pytest.approx(region.inertia_tensor.ravel(), abs=1e-12)
        nearest = distance[mask == region.label].min()
        assert row.border == pytest.approx(1 - min(nearest / 5, 1))


def test_intensity_is_normalised_over_the_whole_sequence():
    masks = np.ones((2, 4, 4), dtype=np.uint8)
    images = np.stack([np.full((4, 4), 10.0), np.full((4, 4), 30.0)])
    table = sequence_features(masks, images)
    low, high = np.percentile(images, [1, 99.8])
    assert table["intensity"].tolist() == pytest.approx([(10 - low) / (high - low), (30 - low) / (high - low)])
    assert table["intensity"].iloc[0] < 0.1 < 0.9 < table["intensity"].iloc[1]


def test_silver_truth_regions_go_to_the_track_they_overlap_most():
    tra = np.zeros((1, 10, 10), dtype=np.uint16)
    silver = np.zeros((1, 10, 10), dtype=np.uint16)
    silver[0, 1:5, 1:5] = 7  # overlaps track 1 (2 px) more than track 2 (1 px)
    tra[0, 1, 1:3] = 1
    tra[0, 4, 4] = 2
    silver[0, 6:9, 6:9] = 8  # overlaps only track 3
    tra[0, 7, 7] = 3
    silver[0, 0, 8] = 9  # overlaps no track: dropped
    merged = merge_silver_truth(tra, silver)[0]
    assert (merged[1:5, 1:5][tra[0, 1:5, 1:5] == 0] == 1).all()
    assert merged[4, 4] == 2  # TRA pixels are kept
    assert (merged[6:9, 6:9] == 3).all()
    assert merged[0, 8] == 0


def test_merge_st_grows_detections_to_silver_truth_regions(tiny_ctc: TinyCTC):
    silver = np.zeros_like(tiny_ctc.masks)
    silver[tiny_ctc.masks > 0] = 50
    silver[:, 12:20, 24:32] = 60  # extends track 4 upwards, to 8 rows + its 6
    write_masks(tiny_ctc.root / "01_ST" / "SEG", silver, "man_seg")
    plain = read_ctc_sequence(tiny_ctc.root, "01")
    merged = read_ctc_sequence(tiny_ctc.root, "01", merge_st=True)
    assert lineage(merged) == lineage(plain)
    grown = merged.detections["label"] == 4
    assert (merged.detections.loc[grown, "y"] < plain.detections.loc[grown, "y"]).all()
    assert (merged.detections.loc[~grown, "diameter"] == plain.detections.loc[~grown, "diameter"]).all()


# --------------------------------------------------------------------------------------------------
# CTC validation: every error names the file (and the line of man_track.txt)


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))


TRACK_LINES = ["1 0 1 0", "2 2 3 1", "3 2 3 1", "4 0 3 0", "5 1 2 0"]

TABLE_ERRORS = {
    "wrong column count": (["1 0 1 0", "2 2 3"], 2, "4 integers"),
    "non-integer": ([*TRACK_LINES[:2], "3 2 x 1"], 3, "non-integer"),
    "negative": (["1 0 -1 0"], 1, "negative"),
    "begin after end": (["1 2 1 0"], 1, "after it ends"),
    "duplicate label": ([*TRACK_LINES, "3 2 3 1"], 6, "already defined on line 3"),
    "unknown parent": ([*TRACK_LINES[:4], "5 1 2 9"], 5, "parent 9"),
    "parent ends too late": ([*TRACK_LINES[:4], "5 1 2 4"], 5, "must end before"),
    "cycle": (["1 0 1 2", "2 2 3 1", *TRACK_LINES[2:]], 1, "labels 1, 2 form a cycle"),
    "begin disagrees with masks": ([*TRACK_LINES[:4], "5 0 2 0"], 5, "frames 1..2"),
    "label absent from masks": ([*TRACK_LINES, "", "6 0 0 0"], 7, "appears in no mask"),
    "value beyond int64": ([*TRACK_LINES[:4], "5 1 2 99999999999999999999"], 5, "value above"),  # was an OverflowError
}


@pytest.mark.parametrize("lines, line, message", TABLE_ERRORS.values(), ids=TABLE_ERRORS.keys())
def test_bad_track_tables_name_file_and_line(tiny_ctc: TinyCTC, lines, line, message):
    table = tiny_ctc.tra / "man_track.txt"
    write_lines(table, lines)
    with pytest.raises(DataError, match=message) as caught:
        read_ctc_sequence(tiny_ctc.root, "01")
    assert (caught.value.path, caught.value.line) == (table, line)
    assert str(caught.value).startswith(f"{table}:{line}: ")


def truncated_mask(tiny: TinyCTC) -> None:
    path = tiny.tra / "man_track002.tif"
    path.write_bytes(path.read_bytes()[:200])


def text_as_mask(tiny: TinyCTC) -> None:
    (tiny.tra / "man_track001.tif").write_text("hello")


def float_mask(tiny: TinyCTC) -> None:
    tifffile.imwrite(tiny.tra / "man_track002.tif", tiny.masks[2].astype(np.float32))


def resized_image(tiny: TinyCTC) -> None:
    tifffile.imwrite(tiny.root / "01" / "t002.tif", tiny.images[2, :20])


def resized_mask(tiny: TinyCTC) -> None:
    tifffile.imwrite(tiny.tra / "man_track003.tif", tiny.masks[3, :, :30])


def nan_in_image(tiny: TinyCTC) -> None:
    image = tiny.images[1].astype(np.float32)
    image[0, 0] = np.nan  # used to make every detection's intensity NaN
    tifffile.imwrite(tiny.root / "01" / "t001.tif", image)


def huge_frame_number(tiny: TinyCTC) -> None:
    (tiny.tra / "man_track99999999999.tif").write_bytes(b"")  # listing the gaps used to exhaust memory


def image_removed(tiny: TinyCTC) -> None:
    (tiny.root / "01" / "t003.tif").unlink()


def frame_gap(tiny: TinyCTC) -> None:
    (tiny.tra / "man_track002.tif").rename(tiny.tra / "man_track004.tif")


def unlisted_label(tiny: TinyCTC) -> None:
    write_lines(tiny.tra / "man_track.txt", TRACK_LINES[:4])


def no_labels(tiny: TinyCTC) -> None:
    write_masks(tiny.tra, np.zeros_like(tiny.masks), "man_track")
    write_lines(tiny.tra / "man_track.txt", [])


def no_masks(tiny: TinyCTC) -> None:
    for path in tiny.tra.glob("*.tif"):
        path.unlink()


def no_track_table(tiny: TinyCTC) -> None:
    (tiny.tra / "man_track.txt").unlink()


FILE_ERRORS = {
    "image count": (image_removed, "01", "3 images"),
    "image shape": (resized_image, "01/t002.tif", "image of shape"),
    "mask shape": (resized_mask, "01_GT/TRA/man_track003.tif", "mask of shape"),
    "mask dtype": (float_mask, "01_GT/TRA/man_track002.tif", "integer dtype"),
    "not a tiff": (text_as_mask, "01_GT/TRA/man_track001.tif", "not a readable TIFF"),
    "truncated tiff": (truncated_mask, "01_GT/TRA/man_track002.tif", "not a readable TIFF"),
    "label missing from table": (unlisted_label, "01_GT/TRA/man_track001.tif", "label 5 is in the mask but not in"),
    "no masks": (no_masks, "01_GT/TRA", "no man_trackTTT.tif masks"),
    "no labels": (no_labels, "01_GT/TRA", "no labelled cell"),
    "frame gap": (frame_gap, "01_GT/TRA", "missing frame"),
    "huge frame number": (huge_frame_number, "01_GT/TRA", r"missing frame\(s\) 4, 5, .*, 13, \.\.\."),
    "NaN in image": (nan_in_image, "01/t001.tif", "NaN or infinite"),
    "no man_track.txt": (no_track_table, "01_GT/TRA/man_track.txt", "missing"),
}


@pytest.mark.parametrize("corrupt, culprit, message", FILE_ERRORS.values(), ids=FILE_ERRORS.keys())
def test_bad_files_are_named(tiny_ctc: TinyCTC, corrupt, culprit, message):
    corrupt(tiny_ctc)
    with pytest.raises(DataError, match=message) as caught:
        read_ctc_sequence(tiny_ctc.root, "01")
    assert caught.value.path == tiny_ctc.root / culprit
    assert str(caught.value).startswith(f"{tiny_ctc.root / culprit}: ")


# --------------------------------------------------------------------------------------------------
# Cache


def test_second_read_comes_from_the_cache(tiny_ctc: TinyCTC, tmp_path, monkeypatch):
    calls = []
    real = ctc.sequence_features
    monkeypatch.setattr(ctc, "sequence_features", lambda *args: calls.append(1) or real(*args))
    cache = tmp_path / "cache"

    first = read_ctc_sequence(tiny_ctc.root, "01", cache_dir=cache)
    second = read_ctc_sequence(tiny_ctc.root, "01", cache_dir=cache)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first.detections, second.detections)
    assert (second.image_shape, second.has_images, second.n_frames) == (first.image_shape, True, 4)
    assert [path.suffix for path in cache.iterdir()] == [".npz"]  # no temporary file left behind

    read_ctc_sequence(tiny_ctc.root, "01", merge_st=True, cache_dir=cache)  # other parameters: a miss
    assert len(calls) == 2
    image = tiny_ctc.root / "01" / "t001.tif"
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))  # an edited input
    read_ctc_sequence(tiny_ctc.root, "01", cache_dir=cache)
    assert len(calls) == 3


def test_an_unreadable_cache_entry_is_a_miss(tmp_path):
    table = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    path = save_table(tmp_path, "k", table, {"shape": [3, 4]})
    stored, meta = load_table(tmp_path, "k")
    pd.testing.assert_frame_equal(stored, table)
    assert meta == {"shape": [3, 4]}
    path.write_bytes(b"garbage")
    assert load_table(tmp_path, "k") is None
    assert load_table(tmp_path, "absent") is None


# --------------------------------------------------------------------------------------------------
# Point CSV


def test_point_csv_with_two_sequences(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text(
        "sequence,t,y,x,id,parent_id,note\n"
        "01,1,5.5,6,11,10,a\n"
        "01,0,5,5,10,-1,b\n"
        "\n"
        "02,0,1,1,10,-1,c\n"
        "01,1,9,9,12,10,d\n"
        "02,2,2,2,7,10,e\n"
    )
    sequences = read_points_csv(path)
    assert list(sequences) == ["01", "02"]
    first, second = sequences["01"], sequences["02"]
    assert first.detections["label"].tolist() == [10, 11, 12]
    assert first.detections["parent_id"].tolist() == [-1, 0, 0]
    assert first.positions().tolist() == [[5, 5], [5.5, 6], [9, 9]]
    assert (second.n_frames, lineage(second)) == (3, {((0, 10), (2, 7))})
    assert not first.has_images and not first.has_masks
    assert (first.features() == 0).all()


def test_point_csv_without_sequence_column_is_one_sequence(tmp_path):
    path = tmp_path / "cells.csv"
    path.write_text("t,y,x,id,parent_id\n0,1,1,1,-1\n1,2,2,2,1\n")
    assert list(read_points_csv(path)) == ["cells"]


HEADER = "t,y,x,id,parent_id"
POINT_ERRORS = {
    "missing column": ("t,y,x,id\n0,1,1,1\n", 1, "missing column.*parent_id"),
    "no rows": (f"{HEADER}\n", None, "no detections"),
    "nan": (f"{HEADER}\n0,1,1,1,-1\n1,,1,2,1\n", 3, "missing value in column y"),
    "non-integer t": (f"{HEADER}\n0,1,1,1,-1\n1.5,1,1,2,1\n", 3, "t must be an integer"),
    "non-numeric id": (f"{HEADER}\n0,1,1,one,-1\n", 2, "id must be a finite number"),
    "duplicate id": (f"{HEADER}\n0,1,1,1,-1\n1,1,1,2,1\n1,2,2,2,1\n", 4, "id 2 is used twice"),
    "unknown parent": (f"{HEADER}\n0,1,1,1,-1\n\n1,1,1,2,5\n", 4, "parent_id 5"),  # blank lines count
    "parent not earlier": (f"{HEADER}\n1,1,1,1,-1\n1,1,1,2,1\n", 3, "not in an earlier frame"),
    # rows with more fields than the header: pandas took the first row's extra ones for an index
    "trailing comma": (f"{HEADER}\n0,1,1,1,-1,\n1,2,2,2,1,\n", 2, "6 fields but the header has 5"),
    "extra field": (f"{HEADER}\n0,1,1,1,-1\n\n1,2,2,2,1,7\n", 4, "6 fields but the header has 5"),
    "beyond int64": (f"{HEADER}\n0,1,1,1,-1\n1e300,1,1,2,1\n", 3, "t must be an integer"),  # was wrapped around
}


@pytest.mark.parametrize("text, line, message", POINT_ERRORS.values(), ids=POINT_ERRORS.keys())
def test_bad_point_csv_names_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "points.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as caught:
        read_points_csv(path)
    assert (caught.value.path, caught.value.line) == (path, line)


# --------------------------------------------------------------------------------------------------
# Writers: GEFF and CTC results


def test_geff_round_trip(tiny_ctc: TinyCTC, tmp_path):
    seq = read_ctc_sequence(tiny_ctc.root, "01")
    edges = seq.gt_edges()[::2]
    path = write_geff(tmp_path / "pred.geff", seq, edges)
    nodes, read_edges = read_geff(path)
    pd.testing.assert_frame_equal(nodes, seq.detections[["node_id", "t", "y", "x", "label"]])
    assert sorted(map(tuple, read_edges.tolist())) == sorted(map(tuple, edges.tolist()))

    write_geff(path, seq, np.empty((0, 2), dtype=np.int64))  # replaces the store
    assert read_geff(path)[1].shape == (0, 2)
    with pytest.raises(DataError, match="GEFF"):
        read_geff(tiny_ctc.tra)


def read_result_as_gt(result: Path, root: Path, name: str) -> Sequence:
    """Read a NAME_RES folder with the GT reader by copying it into GT layout under ``root``."""
    tra = root / f"{name}_GT" / "TRA"
    tra.mkdir(parents=True)
    for mask in result.glob("mask*.tif"):
        shutil.copy(mask, tra / mask.name.replace("mask", "man_track"))
    shutil.copy(result / "res_track.txt", tra / "man_track.txt")
    return read_ctc_sequence(root, name)


def test_ctc_prediction_round_trip(tiny_ctc: TinyCTC, tmp_path):
    seq = read_ctc_sequence(tiny_ctc.root, "01")
    node = {key: n for n, key in enumerate(zip(seq.frames().tolist(), seq.detections["label"].tolist()))}
    # GT, except that track 4 skips frame 2 (a gap link) and 3 is not linked to its mother
    edges = [(node[a], node[b]) for a, b in expected_tiny_lineage() if b not in ((2, 4), (3, 4), (2, 3))]
    edges.append((node[(1, 4)], node[(3, 4)]))
    edges = np.array(edges)

    result = write_ctc_prediction(tmp_path / "out", seq, edges)
    assert result == tmp_path / "out" / "01_RES"
    back = read_result_as_gt(result, tmp_path / "back", "01")
    where = lambda s: list(zip(s.frames().tolist(), map(tuple, s.positions().tolist())))  # noqa: E731
    assert sorted(where(back)) == sorted(where(seq))  # the same regions, new labels
    original = {key: n for n, key in enumerate(where(seq))}
    as_original = np.array([original[key] for key in where(back)])
    assert set(map(tuple, as_original[back.gt_edges()].tolist())) == set(map(tuple, edges.tolist()))
    tracks = pd.read_csv(result / "res_track.txt", sep=" ", names=["label", "begin", "end", "parent"])
    # 1 continues into its single daughter 2; 3 and 4 at t=2 are new roots; 4 after the gap is a new track
    # whose parent is 4 before it (track 2)
    expected = [[1, 0, 3, 0], [2, 0, 1, 0], [3, 1, 2, 0], [4, 2, 3, 0], [5, 2, 2, 0], [6, 3, 3, 2]]
    assert tracks.values.tolist() == expected


def test_prediction_writing_checks_its_input(tmp_path):
    frames = np.array([0, 1, 1, 2])
    with pytest.raises(LinkingError, match="more than one parent"):
        predicted_tracks(frames, np.array([[0, 1], [2, 1]]))
    with pytest.raises(LinkingError, match="earlier frame"):
        predicted_tracks(frames, np.array([[1, 2]]))
    track, tracks = predicted_tracks(frames, np.array([[0, 1], [0, 2], [1, 3]]))
    assert track.tolist() == [1, 2, 3, 2]
    assert tracks.values.tolist() == [[1, 0, 0, 0], [2, 1, 2, 1], [3, 1, 1, 1]]
    points = tmp_path / "p.csv"
    points.write_text("t,y,x,id,parent_id\n0,1,1,1,-1\n")
    with pytest.raises(DataError, match="no masks"):
        write_ctc_prediction(tmp_path, read_points_csv(points)["p"], np.empty((0, 2)))


# --------------------------------------------------------------------------------------------------
# Datasets


def test_folder_without_description_is_train_and_test(tiny_ctc: TinyCTC, tmp_path):
    images, masks, tracks = tiny_arrays()
    write_ctc_sequence(tiny_ctc.root, "02", images, masks, tracks)
    dataset = resolve_dataset(str(tiny_ctc.root), data_dir=tmp_path)
    assert (dataset.split.train, dataset.split.val, dataset.split.test) == (("01", "02"), (), ("01", "02"))
    assert dataset.name == "ctc" and len(dataset.fingerprint) == 64

    copy = tmp_path / "elsewhere" / "ctc"
    shutil.copytree(tiny_ctc.root, copy)
    assert resolve_dataset(str(copy), data_dir=tmp_path).fingerprint == dataset.fingerprint
    tifffile.imwrite(copy / "02" / "t000.tif", images[0] + 1)
    assert resolve_dataset(str(copy), data_dir=tmp_path).fingerprint != dataset.fingerprint


def test_folder_with_description_uses_its_split(tiny_ctc: TinyCTC, tmp_path):
    images, masks, tracks = tiny_arrays()
    write_ctc_sequence(tiny_ctc.root, "02", None, masks, tracks)
    description = tiny_ctc.root / "dataset.yaml"
    description.write_text(yaml.safe_dump({"name": "tiny", "split": {"train": ["01"], "test": ["02"]}}))
    dataset = resolve_dataset(str(tiny_ctc.root), data_dir=tmp_path)
    assert (dataset.name, dataset.split.train, dataset.split.val, dataset.split.test) == ("tiny", ("01",), (), ("02",))
    assert [seq.name for seq in dataset.evaluation_sequences()] == ["02"]

    description.write_text("split: {train: ['01'], test: ['03']}\n")
    with pytest.raises(DataError, match="split.test names sequence.*03") as caught:
        resolve_dataset(str(tiny_ctc.root), data_dir=tmp_path)
    assert caught.value.path == description
    description.write_text("split: {train: [01], test: ['02']}\n")
    with pytest.raises(DataError, match="quoted strings"):
        resolve_dataset(str(tiny_ctc.root), data_dir=tmp_path)


BAD_DESCRIPTIONS = {
    "not UTF-8": (b"\xffsplit: {}\n", None, "can't decode"),  # was a UnicodeDecodeError
    "impossible date": (b"split: {train: ['01'], test: [2001-13-01]}\n", None, "month must be in 1..12"),  # ValueError
    "YAML syntax": (b"name: tiny\nsplit: {train: ['01']\n", 3, "expected ',' or '}'"),  # now with a line
}


@pytest.mark.parametrize("text, line, message", BAD_DESCRIPTIONS.values(), ids=BAD_DESCRIPTIONS.keys())
def test_unreadable_dataset_descriptions(tiny_ctc: TinyCTC, tmp_path, text, line, message):
    description = tiny_ctc.root / "dataset.yaml"
    description.write_bytes(text)
    with pytest.raises(DataError, match=message) as caught:
        resolve_dataset(str(tiny_ctc.root), data_dir=tmp_path)
    assert (caught.value.path, caught.value.line) == (description, line)


def test_point_csv_dataset(tmp_path):
    path = tmp_path / "cells.csv"
    path.write_text("t,y,x,id,parent_id\n0,1,1,1,-1\n1,2,2,2,1\n")
    dataset = resolve_dataset(str(path), data_dir=tmp_path)
    assert (dataset.name, dataset.split.test, dataset.root) == ("cells", ("cells",), path)
    assert len(dataset.fingerprint) == 64


def test_unknown_names_and_missing_paths(tmp_path):
    with pytest.raises(ConfigError, match="synth-bacteria, synth-hela, synth-hela-large, hela, bacteria"):
        resolve_dataset("helaa", data_dir=tmp_path)
    with pytest.raises(DataError, match="no such file") as caught:
        resolve_dataset(str(tmp_path / "absent"), data_dir=tmp_path)
    assert caught.value.path == tmp_path / "absent"


def test_absent_real_datasets_say_where_the_data_come_from(tmp_path, monkeypatch):
    monkeypatch.delenv("ATTRACKT_HELA_DIR", raising=False)
    monkeypatch.delenv("ATTRACKT_BACTERIA_DIR", raising=False)
    with pytest.raises(DataError, match="celltrackingchallenge.net") as caught:
        resolve_dataset("hela", data_dir=tmp_path)
    assert caught.value.path == tmp_path / "Fluo-N2DL-HeLa"
    assert "01_GT/TRA/man_track000.tif" in str(caught.value) and "01_ST/SEG" in str(caught.value)
    with pytest.raises(DataError, match="van Vliet.*Trackastra") as caught:
        resolve_dataset("bacteria", data_dir=tmp_path)
    assert caught.value.path == tmp_path / "bacteria" and "150309-04" in str(caught.value)


def test_hela_from_its_environment_variable(tmp_path, monkeypatch):
    images, masks, tracks = tiny_arrays()
    for name in ("01", "02"):
        write_ctc_sequence(tmp_path / "hela", name, images, masks, tracks)
    monkeypatch.setenv("ATTRACKT_HELA_DIR", str(tmp_path / "hela"))
    dataset = resolve_dataset("hela", data_dir=tmp_path / "unused")
    assert (dataset.name, dataset.split.train, dataset.split.val, dataset.split.test) == ("hela", ("01",), (), ("02",))


def test_bacteria_split(tmp_path, monkeypatch):
    _, masks, tracks = tiny_arrays()
    root = tmp_path / "bacteria"
    for name in (*BACTERIA_TEST, *BACTERIA_VAL, "a", "b"):
        write_ctc_sequence(root, name, None, masks[:1], tracks[tracks["begin"] == 0].assign(end=0))
    dataset = resolve_dataset("bacteria", data_dir=tmp_path)  # without dataset.yaml: the reference's val
    assert (dataset.split.train, dataset.split.val, dataset.split.test) == (("a", "b"), BACTERIA_VAL, BACTERIA_TEST)
    (root / "dataset.yaml").write_text("split: {val: ['a']}\n")
    dataset = resolve_dataset("bacteria", data_dir=tmp_path)
    assert (dataset.split.train, dataset.split.val) == ((*BACTERIA_VAL, "b"), ("a",))


def test_synthetic_presets_are_generated_once_per_seed(tmp_path, monkeypatch):
    import benchmark.data.synthetic as synthetic

    calls = []

    def fake_generate(preset: str, root: Path, seed: int = 0, **overrides) -> Path:
        calls.append((preset, seed, overrides))
        images, masks, tracks = tiny_arrays()
        write_ctc_sequence(root, "01", images, masks, tracks)
        (root / "dataset.yaml").write_text("name: fake\nsplit: {train: ['01'], test: ['01']}\n")
        (root / synthetic.COMPLETE_MARKER).write_text("")
        return root

    monkeypatch.setattr(synthetic, "generate_dataset", fake_generate)
    first = resolve_dataset("synth-hela", data_dir=tmp_path, synth_seed=3, synth_overrides={"n_frames": 4})
    again = resolve_dataset("synth-hela", data_dir=tmp_path, synth_seed=3, synth_overrides={"n_frames": 4})
    other = resolve_dataset("synth-hela", data_dir=tmp_path, synth_seed=4, synth_overrides={"n_frames": 4})
    assert calls == [("synth-hela", 3, {"n_frames": 4}), ("synth-hela", 4, {"n_frames": 4})]
    assert first.root == again.root != other.root and first.root.name.startswith("synth-hela-")
    assert first.name == "synth-hela" and first.fingerprint == other.fingerprint  # same content
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([first.root.name, other.root.name])
