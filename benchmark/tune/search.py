"""Optuna search of the ILP weights: each trial links and scores the validation sequences with one set
of weights (a nested MLflow run) and returns their mean AOGM, which the study minimises.

The profile's weights are enqueued as the study's first trial, so the best trial never scores worse
than them. A trial whose ILP stops at its time limit (``tune.time_limit_s``; extreme weights can make
it hard) is pruned, not scored: its links are not the optimum the weights define, and their AOGM would
reward the solver's early stop rather than the weights. ``n_trials`` counts the study's finished
(completed or pruned) trials, whichever process ran them: several processes on one storage and study
name share the work (each with its own sampler seed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from benchmark.config import LOG_SCALE_WEIGHTS, LinkingConfig, RunConfig, TuneConfig, flatten
from benchmark.data.sequence import Dataset, Sequence
from benchmark.errors import ConfigError
from benchmark.linking import CandidateGraph, EdgeTerm
from benchmark.pipeline import AppearanceFn, evaluate_sequence, track_sequence
from benchmark.tune.weights import TUNED_FIELDS, weight_params

#: A searched weight: (low, high, log scale).
Range = tuple[float, float, bool]
#: Trials that count towards ``n_trials``.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def search_space(tune: TuneConfig, with_w2: bool) -> dict[str, Range]:
    """The searched LinkingConfig fields and their ranges (w2_scale only with an appearance term)."""
    names = [name for name in TUNED_FIELDS if with_w2 or name != "w2_scale"]
    return {name: (*getattr(tune, name), name in LOG_SCALE_WEIGHTS) for name in names}


def updated(linking: LinkingConfig, values: dict[str, float | None]) -> LinkingConfig:
    """``linking`` with ``values`` (field -> value) in place, validated."""
    return LinkingConfig.model_validate({**linking.model_dump(), **values})


def default_weights(linking: LinkingConfig, space: dict[str, Range]) -> dict[str, float]:
    """The profile's value of each searched weight; ConfigError when one lies outside its range."""
    weights = {name: float(getattr(linking, name)) for name in space}
    for name, (low, high, _) in space.items():
        if not low <= weights[name] <= high:
            raise ConfigError(f"tune.{name}=[{low}, {high}] must contain the profile's linking.{name}={weights[name]}")
    return weights


def storage_url(storage: str | None, tracking_uri: str) -> str:
    """The Optuna RDB storage: ``storage``, else ``optuna.db`` beside a sqlite tracking store (else in
    the working folder). ``postgresql://`` means psycopg2, the driver the suite installs."""
    if not storage:
        if tracking_uri.startswith("sqlite:///"):
            return f"sqlite:///{Path(tracking_uri.removeprefix('sqlite:///')).with_name('optuna.db')}"
        return f"sqlite:///{Path.cwd() / 'optuna.db'}"
    try:
        url = make_url(storage)
    except ArgumentError:
        raise ConfigError(f"parameter storage={storage!r}: not a database URL (e.g. sqlite:///optuna.db)") from None
    if url.drivername == "postgresql":
        return url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return storage


def study_name(method: str, run_id: str | None, dataset: Dataset, config: RunConfig) -> str:
    """``tune-<method>-<dataset>-<hash>``: one study per method run, data, linking and search ranges
    (not per seed or trial count, so that workers and later calls with more trials share it)."""
    identity = {
        "method": method,
        "run": run_id,
        "data": dataset.fingerprint,
        "config": {k: v for k, v in flatten(config).items() if k.startswith(("linking.", "tune.")) and k != "tune.n_trials"},
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"tune-{method}-{dataset.name}-{digest}"


def open_study(storage: str, name: str, seed: int) -> optuna.Study:
    """Create the study, or load it when another process (or an earlier call) has; TPE seeded by ``seed``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.create_study(
            storage=storage, study_name=name, direction="minimize", load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=seed),
        )
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise ConfigError(f"parameter storage={make_url(storage).render_as_string()!r}: {error}") from None


def memoised(appearance: AppearanceFn | None) -> AppearanceFn | None:
    """``appearance`` computed once per sequence: trials change weights only, never the candidate graph."""
    if appearance is None:
        return None
    terms: dict[str, EdgeTerm] = {}

    def term(sequence: Sequence, candidates: CandidateGraph) -> EdgeTerm:
        if sequence.name not in terms:
            terms[sequence.name] = appearance(sequence, candidates)
        return terms[sequence.name]

    return term


def validation_scores(
    sequences: list[Sequence], linking: LinkingConfig, appearance: AppearanceFn | None, w2: float | None
) -> dict[str, dict[str, float]]:
    """Per sequence linked with ``linking``'s weights: AOGM, solve time (s) and ``time_limited`` (1 where
    the solver stopped at its time limit with its best solution)."""
    scores = {}
    for sequence in sequences:
        solution = track_sequence(sequence, linking, appearance, w2)
        scores[sequence.name] = {
            "AOGM": evaluate_sequence(sequence, solution.edges)["AOGM"],
            "solve_s": float(solution.stats["solve_s"]),
            "time_limited": float(solution.stats["status"] == "time_limit"),
        }
    return scores


def objective(
    sequences: list[Sequence], linking: LinkingConfig, appearance: AppearanceFn | None, w2: float | None,
    space: dict[str, Range],
) -> Callable[[optuna.Trial], float]:
    """Mean validation AOGM of a trial's weights, logged as a nested MLflow run ``trial-<number>``;
    optuna.TrialPruned when a solve stopped at its time limit."""
    appearance = memoised(appearance)

    def score(trial: optuna.Trial) -> float:
        weights = {name: trial.suggest_float(name, low, high, log=log) for name, (low, high, log) in space.items()}
        trial_linking = updated(linking, weights)
        with mlflow.start_run(nested=True, run_name=f"trial-{trial.number}", tags={"tune_trial": str(trial.number)}):
            mlflow.log_params(weight_params(weights, w2))
            scores = validation_scores(sequences, trial_linking, appearance, w2)
            value = float(np.mean([score["AOGM"] for score in scores.values()]))
            limited = sum(score["time_limited"] for score in scores.values())
            mlflow.log_metrics({"val_AOGM": value, "time_limited": limited})
            mlflow.log_metrics({f"{name}/{key}": v for name, score in scores.items() for key, v in score.items()})
        print(f"trial {trial.number}: validation AOGM {value:.1f}{' (time limit: pruned)' if limited else ''} with {weights}",
              flush=True)
        if limited:
            raise optuna.TrialPruned(f"{limited:.0f} ILP solves stopped at their time limit")
        return value

    return score


def optimise(
    study: optuna.Study, sequences: list[Sequence], linking: LinkingConfig, appearance: AppearanceFn | None,
    w2: float | None, space: dict[str, Range], n_trials: int,
) -> None:
    """Run trials until the study has ``n_trials`` FINISHED ones, the profile's weights first."""
    study.enqueue_trial(default_weights(linking, space), skip_if_exists=True)
    remaining = n_trials - len(study.get_trials(deepcopy=False, states=FINISHED))
    if remaining > 0:
        study.optimize(
            objective(sequences, linking, appearance, w2, space), n_trials=remaining,
            callbacks=[MaxTrialsCallback(n_trials, states=FINISHED)],
        )


def default_trial(study: optuna.Study, defaults: dict[str, float]) -> FrozenTrial:
    """The finished trial of the profile's weights (its value is None when it was pruned)."""
    return next(t for t in study.get_trials(states=FINISHED) if t.params == defaults)
