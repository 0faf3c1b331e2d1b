"""The ``track`` entry point: a trained association model tracks a movie.

Model: the run id of a finished ``supervised``, ``attrackt``, ``finetune`` or ``scratch`` run (its
MLflow model ``model``), or a registered version ``models:/NAME/VERSION`` / ``models:/NAME@ALIAS``
(registered as ``<method>-<dataset>`` by those runs). Movie: a CTC folder (movies ``NAME/tTTT.tif`` +
``NAME_SEG/maskTTT.tif``, or GT sequences) or an images TIFF stack with a masks TIFF stack (see
``benchmark.data.datasets.read_movie``).

The model's Â of each of the movie's evaluation sequences is d2 of the ILP (w2 = ASSOCIATION_W2;
linking settings and device from the profile, inference settings from the model). The run logs the
params ``model_uri`` (as given), ``resolved.model`` (the URI loaded), ``resolved.model_run`` (the run
that trained the model), ``movie`` and ``masks`` (when given); the artifacts
``associations/<seq>.csv``, ``predictions/<seq>.geff``, ``predictions/<seq>_RES/`` (CTC results) and
``overlays/<seq>.png`` (the tracks drawn on a few frames); metrics only for sequences with GT.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from attrackt.association_method import ASSOCIATION_W2, MODEL_NAME, association_term, log_association_tables
from attrackt.pyfunc_model import AssociationPyfunc
from benchmark.config import load_config
from benchmark.data.ctc import predicted_tracks
from benchmark.data.datasets import read_movie
from benchmark.data.sequence import Dataset
from benchmark.errors import ConfigError, DataError
from benchmark.mlflow_run import entry_point_run, log_dataset, log_outcome
from benchmark.overlay import write_track_strip
from benchmark.pipeline import DatasetOutcome, track_and_evaluate
from benchmark.tracking import configure_tracking

#: Entry points whose runs log an association model.
MODEL_METHODS = ("supervised", "attrackt", "finetune", "scratch")
_REGISTERED = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z0-9_-]+))")
_RUN_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class ResolvedModel:
    """The MLflow model URI to load and the id of the run that trained (and logged) the model."""

    uri: str
    run_id: str


def resolve_model(model: str) -> ResolvedModel:
    """The model named by the ``model`` parameter: a run id or ``models:/NAME/VERSION`` / ``models:/NAME@ALIAS``.

    ConfigError naming the parameter for anything else, an unknown run or registered version, a run
    that is not a finished run of a MODEL_METHODS entry point or that logged no model.
    """
    text = model.strip()
    if text.startswith("models:/"):
        return _registered_model(text)
    if _RUN_ID.fullmatch(text):
        return _run_model(text)
    raise ConfigError(
        f"parameter model={model!r}: give the run id of a {', '.join(MODEL_METHODS)} run (32 hexadecimal digits) "
        "or a registered model as models:/NAME/VERSION or models:/NAME@ALIAS"
    )


def _registered_model(uri: str) -> ResolvedModel:
    match = _REGISTERED.fullmatch(uri)
    if match is None:
        raise ConfigError(f"parameter model={uri!r}: a registered model is models:/NAME/VERSION or models:/NAME@ALIAS")
    client = MlflowClient()
    try:
        if match["version"]:
            version = client.get_model_version(match["name"], match["version"])
        else:
            version = client.get_model_version_by_alias(match["name"], match["alias"])
    except MlflowException:
        known = sorted(model.name for model in client.search_registered_models())
        raise ConfigError(
            f"parameter model={uri!r}: no such registered model version in the MLflow store {mlflow.get_tracking_uri()} "
            f"(registered models: {', '.join(known) or 'none'})"
        ) from None
    return ResolvedModel(uri, version.run_id)


def _run_model(run_id: str) -> ResolvedModel:
    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException:
        raise ConfigError(f"parameter model={run_id!r}: no such run in the MLflow store {mlflow.get_tracking_uri()}") from None
    entry_point = run.data.tags.get("entry_point")
    problem = None
    if entry_point not in MODEL_METHODS:
        problem = f"is a {entry_point!r} run; models come from {', '.join(MODEL_METHODS)} runs"
    elif run.info.status != "FINISHED":
        problem = f"did not finish (status {run.info.status})"
    elif not mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run_id}' AND name = '{MODEL_NAME}'",
        output_format="list",
    ):
        problem = "logged no model (it predates model logging): run it again"
    if problem:
        raise ConfigError(f"parameter model={run_id!r}: the run {problem}")
    return ResolvedModel(f"runs:/{run_id}/{MODEL_NAME}", run_id)


def load_predictor(uri: str, device: str) -> AssociationPyfunc:
    """The suite's association model behind the MLflow model ``uri``, on ``device`` (``auto``, ``cpu``, ``cuda[:i]``)."""
    predictor = mlflow.pyfunc.load_model(uri, model_config={"device": device}).unwrap_python_model()
    if not isinstance(predictor, AssociationPyfunc):
        raise ConfigError(f"parameter model: {uri} is not an association model of this suite")
    return predictor


def track_summary(dataset: Dataset, outcome: DatasetOutcome) -> pd.DataFrame:
    """One row per tracked sequence: frames, detections, predicted links, tracks and divisions."""
    rows = []
    for name, result in outcome.sequences.items():
        sequence, edges = dataset.sequences[name], np.asarray(result.solution.edges, dtype=np.int64).reshape(-1, 2)
        _, tracks = predicted_tracks(sequence.frames(), edges)
        rows.append(
            {
                "sequence": name,
                "frames": sequence.n_frames,
                "detections": sequence.n_detections,
                "links": len(edges),
                "tracks": len(tracks),
                "divisions": int((np.bincount(edges[:, 0], minlength=sequence.n_detections) >= 2).sum()),
            }
        )
    return pd.DataFrame(rows).set_index("sequence")


def run_track(
    movie: str,
    masks: str = "",
    model: str = "",
    profile: str = "quick",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The ``track`` entry point (see the module docstring); returns ``track_summary``, plus the
    metrics columns when the movie has GT."""
    config = load_config(profile, overrides)
    if not movie.strip():
        raise ConfigError("parameter movie: required (a CTC folder or an images TIFF stack)")
    if not model.strip():
        raise ConfigError("parameter model: required (a run id or models:/NAME/VERSION)")
    if not Path(movie).expanduser().exists():
        raise DataError(movie, "no such file or folder (parameter movie)")
    configure_tracking()
    resolved = resolve_model(model)
    params = {
        "method": "track",
        "dataset": Path(movie).name,
        "seed": seed,
        "movie": movie,
        "model_uri": model,
        "resolved.model": resolved.uri,
        "resolved.model_run": resolved.run_id,
    }
    if masks:  # (``mlflow run`` has logged the parameter already, an empty one as '')
        params["masks"] = masks
    with entry_point_run("track", config, params):
        data = read_movie(movie, masks or None, data_dir=Path(config.data.data_dir))
        log_dataset(data)
        tables = load_predictor(resolved.uri, config.device).associations(data)
        log_association_tables(tables)
        mlflow.log_param("linking.w2", ASSOCIATION_W2 * config.linking.w2_scale)
        outcome = track_and_evaluate(data, config.linking, association_term(tables), ASSOCIATION_W2)
        metrics = log_outcome(data, outcome)
        with tempfile.TemporaryDirectory() as tmp:
            for name, result in outcome.sequences.items():
                write_track_strip(Path(tmp) / f"{name}.png", data.sequences[name], result.solution.edges)
            mlflow.log_artifacts(tmp, "overlays")
        return track_summary(data, outcome).join(metrics.drop(index="mean", errors="ignore"))
