"""``suggest``: the most uncertain nodes of a tracked movie, written as an editable CSV and a GEFF, never
the nodes annotated already; clear errors for runs it cannot use."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from attrackt.annotation_files import read_annotations
from attrackt.label_windows import labels_from_table
from attrackt.suggest import SUGGESTION_COLUMNS, run_suggest
from benchmark.cli import main
from benchmark.data.geff_io import write_geff
from benchmark.errors import ConfigError
from conftest import hand_made_sequence

# Tracks of the hand-made sequence with a missed division (2 -> 4 only) and a lost track (6 -> nothing);
# uncertainties |Σ Â − #children|: 6: 0.7, 2: 0.4, 3: 0.3, 0: 0.1, 1: 0.05, others 0 (7, 8: last frame).
EDGES = np.array([[0, 2], [1, 3], [2, 4], [3, 6]])
ASSOCIATIONS = pd.DataFrame(
    {"parent": [0, 1, 2, 2, 3, 6, 6], "child": [2, 3, 4, 5, 6, 7, 8], "weight": [0.9, 0.95, 0.9, 0.5, 0.7, 0.4, 0.3]}
)


def tracked_run(associations: bool = True, annotations: pd.DataFrame | None = None, status: str = "FINISHED") -> str:
    """A run with the artifacts of a tracking run of the hand-made sequence; its id."""
    with mlflow.start_run(tags={"entry_point": "attrackt"}) as run, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "predictions").mkdir()
        write_geff(folder / "predictions" / "hand.geff", hand_made_sequence(), EDGES)
        if associations:
            (folder / "associations").mkdir()
            ASSOCIATIONS.to_csv(folder / "associations" / "hand.csv", index=False)
        if annotations is not None:
            annotations.to_csv(folder / "annotations.csv", index=False)
        mlflow.log_artifacts(tmp)
    if status != "FINISHED":
        mlflow.tracking.MlflowClient().set_terminated(run.info.run_id, status)
    return run.info.run_id


def test_suggestions_are_the_most_uncertain_nodes_as_an_annotation_file(tracking, tmp_path):
    run_id = tracked_run()
    table, where = run_suggest(run_id, "3", output=str(tmp_path), profile="smoke")
    assert list(table.columns) == SUGGESTION_COLUMNS
    assert list(table["node_id"]) == [6, 2, 3] and list(table["children"]) == ["", "4", "6"]
    assert table["score"].to_numpy() == pytest.approx([0.7, 0.4, 0.3])
    assert where == str(tmp_path / "suggestions.csv")
    movie = {"hand": hand_made_sequence()}
    current = {"hand": {6: (), 2: (4,), 3: (6,)}}  # as predicted: unchanged, both files are annotation files
    assert labels_from_table(read_annotations(Path(where), movie), "children") == current
    assert labels_from_table(read_annotations(tmp_path / "suggestions" / "hand.geff", movie), "children") == current

    [logged] = mlflow.search_runs(filter_string="tags.entry_point = 'suggest'", output_format="list")
    assert logged.data.params["run"] == run_id and logged.data.params["k"] == "3"
    artifacts = {item.path for item in mlflow.tracking.MlflowClient().list_artifacts(logged.info.run_id)}
    assert artifacts == {"suggestions.csv", "suggestions"}

    everything, _ = run_suggest(run_id, "all", profile="smoke")
    assert list(everything["node_id"]) == [6, 2, 3, 0, 1, 4, 5]  # not the last frame's 7, 8


def test_annotated_nodes_are_not_suggested_again(tracking, tmp_path):
    exclude = tmp_path / "done.csv"
    exclude.write_text("sequence,node_id,children\nhand,6,7\n")
    table, _ = run_suggest(tracked_run(), "3", exclude=str(exclude), profile="smoke")
    assert list(table["node_id"]) == [2, 3, 0]
    finetuned = tracked_run(annotations=pd.DataFrame({"sequence": ["hand"], "node_id": [2], "children": ["4;5"]}))
    table, _ = run_suggest(finetuned, "3", exclude=str(exclude), profile="smoke")
    assert list(table["node_id"]) == [3, 0, 1]


def test_runs_suggest_cannot_use_are_clear_errors(tracking, capsys):
    for run_id, k, message in (
        (tracked_run(associations=False), "3", "has no associations/"),
        (tracked_run(status="FAILED"), "3", "did not finish"),
        ("0" * 32, "3", "no such run"),
        ("abc", "3", "not an MLflow run id"),
        (tracked_run(), "0", "parameter k='0'"),
    ):
        with pytest.raises(ConfigError, match=message):
            run_suggest(run_id, k, profile="smoke")
    assert main(["suggest", "--run", tracked_run(), "--k", "2", "--profile", "smoke"]) == 0
    printed = capsys.readouterr().out
    assert "suggestions: " in printed and printed.count("hand") == 2
    assert main(["suggest", "--run", tracked_run(associations=False)]) == 2
    assert "error: ConfigError: parameter run=" in capsys.readouterr().err
