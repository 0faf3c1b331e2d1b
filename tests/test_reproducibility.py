"""Reproducibility: an entry point run twice with the same seed and profile gives the same metrics on
CPU, and every run logs what is needed to repeat it. (Supervised: tests/test_supervised.py.)"""

from __future__ import annotations

import re

import pandas as pd

from attrackt.unsupervised import run_attrackt
from baselines.autoencoder import run_autoencoder
from baselines.position import run_position
from benchmark.config import flatten, load_config
from conftest import last_run


def assert_repeatable_provenance(run, overrides: dict) -> None:
    """The run logged its resolved config, package versions, git commit and dataset fingerprint."""
    params = run.data.params
    resolved = flatten(load_config("smoke", overrides))
    for key in ("model.d_model", "linking.w1", "linking.solver", "attrackt.iterations", "data.data_dir"):
        assert params[key] == str(resolved[key]), key
    assert {"version.torch", "version.mlflow", "version.numpy", "version.highspy"} <= params.keys()
    assert all(params[key] for key in params if key.startswith("version."))
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

