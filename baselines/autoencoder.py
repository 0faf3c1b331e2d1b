"""Pos. & A.E. embeddings (Table 1): d2 = distance of the autoencoder embeddings of the two detections, w2 = +1.

The autoencoder (attrackt/autoencoder.py) is trained on the patches of all detections of all
sequences (no labels), or its embeddings are reused from an earlier ``autoencoder`` run
(``autoencoder_run``). A training run logs the embeddings (``embeddings.parquet``, see
attrackt/embeddings_store.py) and the checkpoint (``checkpoints/autoencoder.pt``) for later runs.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import mlflow
import pandas as pd

from attrackt.autoencoder import train_autoencoder
from attrackt.embeddings_store import (
    EMBEDDING_W2,
    EMBEDDINGS_TAG,
    REUSED_PARAM,
    TRAINED_HERE,
    autoencoder_embeddings,
    embedding_appearance,
    train_and_log_embeddings,
)
from benchmark.config import RunConfig
from benchmark.data.sequence import Dataset
from benchmark.entry_points import MethodFit, track_with_method
from benchmark.run_lookup import check_run_id


def fit_autoencoder(
    dataset: Dataset, config: RunConfig, seed: int, autoencoder_run: str | None = None
) -> MethodFit:
    """Embeddings trained here, or those of run ``autoencoder_run``; d2 is their distance, w2 = +1."""
    if autoencoder_run is None:
        embeddings = train_and_log_embeddings(dataset, config, seed, "autoencoder", train_autoencoder)
    else:
        embeddings, source = autoencoder_embeddings(dataset, config, autoencoder_run)
        mlflow.set_tag(EMBEDDINGS_TAG, source)
    return MethodFit(embedding_appearance(embeddings), EMBEDDING_W2)


def run_autoencoder(
    dataset: str,
    profile: str = "quick",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    autoencoder_run: str | None = None,
) -> pd.DataFrame:
    """The ``autoencoder`` entry point: link and score ``dataset`` with position and autoencoder embeddings.

    ``autoencoder_run``: id of an earlier ``autoencoder`` run on the same data whose embeddings are
    reused instead of training.
    """
    if autoencoder_run is not None:
        check_run_id("autoencoder_run", autoencoder_run)
    fit = partial(fit_autoencoder, autoencoder_run=autoencoder_run)
    params = {REUSED_PARAM: autoencoder_run or TRAINED_HERE}
    return track_with_method("autoencoder", fit, dataset, profile, seed, overrides, params)
