"""The position entry point end to end: data, linking, evaluation and what lands in MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from baselines.position import run_position
from benchmark.data.ctc import read_ctc_sequence
from benchmark.entry_points import prepare
from benchmark.errors import BenchmarkError
from benchmark.pipeline import evaluate_sequence
from conftest import last_run

PROJECT = Path(__file__).resolve().parent.parent


def test_position_logs_config_metrics_and_predictions(tracking):
    table = run_position("synth-hela", "smoke", seed=0, overrides=tracking)
    client, run = last_run()
    assert run.info.status == "FINISHED"
    assert run.data.tags["method"] == "position" and run.data.tags["dataset"] == "synth-hela"
    params = run.data.params
    assert params["linking.k_neighbors"] == "10" and params["profile"] == "smoke"
    assert params["split.test"] == "02" and len(params["dataset.fingerprint"]) >= 16
    metrics = run.data.metrics
    assert metrics["AOGM"] == pytest.approx(table.loc["mean", "AOGM"])
    assert metrics["02/AOGM"] == pytest.approx(table.loc["02", "AOGM"])
    assert 0.0 < metrics["TRA"] <= 1.0
    artifacts = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"metrics.csv", "linking.csv", "predictions"} <= artifacts
    predictions = {f.path for f in client.list_artifacts(run.info.run_id, "predictions")}
    assert {"predictions/02.geff", "predictions/02_RES"} <= predictions


def test_prepare_summarises_the_split(tracking):
    summary = prepare("synth-bacteria", "smoke", overrides=tracking)
    assert set(summary["split"]) == {"train", "val", "test"}
    assert (summary["divisions"] > 0).any()
    _, run = last_run()
    assert run.data.metrics["detections"] == summary["detections"].sum()


def test_failed_run_is_marked_with_its_reason(tracking, tmp_path):
    missing = tmp_path / "no-such-dataset"
    with pytest.raises(BenchmarkError, match="no-such-dataset"):
        run_position(str(missing), "smoke", overrides=tracking)
    _, run = last_run()
    assert run.info.status == "FAILED"
    assert "no-such-dataset" in run.data.tags["error"]
    assert run.data.params["dataset"] == str(missing)  # what was logged before the failure stays


def test_real_dataset_scores_perfectly_against_itself(real_data):
    sequence = read_ctc_sequence(real_data, "01")
    metrics = evaluate_sequence(sequence, sequence.gt_edges())
    assert metrics["AOGM"] == 0
    assert metrics["TRA"] == 1.0
    assert metrics["Division F1"] == 1.0


def test_position_on_the_real_dataset(tracking, real_data):
    table = run_position(str(real_data), "smoke", overrides=tracking)
    assert 0.0 <= table.loc["01", "AOGM"] < 0.5 * table.loc["01", "gt_edges"]


def test_mlflow_run_of_the_entry_point(tracking, tmp_path):
    """`mlflow run` without conda, as the README shows; a bad parameter fails the run with its name."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    overrides = f"data.data_dir={tracking['data.data_dir']}"
    command = [sys.executable, "-m", "mlflow", "run", str(PROJECT), "-e", "position", "--env-manager", "local"]
    common = ["-P", "dataset=synth-hela", "-P", "profile=smoke", "-P", f"overrides={overrides}"]
    done = subprocess.run(command + common, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    _, run = last_run()
    assert run.info.status == "FINISHED" and "AOGM" in run.data.metrics

    bad = subprocess.run(command + common + ["-P", "seed=abc"], env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0
    assert "--seed" in bad.stderr and "abc" in bad.stderr
    _, run = last_run()
    assert run.info.status == "FAILED"
