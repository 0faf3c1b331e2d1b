"""What each MLflow entry point does, as importable functions (the CLI and tests call these).

Every function opens one MLflow run, logs the resolved profile, the dataset's identity and the
outcome, and returns a table. They never parse command lines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import mlflow
import pandas as pd

from benchmark.config import RunConfig, load_config
from benchmark.data.datasets import resolve_dataset
from benchmark.data.sequence import Dataset
from benchmark.mlflow_run import entry_point_run, log_dataset, log_outcome, register_model
from benchmark.linking.pins import Pins
from benchmark.pipeline import AppearanceFn, track_and_evaluate
from benchmark.tune.weights import PARAMETER as TUNED_PARAMETER, check_tuned_on, tuned_config

class MethodFit(NamedTuple):
    """What a fitted method hands to the linker: the appearance term d2 and its weight w2 (both None
    for position only) and, per evaluation sequence, pins of annotated nodes (interpolation setup);
    and the MLflow model it logged, if any, which is registered when the run has succeeded."""

    appearance: AppearanceFn | None
    w2: float | None
    pins: dict[str, Pins] | None = None
    model_uri: str | None = None


#: A method's fitting step: (dataset, config, seed) -> what the linker needs.
FitFn = Callable[[Dataset, RunConfig, int], MethodFit]


def load_dataset(spec: str, config: RunConfig) -> Dataset:
    """The dataset named by ``spec`` (preset, named real dataset or path), generated/cached as needed."""
    return resolve_dataset(
        spec,
        data_dir=Path(config.data.data_dir),
        synth_seed=config.data.synth_seed,
        synth_overrides=config.data.synth,
    )


def dataset_summary(dataset: Dataset) -> pd.DataFrame:
    """One row per sequence: split, frames, detections, GT edges and divisions."""
    rows = []
    for split, names in (("train", dataset.split.train), ("val", dataset.split.val), ("test", dataset.split.test)):
        for name in names:
            sequence = dataset.sequences[name]
            parents = sequence.gt_edges()[:, 0]
            counts = pd.Series(parents).value_counts()
            rows.append(
                {
                    "sequence": name,
                    "split": split,
                    "frames": sequence.n_frames,
                    "detections": sequence.n_detections,
                    "gt_edges": len(parents),
                    "divisions": int((counts >= 2).sum()),
                    "has_images": sequence.has_images,
                }
            )
    return pd.DataFrame(rows)


def prepare(dataset: str, profile: str = "quick", seed: int = 0, overrides: dict[str, Any] | None = None) -> pd.DataFrame:
    """Generate (synthetic presets) or read a dataset, compute and cache its features, log a summary."""
    config = load_config(profile, overrides)
    with entry_point_run("prepare", config, {"dataset": dataset, "seed": seed}):
        data = load_dataset(dataset, config)
        log_dataset(data)
        summary = dataset_summary(data)
        mlflow.log_metrics(
            {
                "sequences": float(len(summary)),
                "detections": float(summary["detections"].sum()),
                "gt_edges": float(summary["gt_edges"].sum()),
                "divisions": float(summary["divisions"].sum()),
            }
        )
        mlflow.log_table(summary, "dataset_summary.json")
        return summary


def track_with_method(
    method: str,
    fit: FitFn,
    dataset: str,
    profile: str = "quick",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Fit ``method`` on ``dataset``, link and score the evaluation sequences, log everything.

    With ``linking.weights_run`` set, the linking weights are those of that ``tune`` run (param
    ``ilp_weights_run``; the logged ``linking.*`` params are the weights used).
    Returns the metrics table (one row per evaluation sequence plus ``mean``). A model the fit logged
    is registered last, as ``<method>-<dataset name>`` (see ``register_model``).
    """
    config, tuned = tuned_config(method, profile, overrides)
    params = {"method": method, "dataset": dataset, "seed": seed, **(params or {})}
    if tuned is not None:
        params[TUNED_PARAMETER] = tuned.info.run_id
    with entry_point_run(method, config, params):
        data = load_dataset(dataset, config)
        log_dataset(data)
        if tuned is not None:
            check_tuned_on(tuned, data)
        fitted = fit(data, config, seed)
        mlflow.log_param("linking.w2", None if fitted.w2 is None else fitted.w2 * config.linking.w2_scale)
        outcome = track_and_evaluate(data, config.linking, fitted.appearance, fitted.w2, fitted.pins)
        table = log_outcome(data, outcome)
        if fitted.model_uri:
            register_model(fitted.model_uri, method, data)
        return table
