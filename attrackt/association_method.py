"""Glue shared by the methods whose d2 is an association model's Â (supervised, Attrackt, fine-tuning):
log the trained checkpoints, infer and log each evaluation sequence's association table, and turn the
tables into the linker's appearance term."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd
import torch

from attrackt.inference import predict_associations
from attrackt.training import TrainingResult
from attrackt.windows import SequenceTokens
from benchmark.config import RunConfig
from benchmark.data.sequence import Dataset, Sequence
from benchmark.linking import CandidateGraph, EdgeTerm
from benchmark.linking.costs import appearance_from_associations
from benchmark.pipeline import AppearanceFn

#: w2 for association scores: a high Â makes an edge cheap (SPEC section 2).
ASSOCIATION_W2 = -1.0


def log_training(result: TrainingResult, n_parameters: int) -> None:
    """Log the checkpoints (``checkpoints/last.pt``, ``checkpoints/best.pt``) and the loss history."""
    mlflow.log_artifact(str(result.last_checkpoint), "checkpoints")
    mlflow.log_artifact(str(result.best_checkpoint), "checkpoints")
    mlflow.log_params({"model.n_parameters": n_parameters, "training.best_step": result.best_step})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "training_history.csv"
        pd.DataFrame(result.history).to_csv(path, index=False)
        mlflow.log_artifact(str(path))


def infer_associations(
    model: torch.nn.Module,
    sequences: list[Sequence],
    config: RunConfig,
    device: torch.device,
    artifact_dir: str = "associations",
) -> dict[str, pd.DataFrame]:
    """Association tables (parent, child, weight) of ``sequences``, logged as ``<artifact_dir>/<seq>.csv``."""
    tables = {
        sequence.name: predict_associations(
            model,
            SequenceTokens.from_sequence(sequence),
            sequence.detections["node_id"].to_numpy(),
            window=config.model.window,
            min_association=config.inference.min_association,
            tta=config.inference.tta,
            device=device,
        )
        for sequence in sequences
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, table in tables.items():
            table.to_csv(Path(tmp) / f"{name}.csv", index=False)
        mlflow.log_artifacts(tmp, artifact_dir)
    return tables


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
