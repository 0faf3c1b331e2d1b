"""Pos. & Re-ID embeddings (Table 1): d2 = distance of contrastive Re-ID embeddings, w2 = +1.

The Re-ID network (attrackt/reid.py, a SPEC section 6 decision) is trained without labels on the
patches of all detections of all sequences. The run logs the embeddings (``embeddings.parquet``)
and the checkpoint (``checkpoints/reid.pt``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from attrackt.embeddings_store import EMBEDDING_W2, embedding_appearance, train_and_log_embeddings
from attrackt.reid import train_reid
from benchmark.config import RunConfig
from benchmark.data.sequence import Dataset
from benchmark.entry_points import MethodFit, track_with_method


def fit_reid(dataset: Dataset, config: RunConfig, seed: int) -> MethodFit:
    """Train the Re-ID network and embed every detection; d2 is the embedding distance, w2 = +1."""
    embeddings = train_and_log_embeddings(dataset, config, seed, "reid", train_reid)
    return MethodFit(embedding_appearance(embeddings), EMBEDDING_W2)


def run_reid(
    dataset: str, profile: str = "quick", seed: int = 0, overrides: dict[str, Any] | None = None
) -> pd.DataFrame:
    """The ``reid`` entry point: link and score ``dataset`` with position and Re-ID embeddings."""
    return track_with_method("reid", fit_reid, dataset, profile, seed, overrides)
