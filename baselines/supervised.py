"""Supervised Trackastra ("Pos. & Sup. Assoc.", Table 1's last row): the association model trained with
full lineage GT on the train split (validated on val), its Â as d2 with w2 = −1."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from attrackt.association_method import (
    ASSOCIATION_W2,
    association_term,
    infer_associations,
    log_association_model,
    log_training,
    training_tokens,
)
from attrackt.association_training import (
    supervised_objective,
    train_association_model,
    training_batches,
    validation_batches,
)
from attrackt.model.network import AssociationModel
from attrackt.training import pick_device, seed_everything
from benchmark.config import RunConfig
from benchmark.data.sequence import Dataset
from benchmark.entry_points import MethodFit, track_with_method
from benchmark.errors import ConfigError


def fit_supervised(dataset: Dataset, config: RunConfig, seed: int) -> MethodFit:
    """Train on the train split with lineage targets, keep the best validation checkpoint, infer Â on
    the evaluation sequences; log the best model."""
    if not dataset.split.train:
        raise ConfigError(f"dataset {dataset.name!r} has no training sequences: the supervised baseline needs a train split")
    rng = seed_everything(seed)
    device = pick_device(config.device)
    model = AssociationModel(config.model).to(device)
    print(f"association model: {model.n_parameters():,} parameters, device {device}", flush=True)
    mlflow.log_params({"training.sequences": "train", "training.validation": ",".join(dataset.split.val) or "none"})
    with tempfile.TemporaryDirectory() as tmp:
        result = train_association_model(
            model,
            supervised_objective,
            training_batches(training_tokens(dataset, "train"), config.model, config.supervised, rng, device),
            validation_batches(training_tokens(dataset, "val"), config.model, config.supervised, seed, device),
            train=config.supervised,
            checkpoint_dir=Path(tmp),
            checkpoint=lambda step: model.checkpoint(step=step),
            name="supervised",
        )
        log_training(result, model.n_parameters())
        model_uri = log_association_model(result.best_checkpoint, config)
        model = AssociationModel.load(result.best_checkpoint, device)
    tables = infer_associations(model, dataset.evaluation_sequences(), config, device)
    return MethodFit(association_term(tables), ASSOCIATION_W2, model_uri=model_uri)


def run_supervised(
    dataset: str, profile: str = "quick", seed: int = 0, overrides: dict[str, Any] | None = None
) -> pd.DataFrame:
    """The ``supervised`` entry point: train with GT, link and score the evaluation sequences."""
    return track_with_method("supervised", fit_supervised, dataset, profile, seed, overrides)
