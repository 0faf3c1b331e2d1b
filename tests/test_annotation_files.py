"""A person's annotation files (CSV and GEFF): what they say, and a clear error naming the line for each
kind of mistake."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from attrackt.annotation_files import read_annotations
from attrackt.finetune import run_finetune
from attrackt.label_windows import labels_from_table
from benchmark.data.geff_io import write_geff
from benchmark.errors import ConfigError, DataError
from conftest import hand_made_sequence

# hand-made sequence "hand": frames 0: nodes 0, 1; 1: 2, 3; 2: 4, 5, 6; 3: 7, 8
HEADER = "sequence,node_id,t,y,x,children,score\n"


@pytest.fixture
def movie():
    return {"hand": hand_made_sequence()}


def write(tmp_path: Path, text: str, name: str = "annotations.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_annotations_become_labels(tmp_path, movie):
    path = write(
        tmp_path,
        HEADER + "hand,2,1,12.0,11.0,4;5,0.9\n"  # division
        "hand,6,2,53,50,,0.5\n"  # track ends
        "hand,1,,,,3,\n"  # optional columns left empty
        "hand,2,1,12.0,11.0,5;4,0.9\n",  # the same annotation again, children in another order
    )
    table = read_annotations(path, movie)
    assert list(table["node_id"]) == [1, 2, 6] and list(table["t"]) == [0, 1, 2]
    assert labels_from_table(table, "children") == {"hand": {1: (3,), 2: (4, 5), 6: ()}}
    minimal = read_annotations(write(tmp_path, "node_id,children,sequence\n3,6,hand\n", "minimal.csv"), movie)
    assert labels_from_table(minimal, "children") == {"hand": {3: (6,)}}


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        ("hand,2,1,12,11,4\nother,1,0,50,50,3\n", 3, "unknown sequence 'other'"),
        ("hand,12,,,,\n", 2, "unknown node id 12"),
        ("hand,2,,,,4;9\n", 2, "unknown node id 9"),
        ("hand,0,,,,4\n", 2, "link 0 -> 4 joins frame 0 to frame 2"),  # skips a frame
        ("hand,4,,,,2\n", 2, "link 4 -> 2 joins frame 2 to frame 1"),  # goes back
        ("hand,0,,,,2;3;2\n", 2, "3 children"),
        ("hand,2,,,,4;4\n", 2, "lists a child twice"),
        ("hand,0,,,,2\nhand,3,,,,6\nhand,0,,,,3\n", 4, "annotated again with other children (3; line 2: 2)"),
        ("hand,0,,,,2\nhand,1,,,,2\n", 3, "node 2 is claimed as a child by node 1 and by node 0 (line 2)"),
        ('hand,0,,,,"2,3"\n', 2, "children '2,3' is not a node id"),  # ',' instead of ';'
        ("hand,0,,,,a\n", 2, "children 'a' is not a node id"),
        ("hand,x1,,,,2\n", 2, "node_id 'x1' is not a node id"),
        ("hand,0,1,,,2\n", 2, "t=1, but node 0 is in frame 0"),
        ("hand,0,0,10,30,2\n", 2, "x=30, but node 0 is at x=10.0"),
        ("hand,0,0,ten,,2\n", 2, "y 'ten' is not a number"),
    ],
)
def test_csv_mistakes_are_errors_naming_the_line(tmp_path, movie, rows, line, message):
    path = write(tmp_path, "sequence,node_id,t,y,x,children\n" + rows)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:{line}: .*{re.escape(message)}") as error:
        read_annotations(path, movie)
    assert error.value.line == line


def test_malformed_csv_files(tmp_path, movie):
    for text, line, message in (
        ("sequence,node,children\nhand,0,2\n", 1, "missing: node_id"),
        ("sequence,node_id,children\nhand,0,2,extra\n", 2, "fields of the header"),
        ("sequence,node_id,children\n", None, "has no annotations"),
    ):
        path = write(tmp_path, text)
        with pytest.raises(DataError, match=re.escape(message)) as error:
            read_annotations(path, movie)
        assert error.value.line == line
    with pytest.raises(DataError, match="annotation file not found"):
        read_annotations(tmp_path / "absent.csv", movie)
    with pytest.raises(DataError, match="a .csv file or a GEFF store"):
        read_annotations(write(tmp_path, "x", "notes.txt"), movie)


def test_geff_links_with_and_without_the_annotated_property(tmp_path, movie):
    sequence = movie["hand"]
    links = np.array([[2, 4], [2, 5], [3, 6]])
    plain = write_geff(tmp_path / "hand.geff", sequence, links)
    assert labels_from_table(read_annotations(plain, movie), "children") == {"hand": {2: (4, 5), 3: (6,)}}
    flags = np.zeros(sequence.n_detections, np.int8)
    flags[[2, 3, 6]] = 1  # node 6: annotated without a child (track end)
    flagged = write_geff(tmp_path / "any-name.geff", sequence, links, {"annotated": flags})
    assert labels_from_table(read_annotations(flagged, movie), "children") == {"hand": {2: (4, 5), 3: (6,), 6: ()}}


def test_geff_mistakes_are_errors(tmp_path, movie):
    sequence = movie["hand"]
    cases = [
        (np.array([[0, 4]]), None, "link 0 -> 4 joins frame 0 to frame 2"),
        (np.array([[0, 2], [1, 2]]), None, "node 2 is claimed as a child by node 1 and by node 0"),
        (np.array([[2, 4], [3, 6]]), [2], "edge 3 -> 6 leaves node 3, which is not annotated"),
    ]
    for index, (links, annotated, message) in enumerate(cases):
        extra = None
        if annotated is not None:
            flags = np.zeros(sequence.n_detections, np.int8)
            flags[annotated] = 1
            extra = {"annotated": flags}
        path = write_geff(tmp_path / f"case{index}" / "hand.geff", sequence, links, extra)
        with pytest.raises(DataError, match=re.escape(message)):
            read_annotations(path, movie)
    two = {"a": sequence, "b": sequence}
    with pytest.raises(DataError, match="name the GEFF store after its sequence"):
        read_annotations(write_geff(tmp_path / "hand.geff", sequence, np.array([[2, 4]])), two)
    bigger = hand_made_sequence()
    bigger.detections.loc[len(bigger.detections)] = bigger.detections.iloc[-1].to_numpy()
    bigger.detections.loc[len(bigger.detections) - 1, "node_id"] = 9
    with pytest.raises(DataError, match="unknown node id 9"):
        read_annotations(write_geff(tmp_path / "big" / "hand.geff", bigger, np.array([[2, 4]])), movie)


def test_finetune_checks_its_annotation_file_parameter_before_running(tmp_path):
    path = write(tmp_path, "sequence,node_id,children\n02,0,\n")
    with pytest.raises(ConfigError, match="setup='extrapolation': a person's annotations are pinned"):
        run_finetune("synth-hela", "smoke", setup="extrapolation", annotation_file=str(path))
    with pytest.raises(DataError, match="annotation file not found"):
        run_finetune("synth-hela", "smoke", annotation_file=str(tmp_path / "absent.csv"))
