"""Sweeps: grid files (expansion and validation) and running a grid (child runs, resume, failures)."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from benchmark.cli import main
from benchmark.errors import ConfigError
from benchmark.sweep.grid import expand, load_grid


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


def test_failed_runs_are_loud_and_rerunning_redoes_just_them(tracking, tmp_path, tiny_ctc, capsys):
    later = tmp_path / "later"  # a dataset folder that does not exist yet: its runs fail the first time
    grid = write_grid(
        tmp_path, profile="smoke", datasets=[str(later)], seeds=[0], methods=["attrackt"],
        overrides={"data.data_dir": tracking["data.data_dir"]},
    )
    assert main(["sweep", "--grid", grid, "--workers", "2"]) == 1
    printed = capsys.readouterr()
    assert f"sweep {grid}: 1 failed, 1 blocked" in printed.out
    lines = printed.err.splitlines()
    assert lines[0].startswith("2 of 2 runs did not finish (sweep run ")
    client = MlflowClient()
    sweep_id = lines[0].split("sweep run ")[1].rstrip("):")
    sweep = client.get_run(sweep_id)
    assert sweep.info.status == "FAILED" and "2 of 2 runs did not finish" in sweep.data.tags["error"]
    [failed] = client.search_runs([sweep.info.experiment_id], f"tags.sweep_run = '{sweep_id}'")  # attrackt never started
    error = failed.data.tags["error"]  # names the missing folder; printed with the run's name and id
    assert failed.info.status == "FAILED" and str(later) in error
    assert lines[1] == f"  failed  autoencoder-{later}-0 (run {failed.info.run_id}): {error}"
    assert lines[2] == f"  blocked attrackt-{later}-0: needs autoencoder-{later}-0, which failed"
    rerun = shlex.split(lines[3].removeprefix("Rerun just these (finished runs are skipped): "))
    assert rerun[:3] == [sys.executable, "-m", "benchmark.cli"] and len(lines) == 4

    shutil.copytree(tiny_ctc.root, later)
    assert main(rerun[3:]) == 0
    assert f"sweep {grid}: 2 finished" in capsys.readouterr().out
    sweep = client.get_run(sweep_id)
    assert sweep.info.status == "FINISHED" and "error" not in sweep.data.tags
    assert main(["sweep", "--grid", grid]) == 0  # again: both finished before, neither is redone
    assert f"sweep {grid}: 2 skipped" in capsys.readouterr().out
    runs = client.search_runs([sweep.info.experiment_id], f"tags.sweep_run = '{sweep_id}'")
    assert sorted((run.data.tags["method"], run.info.status) for run in runs) == [
        ("attrackt", "FINISHED"), ("autoencoder", "FAILED"), ("autoencoder", "FINISHED"),
    ]
