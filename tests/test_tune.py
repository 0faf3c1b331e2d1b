"""The tune entry point: an Optuna search of the ILP weights on the validation sequences only (a nested
MLflow run per trial), and method runs that link with the weights it found (ilp_weights_run)."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from attrackt.unsupervised import run_attrackt
from baselines.autoencoder import run_autoencoder
from baselines.position import run_position
from benchmark.cli import main
from benchmark.config import load_config
from benchmark.entry_points import load_dataset
from benchmark.errors import ConfigError
from benchmark.linking import build_candidate_graph
from benchmark.tune import search
from benchmark.tune.run import run_tune
from benchmark.tune.sources import validation_term
from conftest import last_run

DATA = "synth-bacteria"  # smoke: sequences 01-05 train, 06 val, 07-08 test
VALIDATION, EVALUATION = {"06"}, {"07", "08"}


@dataclass
class Tuned:
    """A finished tune run, what it returned and every sequence its objective linked or scored, with the
    run that was active then."""

    run: Run
    table: pd.DataFrame
    reads: list[tuple[str, str]]

    def trials(self) -> list[Run]:
        client = MlflowClient()
        runs = client.search_runs(
            [self.run.info.experiment_id], f"tags.mlflow.parentRunId = '{self.run.info.run_id}'", max_results=1000
        )
        return sorted(runs, key=lambda run: int(run.data.tags["tune_trial"]))


def tune_runs() -> list[Run]:
    """Tune runs of the test experiment, the latest first."""
    return mlflow.search_runs(experiment_names=["tests"], filter_string="tags.entry_point = 'tune'", output_format="list")


@pytest.fixture(scope="module")
def autoencoder_run(tracking) -> str:
    run_autoencoder(DATA, "smoke", 0, tracking)
    return last_run()[1].info.run_id


@pytest.fixture(scope="module")
def tuned(tracking, autoencoder_run) -> Tuned:
    """Tune the autoencoder's weights (6 trials), recording what the objective reads."""
    reads: list[tuple[str, str]] = []

    def spy(function):
        def wrapped(sequence, *args, **kwargs):
            reads.append((sequence.name, mlflow.active_run().info.run_id))
            return function(sequence, *args, **kwargs)

        return wrapped

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "track_sequence", spy(search.track_sequence))
        patch.setattr(search, "evaluate_sequence", spy(search.evaluate_sequence))
        table = run_tune(DATA, "smoke", 0, tracking, method="autoencoder", method_run=autoencoder_run, n_trials="6")
    return Tuned(tune_runs()[0], table, reads)


def test_tuning_keeps_or_improves_the_validation_objective(tuned):
    metrics, params = tuned.run.data.metrics, tuned.run.data.params
    trials = tuned.trials()
    assert len(trials) == 6 and metrics["tune.complete_trials"] == 6 and metrics["tune.pruned_trials"] == 0
    first = trials[0].data.params  # the profile's weights come first
    assert {first[f"ilp.{name}"] for name in ("w1", "w2_scale", "appear_cost", "disappear_cost")} == {"1.0"}
    assert first["ilp.b"] == "0.0"
    assert trials[0].data.metrics["val_AOGM"] == metrics["val_AOGM_default"]
    assert metrics["val_AOGM_tuned"] == min(trial.data.metrics["val_AOGM"] for trial in trials)
    assert metrics["val_AOGM_tuned"] <= metrics["val_AOGM_default"]
    best = next(trial for trial in trials if trial.data.metrics["val_AOGM"] == metrics["val_AOGM_tuned"])
    assert all(params[key] == value for key, value in best.data.params.items())
    assert float(params["ilp.w2"]) == float(params["ilp.w2_scale"]) > 0  # embedding distances: w2 > 0
    assert tuned.table.loc["tuned", "AOGM"] == metrics["AOGM_tuned"]


def test_the_search_reads_only_the_validation_sequences(tuned):
    trial_runs = {trial.info.run_id for trial in tuned.trials()}
    assert {name for name, _ in tuned.reads} == VALIDATION
    assert {run for _, run in tuned.reads} == trial_runs  # only inside trials, none after the search
    assert len(tuned.reads) == 2 * len(trial_runs)  # linked once and scored once per trial


def test_the_search_d2_covers_no_evaluation_sequence(tracking, autoencoder_run):
    config = load_config("smoke", tracking)
    data = load_dataset(DATA, config)
    term = validation_term("autoencoder", MlflowClient().get_run(autoencoder_run), data, config)
    for name in VALIDATION | EVALUATION:
        sequence = data.sequences[name]
        candidates = build_candidate_graph(sequence.frames(), sequence.positions())
        if name in VALIDATION:
            assert term(sequence, candidates).edges.shape == (len(candidates.edges),)
        else:
            with pytest.raises(KeyError):
                term(sequence, candidates)


def test_default_weights_reproduce_the_method_run(tuned, autoencoder_run):
    method = MlflowClient().get_run(autoencoder_run)
    assert tuned.run.data.metrics["AOGM_default"] == method.data.metrics["AOGM"]
    assert tuned.run.data.params["resolved.method_run"] == autoencoder_run


def test_tuned_weights_are_applied_when_passed(tracking, tuned, autoencoder_run):
    tune_id = tuned.run.info.run_id
    argv = ["autoencoder", "--dataset", DATA, "--profile", "smoke", "--overrides", f"data.data_dir={tracking['data.data_dir']}"]
    assert main(argv + ["--autoencoder-run", autoencoder_run, "--ilp-weights-run", tune_id]) == 0
    _, run = last_run()
    params, tuned_params = run.data.params, tuned.run.data.params
    assert params["ilp_weights_run"] == tune_id == params["linking.weights_run"]
    for name in ("w1", "w2_scale", "b", "appear_cost", "disappear_cost"):
        assert float(params[f"linking.{name}"]) == float(tuned_params[f"ilp.{name}"])
    assert float(params["linking.w2"]) == float(tuned_params["ilp.w2"])
    assert run.data.metrics["AOGM"] == tuned.run.data.metrics["AOGM_tuned"]


