"""The report: tables, figures and index built from a hand-made set of MLflow runs with known metrics."""

from __future__ import annotations

import shlex
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from benchmark.cli import build_parser, main
from benchmark.errors import ConfigError
from benchmark.report import build_report
from benchmark.report.tables import TABLE1_METHODS, TABLE1_METRICS

SEEDS = (0, 1)
LABELS = list(TABLE1_METHODS.values())
PAPER_COLUMNS = {"AOGM", "MBC", "Div F1", "TRA"}  # SPEC section 8
#: (dataset, method) pairs with Table 1 runs; autoencoder is missing on purpose.
TABLE1_RUNS = [(d, m) for d in ("hela", "synth-bacteria") for m in ("position", "reid", "attrackt", "supervised")]
#: (dataset, method, setup, sampling, k) of the fine-tuning runs.
FINETUNE_RUNS = [
    *(("synth-bacteria", "finetune", "interpolation", s, k) for s in ("confidence", "random") for k in ("10", "100", "all")),
    *(("synth-bacteria", "scratch", "interpolation", "confidence", k) for k in ("10", "100", "all")),
    *(("synth-bacteria", "finetune", "extrapolation", "confidence", k) for k in ("10", "all")),
    *(("hela", "finetune", "interpolation", "confidence", k) for k in ("10", "100")),
]
ANNOTATIONS_ALL = {0: 500, 1: 520}  # k = all: annotation count by seed


class Store:
    """The hand-made runs: what was logged, per run id, and the ids of note."""

    def __init__(self, client: MlflowClient, experiment_id: str) -> None:
        self.client, self.experiment_id = client, experiment_id
        self.logged: dict[str, dict] = {}
        self.clock = 1_700_000_000_000
        self.rng = np.random.default_rng(7)

    def add(self, status: str = "FINISHED", metrics: dict[str, float] | None = None, params: dict[str, str] | None = None,
            **tags: str) -> str:
        """A run with ``tags`` (profile quick and linking.optimal true unless given), ``params`` and metrics
        (random Table 1 metrics by default)."""
        self.clock += 1000
        tags = {"profile": "quick", "linking.optimal": "true", **tags}
        run = self.client.create_run(self.experiment_id, start_time=self.clock, tags={k: v for k, v in tags.items() if v})
        run_id = run.info.run_id
        if metrics is None:
            metrics = {name: float(self.rng.uniform(0, 1) if decimals == 3 else self.rng.uniform(0, 400))
                       for _, name, decimals in TABLE1_METRICS}
        logged = [Metric(name, value, self.clock, 0) for name, value in {**metrics, "01/AOGM": -1.0}.items()]
        params = {**({"annotations": str(ANNOTATIONS_ALL[int(tags["seed"])])} if tags.get("k") == "all" else {}), **(params or {})}
        self.client.log_batch(run_id, metrics=logged, params=[Param(key, value) for key, value in params.items()])
        self.client.set_terminated(run_id, status)
        self.logged[run_id] = {**tags, **metrics}
        return run_id

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_dict(self.logged, orient="index")


@pytest.fixture(scope="module")
def store(tracking) -> Store:
    client = MlflowClient()
    made = Store(client, client.get_experiment_by_name("tests").experiment_id)
    made.sweep = made.add(entry_point="sweep", metrics={})
    made.superseded = made.add(method="position", dataset="hela", seed="0", metrics={"AOGM": 1e6})
    for dataset, method in TABLE1_RUNS:
        sweep = {"sweep_run": made.sweep} if dataset == "synth-bacteria" else {}
        for seed in SEEDS:
            made.add(method=method, dataset=dataset, seed=str(seed), **sweep)
    for dataset, method, setup, sampling, k in FINETUNE_RUNS:
        for seed in SEEDS:
            made.add(method=method, dataset=dataset, setup=setup, sampling=sampling, k=k, seed=str(seed),
                     metrics={"AOGM": float(made.rng.uniform(1, 300))})
    made.failed = made.add("FAILED", method="position", dataset="synth-bacteria", seed="2", sweep_run=made.sweep,
                           error="LinkingError: no solution", metrics={})
    for run_id in (made.sweep, made.superseded, made.failed):
        made.logged.pop(run_id)
    return made


@pytest.fixture(scope="module")
def report(store, tmp_path_factory) -> Path:
    return build_report(None, "tests", tmp_path_factory.mktemp("report") / "out")


def read_markdown_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """(columns, rows) of the one table in a Markdown file written by the report."""
    lines = [line.strip() for line in path.read_text().splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]
    return cells[0], cells[2:]


