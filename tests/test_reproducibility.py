"""Reproducibility: an entry point run twice with the same seed and profile gives the same metrics on
CPU, whatever the machine's thread count (a sweep's ``workers``), every run logs what is needed to
repeat it, and a run that builds on another finds the one of its own seed. (Supervised:
tests/test_supervised.py.)"""

from __future__ import annotations

import os
import re
import tempfile

import mlflow
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from attrackt.embeddings_store import EMBEDDINGS_ARTIFACT
from attrackt.finetune import run_finetune
from attrackt.unsupervised import run_attrackt
from baselines.autoencoder import run_autoencoder
from baselines.position import run_position
from baselines.reid import run_reid
from benchmark.config import flatten, load_config
from benchmark.entry_points import load_dataset
from benchmark.errors import ConfigError
from benchmark.run_lookup import resolve_run
from benchmark.runtime import THREAD_VARIABLES, fixed_threads
from conftest import last_run


def assert_repeatable_provenance(run, overrides: dict) -> None:
    """The run logged its resolved config, package versions, git commit and dataset fingerprint."""
    params = run.data.params
    resolved = flatten(load_config("smoke", overrides))
    for key in ("model.d_model", "linking.w1", "linking.solver", "attrackt.iterations", "data.data_dir"):
        assert params[key] == str(resolved[key]), key
    assert {"version.torch", "version.mlflow", "version.numpy", "version.highspy"} <= params.keys()
    assert all(params[key] for key in params if key.startswith("version."))
    assert params["threads"] == "1" and params["machine.cpu"] and int(params["machine.cpu_count"]) >= 1
    assert re.fullmatch("[0-9a-f]{40}", run.data.tags["git_commit"]) and params["dataset.fingerprint"]


def test_position_repeats_exactly_and_logs_provenance(tracking):
    first = run_position("synth-bacteria", "smoke", seed=0, overrides=tracking)
    _, run = last_run()
    second = run_position("synth-bacteria", "smoke", seed=0, overrides=tracking)
    _, rerun = last_run()
    pd.testing.assert_frame_equal(first, second)
    assert run.info.run_id != rerun.info.run_id
    assert_repeatable_provenance(run, tracking)
    assert run.data.params["dataset.fingerprint"] == rerun.data.params["dataset.fingerprint"]


def test_attrackt_repeats_exactly_from_one_autoencoder_run(tracking):
    run_autoencoder("synth-bacteria", "smoke", seed=0, overrides=tracking)
    _, autoencoder = last_run()
    same = {"overrides": tracking, "autoencoder_run": autoencoder.info.run_id}
    first = run_attrackt("synth-bacteria", "smoke", seed=0, **same)
    client, run = last_run()
    second = run_attrackt("synth-bacteria", "smoke", seed=0, **same)
    _, rerun = last_run()
    pd.testing.assert_frame_equal(first, second)
    losses = [[m.value for m in client.get_metric_history(r.info.run_id, "attrackt/loss")] for r in (run, rerun)]
    assert losses[0] and losses[0] == losses[1]  # the training itself repeated, step for step
    assert_repeatable_provenance(run, tracking)



def logged_embeddings(run_id: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as folder:
        return pd.read_parquet(MlflowClient().download_artifacts(run_id, EMBEDDINGS_ARTIFACT, folder))


def test_a_learned_run_does_not_depend_on_how_many_threads_the_machine_gives(tracking):
    """Re-ID trained in a process whose torch has 1 thread, then 2 (what a sweep's workers or another
    machine would give): the embeddings are identical bit for bit, because the run computes with its
    config's threads (1 here). Without that they differ by about 1e-6 at this profile."""
    ambient = torch.get_num_threads()
    runs, tables = [], []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            tables.append(run_reid("synth-bacteria", "smoke", seed=0, overrides=tracking))
            runs.append(last_run()[1])
            assert torch.get_num_threads() == threads  # given back after the run
    finally:
        torch.set_num_threads(ambient)
    first, second = (logged_embeddings(run.info.run_id) for run in runs)
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)
    assert {run.data.params["threads"] for run in runs} == {"1"}
    assert runs[0].data.params["machine.torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_fixed_threads_sets_torch_and_the_environment_then_restores_them(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    with fixed_threads(3):
        assert torch.get_num_threads() == 3
        assert [os.environ.get(name) for name in THREAD_VARIABLES] == ["3", "3"]
    assert torch.get_num_threads() == before
    assert (os.environ.get("OMP_NUM_THREADS"), os.environ.get("MKL_NUM_THREADS")) == ("7", None)


def fake_run(entry_point: str, dataset, seed: int, params: dict[str, str]) -> str:
    """A FINISHED run that run lookup takes for an ``entry_point`` run of ``seed`` on ``dataset``."""
    with mlflow.start_run(tags={"entry_point": entry_point, "profile": "smoke"}) as run:
        mlflow.log_params({**params, "seed": seed, "dataset.fingerprint": dataset.fingerprint})
    return run.info.run_id


def test_lookup_takes_the_latest_run_of_the_same_seed(tracking):
    dataset = load_dataset("synth-bacteria", load_config("smoke", tracking))
    settings = {"attrackt.iterations": "20"}
    seed_1 = fake_run("attrackt", dataset, 1, settings)
    newer_seed_0 = fake_run("attrackt", dataset, 0, settings)
    fake_run("attrackt", dataset, 1, {"attrackt.iterations": "30"})  # other settings: never taken

    def lookup(seed):
        return resolve_run("attrackt_run", None, "attrackt", dataset, "smoke", settings, seed=seed).info.run_id

    assert (lookup(1), lookup(0), lookup(None)) == (seed_1, newer_seed_0, newer_seed_0)
    with pytest.raises(ConfigError, match="with profile 'smoke', seed 2 and the same attrackt settings"):
        lookup(2)
    named = resolve_run("attrackt_run", seed_1, "attrackt", dataset, "smoke", settings, seed=0)  # a person's choice
    assert named.info.run_id == seed_1


def test_finetune_of_a_seed_without_its_attrackt_run_stops_naming_the_seed(tracking):
    """Only a seed-0 Attrackt run exists: fine-tuning with seed 1 must not silently build on it."""
    config = load_config("smoke", tracking)
    dataset = load_dataset("synth-bacteria", config)
    same = {key: str(value) for key, value in flatten(config).items() if key.startswith(("model.", "attrackt."))}
    fake_run("attrackt", dataset, 0, same)
    with pytest.raises(ConfigError, match=r"no finished 'attrackt' run .* seed 1 .*attrackt_run=<run id>"):
        run_finetune("synth-bacteria", "smoke", seed=1, overrides=tracking, k="10")
