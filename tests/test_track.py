"""Trained models as registered MLflow models, and the ``track`` entry point on movies without GT."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.image
import mlflow
import numpy as np
import pandas as pd
import pytest
import tifffile

from attrackt.track import run_track
from baselines.supervised import run_supervised
from benchmark.cli import main
from benchmark.config import load_config
from benchmark.data.ctc import read_ctc_sequence
from benchmark.data.datasets import read_movie
from benchmark.data.geff_io import read_geff
from benchmark.entry_points import load_dataset
from benchmark.errors import ConfigError, DataError
from conftest import last_run

MODEL = "models:/supervised-synth-bacteria/1"
SEQUENCE = "07"  # an evaluation sequence of synth-bacteria


@pytest.fixture(scope="module")
def trained(tracking, tmp_path_factory):
    """A smoke supervised run on synth-bacteria, its artifacts, and a GT-less copy of sequence 07 as a
    movie folder (``07/tTTT.tif`` + ``07_SEG/maskTTT.tif``) and as two TIFF stacks."""
    run_supervised("synth-bacteria", "smoke", seed=0, overrides=tracking)
    client, run = last_run()
    artifacts = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path_factory.mktemp("run"))))
    root = load_dataset("synth-bacteria", load_config("smoke", tracking)).root
    movies = tmp_path_factory.mktemp("movies")
    folder = movies / "folder"
    shutil.copytree(root / SEQUENCE, folder / SEQUENCE)
    shutil.copytree(root / f"{SEQUENCE}_GT" / "TRA", folder / f"{SEQUENCE}_SEG", ignore=shutil.ignore_patterns("*.txt"))
    for mask in list((folder / f"{SEQUENCE}_SEG").iterdir()):
        mask.rename(mask.with_name(mask.name.replace("man_track", "mask")))
    images = np.stack([tifffile.imread(p) for p in sorted((root / SEQUENCE).glob("t*.tif"))])
    masks = np.stack([tifffile.imread(p) for p in sorted((root / f"{SEQUENCE}_GT" / "TRA").glob("man_track*.tif"))])
    tifffile.imwrite(movies / "images.tif", images)
    tifffile.imwrite(movies / "masks.tif", masks)
    return {"run": run, "artifacts": artifacts, "root": root, "folder": folder, "stacks": movies, "overrides": tracking}


def test_runs_register_a_pyfunc_model_that_predicts_the_runs_associations(trained):
    run = trained["run"]
    assert run.data.tags["registered_model"] == MODEL
    version = mlflow.MlflowClient().get_model_version("supervised-synth-bacteria", "1")
    assert version.run_id == run.info.run_id
    expected = pd.read_csv(trained["artifacts"] / "associations" / f"{SEQUENCE}.csv")
    model = mlflow.pyfunc.load_model(MODEL)
    stacks = trained["stacks"]
    for movie, name in (
        ({"images": str(trained["folder"])}, SEQUENCE),
        (pd.DataFrame({"images": [str(stacks / "images.tif")], "masks": [str(stacks / "masks.tif")]}), "images"),
    ):
        table = model.predict(movie)
        assert list(table.columns) == ["sequence", "parent", "child", "weight"]
        assert set(table["sequence"]) == {name} and len(table) == len(expected) > 0
        np.testing.assert_array_equal(table[["parent", "child"]].to_numpy(), expected[["parent", "child"]].to_numpy())
        np.testing.assert_allclose(table["weight"], expected["weight"], rtol=1e-5)


def test_movies_without_gt_are_read_as_evaluation_sequences(trained, tmp_path):
    folder = read_movie(trained["folder"], data_dir=tmp_path)
    stacks = read_movie(trained["stacks"] / "images.tif", trained["stacks"] / "masks.tif", data_dir=tmp_path)
    gt = read_ctc_sequence(trained["root"], SEQUENCE)
    for dataset, name in ((folder, SEQUENCE), (stacks, "images")):
        assert dataset.split.train == () and dataset.split.test == (name,)
        sequence = dataset.sequences[name]
        assert not sequence.has_gt and (sequence.detections["parent_id"] == -1).all()
        pd.testing.assert_frame_equal(sequence.detections.drop(columns="parent_id"), gt.detections.drop(columns="parent_id"))


def test_track_writes_the_supervised_runs_tracks_as_geff_ctc_and_an_overlay(trained, tmp_path):
    summary = run_track(str(trained["folder"]), "", MODEL, "smoke", overrides=trained["overrides"])
    client, run = last_run()
    assert run.info.status == "FINISHED" and run.data.tags["entry_point"] == "track"
    assert run.data.params["model_uri"] == MODEL
    assert run.data.params["resolved.model_run"] == trained["run"].info.run_id
    assert run.data.params["movie"] == str(trained["folder"])
    assert not any(key.endswith(("AOGM", "TRA")) for key in run.data.metrics)  # no GT, no metrics
    assert "AOGM" not in summary.columns and summary.loc[SEQUENCE, "links"] > 0
    out = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path)))
    assert not (out / "metrics.csv").exists()

    nodes, edges = read_geff(out / "predictions" / f"{SEQUENCE}.geff")
    _, trained_edges = read_geff(trained["artifacts"] / "predictions" / f"{SEQUENCE}.geff")
    np.testing.assert_array_equal(np.sort(edges, axis=0), np.sort(trained_edges, axis=0))  # same model, same ILP
    assert len(edges) == summary.loc[SEQUENCE, "links"]
    # the CTC result's lineage is the GEFF's, matched by (t, y, x)
    result = tmp_path / "result"
    shutil.copytree(out / "predictions" / f"{SEQUENCE}_RES", result / f"{SEQUENCE}_GT" / "TRA")
    for path in list((result / f"{SEQUENCE}_GT" / "TRA").iterdir()):
        path.rename(path.with_name(path.name.replace("mask", "man_track").replace("res_track", "man_track")))
    ctc = read_ctc_sequence(result, SEQUENCE)

    def places(table: pd.DataFrame, pairs: np.ndarray) -> set:
        keys = list(zip(table["t"], table["y"].round(3), table["x"].round(3)))
        return {(keys[p], keys[c]) for p, c in pairs}

    assert places(ctc.detections, ctc.gt_edges()) == places(nodes, edges)
    overlay = matplotlib.image.imread(out / "overlays" / f"{SEQUENCE}.png")
    assert overlay.ndim == 3 and overlay.shape[1] > 2 * overlay.shape[0]  # frames side by side


def test_track_of_tiff_stacks_with_a_run_id(trained, tmp_path):
    stacks, run_id = trained["stacks"], trained["run"].info.run_id
    run_track(str(stacks / "images.tif"), str(stacks / "masks.tif"), run_id, "smoke", overrides=trained["overrides"])
    client, run = last_run()
    assert run.data.params["resolved.model"] == f"runs:/{run_id}/model" and run.data.params["resolved.model_run"] == run_id
    assert run.data.params["movie"] == str(stacks / "images.tif") and run.data.params["masks"] == str(stacks / "masks.tif")
    out = Path(client.download_artifacts(run.info.run_id, "predictions", str(tmp_path)))
    _, edges = read_geff(out / "images.geff")
    _, trained_edges = read_geff(trained["artifacts"] / "predictions" / f"{SEQUENCE}.geff")
    np.testing.assert_array_equal(np.sort(edges, axis=0), np.sort(trained_edges, axis=0))
    assert (out / "images_RES" / "res_track.txt").is_file()


def test_bad_models_and_movies_are_one_clear_error(trained, tmp_path, capsys):
    folder, stacks, overrides = str(trained["folder"]), trained["stacks"], trained["overrides"]
    with pytest.raises(ConfigError, match="no such registered model version.*supervised-synth-bacteria"):
        run_track(folder, "", "models:/nope/1", "smoke", overrides=overrides)
    with pytest.raises(ConfigError, match="no such run"):
        run_track(folder, "", "0" * 32, "smoke", overrides=overrides)
    with mlflow.start_run(tags={"entry_point": "position"}) as foreign:
        pass
    with pytest.raises(ConfigError, match="is a 'position' run"):
        run_track(folder, "", foreign.info.run_id, "smoke", overrides=overrides)
    with pytest.raises(ConfigError, match="parameter model='best'"):
        run_track(folder, "", "best", "smoke", overrides=overrides)
    with pytest.raises(ConfigError, match="parameter movie: required"):
        run_track("", "", MODEL, "smoke", overrides=overrides)
    with pytest.raises(DataError, match="no-such-movie"):
        run_track(str(tmp_path / "no-such-movie"), "", MODEL, "smoke", overrides=overrides)
    with pytest.raises(DataError, match="needs its masks"):
        run_track(str(stacks / "images.tif"), "", MODEL, "smoke", overrides=overrides)
    tifffile.imwrite(tmp_path / "cropped.tif", tifffile.imread(stacks / "masks.tif")[:, :-1])
    with pytest.raises(DataError, match=r"cropped\.tif.*masks of shape"):
        run_track(str(stacks / "images.tif"), str(tmp_path / "cropped.tif"), MODEL, "smoke", overrides=overrides)

    status = main(["track", "--movie", folder, "--model", "models:/nope/1", "--profile", "smoke"])
    error = capsys.readouterr().err
    assert status == 2 and error.startswith("error: ConfigError: parameter model=") and error.count("\n") == 1


@pytest.mark.slow
def test_finetuned_model_carries_its_adapter_and_autoencoder_and_predicts_the_runs_associations(tracking, tmp_path):
    from attrackt.finetune import run_finetune
    from attrackt.unsupervised import run_attrackt
    from baselines.autoencoder import run_autoencoder

    run_autoencoder("synth-hela", "smoke", overrides=tracking)
    run_attrackt("synth-hela", "smoke", overrides=tracking)
    run_finetune("synth-hela", "smoke", overrides=tracking, k="10")
    client, run = last_run()
    uri = run.data.tags["registered_model"]
    assert uri == "models:/finetune-synth-hela/1"
    model = mlflow.pyfunc.load_model(uri)
    artifacts = model.metadata.flavors["python_function"]["artifacts"]
    assert set(artifacts) == {"checkpoint", "adapter", "autoencoder"}
    assert artifacts["checkpoint"]["uri"] == f"runs:/{run.data.params['resolved.attrackt_run']}/checkpoints/last.pt"
    attrackt = mlflow.pyfunc.load_model("models:/attrackt-synth-hela/1").metadata.flavors["python_function"]["artifacts"]
    assert set(attrackt) == {"checkpoint", "autoencoder"}

    expected = pd.read_csv(client.download_artifacts(run.info.run_id, "associations/02.csv", str(tmp_path)))
    root = load_dataset("synth-hela", load_config("smoke", tracking)).root
    table = model.predict({"images": str(root)})  # the dataset folder: its evaluation sequence 02
    assert set(table["sequence"]) == {"02"}
    np.testing.assert_array_equal(table[["parent", "child"]].to_numpy(), expected[["parent", "child"]].to_numpy())
    np.testing.assert_allclose(table["weight"], expected["weight"], rtol=1e-5)
