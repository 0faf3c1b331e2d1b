"""Where runs are tracked: the suite's default MLflow store and experiment, and the variables a sweep
hands to its child runs. Light on purpose (MLflow only), so the report can use it without loading
the tracking pipeline.

Tracking URI: ``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///mlflow.db`` in the working folder.
Experiment: ``MLFLOW_EXPERIMENT_NAME`` / ``MLFLOW_EXPERIMENT_ID`` when set (``mlflow run`` sets the
latter), else "attrackt-benchmark"; it gets the suite's kind and saved view of the runs table for the
MLflow UI where it has none (see ``benchmark.mlflow_ui``).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from pathlib import Path  # noqa: E402

import mlflow  # noqa: E402

from benchmark.mlflow_ui import prepare_experiment  # noqa: E402

DEFAULT_EXPERIMENT = "attrackt-benchmark"
#: Set by a sweep: the parent run of every run it starts, and extra tags (JSON) such as the config hash.
PARENT_RUN_ENV = "ATTRACKT_PARENT_RUN_ID"
EXTRA_TAGS_ENV = "ATTRACKT_RUN_TAGS"
#: Tag "true" on a run that trained with ground truth on sequences it is evaluated on (an explicit opt-in).
LEAKAGE_TAG = "leakage.train_eval_overlap"


def use_default_store() -> None:
    """Point MLflow at ``sqlite:///mlflow.db`` in the working folder unless MLFLOW_TRACKING_URI is set."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(f"sqlite:///{Path.cwd() / 'mlflow.db'}")


def configure_tracking() -> str:
    """The default store and the experiment runs go to (created when it does not exist yet, prepared for
    the MLflow UI); returns the experiment's id."""
    use_default_store()
    client = mlflow.MlflowClient()
    if os.environ.get("MLFLOW_EXPERIMENT_ID"):
        experiment = client.get_experiment(os.environ["MLFLOW_EXPERIMENT_ID"])
    elif name := os.environ.get("MLFLOW_EXPERIMENT_NAME"):  # MLflow starts runs there itself
        experiment = client.get_experiment_by_name(name) or client.get_experiment(client.create_experiment(name))
    else:
        experiment = mlflow.set_experiment(DEFAULT_EXPERIMENT)
    prepare_experiment(experiment)
    return experiment.experiment_id


def tag_leakage(sequences: tuple[str, ...]) -> None:
    """Tag the active run as trained with ground truth on its evaluation ``sequences`` (LEAKAGE_TAG,
    ``leakage.sequences``) and say so on stderr; nothing when there are none."""
    if sequences:
        mlflow.set_tags({LEAKAGE_TAG: "true", "leakage.sequences": ",".join(sequences)})
        print(f"WARNING: trained with the ground truth of evaluation sequence(s) {', '.join(sequences)} "
              "(data.allow_train_eval_overlap): the scores are not a test result", file=sys.stderr, flush=True)


def current_experiment_id() -> str:
    """Id of the experiment runs go to (see ``configure_tracking``)."""
    return configure_tracking()
