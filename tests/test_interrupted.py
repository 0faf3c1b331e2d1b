"""Interrupted work: a sweep killed mid-run resumes cleanly, and a failed checkpoint write leaves no trace."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from attrackt.training import load_checkpoint, save_checkpoint
from benchmark.sweep.runner import run_sweep

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def artifact_files(run) -> dict[str, str]:
    """Relative path -> sha256 of every artifact file of ``run`` (file store)."""
    root = Path(unquote(urlparse(run.info.artifact_uri).path))
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def process_group_ends(group: int, timeout_s: float = 10.0) -> bool:
    """Whether every process of ``group`` is gone within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def wait_for_training(
    client: MlflowClient, experiment_id: str, sweep: subprocess.Popen, log: Path, timeout_s: float = 240.0
):
    """The attrackt run once it is RUNNING and has logged a training metric (fails if the sweep ends first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert sweep.poll() is None, f"the sweep ended before it could be killed:\n{log.read_text()[-3000:]}"
        runs = client.search_runs([experiment_id], "tags.entry_point = 'attrackt' and attributes.status = 'RUNNING'")
        if runs and any(key.startswith("attrackt/") for key in runs[0].data.metrics):
            return runs[0]
        time.sleep(0.2)
    raise AssertionError("the attrackt run did not start training in time")


def test_sweep_killed_mid_run_resumes_without_losing_finished_runs(tracking, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({
        "profile": "smoke", "datasets": ["synth-bacteria"], "seeds": [0],
        "methods": ["position", "autoencoder", "attrackt"],
        "overrides": {"data.data_dir": tracking["data.data_dir"], "attrackt.iterations": 150},
    }))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    log = tmp_path / "sweep.log"
    with log.open("w") as output:
        sweep = subprocess.Popen(
            [sys.executable, "-m", "benchmark.cli", "sweep", "--grid", str(grid)],
            cwd=PROJECT_ROOT, env=env, start_new_session=True, stdout=output, stderr=subprocess.STDOUT,
        )
    client = MlflowClient()
    experiment_id = client.get_experiment_by_name("tests").experiment_id
    try:
        killed = wait_for_training(client, experiment_id, sweep, log)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)  # the sweep and the entry point it started (one session)
        sweep.wait()
    assert process_group_ends(sweep.pid), "the entry point outlived its sweep"
    sweep_run_id = killed.data.tags["sweep_run"]
    finished = f"tags.sweep_run = '{sweep_run_id}' and attributes.status = 'FINISHED'"
    before = {run.data.tags["entry_point"]: run for run in client.search_runs([experiment_id], finished)}
    assert set(before) == {"position", "autoencoder"}
    files_before = {name: artifact_files(run) for name, run in before.items()}
    assert "metrics.csv" in files_before["position"] and "embeddings.parquet" in files_before["autoencoder"]

    result = run_sweep(str(grid), workers=1)

    assert result.sweep_run_id == sweep_run_id
    outcomes = {o.spec.entry_point: o for o in result.outcomes}
    assert {name: o.status for name, o in outcomes.items()} == {
        "position": "skipped", "autoencoder": "skipped", "attrackt": "finished"
    }
    assert all(outcomes[name].run_id == run.info.run_id for name, run in before.items())
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    assert client.get_run(sweep_run_id).info.status == "FINISHED"
    children = client.search_runs([experiment_id], f"tags.sweep_run = '{sweep_run_id}'")
    finished_hashes = [run.data.tags["config_hash"] for run in children if run.info.status == "FINISHED"]
    assert sorted(finished_hashes) == sorted(o.spec.config_hash() for o in result.outcomes)  # each exactly once
    assert len(children) == 4  # three finished, one killed
    for name, run in before.items():
        assert artifact_files(client.get_run(run.info.run_id)) == files_before[name]


def test_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, {"config": {}, "state_dict": {"w": torch.ones(3)}, "step": 1})
    real_save = torch.save

    def dies_midway(obj, target, *args, **kwargs):
        Path(target).write_bytes(b"PK\x03\x04 partial")  # a torn write
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"config": {}, "state_dict": {"w": torch.zeros(3)}, "step": 2})
    monkeypatch.setattr(torch, "save", real_save)
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary file left behind
    checkpoint = load_checkpoint(path)
    assert checkpoint["step"] == 1 and torch.equal(checkpoint["state_dict"]["w"], torch.ones(3))
