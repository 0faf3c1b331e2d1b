"""The embedded default data: deterministic, valid CTC with lineage GT, and appearance that carries identity."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmark.data.ctc import read_ctc_sequence, read_track_table
from benchmark.data.sequence import Sequence, lineage_graph
from benchmark.data.synthetic import APPEARANCE_COLUMNS, COMPLETE_MARKER, PRESETS, generate_dataset
from benchmark.errors import ConfigError
from benchmark.evaluation import evaluate_graphs
from benchmark.linking import LinkingWeights, appearance_from_embeddings, link

#: Tiny versions of the presets: a handful of cells, a few seconds at most.
TINY = {
    "synth-bacteria": {"n_sequences": 2, "n_val": 0, "n_test": 1, "n_frames": 12, "height": 96, "width": 96},
    "synth-hela": {"n_sequences": 2, "n_val": 0, "n_test": 1, "n_frames": 12, "height": 128, "width": 128,
                   "n_cells": 6, "cycle_frames": 8.0},
    "synth-hela-large": {"n_sequences": 2, "n_val": 0, "n_test": 1, "n_frames": 12, "height": 128, "width": 128,
                         "n_cells": 6, "cycle_frames": 8.0},  # the HeLa simulator; full size: benchmark/grids/scale.yaml
}


def digest(root: Path) -> str:
    """sha256 over every file's relative path and bytes."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("preset", PRESETS)
def test_same_seed_gives_identical_files_and_another_seed_differs(preset, tmp_path):
    a = generate_dataset(preset, tmp_path / "a", seed=3, **TINY[preset])
    b = generate_dataset(preset, tmp_path / "b", seed=3, **TINY[preset])
    c = generate_dataset(preset, tmp_path / "c", seed=4, **TINY[preset])
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)
    image = "01/t005.tif"
    assert (a / image).read_bytes() != (c / image).read_bytes()


@pytest.mark.parametrize("preset", PRESETS)
def test_written_dataset_is_valid_ctc_with_divisions_and_appearance(preset, tmp_path):
    root = generate_dataset(preset, tmp_path / "data", seed=1, **TINY[preset])
    assert (root / COMPLETE_MARKER).is_file()
    description = yaml.safe_load((root / "dataset.yaml").read_text())
    assert description["name"] == preset
    assert description["split"] == {"train": ["01"], "val": [], "test": ["02"]}
    assert description["generator"]["seed"] == 1 and description["generator"]["n_frames"] == 12

    for name in ("01", "02"):
        sequence = read_ctc_sequence(root, name, cache_dir=tmp_path / "cache")
        assert sequence.n_frames == 12 and sequence.has_images
        tracks = read_track_table(root / f"{name}_GT" / "TRA" / "man_track.txt").set_index("label")
        detections = sequence.detections
        # Every label is in every frame of its track: no gaps, no hidden cells.
        counts = detections.groupby("label").size()
        assert (counts == tracks["end"] - tracks["begin"] + 1).all()
        # Parents end exactly the frame before their children begin; divisions have two daughters.
        children = tracks[tracks["parent"] > 0]
        assert len(children) > 0, "no division happened"
        assert (tracks.loc[children["parent"], "end"].to_numpy() == children["begin"].to_numpy() - 1).all()
        assert (children.groupby("parent").size() == 2).all()
        # The GT graph: every non-root node has one predecessor in the previous frame.
        t = sequence.frames()
        edges = sequence.gt_edges()
        assert (t[edges[:, 1]] == t[edges[:, 0]] + 1).all()
        assert len(edges) == len(detections) - (tracks["parent"] == 0).sum()

        appearance = pd.read_csv(root / f"{name}_GT" / "appearance.csv")
        assert list(appearance.columns) == ["t", "label", *APPEARANCE_COLUMNS]
        keys = appearance.set_index(["t", "label"]).index
        assert keys.sort_values().equals(detections.set_index(["t", "label"]).index.sort_values())
        assert np.isfinite(appearance[list(APPEARANCE_COLUMNS)].to_numpy()).all()


