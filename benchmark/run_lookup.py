"""Finding the MLflow run whose artifacts a later run builds on (embeddings, a pre-trained model).

A run is named by id (an entry-point parameter such as ``attrackt_run``) or found automatically: the
latest FINISHED run of the entry point on the same data (dataset fingerprint), profile and seed whose
params match, as a sweep pairs them (fine-tuning of seed 1 on the Attrackt run of seed 1, itself on
the autoencoder run of seed 1). Every failure is a ConfigError that names the parameter and says what
to run first.
"""

from __future__ import annotations

import re

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from benchmark.data.sequence import Dataset
from benchmark.errors import ConfigError

_RUN_ID = re.compile(r"[0-9a-f]{32}")


def check_run_id(parameter: str, run_id: str) -> str:
    """``run_id`` if it looks like an MLflow run id (32 lowercase hex digits), else ConfigError naming ``parameter``."""
    if not _RUN_ID.fullmatch(run_id):
        raise ConfigError(f"parameter {parameter}={run_id!r}: not an MLflow run id (32 hexadecimal digits)")
    return run_id


def named_run(parameter: str, run_id: str, entry_point: str, dataset: Dataset | None) -> Run:
    """The finished ``entry_point`` run ``run_id`` made on ``dataset``'s data (on any data when
    ``dataset`` is None), else ConfigError."""
    check_run_id(parameter, run_id)
    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException:
        raise ConfigError(
            f"parameter {parameter}={run_id!r}: no such run in the MLflow store {mlflow.get_tracking_uri()}"
        ) from None
    problem = None
    if run.data.tags.get("entry_point") != entry_point:
        problem = f"is a {run.data.tags.get('entry_point')!r} run, not an {entry_point!r} run"
    elif run.info.status != "FINISHED":
        problem = f"did not finish (status {run.info.status})"
    elif dataset is not None and run.data.params.get("dataset.fingerprint") != dataset.fingerprint:
        problem = f"was made on other data (dataset {run.data.params.get('dataset')!r}, another fingerprint)"
    if problem:
        raise ConfigError(f"parameter {parameter}={run_id!r}: the run {problem}")
    return run


def latest_run(
    entry_point: str, dataset: Dataset, profile: str, params: dict[str, str], tag: str | None = None, *,
    seed: int | None,
) -> Run | None:
    """The latest finished ``entry_point`` run on ``dataset`` with ``profile``, ``seed`` (None: any),
    the given ``params`` values and (if given) the tag ``tag``; None when there is none."""
    same_seed = "" if seed is None else f" and params.seed = '{seed}'"
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=(
            f"tags.entry_point = '{entry_point}' and tags.profile = '{profile}' "
            f"and attributes.status = 'FINISHED' and params.`dataset.fingerprint` = '{dataset.fingerprint}'{same_seed}"
        ),
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    for run in runs:
        if (tag is None or tag in run.data.tags) and all(run.data.params.get(k) == v for k, v in params.items()):
            return run
    return None


def resolve_run(
    parameter: str, run_id: str | None, entry_point: str, dataset: Dataset, profile: str, params: dict[str, str],
    tag: str | None = None, *, seed: int | None,
) -> Run:
    """The run named by ``run_id`` (whatever its seed: a person chose it), or else the latest matching
    one of ``seed`` (None: any seed); ConfigError when there is none."""
    if run_id:
        run = named_run(parameter, run_id, entry_point, dataset)
        if tag is not None and tag not in run.data.tags:
            raise ConfigError(f"parameter {parameter}={run_id!r}: the run has no {tag!r} tag")
        return run
    run = latest_run(entry_point, dataset, profile, params, tag, seed=seed)
    if run is None:
        with_seed = "" if seed is None else f", seed {seed}"
        raise ConfigError(
            f"no finished {entry_point!r} run on dataset {dataset.name!r} (fingerprint {dataset.fingerprint[:12]}...) "
            f"with profile {profile!r}{with_seed} and the same {entry_point} settings in {mlflow.get_tracking_uri()}: "
            f"run the `{entry_point}` entry point first (same dataset, profile{with_seed} and overrides) or pass "
            f"{parameter}=<run id>"
        )
    return run
