"""Shared fixtures: a private feature cache, the real test dataset and a tiny hand-made CTC sequence."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from benchmark.data.ctc import write_ctc_sequence
from benchmark.data.sequence import FEATURE_COLUMNS, Sequence

#: Real GT-only CTC data (mouse paw epidermis crop, 5 frames): see tests/data/mouse-paw-crop/SOURCE.md.
REAL_DATA = Path(__file__).parent / "data" / "mouse-paw-crop"


@pytest.fixture(autouse=True, scope="session")
def private_feature_cache(tmp_path_factory) -> Path:
    """Every test caches features in a fresh folder, never in the project's .cache."""
    folder = tmp_path_factory.mktemp("feature-cache")
    saved = os.environ.get("ATTRACKT_CACHE")
    os.environ["ATTRACKT_CACHE"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("ATTRACKT_CACHE", None)
    else:
        os.environ["ATTRACKT_CACHE"] = saved


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose prerequisite (a server binary, a browser) is missing, except under CI
    (``CI=true``), where the prerequisite must be there and its absence fails the test."""
    if os.environ.get("CI", "").lower() in ("1", "true"):
        pytest.fail(f"{reason} (CI={os.environ['CI']}: a missing prerequisite is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture
def real_data() -> Path:
    """Folder of the real CTC test dataset (one sequence, ``01``)."""
    return REAL_DATA


@dataclass
class TinyCTC:
    """What ``tiny_ctc`` wrote: sequence ``name`` under ``root``, and the arrays it came from."""

    root: Path
    name: str
    images: np.ndarray  # (T, H, W) uint16
    masks: np.ndarray  # (T, H, W) uint16
    tracks: pd.DataFrame  # TRACK_COLUMNS

    @property
    def tra(self) -> Path:
        return self.root / f"{self.name}_GT" / "TRA"


#: Squares of the tiny sequence: label -> [(t, row0, col0, size)]. Track 1 divides into 2 and 3,
#: track 4 touches the image border, track 5 appears at t = 1 and leaves after t = 2.
TINY_SQUARES: dict[int, list[tuple[int, int, int, int]]] = {
    1: [(0, 6, 6, 5), (1, 6, 7, 5)],
    2: [(2, 3, 8, 4), (3, 2, 9, 4)],
    3: [(2, 11, 8, 4), (3, 12, 9, 4)],
    4: [(t, 18, 24, 6) for t in range(4)],
    5: [(1, 8, 18, 3), (2, 9, 19, 3)],
}
TINY_TRACKS = [(1, 0, 1, 0), (2, 2, 3, 1), (3, 2, 3, 1), (4, 0, 3, 0), (5, 1, 2, 0)]
TINY_SHAPE = (4, 24, 32)


def tiny_arrays() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(images, masks, tracks) of the tiny sequence; each track has its own brightness."""
    masks = np.zeros(TINY_SHAPE, dtype=np.uint16)
    images = np.full(TINY_SHAPE, 100, dtype=np.uint16)
    for label, squares in TINY_SQUARES.items():
        for t, row, col, size in squares:
            masks[t, row : row + size, col : col + size] = label
            images[t, row : row + size, col : col + size] = 100 + 150 * label + 10 * t
    tracks = pd.DataFrame(TINY_TRACKS, columns=["label", "begin", "end", "parent"])
    return images, masks, tracks


@pytest.fixture
def tiny_ctc(tmp_path) -> TinyCTC:
    """A 4-frame 24x32 CTC sequence ``01`` with images, a division and a late root, in tmp_path/ctc."""
    images, masks, tracks = tiny_arrays()
    root = tmp_path / "ctc"
    write_ctc_sequence(root, "01", images, masks, tracks)
    return TinyCTC(root, "01", images, masks, tracks)


@pytest.fixture(scope="module")
def tracking(tmp_path_factory) -> dict[str, str]:
    """A private MLflow store (experiment "tests") and data folder for a test module's runs; returns
    the profile override that points the data folder there."""
    root = tmp_path_factory.mktemp("mlflow")
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLFLOW_EXPERIMENT_NAME": "tests",
    }
    # mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID; one left by another module would clash with the name
    saved = {key: os.environ.get(key) for key in (*env, "MLFLOW_EXPERIMENT_ID")}
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    os.environ.update(env)
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    mlflow.create_experiment("tests", artifact_location=(root / "artifacts").as_uri())
    yield {"data.data_dir": str(root / "data")}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def last_run(experiment: str = "tests"):
    """The MLflow client and the most recent run of ``experiment``."""
    client = MlflowClient()
    [run] = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=1)
    return client, run


def hand_made_sequence() -> Sequence:
    """Frames 0-3: cell 0 -> 2 -> (4, 5) divides; cell 1 -> 3 -> 6 -> 7; node 8 appears at t=3 alone."""
    rows = [  # node_id, t, y, x, parent_id
        (0, 0, 10.0, 10.0, -1),
        (1, 0, 50.0, 50.0, -1),
        (2, 1, 12.0, 11.0, 0),
        (3, 1, 52.0, 49.0, 1),
        (4, 2, 10.0, 14.0, 2),
        (5, 2, 15.0, 9.0, 2),
        (6, 2, 53.0, 50.0, 3),
        (7, 3, 55.0, 52.0, 6),
        (8, 3, 90.0, 90.0, -1),
    ]
    detections = pd.DataFrame(rows, columns=["node_id", "t", "y", "x", "parent_id"])
    detections.insert(2, "label", detections["node_id"] + 1)
    rng = np.random.default_rng(0)
    for name in FEATURE_COLUMNS:
        detections[name] = rng.uniform(1, 10, len(detections))
    return Sequence(name="hand", detections=detections, n_frames=4)