def aogm(sequence: Sequence, embeddings: np.ndarray | None) -> float:
    """AOGM of linking ``sequence`` by position only, or with embedding distances as d2 (w2 = +1)."""
    if embeddings is None:
        solution = link(sequence.frames(), sequence.positions())
    else:
        solution = link(
            sequence.frames(),
            sequence.positions(),
            lambda candidates: appearance_from_embeddings(candidates, embeddings),
            weights=LinkingWeights(w2=1.0),
        )
    predicted = lineage_graph(sequence.detections, solution.edges)
    return evaluate_graphs(sequence.gt_graph(), predicted)["AOGM"]


def true_appearance(root: Path, sequence: Sequence) -> np.ndarray:
    """The simulator's appearance parameters of every node, standardised per column."""
    table = pd.read_csv(root / f"{sequence.name}_GT" / "appearance.csv")
    rows = sequence.detections[["t", "label"]].merge(table, on=["t", "label"], how="left")
    values = rows[list(APPEARANCE_COLUMNS)].to_numpy()
    return (values - values.mean(axis=0)) / values.std(axis=0)


@pytest.mark.parametrize(
    "preset, size",
    [
        ("synth-bacteria", {"n_sequences": 2, "n_val": 0, "n_test": 1}),
        ("synth-hela", {"n_sequences": 2, "n_val": 0, "n_test": 1, "height": 240, "width": 240, "n_cells": 15}),
    ],
)
def test_appearance_carries_identity(preset, size, tmp_path):
    """Linking with the true appearance makes clearly fewer errors than position alone."""
    root = generate_dataset(preset, tmp_path / "data", seed=0, **size)
    sequence = read_ctc_sequence(root, "02", cache_dir=tmp_path / "cache")
    position_only = aogm(sequence, None)
    with_appearance = aogm(sequence, true_appearance(root, sequence))
    assert position_only >= 10  # the motion makes position-only linking err
    assert with_appearance <= 0.7 * position_only


@pytest.mark.parametrize("preset, low, high", [("synth-bacteria", 100, 400), ("synth-hela", 10, 60)])
def test_default_size_is_as_hard_as_intended(preset, low, high, tmp_path):
    """Position-only AOGM per 1000 GT edges, mean over the test sequences, within the design's band."""
    root = generate_dataset(preset, tmp_path / "data", seed=0)
    description = yaml.safe_load((root / "dataset.yaml").read_text())
    rates = []
    for name in description["split"]["test"]:
        sequence = read_ctc_sequence(root, name, cache_dir=tmp_path / "cache")
        rates.append(1000 * aogm(sequence, None) / len(sequence.gt_edges()))
    assert low <= np.mean(rates) <= high


@pytest.mark.parametrize(
    "overrides, culprit",
    [
        ({"n_frame": 5}, "n_frame"),
        ({"n_frames": 1}, "n_frames"),
        ({"n_frames": 5.5}, "n_frames"),
        ({"motion_noise": -1.0}, "motion_noise"),
        ({"motion_noise": "fast"}, "motion_noise"),
        ({"stage_jitter": float("nan")}, "stage_jitter"),
        ({"n_val": 4, "n_test": 4}, "n_val"),
        ({"division_length": 10.0}, "division_length"),
    ],
)
def test_bad_parameters_raise_config_error_naming_them(overrides, culprit, tmp_path):
    with pytest.raises(ConfigError, match=culprit):
        generate_dataset("synth-bacteria", tmp_path / "data", **overrides)
    assert not (tmp_path / "data").exists()


def test_unknown_preset_and_bad_seed_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="synth-yeast"):
        generate_dataset("synth-yeast", tmp_path / "data")
    with pytest.raises(ConfigError, match="seed"):
        generate_dataset("synth-hela", tmp_path / "data", seed=-1)
    with pytest.raises(ConfigError, match="n_founders"):  # a bacteria parameter, not a HeLa one
        generate_dataset("synth-hela", tmp_path / "data", n_founders=3)


def test_replaces_a_generated_dataset_but_refuses_other_folders(tmp_path):
    root = generate_dataset("synth-bacteria", tmp_path / "data", seed=0, **{**TINY["synth-bacteria"], "n_frames": 4})
    generate_dataset("synth-bacteria", root, seed=0, **TINY["synth-bacteria"])
    assert len(list((root / "01").glob("t*.tif"))) == 12
    other = tmp_path / "mine"  # a user's dataset, described but not generated
    other.mkdir()
    (other / "dataset.yaml").write_text("split: {train: ['01'], test: ['01']}\n")
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        generate_dataset("synth-hela", other)
    assert (other / "notes.txt").read_text() == "keep me"
