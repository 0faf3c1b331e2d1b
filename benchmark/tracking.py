"""Where runs are tracked: the suite's default MLflow store and experiment, and the variables a sweep
hands to its child runs. Light on purpose (MLflow only), so the report can use it without loading
the tracking pipeline.

Tracking URI: ``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///mlflow.db`` in the working folder.
Experiment: ``MLFLOW_EXPERIMENT_NAME`` / ``MLFLOW_EXPERIMENT_ID`` when set (``mlflow run`` sets the
latter), else "attrackt-benchmark". An experiment the suite logs to without a kind gets the tag
``mlflow.experimentKind = custom_model_development``, so that the MLflow UI (3.x) opens it on its runs
table rather than on the GenAI overview of traces.
"""

from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from pathlib import Path  # noqa: E402

import mlflow  # noqa: E402

DEFAULT_EXPERIMENT = "attrackt-benchmark"
#: Set by a sweep: the parent run of every run it starts, and extra tags (JSON) such as the config hash.
PARENT_RUN_ENV = "ATTRACKT_PARENT_RUN_ID"
EXTRA_TAGS_ENV = "ATTRACKT_RUN_TAGS"
#: The experiment tag the MLflow UI reads to choose an experiment's first page, and the suite's kind.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def use_default_store() -> None:
    """Point MLflow at ``sqlite:///mlflow.db`` in the working folder unless MLFLOW_TRACKING_URI is set."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(f"sqlite:///{Path.cwd() / 'mlflow.db'}")


def configure_tracking() -> str:
    """The default store and the experiment runs go to (created when it does not exist yet, given the
    suite's kind unless it has one); returns the experiment's id."""
    use_default_store()
    if os.environ.get("MLFLOW_EXPERIMENT_ID"):
        experiment = mlflow.get_experiment(os.environ["MLFLOW_EXPERIMENT_ID"])
    else:
        experiment = mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT)
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return experiment.experiment_id


def current_experiment_id() -> str:
    """Id of the experiment runs go to (see ``configure_tracking``)."""
    return configure_tracking()