def expected_cell(values: pd.Series, decimals: int) -> str:
    values = values.astype(float).tolist()
    return f"{statistics.mean(values):.{decimals}f} ± {statistics.stdev(values):.{decimals}f}"


@pytest.mark.parametrize("dataset", ["hela", "synth-bacteria"])
def test_table1_rows_columns_and_numbers(store, report, dataset):
    columns, rows = read_markdown_table(report.parent / "tables" / f"table1_{dataset}_quick.md")
    paper = dataset == "hela"
    expected_columns = ["Method", "n"]
    for label, _, _ in TABLE1_METRICS:
        expected_columns += [label, f"{label} paper"] if paper and label in PAPER_COLUMNS else [label]
    assert columns == expected_columns
    assert [row[0] for row in rows] == LABELS
    logged = store.frame()
    for method, row in zip(TABLE1_METHODS, rows):
        cells = dict(zip(columns, row))
        runs = logged[(logged["dataset"] == dataset) & (logged["method"] == method) & logged["k"].isna()]
        assert cells["n"] == str(len(runs))
        for label, metric, decimals in TABLE1_METRICS:
            assert cells[label] == (expected_cell(runs[metric], decimals) if len(runs) else "—"), (method, label)


def test_paper_numbers_beside_ours_for_hela_only(report):
    hela = (report.parent / "tables" / "table1_hela_quick.md").read_text()
    columns, rows = read_markdown_table(report.parent / "tables" / "table1_hela_quick.md")
    cells = {row[0]: dict(zip(columns, row)) for row in rows}
    assert cells["Position only"]["AOGM paper"] == "352.5"
    assert cells["Pos. & Sup. Assoc."]["Div F1 paper"] == "0.906"
    assert cells["Pos. & A.E. Emb."]["AOGM paper"] == "642.8" and cells["Pos. & A.E. Emb."]["AOGM"] == "—"
    assert "Table 1 of the paper" in hela
    synthetic = (report.parent / "tables" / "table1_synth-bacteria_quick.md").read_text()
    assert "paper" not in read_markdown_table(report.parent / "tables" / "table1_synth-bacteria_quick.md")[0][3]
    assert "do not apply" in synthetic


def test_finetune_table(store, report):
    columns, rows = read_markdown_table(report.parent / "tables" / "finetune_synth-bacteria_quick.md")
    assert columns == ["Setup", "Sampling", "Init", "n", "k=10", "k=100", "k=all"]
    assert [row[:4] for row in rows] == [
        ["interpolation", "confidence", "pre-trained (LoRA)", "2"],
        ["interpolation", "confidence", "from scratch", "2"],
        ["interpolation", "random", "pre-trained (LoRA)", "2"],
        ["extrapolation", "confidence", "pre-trained (LoRA)", "2"],
    ]
    logged = store.frame()
    chosen = logged[(logged["dataset"] == "synth-bacteria") & (logged["method"] == "scratch") & (logged["k"] == "100")]
    assert rows[1][5] == expected_cell(chosen["AOGM"], 1)
    assert rows[3][5] == "—"  # no extrapolation run with k = 100
    text = (report.parent / "tables" / "finetune_synth-bacteria_quick.md").read_text()
    assert "k = all: 510 annotations (interpolation), 510 annotations (extrapolation)." in text

    columns, rows = read_markdown_table(report.parent / "tables" / "finetune_hela_quick.md")
    paper = {row[1]: row[4:] for row in rows if row[2] == "paper (Fig. 2)"}
    assert columns[4:] == ["k=10", "k=100"] and paper == {"confidence": ["232", "194"], "random": ["231", "221"]}


def test_every_table_in_three_formats(report):
    tex = (report.parent / "tables" / "table1_hela_quick.tex").read_text()
    assert r"\begin{tabular}" in tex and r"Pos. \& Sup. Assoc." in tex and r"$\pm$" in tex
    html = (report.parent / "tables" / "table1_hela_quick.html").read_text()
    assert html.count("<tr>") == 1 + len(LABELS) and "Pos. &amp; Sup. Assoc." in html
    stems = {path.stem for path in (report.parent / "tables").iterdir()}
    for stem in stems:
        assert {p.suffix for p in (report.parent / "tables").glob(f"{stem}.*")} == {".md", ".html", ".tex"}


def test_figures_place_all_at_the_annotation_count(report):
    figures = report.parent / "figures"
    for name in ("figure2.png", "figure2.svg", "figure3.png", "figure3.svg"):
        assert (figures / name).stat().st_size > 1000
    points = pd.read_csv(figures / "aogm_vs_k.csv", dtype={"k": str})
    at_all = points[(points["k"] == "all") & (points["setup"] == "interpolation")]
    assert set(at_all["x"]) == {510.0} and set(at_all["n"]) == {2}


