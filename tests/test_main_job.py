"""The main job end to end on a smoke grid: every entry point of the dependency chain runs as a child
of one sweep run, artifacts are reused, and the report is built from exactly those runs; a main job
with a failed run ends with a non-zero status through scripts/main.sh."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from benchmark.cli import main


@pytest.fixture
def smoke_grid(tracking, tmp_path) -> Path:
    grid = yaml.safe_load((Path(__file__).parent.parent / "benchmark" / "grids" / "smoke.yaml").read_text())
    grid["methods"] = ["position", "supervised", "autoencoder", "attrackt"]
    grid["overrides"] = {"data.data_dir": tracking["data.data_dir"]}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path


def test_main_job_runs_the_grid_and_reports_it(smoke_grid, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["main", "--grid", str(smoke_grid), "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "Report: reports/index.html" in printed and "mlflow ui" in printed and "127.0.0.1" in printed

    client = MlflowClient()
    experiment = client.get_experiment_by_name("tests").experiment_id
    [sweep] = client.search_runs([experiment], "tags.entry_point = 'sweep'")
    assert sweep.info.status == "FINISHED"
    children = client.search_runs([experiment], f"tags.sweep_run = '{sweep.info.run_id}'")
    by_method = {run.data.tags["method"]: run for run in children}
    assert sorted(by_method) == ["attrackt", "autoencoder", "finetune", "position", "scratch", "supervised"]
    assert all(run.info.status == "FINISHED" for run in children) and len(children) == 6
    # artifacts are reused along the chain, not retrained
    assert by_method["attrackt"].data.params["resolved.autoencoder_run"] == by_method["autoencoder"].info.run_id
    for method in ("finetune", "scratch"):
        assert by_method[method].data.params["resolved.attrackt_run"] == by_method["attrackt"].info.run_id
        assert by_method[method].data.tags["k"] == "10" and by_method[method].data.tags["setup"] == "interpolation"
    # training from scratch annotates the fine-tuned run's nodes but takes no pseudo-labels of the pre-trained model
    finetune, scratch = by_method["finetune"].data.params, by_method["scratch"].data.params
    assert scratch["annotations.source"] == finetune["annotations.source"]
    assert by_method["attrackt"].info.run_id in finetune["pseudo_labels.source"]
    assert scratch["pseudo_labels"] == "0" and scratch["pseudo_labels.source"].startswith("none")
    annotated = [
        pd.read_csv(client.download_artifacts(by_method[m].info.run_id, "annotations.csv", str(tmp_path / m)))
        for m in ("finetune", "scratch")
    ]
    nodes = [table[["sequence", "node_id"]] for table in annotated]
    assert len(nodes[0]) == 10 and nodes[0].equals(nodes[1])

    reports = tmp_path / "reports"
    table1 = (reports / "tables").glob("table1*.md")
    text = "\n".join(path.read_text() for path in table1)
    for method, label in (("position", "Position only"), ("attrackt", "Attrackt"), ("supervised", "Sup. Assoc.")):
        assert label in text
        assert f"{by_method[method].data.metrics['AOGM']:.1f}" in text
    for figure in ("figure2", "figure3"):
        assert (reports / "figures" / f"{figure}.png").stat().st_size > 0
    used = pd.read_csv(reports / "runs.csv")
    assert sorted(used["run_id"]) == sorted(run.info.run_id for run in children)
    logged = {f.path for f in client.list_artifacts(sweep.info.run_id, "report")}
    assert "report/index.html" in logged

    assert main(["main", "--grid", str(smoke_grid)]) == 0  # again: everything is skipped
    assert capsys.readouterr().out.count("skipped") >= 6


def test_main_sh_fails_when_a_run_fails(tracking, tmp_path):
    """scripts/main.sh, run from a copy of the project folder whose install step is a no-op (the copy's
    .venv is this one), ends with status 1 and names the failed run and its error."""
    root = Path(__file__).resolve().parents[1]
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(root / "scripts" / "main.sh", project / "scripts" / "main.sh")
    (project / "scripts" / "setup.sh").write_text("#!/usr/bin/env bash\n")  # installed already
    (project / ".venv").symlink_to(Path(sys.executable).parents[1])
    missing = tmp_path / "missing"
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"profile": "smoke", "datasets": [str(missing)], "seeds": [0], "methods": ["position"],
                                    "overrides": {"data.data_dir": tracking["data.data_dir"]}}))
    env = {**os.environ, "MLFLOW_EXPERIMENT_NAME": "main-sh"}
    result = subprocess.run(["bash", str(project / "scripts" / "main.sh"), "--grid", str(grid)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Report: reports/index.html" in result.stdout and (project / "reports" / "index.html").is_file()
    client = MlflowClient()
    [run] = client.search_runs([client.get_experiment_by_name("main-sh").experiment_id], "tags.method = 'position'")
    assert run.info.status == "FAILED" and str(missing) in run.data.tags["error"]
    assert f"  failed  position-{missing}-0 (run {run.info.run_id}): {run.data.tags['error']}" in result.stderr
    assert "Rerun just these (finished runs are skipped): " in result.stderr
