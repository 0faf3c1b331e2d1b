"""Interactive fine-tuning (Figure 2) and training from scratch (Figure 3), SPEC section 7.

From a finished Attrackt run: link the sequences to annotate with its associations, pick k nodes by a
sampling strategy and annotate them from the GT, take the ILP links of the least uncertain nodes as
pseudo-labels (``finetune.pseudo_label_rule``, see attrackt.sampling.pseudo_labels), then train on
(supervised loss on annotated windows) + (supervised loss on pseudo-labelled windows) + (Attrackt loss
on unlabelled windows), equal weights, for min(100·k, cap) iterations; keep the last model.
Fine-tuning trains LoRA adapters (and m_E, m_D) on the Attrackt weights; training from scratch trains
every weight from a random start. Training from scratch annotates the same nodes as the fine-tuning
run of the same k, sampling and seed (the same ranking of the same Attrackt run), but learns nothing
else from the pre-trained model: no pseudo-labels (they would be the pre-trained model's links). The
params ``annotations.source`` and ``pseudo_labels.source`` say where a run's labels came from.

Setups: ``extrapolation`` annotates and trains on the train+val sequences and evaluates on the test
sequences; ``interpolation`` annotates and trains on the evaluation sequences themselves and pins the
annotations in their ILP.

A person's annotations: with ``annotation_file`` (see attrackt.annotation_files) the annotations are
that file's instead of k sampled from the GT (k and sampling are then unused; the run's tags ``k``
and ``sampling`` become the number of annotations and ``user``), in the interpolation setup: the
movie's evaluation sequences are annotated, trained on, pinned and re-tracked. The Attrackt run
(``attrackt_run``) may then have been made on other data; the movie's autoencoder embeddings are
computed with its autoencoder when they are not stored.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.entities import Run

from attrackt.annotation_files import children_text, read_annotations
from attrackt.association_method import (
    ASSOCIATION_W2,
    association_term,
    autoencoder_checkpoint,
    infer_associations,
    log_association_model,
    log_training,
)
from attrackt.association_training import supervised_objective, train_association_model, training_batches
from attrackt.embeddings_store import movie_embeddings
from attrackt.label_windows import Labels, labelled_batches, labels_from_table
from attrackt.lora import add_lora, adapter_checkpoint
from attrackt.sampling import STRATEGIES, choose_annotations, node_pool, parse_k, pseudo_labels
from attrackt.training import load_checkpoint, pick_device, seed_everything
from attrackt.unsupervised import RESOLVED_AUTOENCODER_RUN
from attrackt.unsupervised_loss import AttracktModel, attrackt_losses, embedding_tables
from attrackt.windows import SequenceTokens
from benchmark.config import RunConfig, flatten
from benchmark.data.datasets import check_train_eval_overlap
from benchmark.data.sequence import Dataset, Sequence
from benchmark.entry_points import MethodFit, track_with_method
from benchmark.errors import ConfigError, DataError
from benchmark.pipeline import track_sequence
from benchmark.run_lookup import check_run_id, named_run, resolve_run
from benchmark.tracking import tag_leakage

SETUPS = ("interpolation", "extrapolation")
#: The param naming the Attrackt run that was fine-tuned (``attrackt_run`` is the entry-point parameter).
RESOLVED_ATTRACKT_RUN = "resolved.attrackt_run"
#: The tag ``sampling`` of a run whose annotations came from a person's file.
USER_SAMPLING = "user"


def annotated_sequences(dataset: Dataset, setup: str) -> list[Sequence]:
    """The sequences a person annotates in ``setup``."""
    if setup == "interpolation":
        return dataset.evaluation_sequences()
    sequences = dataset.training_sequences() + dataset.validation_sequences()
    if not sequences:
        raise ConfigError(f"parameter setup=extrapolation: dataset {dataset.name!r} has no train or val sequences")
    return sequences


def pretrained_attrackt(
    dataset: Dataset, config: RunConfig, attrackt_run: str | None, device: torch.device, seed: int, any_data: bool = False
):
    """The Attrackt run (named, or the latest one on the same data, profile, ``seed`` and model/training
    config) and its last checkpoint as a model. ``any_data``: a named run may have been made on other data."""
    same = {k: str(v) for k, v in flatten(config).items() if k.startswith(("model.", "attrackt."))}
    if any_data and attrackt_run:
        run = named_run("attrackt_run", attrackt_run, "attrackt", None)
    else:
        run = resolve_run("attrackt_run", attrackt_run, "attrackt", dataset, config.profile, same, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="checkpoints/last.pt", dst_path=tmp)
        model = AttracktModel.from_checkpoint(load_checkpoint(Path(path), device)).to(device)
    return run, model


def autoencoder_run_of(attrackt_run: Run) -> str:
    """The autoencoder run whose embeddings ``attrackt_run`` trained with (its param ``resolved.autoencoder_run``)."""
    source = attrackt_run.data.params.get(RESOLVED_AUTOENCODER_RUN)
    if not source:  # a run made by a version of the suite that did not record it
        raise ConfigError(
            f"parameter attrackt_run={attrackt_run.info.run_id!r}: the run does not record its autoencoder run "
            f"(param {RESOLVED_AUTOENCODER_RUN}); run the attrackt entry point again"
        )
    return source


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
    annotation_file: Path | None = None,
) -> MethodFit:
    """Annotate (k nodes by ``sampling`` from the GT, or the person's ``annotation_file``), train
    (fine-tune or from scratch), infer Â on the evaluation sequences; pins for interpolation."""
    name = "finetune" if pretrained else "scratch"
    device = pick_device(config.device)
    sequences = annotated_sequences(dataset, setup)
    if setup == "extrapolation" and annotation_file is None:  # GT of train+val, scored on test
        tag_leakage(check_train_eval_overlap(dataset, [s.name for s in sequences], name, config.data.allow_train_eval_overlap))
    user = None if annotation_file is None else read_annotations(annotation_file, {s.name: s for s in sequences})
    run, base = pretrained_attrackt(dataset, config, attrackt_run, device, seed, any_data=user is not None)
    embeddings, source = movie_embeddings(dataset, config, autoencoder_run_of(run))
    tables = embedding_tables(embeddings, device)

    pool = annotation_pool(base, sequences, config, device)
    if user is None:
        annotations = choose_annotations(pool, sampling, k, np.random.default_rng(seed))
        labels = labels_from_table(annotations, "gt_children")
        log_table(annotations, "annotations.csv")
        annotation_source = (
            f"GT links of the first {len(annotations)} nodes by {sampling} sampling (seed {seed}) of the pool of "
            f"attrackt run {run.info.run_id}: the same nodes as the finetune run of this k, sampling and seed"
        )
    else:
        annotations, labels = user, labels_from_table(user, "children")
        log_table(user.assign(children=user["children"].map(children_text)), "annotations.csv")  # an annotation file
        mlflow.set_tags({"k": str(len(user)), "sampling": USER_SAMPLING})
        annotation_source = f"annotation file {annotation_file}"
    if pretrained:
        rule = config.finetune.pseudo_label_rule
        pseudo = pseudo_labels(pool, annotations, config.finetune.pseudo_label_fraction, rule)
        pseudo_source = f"ILP links of attrackt run {run.info.run_id} ({rule} rule)"
    else:  # the pre-trained model's links would teach the model trained from scratch what pre-training learnt
        pseudo = pool.iloc[:0]
        pseudo_source = "none: training from scratch takes no pseudo-labels from the pre-trained model"
    log_table(pseudo, "pseudo_labels.csv")
    mlflow.log_params(
        {
            RESOLVED_ATTRACKT_RUN: run.info.run_id,
            RESOLVED_AUTOENCODER_RUN: source,
            "annotated_sequences": ",".join(s.name for s in sequences),
            "annotations": len(annotations),
            "pseudo_labels": len(pseudo),
            "annotations.source": annotation_source,
            "pseudo_labels.source": pseudo_source,
        }
    )

    seed_everything(seed)
    model = add_lora(base, config.finetune.lora_r, config.finetune.lora_alpha, config.finetune.lora_dropout) if pretrained else (
        AttracktModel(base.config).to(device)
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = train_on_annotations(
            model, sequences, labels, labels_from_table(pseudo, "ilp_children"),
            tables, config, seed, device, Path(tmp), name, lora=pretrained,
        )
        log_training(result, sum(p.numel() for p in model.parameters() if p.requires_grad))
        # fine-tuned: the adapter on the Attrackt run's weights; from scratch: the trained weights
        checkpoint, adapter = (
            (f"runs:/{run.info.run_id}/checkpoints/last.pt", result.last_checkpoint) if pretrained else (result.last_checkpoint, None)
        )
        model_uri = log_association_model(checkpoint, config, adapter=adapter, autoencoder=autoencoder_checkpoint(source))
    associations = infer_associations(model.backbone, dataset.evaluation_sequences(), config, device)
    pins = None
    if setup == "interpolation":
        pins = {sequence: dict(nodes) for sequence, nodes in labels.items()}
    return MethodFit(association_term(associations), ASSOCIATION_W2, pins, model_uri)


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
    annotation_file: str | None = None,
) -> pd.DataFrame:
    """Validate the parameters before anything runs, then fit, link, evaluate and log."""
    k_value = parse_k(k)
    if sampling not in STRATEGIES:
        raise ConfigError(f"parameter sampling={sampling!r}: must be one of {', '.join(STRATEGIES)}")
    if setup not in SETUPS:
        raise ConfigError(f"parameter setup={setup!r}: must be one of {', '.join(SETUPS)}")
    if attrackt_run:
        check_run_id("attrackt_run", attrackt_run)
    params = {"k": str(k), "sampling": sampling, "setup": setup}
    if annotation_file:
        if setup != "interpolation":
            raise ConfigError(
                f"parameter setup={setup!r}: a person's annotations are pinned in the movie they annotate; use interpolation"
            )
        if not Path(annotation_file).exists():
            raise DataError(annotation_file, "annotation file not found (parameter annotation_file)")
        params["annotation_file"] = annotation_file

    def fit(data: Dataset, config: RunConfig, run_seed: int) -> MethodFit:
        return fit_from_annotations(
            data, config, run_seed, k=k_value, sampling=sampling, setup=setup, attrackt_run=attrackt_run or None,
            pretrained=pretrained, annotation_file=Path(annotation_file) if annotation_file else None,
        )

    return track_with_method(method, fit, dataset, profile, seed, overrides, params)


def run_finetune(
    dataset: str, profile: str = "quick", seed: int = 0, overrides: dict[str, Any] | None = None,
    k: str = "100", sampling: str = "confidence", setup: str = "interpolation", attrackt_run: str | None = None,
    annotation_file: str | None = None,
) -> pd.DataFrame:
    """The ``finetune`` entry point: LoRA fine-tuning of an Attrackt run on k sampled annotations or on a
    person's ``annotation_file``."""
    return _run("finetune", True, dataset, profile, seed, overrides, k, sampling, setup, attrackt_run, annotation_file)


def run_scratch(
    dataset: str, profile: str = "quick", seed: int = 0, overrides: dict[str, Any] | None = None,
    k: str = "100", sampling: str = "confidence", setup: str = "interpolation", attrackt_run: str | None = None,
) -> pd.DataFrame:
    """The ``scratch`` entry point: the same annotations, recipe and budget from random weights."""
    return _run("scratch", False, dataset, profile, seed, overrides, k, sampling, setup, attrackt_run)