def test_index_links_everything_and_lists_failures(store, report):
    index = report.read_text()
    markdown = report.with_suffix(".md").read_text()
    files = [path for path in report.parent.rglob("*") if path.is_file() and path.stem != "index"]
    assert len(files) > 10
    for path in files:
        reference = path.relative_to(report.parent).as_posix()
        assert f'"{reference}"' in index and f"({reference})" in markdown, reference
    assert store.failed in index and store.failed in markdown and "LinkingError: no solution" in index
    assert "without labels" in index and "experiment 'tests'" in markdown
    used = pd.read_csv(report.parent / "runs.csv")
    assert set(used["run_id"]) == set(store.logged)  # neither the superseded, the failed nor the sweep run


def test_sweep_report_uses_only_its_runs_and_is_attached(store, tmp_path, capsys):
    output = tmp_path / "sweep"
    assert main(["report", "--sweep-run", store.sweep, "--output", str(output)]) == 0
    assert str(output / "index.html") in capsys.readouterr().out
    used = pd.read_csv(output / "runs.csv")
    assert set(used["run_id"]) == {i for i, run in store.logged.items() if run.get("sweep_run") == store.sweep}
    assert sorted(path.name for path in (output / "tables").glob("*.md")) == ["table1_synth-bacteria_quick.md"]
    index = (output / "index.html").read_text()
    assert "Skipped: no finished run of finetune, scratch" in index and store.failed in index
    attached = {item.path for item in MlflowClient().list_artifacts(store.sweep, "report")}
    assert "report/index.html" in attached and "report/tables" in attached


def test_no_runs_is_a_config_error(store, tmp_path, capsys):
    MlflowClient().create_experiment("empty")
    with pytest.raises(ConfigError, match="no runs of a benchmark method"):
        build_report(None, "empty", tmp_path)
    assert main(["report", "--experiment", "nowhere", "--output", str(tmp_path)]) == 2
    assert "experiment='nowhere'" in capsys.readouterr().err


def test_mlproject_entry_point_matches_the_cli():
    entry = yaml.safe_load((Path(__file__).parents[1] / "MLproject").read_text())["entry_points"]["report"]
    defaults = {name: spec["default"] for name, spec in entry["parameters"].items()}
    assert defaults == {"sweep_run": "", "experiment": "", "output": "reports", "include_non_optimal": "false"}
    command = shlex.split(entry["command"].format(**{k: shlex.quote(v) for k, v in defaults.items()}))
    args = build_parser().parse_args(command[3:])
    assert (args.command, args.sweep_run, args.experiment, args.output) == ("report", "", "", "reports")
    assert args.include_non_optimal == "false" and build_parser().parse_args(["report", "--include-non-optimal"]).include_non_optimal == "true"


def test_only_failed_runs_give_an_index_without_tables(store, tmp_path):
    client = MlflowClient()
    run = client.create_run(client.create_experiment("failed-only"), tags={"method": "attrackt", "dataset": "hela"})
    client.set_terminated(run.info.run_id, "FAILED")
    index = build_report(None, "failed-only", tmp_path).read_text()
    assert run.info.run_id in index and index.count("Skipped:") == 4
    assert not list((tmp_path / "tables").glob("*"))


# --- configurations, optimality and leakage: what tables and figures keep apart and mark ------------------


@pytest.fixture(scope="module")
def variants(tracking) -> Store:
    """Runs on synth-bacteria that differ in configuration, optimality and leakage, with known AOGM."""
    client = MlflowClient()
    made = Store(client, client.create_experiment("variants"))

    def add(method: str, seed: int, aogm: float, params: dict[str, str] | None = None, **tags: str) -> str:
        return made.add(method=method, dataset="synth-bacteria", seed=str(seed), metrics={"AOGM": aogm}, params=params, **tags)

    made.duplicate = add("position", 0, 999.0)  # the same configuration and seed as a later run
    made.kept = add("position", 0, 100.0)
    add("position", 1, 110.0)
    for seed, aogm in ((0, 50.0), (1, 60.0)):
        add("position", seed, aogm, {"linking.w1": "2.0"})  # a later variant does not replace the defaults
    for seed, aogm in ((0, 20.0), (1, 30.0)):
        add("attrackt", seed, aogm)
    add("attrackt", 2, 500.0, **{"linking.optimal": "false"})  # stopped at its time limit
    add("attrackt", 3, 40.0, **{"linking.optimal": ""})  # made before the tag existed
    add("reid", 0, 70.0, {"linking.solver": "greedy"}, **{"linking.optimal": ""})  # greedy: never optimal
    add("supervised", 0, 5.0, {"data.allow_train_eval_overlap": "True"}, **{"leakage.train_eval_overlap": "true"})
    for seed, aogm, optimal in ((0, 10.0, "true"), (1, 12.0, "true"), (2, 300.0, "false")):
        add("finetune", seed, aogm, k="10", sampling="confidence", setup="interpolation", **{"linking.optimal": optimal})
    return made


