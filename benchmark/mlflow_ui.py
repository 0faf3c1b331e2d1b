"""How the MLflow UI (3.17) shows the suite's experiment: its kind, a saved view of the runs table with
the benchmark's columns, and the address that opens it.

Two experiment tags, each set only when missing (a person's later edits are kept):

- ``mlflow.experimentKind = custom_model_development``: the experiment holds model training runs,
  not GenAI traces.
- ``mlflow.sharedViewState.benchmark``: a saved view named "benchmark" (the UI's *Views* menu) whose
  runs table shows the tags method, dataset, k, sampling, setup, seed and the metrics AOGM, TRA, MBC,
  Division F1. The value is the UI's saved-view envelope, ``{"name", "createdAt", "updatedAt" (ms),
  "state"}``, with ``state`` the JSON of the UI's search facets and table state; column keys are
  ``tags.`NAME``` / ``metrics.`NAME```. This is the UI's own format, checked against the pinned MLflow
  by tests/test_mlflow_ui.py in a headless browser.

A fresh browser opens an experiment on the GenAI overview (the UI's workflow switch defaults to
GenAI, whatever the experiment's kind), so ``runs_url`` adds ``workflowType=machine_learning`` and
the view's key to the runs page's address.
"""

from __future__ import annotations

import json
import time

from mlflow.entities import Experiment
from mlflow.tracking import MlflowClient

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
VIEW_KEY = "benchmark"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
#: Runs-table columns of the view: tags, then dataset-level metrics (their order in the table).
VIEW_COLUMNS = [
    *(f"tags.`{tag}`" for tag in ("method", "dataset", "k", "sampling", "setup", "seed")),
    *(f"metrics.`{metric}`" for metric in ("AOGM", "TRA", "MBC", "Division F1")),
]


def view_state() -> dict:
    """The view's state: the UI's default search facets (every active run, newest first) and the columns."""
    return {
        "searchFilter": "", "orderByKey": "attributes.start_time", "orderByAsc": False, "startTime": "ALL",
        "lifecycleFilter": "Active", "datasetsFilter": [], "modelVersionFilter": "All Runs",
        "selectedColumns": VIEW_COLUMNS, "columnOrder": VIEW_COLUMNS,
    }


def prepare_experiment(experiment: Experiment) -> None:
    """Give ``experiment`` the suite's kind and the saved view "benchmark" where it has none."""
    client = MlflowClient()
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    if VIEW_TAG not in experiment.tags:
        now = int(time.time() * 1000)
        envelope = {"name": VIEW_KEY, "createdAt": now, "updatedAt": now, "state": json.dumps(view_state())}
        client.set_experiment_tag(experiment.experiment_id, VIEW_TAG, json.dumps(envelope))


def runs_url(server: str, experiment_id: str) -> str:
    """Address of the experiment's runs table in the saved view, on the UI served at ``server``
    (e.g. ``http://127.0.0.1:5000``)."""
    return f"{server.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"
