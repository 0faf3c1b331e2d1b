"""The ILP weights a ``tune`` run found, and a method run's config with them (``linking.weights_run``).

A ``tune`` run logs its best weights as params ``ilp.<field>`` for the searched LinkingConfig fields
(TUNED_FIELDS). ``ilp.w2_scale`` is |w2| (absent for position only); a method multiplies its own w2
(−1 association scores, +1 embedding distances) by it, so the sign always stays the method's.
"""

from __future__ import annotations

from typing import Any

from mlflow.entities import Run

from benchmark.config import RunConfig, load_config
from benchmark.data.sequence import Dataset
from benchmark.errors import ConfigError
from benchmark.run_lookup import named_run

#: LinkingConfig fields the search sets; w2_scale only for methods with an appearance term.
TUNED_FIELDS = ("w1", "w2_scale", "b", "appear_cost", "disappear_cost")
#: Param of a tune run naming the method whose d2 it tuned for.
METHOD_PARAM = "tune.method"
#: Methods whose runs may use another method's tuned weights: fine-tuned and from-scratch models link
#: with Attrackt-style associations (their own d2 cannot be tuned without the evaluation sequences).
COMPATIBLE = {"finetune": "attrackt", "scratch": "attrackt"}
PARAMETER = "ilp_weights_run"


def weight_params(weights: dict[str, float], w2: float | None) -> dict[str, float]:
    """``{"ilp.<field>": value}`` for MLflow, and the signed ``ilp.w2`` = ``w2`` (the method's) · w2_scale
    unless ``w2`` is None."""
    params = {f"ilp.{name}": value for name, value in weights.items()}
    return params if w2 is None else {**params, "ilp.w2": w2 * weights["w2_scale"]}


def tune_run(run_id: str, method: str) -> Run:
    """The finished ``tune`` run ``run_id`` made for ``method`` (or a method COMPATIBLE with it), else
    ConfigError naming the parameter."""
    run = named_run(PARAMETER, run_id, "tune", None)
    tuned_for = run.data.params.get(METHOD_PARAM)
    if tuned_for not in (method, COMPATIBLE.get(method)):
        raise ConfigError(
            f"parameter {PARAMETER}={run_id!r}: the run tuned the weights of method {tuned_for!r}, not of {method!r}"
        )
    return run


def tuned_config(method: str, profile: str, overrides: dict[str, Any] | None) -> tuple[RunConfig, Run | None]:
    """The resolved config of a ``method`` run, with the weights of the tune run ``linking.weights_run``
    (if set) in place of the profile's; and that tune run.

    ConfigError when ``overrides`` also set a tuned field (the two would contradict each other).
    """
    overrides = dict(overrides or {})
    config = load_config(profile, overrides)
    run_id = config.linking.weights_run
    if run_id is None:
        return config, None
    run = tune_run(run_id, method)
    clash = sorted(set(overrides) & {f"linking.{name}" for name in TUNED_FIELDS})
    if clash:
        raise ConfigError(f"parameter {PARAMETER}={run_id!r}: its tuned weights replace {', '.join(clash)}; drop those overrides")
    tuned = {
        f"linking.{name}": float(run.data.params[f"ilp.{name}"]) for name in TUNED_FIELDS if f"ilp.{name}" in run.data.params
    }
    return load_config(profile, {**overrides, **tuned}), run


def check_tuned_on(run: Run, dataset: Dataset) -> None:
    """ConfigError unless the tune run ``run`` searched its weights on ``dataset``'s data."""
    if run.data.params.get("dataset.fingerprint") != dataset.fingerprint:
        raise ConfigError(
            f"parameter {PARAMETER}={run.info.run_id!r}: the weights were tuned on other data "
            f"(dataset {run.data.params.get('dataset')!r}), not on {dataset.name!r}"
        )