def table_cells(path: Path) -> dict[str, dict[str, str]]:
    columns, rows = read_markdown_table(path)
    return {f"{row[0]} [{row[1]}]" if row[1] else row[0]: dict(zip(columns, row)) for row in rows}


def test_variants_optimality_and_leakage_are_rows_and_marks(variants, tmp_path, capsys):
    index = build_report(None, "variants", tmp_path)
    printed = capsys.readouterr().out
    table = tmp_path / "tables" / "table1_synth-bacteria_quick.md"
    assert read_markdown_table(table)[0][:3] == ["Method", "Differs", "n"]
    cells = {label: (row["n"], row["AOGM"]) for label, row in table_cells(table).items()}
    assert cells == {
        "Position only": ("2", "105.0 ± 7.1"),
        "Position only [linking.w1=2.0]": ("2", "55.0 ± 7.1"),
        "Pos. & Re-ID Emb.": ("0", "—"),
        "Pos. & Re-ID Emb. † [linking.solver=greedy]": ("1", "70.0"),
        "Pos. & A.E. Emb.": ("0", "—"),
        "Pos. & Unsup. Assoc. (Attrackt) ?": ("3", "30.0 ± 10.0"),  # the time-limited run is kept out
        "Pos. & Unsup. Assoc. (Attrackt) †": ("1", "500.0"),
        "Pos. & Sup. Assoc.": ("0", "—"),
        "Pos. & Sup. Assoc. § [data.allow_train_eval_overlap=True]": ("1", "5.0"),
    }
    text = table.read_text()
    for note in ("† links not proven optimal", "kept out of the other rows' means", "? includes runs that do not record",
                 "§ trained with ground truth on its evaluation sequences", "Differs: the fields"):
        assert note in text, note
    columns, rows = read_markdown_table(tmp_path / "tables" / "finetune_synth-bacteria_quick.md")
    assert [(row[2], row[3], row[4]) for row in rows] == [("pre-trained (LoRA)", "2", "11.0 ± 1.4"), ("pre-trained (LoRA) †", "1", "300.0")]
    points = pd.read_csv(tmp_path / "figures" / "aogm_vs_k.csv", dtype={"k": str}, keep_default_na=False)
    assert sorted(zip(points["apart"], points["mean"], points["marks"])) == [(False, 11.0, ""), (True, 300.0, "†")]

    dropped = pd.read_csv(tmp_path / "dropped.csv")  # never dropped without saying so: listed, printed, in the index
    assert list(dropped["run_id"]) == [variants.duplicate]
    assert dropped["reason"][0] == f"same configuration and seed as the later run {variants.kept}"
    assert f"left out run {variants.duplicate} " in printed and variants.duplicate in index.read_text()
    used = pd.read_csv(tmp_path / "runs.csv", keep_default_na=False)
    assert variants.duplicate not in set(used["run_id"]) and len(used) == len(variants.logged) - 1
    assert set(used.loc[used["method"] == "attrackt", "optimal"]) == {"true", "false", "unknown"}
    assert " 1 of the runs used do not record whether their links are optimal" in index.read_text()  # greedy is known


def test_include_non_optimal_averages_them_in_and_marks_the_row(variants, tmp_path):
    assert main(["report", "--experiment", "variants", "--output", str(tmp_path), "--include-non-optimal"]) == 0
    table = tmp_path / "tables" / "table1_synth-bacteria_quick.md"
    cells = table_cells(table)
    assert (cells["Pos. & Unsup. Assoc. (Attrackt) †?"]["n"], cells["Pos. & Unsup. Assoc. (Attrackt) †?"]["AOGM"]) == (
        "4", expected_cell(pd.Series([20.0, 30.0, 40.0, 500.0]), 1))
    assert "averaged in as asked" in table.read_text()
    points = pd.read_csv(tmp_path / "figures" / "aogm_vs_k.csv", keep_default_na=False)
    assert list(zip(points["apart"], points["mean"], points["n"], points["marks"])) == [(False, 107.33333333333333, 3, "†")]
