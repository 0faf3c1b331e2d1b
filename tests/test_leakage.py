"""No silent leakage: a method that trains with ground truth on the sequences it is scored on is refused
with an error asking for a split, or runs only when asked (data.allow_train_eval_overlap), tagged and
marked in the report."""

from __future__ import annotations

import pandas as pd
import pytest

from baselines.supervised import run_supervised
from benchmark.data.datasets import check_train_eval_overlap, resolve_dataset
from benchmark.errors import ConfigError
from benchmark.report import build_report
from benchmark.tracking import LEAKAGE_TAG
from conftest import last_run


def test_supervised_on_a_folder_without_split_is_refused_unless_asked(tracking, real_data, tmp_path, capsys):
    with pytest.raises(ConfigError) as refused:  # tests/data/mouse-paw-crop: one sequence, no dataset.yaml
        run_supervised(str(real_data), "smoke", overrides=tracking)
    message = str(refused.value)
    assert "sequence(s) 01" in message and str(real_data / "dataset.yaml") in message
    assert 'overrides="data.allow_train_eval_overlap=true"' in message
    client, run = last_run()
    assert run.info.status == "FAILED" and "dataset.yaml" in run.data.tags["error"] and LEAKAGE_TAG not in run.data.tags

    run_supervised(str(real_data), "smoke", overrides={**tracking, "data.allow_train_eval_overlap": True})
    client, run = last_run()
    assert run.info.status == "FINISHED" and run.data.params["data.allow_train_eval_overlap"] == "True"
    assert run.data.tags[LEAKAGE_TAG] == "true" and run.data.tags["leakage.sequences"] == "01"
    assert "WARNING: trained with the ground truth of evaluation sequence(s) 01" in capsys.readouterr().err

    build_report(None, "tests", tmp_path)  # the report marks it
    [table] = (tmp_path / "tables").glob("table1_*.md")
    text = table.read_text()
    assert "Pos. & Sup. Assoc. §" in text and "§ trained with ground truth on its evaluation sequences" in text
    assert bool(pd.read_csv(tmp_path / "runs.csv").set_index("run_id").at[run.info.run_id, "leakage"])


def test_a_point_csv_has_no_split_to_train_with_gt_on(tmp_path):
    points = tmp_path / "cells.csv"
    points.write_text("t,y,x,id,parent_id\n0,5,5,1,-1\n1,6,5,2,1\n")
    dataset = resolve_dataset(str(points), data_dir=tmp_path)
    with pytest.raises(ConfigError, match="point CSV uses every sequence for training and evaluation"):
        check_train_eval_overlap(dataset, dataset.split.train, "supervised", allow=False)
    assert check_train_eval_overlap(dataset, dataset.split.train, "supervised", allow=True) == dataset.split.test
    assert check_train_eval_overlap(dataset, (), "supervised", allow=False) == ()


def test_extrapolation_on_a_folder_without_split_is_refused(tracking, real_data):
    """Fine-tuning in the extrapolation setup trains on the GT of train+val and is scored on test: on a
    folder without dataset.yaml those are the same sequences, refused before any model is loaded."""
    from attrackt.finetune import run_finetune

    with pytest.raises(ConfigError, match=r"finetune would train with the ground truth of sequence\(s\) 01"):
        run_finetune(str(real_data), "smoke", k="10", setup="extrapolation", overrides=tracking)
