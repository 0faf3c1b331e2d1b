"""Position only (Table 1, first row): the ILP with d1 alone, no appearance term."""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchmark.config import RunConfig
from benchmark.data.sequence import Dataset
from benchmark.entry_points import MethodFit, track_with_method


def fit_position(dataset: Dataset, config: RunConfig, seed: int) -> MethodFit:
    """Nothing to learn: no appearance term, so no w2."""
    return MethodFit(None, None)


def run_position(
    dataset: str, profile: str = "quick", seed: int = 0, overrides: dict[str, Any] | None = None
) -> pd.DataFrame:
    """The ``position`` entry point: link and score ``dataset`` by centroid distance alone."""
    return track_with_method("position", fit_position, dataset, profile, seed, overrides)
