"""The supervised entry point end to end: what it logs, that its model reloads, and that it repeats itself."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from attrackt.model.network import AssociationModel
from baselines.supervised import run_supervised
from conftest import last_run


def test_supervised_logs_model_associations_and_repeats_exactly(tracking, tmp_path):
    first = run_supervised("synth-bacteria", "smoke", seed=3, overrides=tracking)
    client, run = last_run()
    assert run.info.status == "FINISHED" and run.data.tags["method"] == "supervised"
    params = run.data.params
    assert params["linking.w2"] == "-1.0" and params["supervised.max_grad_norm"] == "1.0"
    # synth-bacteria has val sequences: they validate, nothing of the train sequences is held out
    assert params["training.sequences"] == "01, 02, 03, 04, 05" and params["training.validation"] == "06"
    assert int(params["model.n_parameters"]) > 0 and params["model.d_model"] == "24"
    assert client.get_metric_history(run.info.run_id, "supervised/loss")
    assert client.get_metric_history(run.info.run_id, "supervised/val_loss")  # synth-bacteria has a val split

    artifacts = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path)))
    model = AssociationModel.load(artifacts / "checkpoints" / "best.pt")
    assert model.n_parameters() == int(params["model.n_parameters"])
    assert (artifacts / "checkpoints" / "last.pt").is_file()
    for name in ("07", "08"):  # the evaluation sequences
        table = pd.read_csv(artifacts / "associations" / f"{name}.csv")
        assert list(table.columns) == ["parent", "child", "weight"] and len(table) > 0
        assert table["weight"].between(0.01, 1.0).all()
    assert first.loc["mean", "AOGM"] == run.data.metrics["AOGM"]

    second = run_supervised("synth-bacteria", "smoke", seed=3, overrides=tracking)
    pd.testing.assert_frame_equal(first, second)
    _, rerun = last_run()
    again = Path(client.download_artifacts(rerun.info.run_id, "checkpoints/last.pt", str(tmp_path / "again")))
    for key, value in torch.load(again, weights_only=True)["state_dict"].items():
        assert torch.equal(value, torch.load(artifacts / "checkpoints" / "last.pt", weights_only=True)["state_dict"][key])
