"""Committed results files: a sweep exported from MLflow, the README's generated tables rendered
from the file, and the check that fails when a published number differs from it."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from benchmark.errors import ConfigError, DataError
from benchmark.report.export import export_sweep
from benchmark.report.readme import render
from benchmark.results import read_results, write_results
from scripts.render_readme import main as render_readme

MACHINE = {"machine.cpu": "Test CPU", "machine.cpu_count": "2", "machine.os": "Linux"}
VERSIONS = {"version.python": "3.11.9", "version.torch": "2.13.0"}
#: (method, dataset, k, sampling, AOGM) of the fake sweep's runs (seed 0, interpolation setup).
RUNS = [
    ("position", "synth-bacteria", "", "", 152.5),
    ("position", "synth-hela", "", "", 102.0),
    ("attrackt", "synth-bacteria", "", "", 101.0),
    ("attrackt", "synth-hela", "", "", 9.5),
    ("finetune", "synth-bacteria", "10", "confidence", 91.0),
    ("finetune", "synth-bacteria", "all", "confidence", 0.0),
    ("finetune", "synth-bacteria", "100", "confidence", 58.0),
    ("finetune", "synth-hela", "10", "confidence", 13.5),
]


def fake_sweep(machines: list[dict[str, str]] | None = None) -> str:
    """A finished sweep run of grid ``quick`` with RUNS as its finished children, as the sweep logs them;
    ``machines``: each child's machine params (default MACHINE for all)."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name("tests").experiment_id
    sweep = client.create_run(experiment, tags={"entry_point": "sweep", "grid": "quick"}).info.run_id
    for number, (method, dataset, k, sampling, aogm) in enumerate(RUNS):
        tags = {"entry_point": method, "method": method, "dataset": dataset, "profile": "quick", "seed": "0",
                "sweep_run": sweep, "git_commit": "a" * 40, "mlflow.runName": f"{method}-{dataset}-{number}"}
        if k:
            tags |= {"k": k, "sampling": sampling, "setup": "interpolation"}
        run = client.create_run(experiment, tags=tags).info.run_id
        params = {**(machines[number] if machines else MACHINE), **VERSIONS, "threads": "1"}
        for key, value in params.items():
            client.log_param(run, key, value)
        client.log_metric(run, "AOGM", aogm)
        client.log_metric(run, "TRA", 0.99)
        client.log_metric(run, "02/AOGM", aogm)  # per sequence: not exported
        client.set_terminated(run)
    client.set_terminated(sweep)
    return sweep


README = """# Title

Some text.

<!-- BEGIN generated: main-job -->
stale table
<!-- END generated: main-job -->

More text.
"""


def test_a_sweep_exports_and_renders_into_the_readme(tracking, tmp_path):
    sweep = fake_sweep()
    path = export_sweep(sweep, tmp_path / "results")
    results = read_results(path)
    assert path.name == f"quick-{results['date'][:10]}.json"
    assert results["machine"] == {"cpu": "Test CPU", "cpu_count": "2", "os": "Linux"}
    assert results["versions"] == {"python": "3.11.9", "torch": "2.13.0"} and results["git_commit"] == "a" * 40
    assert sweep in results["source"] and results["not_finished"] == []
    assert len(results["rows"]) == len(RUNS) and all("02/AOGM" not in row for row in results["rows"])
    assert {(row["method"], row["dataset"], row["k"], row["AOGM"], row["threads"]) for row in results["rows"]} == {
        (method, dataset, k, aogm, 1) for method, dataset, k, _, aogm in RUNS
    }

    text = render(README, tmp_path, tmp_path / "README.md")
    assert text.startswith("# Title\n\nSome text.\n\n<!-- BEGIN generated: main-job -->\n| method | synth-bacteria | synth-hela |")
    assert text.endswith("<!-- END generated: main-job -->\n\nMore text.\n") and "stale" not in text
    assert "| Position only | 152.5 | 102.0 |" in text
    assert "| Pos. & Unsup. Assoc. (Attrackt) | 101.0 | 9.5 |" in text
    assert "| Attrackt fine-tuned, k = 10 / 100 / all, confidence sampling, interpolation | 91.0 / 58.0 / 0.0 | 13.5 / — / — |" in text
    assert f"Source: [results/{path.name}](results/{path.name}), measured {results['date']} on Test CPU, 2 cores" in text
    assert render(text, tmp_path, tmp_path / "README.md") == text  # rendering is stable


