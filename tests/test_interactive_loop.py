"""The interactive loop of a person tracking their own movie (issue 10): track it with an Attrackt model,
then three rounds of suggest k = 20 nodes, the person corrects them, fine-tune on every annotation so
far (pinned) and re-track.

The movie is a GT-less copy (images + masks only) of the evaluation sequence of a small synthetic
dataset whose cells divide often (errors the confidence strategy can find). The person is simulated:
they answer from that sequence's GT, and only for the suggested nodes. The test scores each round's
tracks against the GT it holds back.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from attrackt.annotation_files import children_text
from attrackt.embeddings_store import autoencoder_embeddings, movie_embeddings
from attrackt.finetune import run_finetune
from attrackt.sampling import children_of
from attrackt.suggest import run_suggest
from attrackt.track import run_track
from attrackt.unsupervised import run_attrackt
from baselines.autoencoder import run_autoencoder
from benchmark.config import load_config
from benchmark.data.ctc import SEGMENTATION_SUFFIX
from benchmark.data.datasets import resolve_dataset
from benchmark.data.geff_io import read_geff
from benchmark.data.sequence import Sequence
from benchmark.entry_points import load_dataset
from benchmark.pipeline import evaluate_sequence
from conftest import last_run

K = 20
ROUNDS = 3
#: Cells that divide every ~10 frames: many division errors for an untrained (smoke) model.
DIVIDING = {"data.synth.cycle_frames": 10}


def gt_less_copy(sequence: Sequence, root: Path) -> Path:
    """``sequence`` as a movie folder: ``NAME/tTTT.tif`` and its GT masks as ``NAME_SEG/maskTTT.tif``."""
    for folder, paths, prefix in ((root / sequence.name, sequence.image_paths, "t"),
                                  (root / f"{sequence.name}{SEGMENTATION_SUFFIX}", sequence.mask_paths, "mask")):
        folder.mkdir(parents=True)
        for t, path in enumerate(paths):
            shutil.copy(path, folder / f"{prefix}{t:03d}.tif")
    return root


def answer(suggestions: pd.DataFrame, gt: list[tuple[int, ...]]) -> pd.DataFrame:
    """The simulated person: the suggestions with their GT children."""
    return suggestions.assign(children=[children_text(gt[node]) for node in suggestions["node_id"]])


def predicted_edges(run_id: str, sequence: str, folder: Path) -> np.ndarray:
    return read_geff(Path(MlflowClient().download_artifacts(run_id, f"predictions/{sequence}.geff", str(folder))))[1]


@pytest.mark.slow
def test_three_rounds_of_suggest_annotate_finetune_lower_the_aogm(tracking, tmp_path):
    overrides = {**tracking, **DIVIDING}
    config = load_config("smoke", overrides)
    [truth] = load_dataset("synth-hela", config).evaluation_sequences()
    folder = str(gt_less_copy(truth, tmp_path / "movie"))
    movie_data = resolve_dataset(folder, data_dir=tmp_path)
    [movie] = movie_data.sequences.values()
    assert not movie.has_gt and np.array_equal(movie.positions(), truth.positions())  # same node ids
    gt = children_of(truth.n_detections, truth.gt_edges())

    run_autoencoder("synth-hela", "smoke", 0, overrides)
    _, autoencoder = last_run()
    # the autoencoder never saw the movie: its embeddings are computed with the logged checkpoint, and
    # they are those it stored for the same images
    computed, source = movie_embeddings(movie_data, config, autoencoder.info.run_id)
    stored, _ = autoencoder_embeddings(load_dataset("synth-hela", config), config, autoencoder.info.run_id)
    assert source == autoencoder.info.run_id and np.allclose(computed[movie.name], stored[truth.name], atol=1e-5)
    run_attrackt("synth-hela", "smoke", 0, overrides)
    _, attrackt = last_run()
    run_track(folder, model=attrackt.info.run_id, profile="smoke", overrides=overrides)  # round 0
    _, tracked = last_run()
    run_id = tracked.info.run_id
    aogm = [evaluate_sequence(truth, predicted_edges(run_id, movie.name, tmp_path / "r0"))["AOGM"]]
    annotated = []
    for round_ in range(1, ROUNDS + 1):
        suggestions, where = run_suggest(run_id, str(K), output=str(tmp_path / f"round{round_}"), profile="smoke")
        assert len(suggestions) == K and Path(where) == tmp_path / f"round{round_}" / "suggestions.csv"
        seen = {node for table in annotated for node in table["node_id"]}
        assert not seen & set(suggestions["node_id"])  # the run's annotations are not suggested again
        annotated.append(answer(pd.read_csv(where, dtype={"sequence": str, "children": str}, keep_default_na=False), gt))
        cumulative = tmp_path / f"annotations{round_}.csv"
        pd.concat(annotated).to_csv(cumulative, index=False)
        run_finetune(folder, "smoke", 0, overrides, attrackt_run=attrackt.info.run_id, annotation_file=str(cumulative))
        _, finetuned = last_run()
        assert finetuned.data.tags["sampling"] == "user" and finetuned.data.tags["k"] == str(K * round_)
        # the movie's embeddings were computed with the autoencoder trained on the synthetic dataset
        assert finetuned.data.params["resolved.autoencoder_run"] == autoencoder.info.run_id
        run_id = finetuned.info.run_id  # re-tracked with every annotation so far pinned
        edges = predicted_edges(run_id, movie.name, tmp_path / f"r{round_}")
        aogm.append(evaluate_sequence(truth, edges)["AOGM"])

    print(f"AOGM per round: {aogm}")
    assert all(later < earlier for earlier, later in zip(aogm, aogm[1:])), aogm
    final = children_of(truth.n_detections, edges)
    for table in annotated:  # every annotated link, and every annotated track end, is in the final tracks
        for node, children in zip(table["node_id"], table["children"]):
            assert children_text(final[node]) == children, (node, children)
