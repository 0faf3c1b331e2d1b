"""Glue shared by the methods whose d2 is an association model's Â (supervised, Attrackt, fine-tuning):
log the trained checkpoints and the model (an MLflow pyfunc, see ``attrackt.pyfunc_model``), infer and
log each evaluation sequence's association table, and turn the tables into the linker's appearance term."""

from __future__ import annotations

import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from attrackt.inference import INFERENCE_MAX_TOKENS, predict_associations
from attrackt.training import TrainingResult
from attrackt.windows import SequenceTokens
from benchmark.config import RunConfig
from benchmark.data.sequence import Dataset, Sequence
from benchmark.linking import CandidateGraph, EdgeTerm
from benchmark.linking.costs import appearance_from_associations
from benchmark.pipeline import AppearanceFn

#: w2 for association scores: a high Â makes an edge cheap (SPEC section 2).
ASSOCIATION_W2 = -1.0
#: Name of the MLflow model an association method logs (``runs:/<run id>/model``).
MODEL_NAME = "model"
#: The file MLflow stores with the model and runs to build it ("models from code": nothing is pickled).
_MODEL_CODE = Path(__file__).with_name("pyfunc_code.py")
#: What prediction imports; pinned to this environment's versions (no requirement inference at log time).
_MODEL_REQUIREMENTS = ("mlflow", "torch", "numpy", "pandas", "scikit-image", "tifffile", "peft", "pydantic")
#: Input: one movie (paths); output: its association table.
MODEL_SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "images"), ColSpec("string", "masks", required=False)]),
    outputs=Schema(
        [ColSpec("string", "sequence"), ColSpec("long", "parent"), ColSpec("long", "child"), ColSpec("double", "weight")]
    ),
)


def log_training(result: TrainingResult, n_parameters: int) -> None:
    """Log the checkpoints (``checkpoints/last.pt``, ``checkpoints/best.pt``) and the loss history."""
    mlflow.log_artifact(str(result.last_checkpoint), "checkpoints")
    mlflow.log_artifact(str(result.best_checkpoint), "checkpoints")
    mlflow.log_params({"model.n_parameters": n_parameters, "training.best_step": result.best_step})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "training_history.csv"
        pd.DataFrame(result.history).to_csv(path, index=False)
        mlflow.log_artifact(str(path))


def inference_settings(config: RunConfig) -> dict[str, int | float | bool]:
    """The settings of ``association_tables`` in ``config`` (window, min_association, tta, max_tokens)."""
    return {
        "window": config.model.window,
        "min_association": config.inference.min_association,
        "tta": config.inference.tta,
        "max_tokens": config.inference.max_tokens,
    }


def association_tables(
    model: torch.nn.Module,
    sequences: list[Sequence],
    *,
    window: int,
    min_association: float,
    tta: bool,
    device: torch.device,
    max_tokens: int = INFERENCE_MAX_TOKENS,
) -> dict[str, pd.DataFrame]:
    """Association tables (parent, child, weight; node ids) of ``sequences`` (see ``predict_associations``)."""
    return {
        sequence.name: predict_associations(
            model,
            SequenceTokens.from_sequence(sequence),
            sequence.detections["node_id"].to_numpy(),
            window=window,
            min_association=min_association,
            tta=tta,
            device=device,
            max_tokens=max_tokens,
        )
        for sequence in sequences
    }


def log_association_tables(tables: dict[str, pd.DataFrame], artifact_dir: str = "associations") -> None:
    """Log each table as ``<artifact_dir>/<seq>.csv`` (columns parent, child, weight)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, table in tables.items():
            table.to_csv(Path(tmp) / f"{name}.csv", index=False)
        mlflow.log_artifacts(tmp, artifact_dir)


def infer_associations(
    model: torch.nn.Module,
    sequences: list[Sequence],
    config: RunConfig,
    device: torch.device,
    artifact_dir: str = "associations",
) -> dict[str, pd.DataFrame]:
    """Association tables (parent, child, weight) of ``sequences``, logged as ``<artifact_dir>/<seq>.csv``."""
    tables = association_tables(model, sequences, device=device, **inference_settings(config))
    log_association_tables(tables, artifact_dir)
    return tables


def autoencoder_checkpoint(run_id: str) -> str:
    """URI of the autoencoder checkpoint an ``autoencoder`` run logged (``checkpoints/autoencoder.pt``)."""
    return f"runs:/{run_id}/checkpoints/autoencoder.pt"


def log_association_model(
    checkpoint: Path | str, config: RunConfig, *, adapter: Path | str | None = None, autoencoder: str | None = None
) -> str:
    """Log the trained model to the active run as the MLflow model ``model``; returns its model URI.

    ``checkpoint``: the backbone's checkpoint (an AssociationModel's, or an AttracktModel's whose
    backbone is used), ``adapter``: a LoRA adapter file to apply to it, ``autoencoder``: the
    autoencoder checkpoint the model was trained with (carried along, not used for prediction). Each
    is a local path or an MLflow artifact URI (``runs:/<run id>/<path>``). The inference settings of
    ``config`` become the model's config, with ``device`` ``auto`` (overridable when loading).
    """
    artifacts = {"checkpoint": str(checkpoint)}
    if adapter is not None:
        artifacts["adapter"] = str(adapter)
    if autoencoder is not None:
        artifacts["autoencoder"] = autoencoder
    with warnings.catch_warnings():  # the input is file paths, so an input example would not travel with it
        warnings.filterwarnings("ignore", message=".*input example was not provided.*")
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(_MODEL_CODE),
            artifacts=artifacts,
            model_config={**inference_settings(config), "device": "auto"},
            signature=MODEL_SIGNATURE,
            pip_requirements=[f"{package}=={version(package)}" for package in _MODEL_REQUIREMENTS],
        )
    return info.model_uri


def association_term(tables: dict[str, pd.DataFrame]) -> AppearanceFn:
    """The appearance term d2 = Â(u, v) read from each sequence's association table."""

    def appearance(sequence: Sequence, candidates: CandidateGraph) -> EdgeTerm:
        table = tables[sequence.name]
        return appearance_from_associations(
            candidates, table["parent"].to_numpy(), table["child"].to_numpy(), table["weight"].to_numpy()
        )

    return appearance


def training_tokens(dataset: Dataset, split: str) -> list[SequenceTokens]:
    """Token arrays of the dataset's ``train``, ``val`` or ``all`` sequences."""
    sequences = {
        "train": dataset.training_sequences,
        "val": dataset.validation_sequences,
        "all": lambda: list(dataset.sequences.values()),
    }[split]()
    return [SequenceTokens.from_sequence(sequence) for sequence in sequences]