def test_the_check_fails_on_a_number_that_differs_from_the_results(tracking, tmp_path, monkeypatch, capsys):
    export_sweep(fake_sweep(), tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text(README)
    monkeypatch.setattr("scripts.render_readme.ROOT", tmp_path)
    assert render_readme(["--check", "--file", str(readme)]) == 1
    assert render_readme(["--write", "--file", str(readme)]) == 0
    assert render_readme(["--check", "--file", str(readme)]) == 0
    readme.write_text(readme.read_text().replace("| 152.5 |", "| 150.0 |"))
    capsys.readouterr()
    assert render_readme(["--check", "--file", str(readme)]) == 1
    out, err = capsys.readouterr()
    assert "-| Position only | 150.0 | 102.0 |" in out and "+| Position only | 152.5 | 102.0 |" in out
    assert "differs from its committed results" in err


def test_a_block_without_a_results_file_or_an_end_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"results/quick-2\*\.json: no committed results file matches"):
        render(README, tmp_path, tmp_path / "README.md")
    with pytest.raises(DataError, match=r"README.md:3: generated block 'main-job' has no line"):
        render("a\n\n<!-- BEGIN generated: main-job -->\nx\n", tmp_path, tmp_path / "README.md")
    with pytest.raises(DataError, match=r"README.md:1: unknown generated block 'nope'"):
        render("<!-- BEGIN generated: nope -->\n<!-- END generated: nope -->\n", tmp_path, tmp_path / "README.md")


def test_runs_from_different_machines_are_not_exported_as_one_result(tracking, tmp_path):
    other = {**MACHINE, "machine.cpu": "Other CPU"}
    sweep = fake_sweep([MACHINE] * (len(RUNS) - 1) + [other])
    with pytest.raises(ConfigError, match=r"the runs differ in params.machine.cpu \(Other CPU, Test CPU\)"):
        export_sweep(sweep, tmp_path)


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda doc: doc.pop("machine"), r"without field\(s\) machine"),
        (lambda doc: doc.update(date="yesterday"), "field date"),
        (lambda doc: doc.update(date="2026-12-01T10:00:00"), "UTC offset"),
        (lambda doc: doc.update(date="2026-12-01"), None),  # a date alone is fine
        (lambda doc: doc["rows"].append({"nested": {"a": 1}}), r"rows\[1\]: nested must be plain values"),
        (lambda doc: doc.update(schema=99), "field schema"),
    ],
)
def test_a_malformed_results_file_names_the_field(tmp_path, change, named):
    """Each bad field is named; a date without a time is accepted."""
    path = write_results(tmp_path / "r.json", [{"AOGM": 1.0}], source="test")
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    if named is None:
        assert read_results(path)["date"] == "2026-12-01"
        return
    with pytest.raises(DataError, match=named):
        read_results(path)


def test_the_benchmark_blocks_render_from_their_results_files(tmp_path):
    """``ilp``: one row per instance (a B&B that hit its limit as a lower bound); ``backbone``: one row
    per profile and measure; of two files with the same date the last by name is used."""
    ilp_row = {"instance": "hela", "nodes": 25207, "frame_pairs": 91, "fractional_frame_pairs": 0,
               "ilp_over_lp": 0.2027, "bnb_whole_over_lp": 3.30, "bnb_whole_status": "optimal",
               "objective_difference_vs_bnb": 0.0}
    stopped = {**ilp_row, "instance": "bacteria-w2neg", "nodes": 6063, "fractional_frame_pairs": 19,
               "ilp_over_lp": 0.4958, "bnb_whole_over_lp": 72.92, "bnb_whole_status": "time_limit",
               "objective_difference_vs_bnb": -5.194}
    write_results(tmp_path / "bench/results/ilp-2026-12-03.json", [ilp_row, stopped], source="test", date="2026-12-03")
    backbone = {"device": "CPU (Test)", "threads": 1, "profile": "quick", "note": "median of 6", "measure": "training",
                "batch": "synth-hela", "windows": 8, "ours_s": 1.0, "trackastra_s": 1.5, "ratio": 1.5}
    inference = {**backbone, "measure": "inference", "batch": None, "tta": True, "frames": 60, "windows": 1,
                 "ours_s": 2.0, "trackastra_s": 2.2, "ratio": 1.1}
    for name, ratio in (("backbone-2026-12-03-a.json", 9.0), ("backbone-2026-12-03-b.json", 1.5)):
        write_results(tmp_path / "bench/results" / name, [{**backbone, "ratio": ratio}, inference], source="test",
                      date="2026-12-03")
    readme = ("<!-- BEGIN generated: ilp -->\n<!-- END generated: ilp -->\n\n"
              "<!-- BEGIN generated: backbone -->\n<!-- END generated: backbone -->\n")

    text = render(readme, tmp_path, tmp_path / "README.md")
    assert "| HeLa-size synthetic | 25,207 | 0 of 91 | 0.20 | 3.30 |" in text
    assert "| Bacteria-size, w2 = −1 | 6,063 | 19 of 91 | 0.50 | > 73 (time limit; its best solution 5.19 worse) |" in text
    assert "Source: [bench/results/ilp-2026-12-03.json](bench/results/ilp-2026-12-03.json), measured 2026-12-03" in text
    assert "| quick | training step, synth-hela batch (8 windows) | 1.00 | 1.50 | 1.50× |" in text
    assert "| quick | inference with TTA, 60 frames (1 window) | 2.00 | 2.20 | 1.10× |" in text
    assert "backbone-2026-12-03-b.json" in text and "-a.json" not in text and "9.00×" not in text
    assert "CPU (Test), 1 thread; quick: median of 6." in text and "seed" not in text
    assert render(text, tmp_path, tmp_path / "README.md") == text
