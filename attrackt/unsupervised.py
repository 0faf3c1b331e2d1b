"""Attrackt ("Pos. & Unsup. Assoc.", the paper's contribution): the association backbone trained without
any ground truth on every sequence of the dataset, by the loss of attrackt/unsupervised_loss.py on
frozen autoencoder embeddings; its Â is d2 with w2 = −1."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from attrackt.association_method import (
    ASSOCIATION_W2,
    association_term,
    autoencoder_checkpoint,
    infer_associations,
    log_association_model,
    log_training,
    training_tokens,
)
from attrackt.association_training import train_association_model, training_batches
from attrackt.embeddings_store import autoencoder_embeddings
from attrackt.training import pick_device, seed_everything
from attrackt.unsupervised_loss import AttracktModel, attrackt_losses, embedding_tables
from benchmark.config import AttracktModelConfig, RunConfig
from benchmark.data.sequence import Dataset
from benchmark.entry_points import MethodFit, track_with_method
from benchmark.run_lookup import check_run_id

#: The param naming the autoencoder run whose embeddings were used (``autoencoder_run`` itself is the
#: entry-point parameter, which ``mlflow run`` logs as given, possibly empty).
RESOLVED_AUTOENCODER_RUN = "resolved.autoencoder_run"


def train_attrackt(
    dataset: Dataset, config: RunConfig, seed: int, autoencoder_run: str | None, checkpoint_dir: Path
) -> tuple[AttracktModel, str]:
    """Train backbone, m_E and m_D on all sequences with the Attrackt loss; log checkpoints, provenance
    and the model (with its autoencoder).

    Returns the model of the last step (there are no labels to select another one with) and the URI of
    the logged MLflow model.
    """
    embeddings, source = autoencoder_embeddings(dataset, config, autoencoder_run, seed=seed)
    device = pick_device(config.device)
    tables = embedding_tables(embeddings, device)
    rng = seed_everything(seed)
    model = AttracktModel(AttracktModelConfig(backbone=config.model, embedding_dim=next(iter(embeddings.values())).shape[1]))
    model.to(device)
    print(f"Attrackt model: {model.n_parameters():,} parameters, device {device}", flush=True)
    mlflow.log_params(
        {
            RESOLVED_AUTOENCODER_RUN: source,
            "training.sequences": "all (train, val and test; no labels are used)",
            "training.checkpoint_used": "last",
        }
    )
    result = train_association_model(
        model,
        lambda net, batch: attrackt_losses(net, batch, tables, config.attrackt.transitive_weight),
        training_batches(training_tokens(dataset, "all"), config.model, config.attrackt, rng, device),
        [],
        train=config.attrackt,
        checkpoint_dir=checkpoint_dir,
        checkpoint=lambda step: model.checkpoint(step=step),
        name="attrackt",
    )
    log_training(result, model.n_parameters())
    return model, log_association_model(result.last_checkpoint, config, autoencoder=autoencoder_checkpoint(source))


def fit_attrackt(
    dataset: Dataset, config: RunConfig, seed: int, autoencoder_run: str | None = None
) -> MethodFit:
    """Train without labels, then infer Â on the evaluation sequences."""
    with tempfile.TemporaryDirectory() as tmp:
        model, model_uri = train_attrackt(dataset, config, seed, autoencoder_run, Path(tmp))
    tables = infer_associations(model.backbone, dataset.evaluation_sequences(), config, pick_device(config.device))
    return MethodFit(association_term(tables), ASSOCIATION_W2, model_uri=model_uri)


def run_attrackt(
    dataset: str,
    profile: str = "quick",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    autoencoder_run: str | None = None,
) -> pd.DataFrame:
    """The ``attrackt`` entry point. ``autoencoder_run``: the run whose embeddings to use (default: the
    latest finished ``autoencoder`` run on the same data, profile and autoencoder config)."""
    if autoencoder_run:
        check_run_id("autoencoder_run", autoencoder_run)

    def fit(data: Dataset, config: RunConfig, run_seed: int) -> MethodFit:
        return fit_attrackt(data, config, run_seed, autoencoder_run or None)

    return track_with_method("attrackt", fit, dataset, profile, seed, overrides)
