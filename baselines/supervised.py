"""Supervised Trackastra ("Pos. & Sup. Assoc.", Table 1's last row): the association model trained with
full lineage GT on the train split, its Â as d2 with w2 = −1.

Validation selects the checkpoint kept: the val sequences, or for a dataset without any (HeLa) the
last ``supervised.held_out_fraction`` of each training sequence's frames, which are then not trained
on (the reference: HeLa 01 frames 0-77 train, 78-91 validate).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
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
from attrackt.windows import SequenceTokens
from benchmark.config import RunConfig
from benchmark.data.datasets import check_train_eval_overlap
from benchmark.data.sequence import Dataset
from benchmark.entry_points import MethodFit, track_with_method
from benchmark.errors import ConfigError
from benchmark.tracking import tag_leakage


def frame_range(tokens: SequenceTokens, start: int, stop: int) -> SequenceTokens:
    """Frames [start, stop) of ``tokens`` as a sequence of their own: frames renumbered from 0, a GT
    parent before ``start`` dropped (the node becomes a root)."""
    first, end = np.searchsorted(tokens.t, [start, stop])
    parent = tokens.parent[first:end] - first
    return SequenceTokens(
        name=tokens.name,
        t=tokens.t[first:end] - start,
        yx=tokens.yx[first:end],
        features=tokens.features[first:end],
        parent=np.where(parent >= 0, parent, -1),
        n_frames=stop - start,
    )


def hold_out_last_frames(
    sequences: list[SequenceTokens], fraction: float
) -> tuple[list[SequenceTokens], list[SequenceTokens], dict[str, str]]:
    """Each sequence cut in two: its last round(fraction · n_frames) frames (at most n_frames − 1) for
    validation, the frames before them for training (a sequence too short for one held-out frame is
    trained on whole). Returns both lists and params naming the frames (``01 frames 0-77``)."""
    train, validation, train_names, validation_names = [], [], [], []
    for tokens in sequences:
        n_frames = tokens.n_frames
        cut = n_frames - min(int(np.floor(fraction * n_frames + 0.5)), n_frames - 1)
        train.append(frame_range(tokens, 0, cut))
        train_names.append(f"{tokens.name} frames 0-{cut - 1}")
        if cut < n_frames:
            validation.append(frame_range(tokens, cut, n_frames))
            validation_names.append(f"{tokens.name} frames {cut}-{n_frames - 1}")
    return train, validation, _names(train_names, validation_names)


def supervised_data(
    dataset: Dataset, fraction: float
) -> tuple[list[SequenceTokens], list[SequenceTokens], dict[str, str]]:
    """Training and validation sequences of the supervised baseline, and params naming them.

    The dataset's val sequences validate; without any, the last ``fraction`` of each training
    sequence's frames does (``hold_out_last_frames``; ``fraction`` 0: nothing validates)."""
    train, validation = training_tokens(dataset, "train"), training_tokens(dataset, "val")
    if validation or fraction == 0:
        return train, validation, _names(dataset.split.train, dataset.split.val)
    return hold_out_last_frames(train, fraction)


def _names(train: Iterable[str], validation: Iterable[str]) -> dict[str, str]:
    return {"training.sequences": ", ".join(train), "training.validation": ", ".join(validation) or "none"}


def fit_supervised(dataset: Dataset, config: RunConfig, seed: int) -> MethodFit:
    """Train on the train split with lineage targets, keep the best validation checkpoint, infer Â on
    the evaluation sequences; log the best model."""
    if not dataset.split.train:
        raise ConfigError(f"dataset {dataset.name!r} has no training sequences: the supervised baseline needs a train split")
    with_gt = (*dataset.split.train, *dataset.split.val)  # trained on, or validated on to pick the checkpoint
    tag_leakage(check_train_eval_overlap(dataset, with_gt, "supervised", config.data.allow_train_eval_overlap))
    rng = seed_everything(seed)
    device = pick_device(config.device)
    model = AssociationModel(config.model).to(device)
    print(f"association model: {model.n_parameters():,} parameters, device {device}", flush=True)
    train, validation, names = supervised_data(dataset, config.supervised.held_out_fraction)
    mlflow.log_params(names)
    with tempfile.TemporaryDirectory() as tmp:
        result = train_association_model(
            model,
            supervised_objective,
            training_batches(train, config.model, config.supervised, rng, device),
            validation_batches(validation, config.model, config.supervised, seed, device),
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
