"""Build the report: collect the runs, write tables, figures and index pages, attach them to the sweep run.

Layout under ``output``: ``index.md``/``index.html``, ``runs.csv`` (the finished runs used, with their
configuration, optimality and leakage), ``dropped.csv`` (finished runs left out, and why; also printed),
``tables/<name>.md|html|tex`` and ``figures/figure2|figure3.png|svg`` with their data in
``figures/aogm_vs_k.csv``. A rebuild replaces ``tables/`` and ``figures/``. Runs whose links are not
proven optimal are kept out of the means of the others unless ``include_non_optimal`` (see
``report.marks``).
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from benchmark.report.figures import curve_points, plot_aogm_vs_k, reference_levels
from benchmark.report.marks import notes
from benchmark.report.render import Block, Heading, Image, Links, Text, write_page, write_table
from benchmark.report.runs import RunSet, collect_runs
from benchmark.report.tables import (
    INITS, TABLE1_METHODS, dropped_table, finetune_table, runs_table, table1, unfinished_table,
)

TITLE = "Attrackt benchmark report"
TRAINING_DATA = (
    "Attrackt (Pos. & Unsup. Assoc.) trains on every sequence of a dataset, the test sequences included, "
    "without labels. This is legitimate, as in the paper: no ground truth is used in training; the test "
    "labels only score the tracks."
)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-.") or "dataset"


def _links(output: Path, paths: list[Path]) -> Links:
    return Links([(path.suffix.lstrip(".").upper(), path.relative_to(output).as_posix()) for path in paths])


def _groups(runs: pd.DataFrame, methods: dict[str, str]) -> list[tuple[str, str]]:
    """(dataset, profile) pairs with a finished run of one of ``methods``."""
    return sorted(runs[runs["method"].isin(list(methods))].groupby(["dataset", "profile"]).groups)


def _table_blocks(runs: pd.DataFrame, output: Path, include_non_optimal: bool) -> list[Block]:
    blocks: list[Block] = []
    for heading, methods, make, stem in (
        ("Table 1: tracking without annotations", TABLE1_METHODS, table1, "table1"),
        ("Fine-tuning: AOGM by number of annotations k", INITS, finetune_table, "finetune"),
    ):
        blocks.append(Heading(heading))
        groups = _groups(runs, methods)
        if not groups:
            blocks.append(Text(f"Skipped: no finished run of {', '.join(methods)}."))
        for dataset, profile in groups:
            chosen = runs[(runs["dataset"] == dataset) & (runs["profile"] == profile)]
            table = make(chosen, dataset, profile, f"{stem}_{_slug(dataset)}_{_slug(profile)}", include_non_optimal)
            blocks += [table, _links(output, write_table(table, output / "tables"))]
    return blocks


def _figure_blocks(runs: pd.DataFrame, output: Path, include_non_optimal: bool) -> list[Block]:
    points, levels = curve_points(runs, include_non_optimal), reference_levels(runs, include_non_optimal)
    folder = output / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    blocks: list[Block] = []
    if not points.empty:
        points.to_csv(folder / "aogm_vs_k.csv", index=False)
    for name, title, methods in (
        ("figure2", "Figure 2: fine-tuned Attrackt, AOGM vs annotations k by sampling strategy", ["finetune"]),
        ("figure3", "Figure 3: pre-trained (LoRA) vs from scratch, AOGM vs annotations k", ["finetune", "scratch"]),
    ):
        blocks.append(Heading(title))
        chosen = points[points["method"].isin(methods)]
        missing = sorted(set(methods) - set(chosen["method"]))
        if missing:
            needed = f"no finished {' or '.join(missing)} run with AOGM (and, for k = all, annotations)"
            blocks.append(Text(f"Skipped: {needed}."))
            continue
        paths = plot_aogm_vs_k(chosen, levels, title, folder / name) + [folder / "aogm_vs_k.csv"]
        blocks += [Image(paths[0].relative_to(output).as_posix(), title), _links(output, paths)]
        plotted = runs[runs["method"].isin(methods)]
        blocks += [Text(note) for note in notes(plotted, include_non_optimal)]
    return blocks


def _run_blocks(runs: RunSet, output: Path) -> list[Block]:
    runs.finished.drop(columns=["status", "error"]).to_csv(output / "runs.csv", index=False)
    runs.dropped.to_csv(output / "dropped.csv", index=False)
    blocks: list[Block] = [Heading("Runs used"), runs_table(runs.finished), Links([("runs.csv", "runs.csv")])]
    blocks.append(Heading("Finished runs left out"))
    blocks += [dropped_table(runs.dropped), Links([("dropped.csv", "dropped.csv")])] if len(runs.dropped) else [Text("None.")]
    blocks.append(Heading("Failed or unfinished runs"))
    blocks.append(unfinished_table(runs.unfinished) if len(runs.unfinished) else Text("None."))
    return blocks


def _attach_targets(sweep_run: str | None) -> list[str]:
    """Runs to log the report to: the sweep run (if the store knows it) and the run ``mlflow run`` opened."""
    targets = []
    if sweep_run:
        try:
            targets.append(MlflowClient().get_run(sweep_run).info.run_id)
        except MlflowException:
            pass
    own = os.environ.get("MLFLOW_RUN_ID")
    return targets + [own] if own and own not in targets else targets


def _summary(runs: RunSet) -> str:
    built = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    dropped = f", {len(runs.dropped)} finished runs left out (listed below)" if len(runs.dropped) else ""
    unknown = int((runs.finished["optimal"] == "unknown").sum())
    unknown_text = f" {unknown} of the runs used do not record whether their links are optimal (marked ?)." if unknown else ""
    return (
        f"Built from {runs.source} of the MLflow store {runs.tracking_uri} on {built}: "
        f"{len(runs.finished)} finished runs used, {len(runs.unfinished)} failed or unfinished{dropped}.{unknown_text}"
    )


def _attach(output: Path, run_id: str) -> None:
    """Log the report's files (not whatever else ``output`` holds) under ``report/`` of run ``run_id``."""
    client = MlflowClient()
    for name in ("index.md", "index.html", "runs.csv", "dropped.csv"):
        client.log_artifact(run_id, str(output / name), "report")
    for folder in ("tables", "figures"):
        if (output / folder).is_dir() and any((output / folder).iterdir()):
            client.log_artifacts(run_id, str(output / folder), f"report/{folder}")


def build_report(
    sweep_run: str | None = None, experiment: str | None = None, output: Path = Path("reports"),
    include_non_optimal: bool = False,
) -> Path:
    """Write the report of sweep ``sweep_run`` or of ``experiment`` to ``output``; returns ``index.html``.
    Prints the finished runs it leaves out, and why.

    Tables and figures without runs are skipped with a note. ConfigError when no run of a benchmark
    method is found.
    """
    runs = collect_runs(sweep_run or None, experiment or None)
    for run in runs.dropped.itertuples():
        print(f"report: left out run {run.run_id} ({run.run_name}): {run.reason}")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    for folder in ("tables", "figures"):
        shutil.rmtree(output / folder, ignore_errors=True)
    targets = _attach_targets(sweep_run)
    blocks: list[Block] = [Text(_summary(runs))]
    if targets:
        blocks.append(Text(f"Also logged as artifacts (folder report/) of run {', '.join(targets)}."))
    blocks += [Text(TRAINING_DATA), *_table_blocks(runs.finished, output, include_non_optimal),
               *_figure_blocks(runs.finished, output, include_non_optimal)]
    blocks += _run_blocks(runs, output)
    index = write_page(output / "index", TITLE, blocks)[1]
    for run_id in targets:
        _attach(output, run_id)
    return index