def test_tuned_weights_are_checked(tracking, tuned, autoencoder_run):
    tune_id = tuned.run.info.run_id
    with pytest.raises(ConfigError, match="not an 'tune' run"):
        run_position(DATA, "smoke", 0, {**tracking, "linking.weights_run": autoencoder_run})
    with pytest.raises(ConfigError, match="tuned the weights of method 'autoencoder', not of 'position'"):
        run_position(DATA, "smoke", 0, {**tracking, "linking.weights_run": tune_id})
    with pytest.raises(ConfigError, match=r"replace linking\.w1"):
        run_autoencoder(DATA, "smoke", 0, {**tracking, "linking.weights_run": tune_id, "linking.w1": 2.0}, autoencoder_run)
    with pytest.raises(ConfigError, match="ilp_weights_run='abc'"):
        run_position(DATA, "smoke", 0, {**tracking, "linking.weights_run": "abc"})


def test_workers_share_a_study(tracking, tmp_path):
    """Two calls on one storage and study: the second runs only the trials still missing."""
    common = dict(method="position", storage=f"sqlite:///{tmp_path / 'shared.db'}", study="shared")
    run_tune(DATA, "smoke", 0, tracking, n_trials=3, **common)
    run_tune(DATA, "smoke", 1, tracking, n_trials=5, **common)
    second, first = (Tuned(run, pd.DataFrame(), []) for run in tune_runs()[:2])
    assert len(first.trials()) == 3 and len(second.trials()) == 2
    assert second.run.data.metrics["tune.complete_trials"] == 5
    assert second.run.data.params["tune.study"] == "shared" and "ilp.w2" not in second.run.data.params


def test_trials_stopped_by_the_time_limit_are_pruned(tracking, monkeypatch):
    """Links the solver had no time to optimise are not the weights' result: such trials get no score."""
    real = search.validation_scores

    def all_but_the_default_time_out(sequences, linking, appearance, w2):  # with a perfect score, if it counted
        scores = real(sequences, linking, appearance, w2)
        if linking.w1 == 1.0:
            return scores
        return {name: {**score, "AOGM": 0.0, "time_limited": 1.0} for name, score in scores.items()}

    monkeypatch.setattr(search, "validation_scores", all_but_the_default_time_out)
    run_tune(DATA, "smoke", 0, tracking, method="position", n_trials=3, storage=f"sqlite:///{tracking['data.data_dir']}.db")
    metrics, params = tune_runs()[0].data.metrics, tune_runs()[0].data.params
    assert metrics["tune.complete_trials"] == 1 and metrics["tune.pruned_trials"] == 2
    assert params["ilp.w1"] == "1.0" and metrics["val_AOGM_tuned"] == metrics["val_AOGM_default"] > 0


@pytest.mark.parametrize(
    ("dataset", "arguments", "message"),
    [
        ("synth-hela", {"method": "position"}, "dataset='synth-hela'.*no validation sequences"),
        (DATA, {"method": "finetune"}, "parameter method='finetune'"),
        (DATA, {"method": "position", "n_trials": "0"}, "parameter n_trials='0'"),
        (DATA, {"method": "position", "method_run": "0" * 32}, "method 'position' has no appearance term"),
        (DATA, {"method": "reid", "method_run": "f" * 32}, "method_run='f{32}': no such run"),
        (DATA, {"method": "position", "storage": "not a url"}, "parameter storage='not a url'"),
    ],
)
def test_bad_tuning_parameters_name_themselves(tracking, dataset, arguments, message):
    with pytest.raises(ConfigError, match=message):
        run_tune(dataset, "smoke", 0, tracking, **arguments)


def test_a_run_of_another_method_is_refused(tracking, autoencoder_run):
    with pytest.raises(ConfigError, match="is a 'autoencoder' run, not an 'reid' run"):
        run_tune(DATA, "smoke", 0, tracking, method="reid", method_run=autoencoder_run)


def test_storage_defaults_beside_the_tracking_store():
    assert search.storage_url(None, "sqlite:////runs/mlflow.db") == "sqlite:////runs/optuna.db"
    assert search.storage_url("postgresql://tuner:secret@db:5432/optuna", "sqlite:///mlflow.db") == (
        "postgresql+psycopg2://tuner:secret@db:5432/optuna"  # the driver the suite installs
    )
    assert search.storage_url("sqlite:////tmp/x.db", "http://server") == "sqlite:////tmp/x.db"


@pytest.mark.slow
def test_tuning_an_attrackt_run(tracking, autoencoder_run):
    """The association path: Â inferred on the validation sequence with the run's checkpoint."""
    run_attrackt(DATA, "smoke", 0, tracking, autoencoder_run)
    attrackt = last_run()[1]
    run_tune(DATA, "smoke", 0, tracking, method="attrackt", n_trials=3)
    run = tune_runs()[0]
    assert run.data.params["resolved.method_run"] == attrackt.info.run_id  # the latest matching run
    assert run.data.metrics["AOGM_default"] == attrackt.data.metrics["AOGM"]
    assert float(run.data.params["ilp.w2"]) == -float(run.data.params["ilp.w2_scale"])  # association scores: w2 < 0
    logged = {f.path for f in MlflowClient().list_artifacts(run.info.run_id, "tuning_associations")}
    assert logged == {f"tuning_associations/{name}.csv" for name in VALIDATION}
