"""MLflow glue shared by every entry point: open a run, log config and data identity, log outcomes.

Where runs go is benchmark.tracking's business; under ``mlflow run`` the run it created is reused.
"""

from __future__ import annotations

import os

import json
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from benchmark.config import RunConfig, flatten
from benchmark.data.geff_io import write_geff
from benchmark.data.ctc import write_ctc_prediction
from benchmark.data.sequence import Dataset
from benchmark.pipeline import DatasetOutcome
from benchmark.runtime import fixed_threads, git_commit, machine, package_versions
from benchmark.tracking import EXTRA_TAGS_ENV, PARENT_RUN_ENV, configure_tracking

#: Params that also become tags and name the run (method-dataset[-k-sampling-setup]-seed).
RUN_KEYS = ("method", "dataset", "k", "sampling", "setup", "seed")


def prefixed(prefix: str, values: dict[str, str]) -> dict[str, str]:
    """``values`` with keys ``<prefix>.<key>`` (how a run logs its versions and machine)."""
    return {f"{prefix}.{key}": value for key, value in values.items()}


@contextmanager
def entry_point_run(entry_point: str, config: RunConfig, params: dict[str, Any]) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run for one entry point, with the resolved config, ``params`` and provenance (package
    versions, git commit, ``machine.*``) logged; torch computes with ``config.threads`` CPU threads in it.

    On an exception the run is marked FAILED and the reason is kept as the tag ``error``; whatever was
    logged before stays.
    """
    configure_tracking()
    tags = {"entry_point": entry_point, "profile": config.profile, "git_commit": git_commit()}
    tags.update({key: str(value) for key, value in params.items() if key in RUN_KEYS})
    parent = os.environ.get(PARENT_RUN_ENV)
    if parent:
        tags.update({"mlflow.parentRunId": parent, "sweep_run": parent})
    tags.update(json.loads(os.environ.get(EXTRA_TAGS_ENV, "{}")))
    resumed = bool(os.environ.get("MLFLOW_RUN_ID"))
    run_name = "-".join(str(params[key]) for key in RUN_KEYS if key in params) or entry_point
    with mlflow.start_run(run_name=None if resumed else run_name, tags=tags) as run, fixed_threads(config.threads):
        if resumed:
            mlflow.set_tag("mlflow.runName", run_name)
        provenance = {**prefixed("version", package_versions()), **prefixed("machine", machine())}
        mlflow.log_params({**flatten(config), **params, **provenance})
        try:
            yield run
        except BaseException as error:
            mlflow.set_tag("error", f"{type(error).__name__}: {error}"[:5000])
            raise


def log_dataset(dataset: Dataset) -> None:
    """Identity and shape of the data a run used."""
    mlflow.log_params(
        {
            "dataset.name": dataset.name,
            "dataset.root": str(dataset.root),
            "dataset.fingerprint": dataset.fingerprint,
            "split.train": ",".join(dataset.split.train),
            "split.val": ",".join(dataset.split.val),
            "split.test": ",".join(dataset.split.test),
        }
    )


def log_outcome(dataset: Dataset, outcome: DatasetOutcome) -> pd.DataFrame:
    """Log per-sequence metrics (``<seq>/<metric>``), their mean (plain name), linking stats and artifacts.

    Linking optimality: see ``_log_linking_optimality``.
    Artifacts: ``metrics.csv`` (one row per sequence plus ``mean``), ``linking.csv`` (solver statistics),
    ``predictions/<seq>.geff`` and, where the sequence has masks, ``predictions/<seq>_RES`` (CTC results).
    Sequences without GT have no metrics; when none has GT there is no ``metrics.csv``.
    Returns the metrics table (empty when no sequence has GT).
    """
    rows = {name: seq.metrics for name, seq in outcome.sequences.items() if seq.metrics}
    if rows:
        rows["mean"] = outcome.metrics
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "sequence"
    stats = pd.DataFrame.from_dict({name: seq.solution.stats for name, seq in outcome.sequences.items()}, orient="index")
    stats.index.name = "sequence"

    for name, seq in outcome.sequences.items():
        if seq.metrics:
            mlflow.log_metrics({f"{name}/{metric}": value for metric, value in seq.metrics.items()})
        numeric = {key: float(value) for key, value in seq.solution.stats.items() if isinstance(value, (int, float))}
        mlflow.log_metrics({f"{name}/linking/{key}": value for key, value in numeric.items()})
    if outcome.metrics:
        mlflow.log_metrics(outcome.metrics)
    _log_linking_optimality(outcome)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if rows:
            table.to_csv(folder / "metrics.csv")
        stats.to_csv(folder / "linking.csv")
        predictions = folder / "predictions"
        predictions.mkdir()
        for name, seq in outcome.sequences.items():
            sequence = dataset.sequences[name]
            write_geff(predictions / f"{name}.geff", sequence, seq.solution.edges)
            if sequence.has_masks:
                write_ctc_prediction(predictions, sequence, seq.solution.edges)
        mlflow.log_artifacts(tmp)
    return table


def _log_linking_optimality(outcome: DatasetOutcome) -> None:
    """Whether the run's links are proven optimal: tag ``linking.status.<seq>`` per sequence (the
    per-sequence metrics ``<seq>/linking/proven_optimal`` and ``mip_gap`` come with the stats),
    metric ``linking/proven_optimal`` (1.0 only if every sequence is), tags ``linking.optimal``
    (``true`` / ``false``) and ``linking.solver``; a warning on stderr for each sequence that is not."""
    stats = {name: seq.solution.stats for name, seq in outcome.sequences.items()}
    if not stats:
        return
    mlflow.set_tags({f"linking.status.{name}": str(s["status"]) for name, s in stats.items()})
    unproven = [name for name, s in stats.items() if s["proven_optimal"] != 1.0]
    for name in unproven:
        s = stats[name]
        print(
            f"WARNING: the links of sequence {name} are not proven optimal "
            f"(solver {s['solver']}, status {s['status']}, gap {s['mip_gap']:.3g})",
            file=sys.stderr,
            flush=True,
        )
    mlflow.log_metric("linking/proven_optimal", 0.0 if unproven else 1.0)
    solvers = sorted({str(s["solver"]) for s in stats.values()})
    mlflow.set_tags({"linking.optimal": "false" if unproven else "true", "linking.solver": ",".join(solvers)})


def registered_model_name(method: str, dataset: Dataset) -> str:
    """``<method>-<dataset name>``, the dataset name reduced to [A-Za-z0-9_-] (others become ``-``)."""
    return f"{method}-{re.sub(r'[^A-Za-z0-9_-]', '-', dataset.name)}"


def register_model(model_uri: str, method: str, dataset: Dataset) -> str:
    """Register ``model_uri`` (a model logged by the active run) as a new version of
    ``registered_model_name(method, dataset)``; tag the run ``registered_model`` = ``models:/NAME/VERSION``
    and return that URI."""
    name = registered_model_name(method, dataset)
    version = mlflow.register_model(model_uri, name)
    uri = f"models:/{name}/{version.version}"
    mlflow.set_tag("registered_model", uri)
    return uri
