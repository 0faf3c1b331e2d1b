"""Per-detection embeddings as MLflow artifacts: write them, read them back, find a run that has them.

Artifact ``embeddings.parquet`` (float32, exact): one row per detection of every sequence of the
dataset, columns ``sequence, t, node_id, label, e_0 .. e_{D-1}``, rows in (sequence, node_id) order.
The run that holds a dataset's embeddings is named by the tag ``embeddings_run`` of every run that
produced or reused them (its own id when it trained them), so a run that reused embeddings points
at their source.

The autoencoder's embeddings are reused by later runs (the Attrackt method): ``autoencoder_embeddings``
loads those of a given run or of the latest finished ``autoencoder`` run that trained them (param
``embeddings.reused_from`` = ``none``) on the same data (dataset fingerprint) with the same profile,
seed and ``autoencoder`` config section; ``movie_embeddings`` computes them on data the
autoencoder was not trained on (a person's movie) with its logged checkpoint.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from attrackt.autoencoder import Autoencoder
from attrackt.patches import embed_patches, sequence_patches
from attrackt.training import TrainingResult, pick_device
from benchmark.config import PatchNetConfig, RunConfig, flatten
from benchmark.data.sequence import Dataset, Sequence
from benchmark.errors import ConfigError
from benchmark.linking import CandidateGraph, EdgeTerm
from benchmark.linking.costs import appearance_from_embeddings
from benchmark.pipeline import AppearanceFn
from benchmark.run_lookup import resolve_run

EMBEDDINGS_ARTIFACT = "embeddings.parquet"
EMBEDDINGS_TAG = "embeddings_run"
#: Param of an embedding run: the id of the run whose embeddings it reused, or TRAINED_HERE. (Not the
#: entry-point parameter's name: ``mlflow run`` logs that one itself, as given.)
REUSED_PARAM = "embeddings.reused_from"
TRAINED_HERE = "none"

#: w2 of an embedding distance (SPEC section 2): a large distance makes a link expensive.
EMBEDDING_W2 = 1.0

#: Embeddings of a dataset: sequence name -> (N, D) float32 array indexed by node id.
Embeddings = dict[str, np.ndarray]

#: Trains a patch network: (patches (N, S, S), config section, seed, device, checkpoint folder) ->
#: (model in eval mode with ``embed(batch) -> (B, D)``, training result).
TrainFn = Callable[[np.ndarray, PatchNetConfig, int, torch.device, Path], tuple[torch.nn.Module, TrainingResult]]


def train_and_log_embeddings(dataset: Dataset, config: RunConfig, seed: int, name: str, train: TrainFn) -> Embeddings:
    """Train a patch network (config section ``name``) on every detection of ``dataset`` and embed them all.

    Logs to the active MLflow run: ``<name>/train_seconds``, the checkpoint the embeddings come from
    (the training's best, ``checkpoints/<name>.pt``: config and weights) and the embeddings artifact.
    """
    section, device = getattr(config, name), pick_device(config.device)
    patches = {seq: sequence_patches(sequence, section.patch_size) for seq, sequence in dataset.sequences.items()}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        model, result = train(np.concatenate(list(patches.values())), section, seed, device, Path(folder))
        mlflow.log_metric(f"{name}/train_seconds", time.perf_counter() - start)
        mlflow.log_param(f"{name}.checkpoint_step", result.best_step)
        embeddings = {seq: embed_patches(model.embed, stack, device) for seq, stack in patches.items()}
        mlflow.log_artifact(str(result.best_checkpoint.rename(Path(folder) / f"{name}.pt")), "checkpoints")
    log_embeddings(dataset, embeddings)
    return embeddings


def embeddings_table(dataset: Dataset, embeddings: Embeddings) -> pd.DataFrame:
    """The artifact's table (see the module docstring) of ``embeddings`` of every sequence of ``dataset``."""
    tables = []
    for name, sequence in dataset.sequences.items():
        values = embeddings[name]
        keys = sequence.detections[["t", "node_id", "label"]].reset_index(drop=True)
        keys.insert(0, "sequence", name)
        columns = pd.DataFrame(values.astype(np.float32), columns=[f"e_{i}" for i in range(values.shape[1])])
        tables.append(pd.concat([keys, columns], axis=1))
    return pd.concat(tables, ignore_index=True)


def table_embeddings(table: pd.DataFrame, dataset: Dataset, source: str) -> Embeddings:
    """Embeddings of every sequence of ``dataset`` from an artifact table; ConfigError naming ``source``
    when a sequence is missing or its rows are not its detections (t, node_id, label in node-id order)."""
    values = [column for column in table.columns if column.startswith("e_")]
    embeddings = {}
    for name, sequence in dataset.sequences.items():
        rows = table[table["sequence"].astype(str) == name]
        expected = sequence.detections[["t", "node_id", "label"]].to_numpy(dtype=np.int64)
        found = rows[["t", "node_id", "label"]].to_numpy(dtype=np.int64)
        if found.shape != expected.shape or not np.array_equal(found, expected):
            raise ConfigError(
                f"{source}: embeddings of sequence {name!r} do not match its {len(expected)} detections "
                f"({len(found)} rows); they were made from other data"
            )
        embeddings[name] = rows[values].to_numpy(dtype=np.float32)
    return embeddings


def log_embeddings(dataset: Dataset, embeddings: Embeddings) -> None:
    """Log ``embeddings`` as the active run's artifact and tag the run as their source."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / EMBEDDINGS_ARTIFACT
        embeddings_table(dataset, embeddings).to_parquet(path, index=False)
        mlflow.log_artifact(str(path))
    mlflow.set_tag(EMBEDDINGS_TAG, mlflow.active_run().info.run_id)


def embedding_appearance(embeddings: Embeddings) -> AppearanceFn:
    """d2 of a sequence's candidates: the Euclidean distance of its detections' embeddings."""

    def appearance(sequence: Sequence, candidates: CandidateGraph) -> EdgeTerm:
        return appearance_from_embeddings(candidates, embeddings[sequence.name])

    return appearance


def load_run_embeddings(run: Run, dataset: Dataset) -> tuple[Embeddings, str]:
    """Embeddings of ``dataset`` held by ``run`` or by the run it reused (its ``embeddings_run`` tag),
    and that run's id."""
    source = run.data.tags[EMBEDDINGS_TAG]
    with tempfile.TemporaryDirectory() as folder:
        table = pd.read_parquet(MlflowClient().download_artifacts(source, EMBEDDINGS_ARTIFACT, folder))
    return table_embeddings(table, dataset, f"{EMBEDDINGS_ARTIFACT} of run {source}"), source


def autoencoder_embeddings(
    dataset: Dataset, config: RunConfig, run_id: str | None = None, parameter: str = "autoencoder_run",
    seed: int | None = None,
) -> tuple[Embeddings, str]:
    """The autoencoder embeddings of ``dataset`` and the id of the run holding them.

    From the ``autoencoder`` run ``run_id`` when given, else from the latest finished ``autoencoder`` run
    that trained them on the same data with the same profile, ``seed`` (None: any) and ``autoencoder``
    config section (a run
    that reused another's embeddings may have logged a config they were not made with). ConfigError (naming
    ``parameter``) for a malformed, unknown, unfinished or foreign run, or, when none is found, one
    that says to run the ``autoencoder`` entry point first.
    """
    params = {key: str(value) for key, value in flatten(config).items() if key.startswith("autoencoder.")}
    params[REUSED_PARAM] = TRAINED_HERE
    run = resolve_run(parameter, run_id, "autoencoder", dataset, config.profile, params, tag=EMBEDDINGS_TAG, seed=seed)
    return load_run_embeddings(run, dataset)


def movie_embeddings(dataset: Dataset, config: RunConfig, run_id: str) -> tuple[Embeddings, str]:
    """The embeddings of ``dataset`` by the autoencoder of the ``autoencoder`` run ``run_id``, and the id
    of the run that trained it: the stored ones when that run was made on this data, else computed now
    with the checkpoint ``checkpoints/autoencoder.pt`` of the run that trained it (its ``embeddings_run``)."""
    run = MlflowClient().get_run(run_id)
    if run.data.params.get("dataset.fingerprint") == dataset.fingerprint:
        return autoencoder_embeddings(dataset, config, run_id)
    source, device = run.data.tags[EMBEDDINGS_TAG], pick_device(config.device)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(MlflowClient().download_artifacts(source, "checkpoints/autoencoder.pt", folder))
        model = Autoencoder.load(path, device).eval()
    size = model.config.patch_size
    embeddings = {
        name: embed_patches(model.embed, sequence_patches(sequence, size), device) for name, sequence in dataset.sequences.items()
    }
    return embeddings, source
