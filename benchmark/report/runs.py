"""Collect the runs a report is built from: one row per MLflow run of a benchmark method.

Runs come from a sweep (every run tagged ``sweep_run = <id>``, in any experiment) or from an
experiment (by name; default ``MLFLOW_EXPERIMENT_NAME`` / ``MLFLOW_EXPERIMENT_ID``, else
"attrackt-benchmark") of the current tracking URI. Only FINISHED runs enter tables and figures.

What a run is compared with: its method, dataset, profile, k, sampling and setup (RUN_KEYS) and its
resolved configuration, column ``config``: a hash of every profile field the run logged as a param
(a field a run does not record counts as the profile's default, as options the suite adds are off by
default) and of the data's fingerprint; ``data.data_dir`` (where data is stored) is left out.
``differs`` names the fields that differ from the profile's defaults (``linking.solver=greedy``, ...)
and data that differs from the latest run's on the same dataset. Of several finished runs of one
configuration and seed the latest counts; the others are listed in ``RunSet.dropped`` with the reason.

Per run also: ``optimal`` (tag ``linking.optimal``: "true", "false", or "unknown" for runs that do not
record it, except that greedy linking is never optimal) and ``leakage`` (tag
``leakage.train_eval_overlap``: trained with ground truth on its evaluation sequences).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from benchmark.config import PROFILES, flatten, load_config
from benchmark.errors import ConfigError
from benchmark.run_lookup import check_run_id
from benchmark.tracking import DEFAULT_EXPERIMENT, LEAKAGE_TAG, use_default_store

METHODS = ("position", "reid", "autoencoder", "attrackt", "supervised", "finetune", "scratch")
#: Tags (else params of the same name) copied into the table; missing ones are "".
TAGS = ("method", "dataset", "profile", "k", "sampling", "setup", "seed", "sweep_run", "error")
#: What a run is about besides its configuration (a table row or figure line is one of each).
RUN_KEYS = ["method", "dataset", "profile", "k", "sampling", "setup"]
CONFIG_KEYS = [*RUN_KEYS, "seed"]
OPTIMAL_TAG = "linking.optimal"
#: Profile fields that do not change a run's result.
NOT_RESULT_FIELDS = ("data.data_dir",)
#: Columns of RunSet.finished that are not metrics.
NOT_METRICS = {"run_id", "run_name", "status", "start_time", *TAGS, "annotations", "optimal", "leakage", "config", "differs"}


@dataclass(frozen=True)
class RunSet:
    """The runs of one report.

    ``finished``: run_id, run_name, start_time, the TAGS, ``annotations`` (param, float; NaN where
    absent), ``optimal``, ``leakage``, ``config``, ``differs`` (see the module doc) and one column per
    dataset-level metric (per-sequence ``<seq>/<metric>`` ones are dropped): the latest run of each
    configuration and seed. ``unfinished``: the runs whose status is not FINISHED (same columns plus
    ``status``). ``dropped``: finished runs left out (run_id, run_name, method, dataset, seed, reason).
    """

    source: str
    tracking_uri: str
    finished: pd.DataFrame
    unfinished: pd.DataFrame
    dropped: pd.DataFrame


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
    optimal = _column(raw, f"tags.{OPTIMAL_TAG}").str.lower()
    greedy = _field(raw, "linking.solver").str.contains("greedy")  # tag (solvers used) else the param
    frame["optimal"] = optimal.where(optimal.isin(["true", "false"]), "unknown").mask(greedy, "false")
    frame["leakage"] = _column(raw, f"tags.{LEAKAGE_TAG}").str.lower() == "true"
    frame["config"], frame["differs"] = _configurations(raw, frame["profile"])
    metrics = raw[[name for name in raw if name.startswith("metrics.") and "/" not in name]]
    frame = pd.concat([frame, metrics.rename(columns=lambda name: name.removeprefix("metrics.")).astype(float)], axis=1)
    return frame[frame["method"].isin(METHODS)].reset_index(drop=True)


@cache
def _defaults(profile: str) -> dict[str, str]:
    """The profile's fields that change a run's result, with their defaults as MLflow logs them (str);
    none for a profile the suite does not know."""
    if profile not in PROFILES:
        return {}
    return {key: str(value) for key, value in flatten(load_config(profile)).items() if key not in NOT_RESULT_FIELDS}


def _configurations(raw: pd.DataFrame, profiles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Per run, the hash of its resolved configuration and data (``config``) and what differs (``differs``)."""
    fingerprints = _column(raw, "params.dataset.fingerprint")
    latest = (  # the data of each dataset's latest run that records it
        pd.DataFrame({"dataset": _field(raw, "dataset"), "fingerprint": fingerprints, "start": raw["start_time"]})
        .query("fingerprint != ''").sort_values("start").groupby("dataset")["fingerprint"].last()
    )
    hashes, differs = [], []
    for index, profile in profiles.items():
        resolved = {}
        for key, default in _defaults(profile).items():
            logged = raw.at[index, f"params.{key}"] if f"params.{key}" in raw else None
            resolved[key] = default if logged is None or pd.isna(logged) else str(logged)
        fingerprint = fingerprints[index]
        identity = json.dumps({"config": resolved, "data": fingerprint}, sort_keys=True)
        hashes.append(hashlib.sha256(identity.encode()).hexdigest()[:10])
        changed = [f"{key}={value}" for key, value in resolved.items() if value != _defaults(profile)[key]]
        if fingerprint and fingerprint != latest.get(_field(raw, "dataset")[index], fingerprint):
            changed.append(f"other data (fingerprint {fingerprint[:8]})")
        differs.append(", ".join(changed))
    return pd.Series(hashes, index=raw.index), pd.Series(differs, index=raw.index)


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
    same = [*CONFIG_KEYS, "config"]
    keep = ~finished.duplicated(same, keep="last")
    kept = finished[keep].set_index(same)["run_id"]
    dropped = finished[~keep].assign(
        reason=lambda t: [f"same configuration and seed as the later run {kept[tuple(row)]}" for row in t[same].values]
    )[["run_id", "run_name", "method", "dataset", "seed", "reason"]].reset_index(drop=True)
    unfinished = runs[~done].sort_values("start_time").reset_index(drop=True)
    return RunSet(source, mlflow.get_tracking_uri(), finished[keep].reset_index(drop=True), unfinished, dropped)
