"""Sweeps: grid files (expansion and validation) and running a grid (child runs, resume, failures)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from benchmark.errors import ConfigError
from benchmark.sweep.grid import expand, load_grid
from benchmark.sweep.runner import run_sweep


def write_grid(folder: Path, **fields) -> str:
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(fields))
    return str(path)


def test_named_grids_expand_in_dependency_order():
    smoke = expand(load_grid("smoke"))
    assert [spec.name for spec in smoke] == [
        "position-synth-bacteria-0",
        "autoencoder-synth-bacteria-0",
        "attrackt-synth-bacteria-0",
        "finetune-synth-bacteria-10-confidence-interpolation-0",
        "scratch-synth-bacteria-10-confidence-interpolation-0",
    ]
    assert smoke[2].needs is smoke[1] and smoke[3].needs is smoke[2] and smoke[4].needs is smoke[2]
    paper = expand(load_grid("paper"))
    assert len(paper) == 2 * 10 * (5 + 5 * 3 * 2 + 5 * 2)  # datasets x seeds x (Table 1 + Figure 2 + Figure 3)
    for specs in (paper, expand(load_grid("quick"))):
        position = {spec: i for i, spec in enumerate(specs)}
        assert all(position[spec.needs] < position[spec] for spec in specs if spec.needs is not None)
    assert len({spec.config_hash() for spec in paper}) == len(paper)


def test_needed_runs_are_added_once_per_dataset_and_seed(tmp_path):
    grid = write_grid(
        tmp_path, profile="smoke", datasets=["synth-bacteria", "synth-hela"], seeds=[0, 1],
        finetune={"k": [10, "all"], "sampling": ["random"], "setup": ["extrapolation"]},
    )
    names = [spec.name for spec in expand(load_grid(grid))]
    assert names.count("autoencoder-synth-hela-1") == 1 and names.count("attrackt-synth-hela-1") == 1
    assert "finetune-synth-hela-all-random-extrapolation-1" in names and len(names) == 2 * 2 * 4


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"profile": "fast", "datasets": ["a"], "seeds": [0]}, "profile"),
        ({"profile": "smoke", "datasets": [], "seeds": [0]}, "datasets"),
        ({"profile": "smoke", "datasets": ["a"], "seeds": [0, 0]}, "seeds"),
        ({"profile": "smoke", "datasets": ["a"], "seeds": [-1]}, "seeds"),
        ({"profile": "smoke", "datasets": ["a"], "seeds": [0], "methods": ["magic"]}, "methods.0"),
        ({"profile": "smoke", "datasets": ["a"], "seeds": [0], "colour": "red"}, "colour"),
        ({"profile": "smoke", "datasets": ["a"], "seeds": [0], "finetune": {"k": ["ten"], "sampling": ["random"], "setup": ["interpolation"]}}, "k='ten'"),
        ({"profile": "smoke", "datasets": ["a"], "seeds": [0], "finetune": {"k": [10], "sampling": ["best"], "setup": ["interpolation"]}}, "finetune.sampling"),
        ({"profile": "smoke", "datasets": ["a"], "seeds": [0], "overrides": {"linking.w9": 1}}, "overrides"),
    ],
)
def test_bad_grid_files_name_the_file_and_the_field(tmp_path, fields, message):
    grid = write_grid(tmp_path, **fields)
    with pytest.raises(ConfigError, match="grid") as error:
        load_grid(grid)
    assert str(tmp_path / "grid.yaml") in str(error.value) and message in str(error.value)


def test_unreadable_grids_are_clear_errors(tmp_path):
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "broken.yaml").write_text("profile: [smoke\n")
    for name, message in (("list.yaml", "expected a mapping"), ("broken.yaml", "not valid YAML")):
        with pytest.raises(ConfigError, match=message):
            load_grid(str(tmp_path / name))
    with pytest.raises(ConfigError, match="grid='nowhere'"):
        load_grid("nowhere")


def test_resume_skips_finished_runs_and_redoes_a_failed_one(tracking, tmp_path, real_data):
    later = tmp_path / "later"  # a dataset folder that does not exist yet: its run fails the first time
    grid = write_grid(
        tmp_path, profile="smoke", datasets=["synth-hela", str(later)], seeds=[0], methods=["position"],
        overrides={"data.data_dir": tracking["data.data_dir"]},
    )
    first = run_sweep(grid, workers=2).outcomes
    assert [o.status for o in first] == ["finished", "failed"]
    assert "no such folder" in first[1].message.lower() or str(later) in first[1].message
    client = MlflowClient()
    sweep = client.get_run(client.get_run(first[0].run_id).data.tags["sweep_run"])
    assert sweep.info.status == "FAILED"
    failed = client.get_run(first[1].run_id)
    assert failed.info.status == "FAILED" and "error" in failed.data.tags

    shutil.copytree(real_data, later)
    second = run_sweep(grid, workers=2).outcomes
    assert [o.status for o in second] == ["skipped", "finished"]
    assert second[0].run_id == first[0].run_id
    assert client.get_run(sweep.info.run_id).info.status == "FINISHED"
    children = client.search_runs([sweep.info.experiment_id], f"tags.sweep_run = '{sweep.info.run_id}'")
    finished = [run for run in children if run.info.status == "FINISHED"]
    assert sorted(run.data.tags["dataset"] for run in finished) == sorted(["synth-hela", str(later)])
    assert len(children) == 3  # two finished, one failed
