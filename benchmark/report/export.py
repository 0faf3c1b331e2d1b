"""A sweep's results as a committed results file (``benchmark.results``), exported from MLflow runs.

One row per finished run of the sweep (the latest of each configuration, as the report takes them):
its name and id, ``method``, ``dataset``, ``profile``, ``seed``, ``k``, ``sampling``, ``setup``,
``threads`` and every dataset-level metric it logged (``AOGM``, ``TRA``, ``MBC``, ``Division F1``, ...).
``date`` is when the last of them ended; ``machine``, ``versions`` and ``git_commit`` are what the
runs logged, and must be the same for all of them (numbers from different machines or code are not
one result). ``not_finished`` names the sweep's runs that did not finish.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from benchmark.errors import ConfigError
from benchmark.report.runs import CONFIG_KEYS, NOT_METRICS, collect_runs
from benchmark.results import write_results


def sweep_rows(sweep_run: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows of sweep ``sweep_run``'s finished runs and their common provenance (``date``,
    ``machine``, ``versions``, ``git_commit``, ``not_finished``). ConfigError when the runs disagree
    on their provenance or do not record it."""
    runs = collect_runs(sweep_run)
    raw = mlflow.search_runs(filter_string=f"tags.sweep_run = '{sweep_run}'", search_all_experiments=True)
    logged = raw.set_index("run_id").loc[runs.finished["run_id"]]
    metrics = [name for name in runs.finished.columns if name not in NOT_METRICS]
    rows = []
    for run, (_, details) in zip(runs.finished.to_dict("records"), logged.iterrows()):
        row = {"run": run["run_name"], "run_id": run["run_id"], **{key: run[key] for key in CONFIG_KEYS}}
        row["seed"] = int(row["seed"])
        threads = details.get("params.threads")
        row["threads"] = int(threads) if pd.notna(threads) else None
        row.update({name: float(run[name]) for name in metrics if not math.isnan(run[name])})
        rows.append(row)
    provenance = {
        "date": logged["end_time"].max().to_pydatetime().astimezone(timezone.utc).isoformat(timespec="seconds"),
        "machine": _logged(logged, "machine", sweep_run),
        "versions": _logged(logged, "version", sweep_run),
        "git_commit": _agreed(logged, ["tags.git_commit"], sweep_run)["tags.git_commit"],
        "not_finished": sorted(runs.unfinished["run_name"]),
    }
    return rows, provenance


def _agreed(logged: pd.DataFrame, columns: list[str], sweep_run: str) -> dict[str, str]:
    """Column -> the one value the runs logged in it (runs without it, such as a position-only run
    without torch's facts, do not count); ConfigError when two runs differ or a run logged none."""
    table = logged.reindex(columns=columns).fillna("").astype(str)
    lacking = table.index[(table == "").all(axis=1)]
    if len(lacking):
        raise ConfigError(
            f"parameter sweep_run={sweep_run!r}: run {lacking[0]} logged none of {', '.join(columns)}; it predates "
            "that record: run it again before exporting"
        )
    agreed = {}
    for name in columns:
        values = sorted(set(table[name]) - {""})
        if len(values) > 1:
            raise ConfigError(
                f"parameter sweep_run={sweep_run!r}: the runs differ in {name} ({', '.join(values)}); "
                "only runs made alike are one result"
            )
        if values:
            agreed[name] = values[0]
    return agreed


def _logged(logged: pd.DataFrame, prefix: str, sweep_run: str) -> dict[str, str]:
    """The agreed params ``<prefix>.*`` of the runs, by the rest of their name."""
    columns = [name for name in logged.columns if name.startswith(f"params.{prefix}.")] or [f"params.{prefix}.*"]
    agreed = _agreed(logged, columns, sweep_run)
    return {name.removeprefix(f"params.{prefix}."): value for name, value in agreed.items()}


def export_sweep(sweep_run: str, folder: Path) -> Path:
    """Write the results file of sweep ``sweep_run`` as ``folder/<grid>-<date of its last run>.json``."""
    rows, provenance = sweep_rows(sweep_run)
    grid = mlflow.get_run(sweep_run).data.tags.get("grid", "sweep")
    day = datetime.fromisoformat(provenance["date"]).date().isoformat()
    path = Path(folder) / f"{Path(grid).stem}-{day}.json"
    return write_results(path, rows, source=f"sweep run {sweep_run} (grid {grid})", **provenance)
