"""Interactive fine-tuning (Figure 2) and training from scratch (Figure 3), SPEC section 7.

From a finished Attrackt run: link the sequences to annotate with its associations, pick k nodes by a
sampling strategy and annotate them from the GT, take the ILP links of the least uncertain nodes as
pseudo-labels, then train on (supervised loss on annotated windows) + (supervised loss on
pseudo-labelled windows) + (Attrackt loss on unlabelled windows), equal weights, for
min(100·k, cap) iterations; keep the last model. Fine-tuning trains LoRA adapters (and m_E, m_D) on
the Attrackt weights; training from scratch trains every weight from a random start.

Setups: ``extrapolation`` annotates and trains on the train+val sequences and evaluates on the test
sequences; ``interpolation`` annotates and trains on the evaluation sequences themselves and pins the
annotations in their ILP.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch

from attrackt.association_method import ASSOCIATION_W2, association_term, infer_associations, log_training
from attrackt.association_training import supervised_objective, train_association_model, training_batches
from attrackt.embeddings_store import autoencoder_embeddings
from attrackt.label_windows import Labels, labelled_batches, labels_from_table
from attrackt.lora import add_lora, adapter_checkpoint
from attrackt.sampling import STRATEGIES, choose_annotations, node_pool, parse_k, pseudo_labels
from attrackt.training import load_checkpoint, pick_device, seed_everything
from attrackt.unsupervised import RESOLVED_AUTOENCODER_RUN
from attrackt.unsupervised_loss import AttracktModel, attrackt_losses, embedding_tables
from attrackt.windows import SequenceTokens
from benchmark.config import RunConfig, flatten
from benchmark.data.sequence import Dataset, Sequence
from benchmark.entry_points import MethodFit, track_with_method
from benchmark.errors import ConfigError
from benchmark.pipeline import track_sequence
from benchmark.run_lookup import check_run_id, resolve_run

SETUPS = ("interpolation", "extrapolation")
#: The param naming the Attrackt run that was fine-tuned (``attrackt_run`` is the entry-point parameter).
RESOLVED_ATTRACKT_RUN = "resolved.attrackt_run"


def annotated_sequences(dataset: Dataset, setup: str) -> list[Sequence]:
    """The sequences a person annotates in ``setup``."""
    if setup == "interpolation":
        return dataset.evaluation_sequences()
    sequences = dataset.training_sequences() + dataset.validation_sequences()
    if not sequences:
        raise ConfigError(f"parameter setup=extrapolation: dataset {dataset.name!r} has no train or val sequences")
    return sequences


def pretrained_attrackt(dataset: Dataset, config: RunConfig, attrackt_run: str | None, device: torch.device):
    """The Attrackt run (named, or the latest one on the same data, profile and model/training config)
    and its last checkpoint as a model."""
    same = {k: str(v) for k, v in flatten(config).items() if k.startswith(("model.", "attrackt."))}
    run = resolve_run("attrackt_run", attrackt_run, "attrackt", dataset, config.profile, same)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="checkpoints/last.pt", dst_path=tmp)
        model = AttracktModel.from_checkpoint(load_checkpoint(Path(path), device)).to(device)
    return run, model


def annotation_pool(model: AttracktModel, sequences: list[Sequence], config: RunConfig, device: torch.device) -> pd.DataFrame:
    """Every node of ``sequences`` with its uncertainty under ``model`` and its ILP and GT children."""
    tables = infer_associations(model.backbone, sequences, config, device, artifact_dir="pretrained_associations")
    term = association_term(tables)
    pools = []
    for sequence in sequences:
        edges = track_sequence(sequence, config.linking, term, ASSOCIATION_W2).edges
        pools.append(node_pool(sequence, tables[sequence.name], edges))
    return pd.concat(pools, ignore_index=True)


def log_table(table: pd.DataFrame, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        table.to_csv(path, index=False)
        mlflow.log_artifact(str(path))


def finetune_objective(tables: dict[str, torch.Tensor], transitive_weight: float, with_pseudo: bool):
    """Equal-weight sum of the supervised loss on annotated and on pseudo-labelled windows and the
    Attrackt loss on unlabelled windows; a batch is the triple (annotated, pseudo or None, unlabelled)."""

    def objective(model: AttracktModel, batches: tuple) -> dict[str, torch.Tensor]:
        annotated, pseudo, unlabelled = batches
        losses = {"annotated": supervised_objective(model.backbone, annotated)["loss"]}
        if with_pseudo:
            losses["pseudo"] = supervised_objective(model.backbone, pseudo)["loss"]
        unsupervised = attrackt_losses(model, unlabelled, tables, transitive_weight)
        losses["attrackt"] = unsupervised["loss"]
        total = sum(losses.values())
        return {"loss": total, **{name: value.detach() for name, value in losses.items()}}

    return objective


def train_on_annotations(
    model: AttracktModel,
    sequences: list[Sequence],
    annotations: Labels,
    pseudo: Labels,
    embeddings: dict[str, torch.Tensor],
    config: RunConfig,
    seed: int,
    device: torch.device,
    checkpoint_dir: Path,
    name: str,
    lora: bool,
):
    """The fine-tuning recipe on ``model``; returns the training result (last checkpoint is used)."""
    settings = config.finetune
    tokens = {sequence.name: SequenceTokens.from_sequence(sequence) for sequence in sequences}
    rng = np.random.default_rng(seed)
    n_annotations = sum(len(rows) for rows in annotations.values())
    iterations = min(settings.iterations_per_annotation * n_annotations, settings.iterations)
    mlflow.log_params({"finetune.budget_iterations": iterations, "finetune.lora": lora})
    annotated = labelled_batches(tokens, annotations, config.model, settings.batch_size, rng, device, settings.augment)
    pseudo_batches = (
        labelled_batches(tokens, pseudo, config.model, settings.batch_size, rng, device, settings.augment) if pseudo else None
    )
    unlabelled = training_batches(list(tokens.values()), config.model, settings, rng, device)

    def batches():
        while True:
            yield next(annotated), next(pseudo_batches) if pseudo_batches else None, next(unlabelled)

    def checkpoint(step: int) -> dict[str, Any]:
        if lora:
            return adapter_checkpoint(model, settings.lora_r, settings.lora_alpha, settings.lora_dropout, step=step)
        return model.checkpoint(step=step)

    return train_association_model(
        model,
        finetune_objective(embeddings, config.attrackt.transitive_weight, bool(pseudo)),
        batches(),
        [],
        train=settings,
        checkpoint_dir=checkpoint_dir,
        checkpoint=checkpoint,
        name=name,
        iterations=iterations,
    )


def fit_from_annotations(
    dataset: Dataset,
    config: RunConfig,
    seed: int,
    *,
    k: int | None,
    sampling: str,
    setup: str,
    attrackt_run: str | None,
    pretrained: bool,
) -> MethodFit:
    """Annotate, train (fine-tune or from scratch), infer Â on the evaluation sequences; pins for interpolation."""
    name = "finetune" if pretrained else "scratch"
    device = pick_device(config.device)
    sequences = annotated_sequences(dataset, setup)
    run, base = pretrained_attrackt(dataset, config, attrackt_run, device)
    embeddings, source = autoencoder_embeddings(dataset, config, run.data.params.get(RESOLVED_AUTOENCODER_RUN))
    tables = embedding_tables(embeddings, device)

    pool = annotation_pool(base, sequences, config, device)
    annotations = choose_annotations(pool, sampling, k, np.random.default_rng(seed))
    pseudo = pseudo_labels(pool, annotations, config.finetune.pseudo_label_fraction)
    log_table(annotations, "annotations.csv")
    log_table(pseudo, "pseudo_labels.csv")
    mlflow.log_params(
        {
            RESOLVED_ATTRACKT_RUN: run.info.run_id,
            RESOLVED_AUTOENCODER_RUN: source,
            "annotated_sequences": ",".join(s.name for s in sequences),
            "annotations": len(annotations),
            "pseudo_labels": len(pseudo),
        }
    )

    seed_everything(seed)
    model = add_lora(base, config.finetune.lora_r, config.finetune.lora_alpha, config.finetune.lora_dropout) if pretrained else (
        AttracktModel(base.config).to(device)
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = train_on_annotations(
            model, sequences, labels_from_table(annotations, "gt_children"), labels_from_table(pseudo, "ilp_children"),
            tables, config, seed, device, Path(tmp), name, lora=pretrained,
        )
        log_training(result, sum(p.numel() for p in model.parameters() if p.requires_grad))
    associations = infer_associations(model.backbone, dataset.evaluation_sequences(), config, device)
    pins = None
    if setup == "interpolation":
        pins = {sequence: dict(nodes) for sequence, nodes in labels_from_table(annotations, "gt_children").items()}
    return MethodFit(association_term(associations), ASSOCIATION_W2, pins)


def _run(
    method: str,
    pretrained: bool,
    dataset: str,
    profile: str,
    seed: int,
    overrides: dict[str, Any] | None,
    k: str,
    sampling: str,
    setup: str,
    attrackt_run: str | None,
) -> pd.DataFrame:
    """Validate the parameters before anything runs, then fit, link, evaluate and log."""
    k_value = parse_k(k)
    if sampling not in STRATEGIES:
        raise ConfigError(f"parameter sampling={sampling!r}: must be one of {', '.join(STRATEGIES)}")
    if setup not in SETUPS:
        raise ConfigError(f"parameter setup={setup!r}: must be one of {', '.join(SETUPS)}")
    if attrackt_run:
        check_run_id("attrackt_run", attrackt_run)

    def fit(data: Dataset, config: RunConfig, run_seed: int) -> MethodFit:
        return fit_from_annotations(
            data, config, run_seed, k=k_value, sampling=sampling, setup=setup, attrackt_run=attrackt_run or None,
            pretrained=pretrained,
        )

    return track_with_method(method, fit, dataset, profile, seed, overrides, {"k": str(k), "sampling": sampling, "setup": setup})


def run_finetune(
    dataset: str, profile: str = "quick", seed: int = 0, overrides: dict[str, Any] | None = None,
    k: str = "100", sampling: str = "confidence", setup: str = "interpolation", attrackt_run: str | None = None,
) -> pd.DataFrame:
    """The ``finetune`` entry point: LoRA fine-tuning of an Attrackt run on k sampled annotations."""
    return _run("finetune", True, dataset, profile, seed, overrides, k, sampling, setup, attrackt_run)


def run_scratch(
    dataset: str, profile: str = "quick", seed: int = 0, overrides: dict[str, Any] | None = None,
    k: str = "100", sampling: str = "confidence", setup: str = "interpolation", attrackt_run: str | None = None,
) -> pd.DataFrame:
    """The ``scratch`` entry point: the same annotations, recipe and budget from random weights."""
    return _run("scratch", False, dataset, profile, seed, overrides, k, sampling, setup, attrackt_run)
