"""Where the supervised baseline trains and validates (SPEC section 6, the reference's splits): HeLa's
last frames of 01, the Bacteria validation sequences; checked on small fake CTC folders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attrackt.windows import SequenceTokens
from baselines.supervised import frame_range, hold_out_last_frames, supervised_data
from benchmark.data.ctc import write_ctc_sequence
from benchmark.data.datasets import BACTERIA_TEST, BACTERIA_VAL, resolve_dataset
from benchmark.data.sequence import FEATURE_COLUMNS, Sequence
from benchmark.errors import DataError
from conftest import tiny_arrays


def chain_sequence(n_frames: int) -> Sequence:
    """One cell per frame at (t, t), each the child of the previous one."""
    detections = pd.DataFrame(
        {"node_id": np.arange(n_frames), "t": np.arange(n_frames), "label": 1, "y": np.arange(n_frames, dtype=float),
         "x": np.arange(n_frames, dtype=float), "parent_id": np.arange(n_frames) - 1}
    )
    for name in FEATURE_COLUMNS:
        detections[name] = 1.0
    return Sequence(name="01", detections=detections, n_frames=n_frames)


def test_hela_sized_sequence_trains_on_frames_0_to_77_and_validates_on_78_to_91():
    tokens = SequenceTokens.from_sequence(chain_sequence(92))
    [train], [validation], names = hold_out_last_frames([tokens], 0.15)
    assert names == {"training.sequences": "01 frames 0-77", "training.validation": "01 frames 78-91"}
    assert (train.n_frames, validation.n_frames) == (78, 14)
    assert list(train.t) == list(range(78)) and list(validation.t) == list(range(14))
    assert list(validation.yx[:, 0]) == list(range(78, 92))  # the frames themselves, renumbered
    assert validation.parent[0] == -1 and list(validation.parent[1:]) == list(range(13))  # parent at 77 cut off
    assert list(train.parent) == [-1, *range(77)]
    # windows of the validation part hold only its frames, with the lineage targets inside it
    window = validation.window(0, 6)
    assert list(window.t) == list(range(6)) and window.target[0, 5] == 1.0


def test_short_sequences_keep_at_least_one_training_frame():
    tokens = SequenceTokens.from_sequence(chain_sequence(3))
    [train], validation, names = hold_out_last_frames([tokens], 0.15)  # round(0.45) = 0 frames held out
    assert train.n_frames == 3 and validation == [] and names["training.validation"] == "none"
    [train], [validation], _ = hold_out_last_frames([tokens], 0.9)  # round(2.7) = 3, at most n - 1 = 2
    assert (train.n_frames, validation.n_frames) == (1, 2)
    middle = frame_range(tokens, 1, 2)
    assert middle.n_frames == 1 and list(middle.parent) == [-1]


def write_tiny(root, name: str) -> None:
    images, masks, tracks = tiny_arrays()
    write_ctc_sequence(root, name, images, masks, tracks)


def test_named_hela_validates_the_supervised_baseline_on_the_last_frames_of_01(tmp_path, monkeypatch):
    root = tmp_path / "hela"
    for name in ("01", "02"):
        write_tiny(root, name)
    monkeypatch.setenv("ATTRACKT_HELA_DIR", str(root))
    dataset = resolve_dataset("hela", data_dir=tmp_path)
    assert (dataset.split.train, dataset.split.val, dataset.split.test) == (("01",), (), ("02",))
    train, validation, names = supervised_data(dataset, 0.15)  # 4 frames: round(0.6) = 1 held out
    assert names == {"training.sequences": "01 frames 0-2", "training.validation": "01 frames 3-3"}
    assert [t.n_frames for t in train] == [3] and [v.n_frames for v in validation] == [1]
    train, validation, names = supervised_data(dataset, 0.0)
    assert names == {"training.sequences": "01", "training.validation": "none"} and validation == []
    assert train[0].n_frames == 4


def test_named_bacteria_validates_the_supervised_baseline_on_the_reference_val_sequences(tmp_path, monkeypatch):
    root = tmp_path / "bacteria"
    for name in (*BACTERIA_TEST, "140408-02", "151031-03", "999999-99"):
        write_tiny(root, name)
    monkeypatch.setenv("ATTRACKT_BACTERIA_DIR", str(root))
    with pytest.raises(DataError, match="140415-13"):  # one of the reference's val sequences is missing
        resolve_dataset("bacteria", data_dir=tmp_path)
    write_tiny(root, "140415-13")
    dataset = resolve_dataset("bacteria", data_dir=tmp_path)
    assert dataset.split.val == BACTERIA_VAL == ("140415-13", "151031-03")
    assert dataset.split.train == ("140408-02", "999999-99") and dataset.split.test == BACTERIA_TEST
    train, validation, names = supervised_data(dataset, 0.15)  # val sequences: nothing is held out
    assert names == {"training.sequences": "140408-02, 999999-99", "training.validation": "140415-13, 151031-03"}
    assert [t.n_frames for t in train + validation] == [4, 4, 4, 4]
