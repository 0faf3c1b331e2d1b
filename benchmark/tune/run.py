"""The ``tune`` entry point: search the ILP weights of one method's d2 on the validation sequences,
then report what the tuned weights do on the evaluation sequences.

The tune run is the MLflow parent of one nested run per trial it ran. It logs (params) the method,
the method run, the study and storage, the best weights as ``ilp.<field>`` and the signed ``ilp.w2``;
(metrics) ``val_AOGM_default`` / ``val_AOGM_tuned`` (the search objective), ``tune.complete_trials``
and ``tune.pruned_trials`` (trials whose ILP hit ``tune.time_limit_s``) and, computed after the
search, every evaluation metric with the profile's and with the tuned weights (``<metric>_default``,
``<metric>_tuned``); (artifacts) ``ilp_weights.json`` and ``evaluation.csv``. Method runs use the
weights with ``linking.weights_run=<tune run id>`` (the ``ilp_weights_run`` parameter).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pandas as pd
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from benchmark.config import LinkingConfig, load_config
from benchmark.data.sequence import Dataset, Sequence
from benchmark.entry_points import load_dataset
from benchmark.errors import ConfigError
from benchmark.mlflow_run import entry_point_run, log_dataset
from benchmark.pipeline import AppearanceFn, track_and_evaluate
from benchmark.run_lookup import check_run_id
from benchmark.tune.search import (
    FINISHED,
    default_trial,
    default_weights,
    open_study,
    optimise,
    search_space,
    storage_url,
    study_name,
    updated,
)
from benchmark.tune import sources
from benchmark.tune.weights import METHOD_PARAM, weight_params


def _n_trials(value: int | str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"parameter n_trials={value!r}: must be an integer >= 1")
    return n


def _validation_sequences(dataset: Dataset) -> list[Sequence]:
    sequences = dataset.validation_sequences()
    if not sequences:
        raise ConfigError(
            f"parameter dataset={dataset.name!r}: the dataset has no validation sequences (split.val is empty); "
            "tune searches the weights on validation sequences only, never on the evaluation ones"
        )
    unlabelled = [sequence.name for sequence in sequences if not sequence.has_gt]
    if unlabelled:
        raise ConfigError(f"parameter dataset={dataset.name!r}: validation sequences {unlabelled} have no GT to score")
    return sequences


def evaluate_weights(
    dataset: Dataset, linkings: dict[str, LinkingConfig], appearance: AppearanceFn | None, w2: float | None
) -> pd.DataFrame:
    """Mean evaluation metrics (columns) of each named set of weights (rows)."""
    rows = {name: track_and_evaluate(dataset, linking, appearance, w2).metrics for name, linking in linkings.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def log_best_weights(study: optuna.Study, defaults: dict[str, float], w2: float | None) -> dict[str, float]:
    """Log the best trial's weights (params ``ilp.*``, ``ilp.w2`` signed as the method's ``w2``) and
    the search's scores; return the weights. ConfigError when no trial completed."""
    if not study.get_trials(states=(TrialState.COMPLETE,)):
        raise ConfigError(f"every trial of study {study.study_name!r} stopped at its ILP time limit: raise tune.time_limit_s")
    best = study.best_trial
    tuned = {**defaults, **best.params}
    mlflow.log_params(weight_params(tuned, w2))
    mlflow.set_tag("tune.best_trial", str(best.number))
    default = default_trial(study, defaults).value
    counts = {f"tune.{state.name.lower()}_trials": float(len(study.get_trials(states=(state,)))) for state in FINISHED}
    mlflow.log_metrics({"val_AOGM_tuned": best.value, **counts, **({} if default is None else {"val_AOGM_default": default})})
    return tuned


def run_tune(
    dataset: str,
    profile: str = "quick",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    method: str = "attrackt",
    method_run: str | None = None,
    n_trials: int | str | None = None,
    storage: str | None = None,
    study: str | None = None,
) -> pd.DataFrame:
    """The ``tune`` entry point. ``method_run``: the run whose d2 is tuned for (default: the latest
    finished ``method`` run on the same data, profile and method settings; none for position).
    ``n_trials``: finished (completed or pruned) trials of the study in all (default: the profile's
    ``tune.n_trials``).
    ``storage``: an Optuna RDB URL (default: sqlite ``optuna.db`` beside the MLflow store); ``study``:
    the study name (default: derived from the method run, data, linking and search ranges).

    Returns the evaluation metrics with the profile's (row ``default``) and the tuned (``tuned``) weights.
    """
    spec = sources.tunable(method)
    if method_run:
        check_run_id(sources.PARAMETER, method_run)
    trials = _n_trials(n_trials)
    overrides = {**(overrides or {}), **({"tune.n_trials": trials} if trials else {})}
    config = load_config(profile, overrides)
    if config.linking.weights_run is not None:
        raise ConfigError("override linking.weights_run: tune searches the weights itself; leave it unset")
    space = search_space(config.tune, spec.w2 is not None)
    defaults = default_weights(config.linking, space)

    with entry_point_run("tune", config, {"dataset": dataset, "seed": seed, METHOD_PARAM: method}):
        mlflow.set_tags({"method": "tune", "mlflow.runName": f"tune-{method}-{dataset}-{seed}"})
        data = load_dataset(dataset, config)
        log_dataset(data)
        sequences = _validation_sequences(data)
        source = sources.method_run(method, method_run, data, config)
        source_id = None if source is None else source.info.run_id
        url = storage_url(storage, mlflow.get_tracking_uri())
        name = study or study_name(method, source_id, data, config)
        mlflow.log_params(
            {"resolved.method_run": source_id or "none", "tune.study": name, "tune.storage": make_url(url).render_as_string()}
        )
        optuna_study = open_study(url, name, seed)
        appearance = sources.validation_term(method, source, data, config)
        search_linking = updated(config.linking, {"time_limit_s": config.tune.time_limit_s})
        optimise(optuna_study, sequences, search_linking, appearance, spec.w2, space, config.tune.n_trials)

        tuned = log_best_weights(optuna_study, defaults, spec.w2)

        # Only now, with the search over, are the evaluation sequences linked.
        linkings = {"default": config.linking, "tuned": updated(config.linking, tuned)}
        table = evaluate_weights(data, linkings, sources.evaluation_term(method, source, data), spec.w2)
        mlflow.log_metrics({f"{metric}_{row}": float(v) for row, values in table.iterrows() for metric, v in values.items()})
        with tempfile.TemporaryDirectory() as tmp:
            table.rename_axis("weights").to_csv(Path(tmp) / "evaluation.csv")
            document = {"method": method, "method_run": source_id, "study": name, **weight_params(tuned, spec.w2)}
            (Path(tmp) / "ilp_weights.json").write_text(json.dumps(document, indent=2))
            mlflow.log_artifacts(tmp)
        return table
