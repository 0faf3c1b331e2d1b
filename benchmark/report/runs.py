"""Collect the runs a report is built from: one row per MLflow run of a benchmark method.

Runs come from a sweep (every run tagged ``sweep_run = <id>``, in any experiment) or from an
experiment (by name; default ``MLFLOW_EXPERIMENT_NAME`` / ``MLFLOW_EXPERIMENT_ID``, else
"attrackt-benchmark") of the current tracking URI. Only FINISHED runs enter tables and figures; of
several finished runs of one configuration (method, dataset, profile, k, sampling, setup, seed) the
latest counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from benchmark.errors import ConfigError
from benchmark.run_lookup import check_run_id
from benchmark.tracking import DEFAULT_EXPERIMENT, use_default_store

METHODS = ("position", "reid", "autoencoder", "attrackt", "supervised", "finetune", "scratch")
#: Tags (else params of the same name) copied into the table; missing ones are "".
TAGS = ("method", "dataset", "profile", "k", "sampling", "setup", "seed", "sweep_run", "error")
CONFIG_KEYS = ["method", "dataset", "profile", "k", "sampling", "setup", "seed"]


@dataclass(frozen=True)
class RunSet:
    """The runs of one report.

    ``finished``: run_id, run_name, start_time, the TAGS, ``annotations`` (param, float; NaN where
    absent) and one column per dataset-level metric (per-sequence ``<seq>/<metric>`` ones are dropped).
    ``unfinished``: the runs whose status is not FINISHED (same columns plus ``status``).
    ``superseded``: finished runs left out because a later run has the same configuration.
    """

    source: str
    tracking_uri: str
    finished: pd.DataFrame
    unfinished: pd.DataFrame
    superseded: int


def _column(raw: pd.DataFrame, name: str) -> pd.Series:
    return raw[name].fillna("").astype(str) if name in raw else pd.Series("", index=raw.index, dtype=str)


def _field(raw: pd.DataFrame, key: str) -> pd.Series:
    """Tag ``key``, or the param of that name where the tag is missing (runs older than the tag)."""
    tag = _column(raw, f"tags.{key}")
    return tag.where(tag != "", _column(raw, f"params.{key}"))


def _tidy(raw: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "run_id": raw["run_id"],
            "run_name": _column(raw, "tags.mlflow.runName"),
            "status": raw["status"],
            "start_time": raw["start_time"],
            **{tag: _field(raw, tag) for tag in TAGS},
        }
    )
    frame["annotations"] = pd.to_numeric(_column(raw, "params.annotations"), errors="coerce")
    metrics = raw[[name for name in raw if name.startswith("metrics.") and "/" not in name]]
    frame = pd.concat([frame, metrics.rename(columns=lambda name: name.removeprefix("metrics.")).astype(float)], axis=1)
    return frame[frame["method"].isin(METHODS)].reset_index(drop=True)


def _experiment_ids(experiment: str | None) -> tuple[list[str], str]:
    """Experiment ids to search and how to name them; ConfigError for an unknown experiment."""
    client = MlflowClient()
    if experiment is None and os.environ.get("MLFLOW_EXPERIMENT_ID") and not os.environ.get("MLFLOW_EXPERIMENT_NAME"):
        found = client.get_experiment(os.environ["MLFLOW_EXPERIMENT_ID"])
    else:
        name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        found = client.get_experiment_by_name(name)
        if found is None:
            raise ConfigError(
                f"parameter experiment={name!r}: no such experiment in the MLflow store {mlflow.get_tracking_uri()}"
            )
    return [found.experiment_id], f"experiment {found.name!r}"


def collect_runs(sweep_run: str | None = None, experiment: str | None = None) -> RunSet:
    """The runs of sweep ``sweep_run`` (within ``experiment`` if given) or of ``experiment``.

    Raises ConfigError when there is no run of a benchmark method to report on.
    """
    use_default_store()
    if sweep_run:
        check_run_id("sweep_run", sweep_run)
        ids, source = _experiment_ids(experiment) if experiment else ([], "all experiments")
        source = f"sweep run {sweep_run} ({source})"
        query = f"tags.sweep_run = '{sweep_run}'"
    else:
        ids, source = _experiment_ids(experiment)
        query = ""
    raw = mlflow.search_runs(
        experiment_ids=ids or None, filter_string=query, search_all_experiments=not ids, output_format="pandas"
    )
    runs = _tidy(raw) if len(raw) else pd.DataFrame(columns=["method"])
    if runs.empty:
        raise ConfigError(
            f"no runs of a benchmark method ({', '.join(METHODS)}) in {source} of the MLflow store "
            f"{mlflow.get_tracking_uri()}: run a sweep or an entry point first"
        )
    done = runs["status"] == "FINISHED"
    finished = runs[done].sort_values("start_time")
    latest = finished.drop_duplicates(CONFIG_KEYS, keep="last").reset_index(drop=True)
    unfinished = runs[~done].sort_values("start_time").reset_index(drop=True)
    return RunSet(source, mlflow.get_tracking_uri(), latest, unfinished, len(finished) - len(latest))
