"""Windows above the token cap (issue 15): the crop ends for any input, and every caller (training,
validation, label and pseudo-label windows, inference with and without TTA) keeps to its cap without
losing what it needs; inference matches Trackastra's spatial mask and the reference's TTA averaging."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from attrackt.association_training import training_batches, validation_batches
from attrackt.augment import crop
from attrackt.inference import predict_associations, tile_associations
from attrackt.label_windows import labelled_batches, labels_from_table
from attrackt.model.network import AssociationModel
from attrackt.model.quiet_softmax import quiet_parental_softmax
from attrackt.sampling import node_pool, pseudo_labels
from attrackt.tiles import spatial_tiles
from attrackt.windows import SequenceTokens, collate
from benchmark.config import ModelConfig, TrainConfig
from benchmark.data.sequence import FEATURE_COLUMNS, Sequence

CAP = 64  # training token cap of these tests
CUTOFF = 30.0  # px: a small attention cutoff, so that a 1000 px field makes many tiles
MODEL = ModelConfig(
    d_model=24, n_heads=2, encoder_layers=1, decoder_layers=1, dropout=0.0, window=4, max_tokens=CAP,
    position_features=8, feature_features=4, attention_cutoff=CUTOFF,
)
CPU = torch.device("cpu")


def dense_sequence() -> Sequence:
    """4 frames of ~750 cells each on a 1000 x 1000 px field (~3,000 detections): cells move by ~2 px,
    20 divide and 20 end per frame."""
    rng = np.random.default_rng(0)
    yx = rng.uniform(0, 1000, size=(750, 2))
    rows, parents, ids = [], [], np.arange(750)
    for t in range(4):
        rows += [(t, y, x) for y, x in yx]
        if t == 0:
            parents += [-1] * len(yx)
        next_yx, next_parent = [], []
        dividing = set(rng.choice(len(yx), 20, replace=False).tolist())
        ending = set(rng.choice(sorted(set(range(len(yx))) - dividing), 20, replace=False).tolist())
        for k, position in enumerate(yx):
            if k in ending:
                continue
            for offset in ((3.0, 0.0), (-3.0, 0.0)) if k in dividing else ((0.0, 0.0),):
                next_yx.append(position + offset + rng.normal(0, 2, 2))
                next_parent.append(ids[k])
        if t < 3:
            first = len(rows)
            ids = np.arange(first, first + len(next_yx))
            parents += next_parent
            yx = np.array(next_yx)
    detections = pd.DataFrame(rows, columns=["t", "y", "x"])
    detections.insert(0, "node_id", np.arange(len(detections)))
    detections.insert(2, "label", detections["node_id"] + 1)
    detections["parent_id"] = parents
    for name in FEATURE_COLUMNS:
        detections[name] = rng.uniform(1, 10, len(detections))
    return Sequence(name="dense", detections=detections, n_frames=4)


@pytest.fixture(scope="module")
def dense() -> Sequence:
    return dense_sequence()


@pytest.fixture(scope="module")
def tokens(dense) -> SequenceTokens:
    return SequenceTokens.from_sequence(dense)


def chebyshev(yx: np.ndarray, centre: np.ndarray) -> np.ndarray:
    return np.abs(yx - centre).max(axis=1)


def test_crop_ends_for_any_input_and_keeps_the_nearest_tokens(tokens):
    window = tokens.window(0, 4)
    rng = np.random.default_rng(0)
    centre = window.yx.min(axis=0) + 0.5 * np.ptp(window.yx, axis=0)
    for size in (np.inf, 1e9, 300.0):
        out = crop(window, size, CAP, rng)
        assert len(out) == CAP
    whole = crop(window, np.inf, CAP, rng)  # an infinite square is centred on the bounding box
    kept = np.isin(window.rows, whole.rows)
    assert chebyshev(window.yx[kept], centre).max() <= chebyshev(window.yx[~kept], centre).min()
    assert np.array_equal(whole.target, window.subset(kept).target)
    square = crop(window, 100.0, 10**6, rng)  # below the cap: exactly the tokens of a 100 px square
    low, high = square.yx.min(axis=0), square.yx.max(axis=0)
    inside = np.all((window.yx >= low) & (window.yx <= high), axis=1)
    assert np.all(high - low <= 100.0) and inside.sum() == len(square)
    stacked = replace(window, yx=np.zeros_like(window.yx))  # every token at one position
    assert len(crop(stacked, np.inf, CAP, rng)) == CAP
    assert len(crop(window, 1.0, 16, rng)) <= 16  # a cap far below one frame
    required = np.isin(window.rows, window.rows[[0, -1]])  # two far-apart tokens
    forced = crop(window, np.inf, CAP, rng, centre=window.yx[0], required=required)
    assert len(forced) == CAP and set(window.rows[[0, -1]]) <= set(forced.rows)


@pytest.mark.parametrize("augment, crop_size", [(True, np.inf), (False, 256.0)])
def test_training_windows_above_the_cap_are_capped(tokens, augment, crop_size):
    train = TrainConfig(iterations=1, batch_size=4, crop_size=crop_size, augment=augment)
    batches = training_batches([tokens], MODEL, train, np.random.default_rng(0), CPU)
    for _ in range(2):
        counts = next(batches).valid.sum(dim=1)
        assert counts.max() <= CAP and counts.min() > 0


def test_validation_windows_are_capped_and_the_same_for_every_seed(tokens):
    train = TrainConfig(iterations=1, batch_size=2, val_windows=4)
    first = validation_batches([tokens], MODEL, train, seed=0, device=CPU)
    second = validation_batches([tokens], MODEL, train, seed=7, device=CPU)
    assert len(first) == 1 and first[0].valid.sum(dim=1).tolist() == [CAP]
    assert torch.equal(first[0].rows, second[0].rows) and torch.equal(first[0].target, second[0].target)


def labelled_windows_keep_their_labels(tokens, labels, augmented: bool) -> None:
    """Every window of labelled_batches holds at most CAP tokens, among them a labelled node with all
    its children, their links known (mask) and positive (target)."""
    batches = labelled_batches({tokens.name: tokens}, labels, MODEL, 4, np.random.default_rng(1), CPU, augmented)
    for _ in range(5):
        batch = next(batches)
        assert batch.valid.sum(dim=1).max() <= CAP
        for b in range(len(batch.rows)):
            position = {int(row): k for k, row in enumerate(batch.rows[b]) if row >= 0}
            present = set(position)
            whole = [node for node, children in labels[tokens.name].items() if {node, *children} <= present]
            assert whole, "no label survived the cap"
            for node in whole:
                for child in labels[tokens.name][node]:
                    link = (b, position[node], position[child])
                    assert batch.mask[link] and batch.target[link] == 1


@pytest.mark.parametrize("augmented", [True, False])
def test_label_windows_keep_the_annotated_node_and_its_children(dense, tokens, augmented):
    gt = node_pool(dense, pd.DataFrame(columns=["parent", "child", "weight"]), dense.gt_edges())
    divisions = gt[gt["gt_children"].map(len) == 2].head(3)  # annotations: three dividing nodes
    labels = labels_from_table(divisions, "gt_children")
    labelled_windows_keep_their_labels(tokens, labels, augmented)


@pytest.mark.parametrize("augmented", [True, False])
def test_pseudo_label_windows_keep_the_pseudo_labelled_node_and_its_children(dense, tokens, augmented):
    links = dense.gt_edges()
    weights = np.random.default_rng(2).uniform(0.5, 1.0, len(links))
    associations = pd.DataFrame({"parent": links[:, 0], "child": links[:, 1], "weight": weights})
    pool = node_pool(dense, associations, links)  # the ILP's links taken as the GT's
    pseudo = pseudo_labels(pool, pool.head(0), 0.5)
    assert (pseudo["ilp_children"].map(len) > 0).sum() > 100
    labelled_windows_keep_their_labels(tokens, labels_from_table(pseudo, "ilp_children"), augmented)


def adjacent_pairs_within(tokens: SequenceTokens, cutoff: float) -> set[tuple[int, int]]:
    """Every (parent, child) row pair in adjacent frames at most ``cutoff`` px apart (brute force)."""
    pairs = set()
    for t in range(tokens.n_frames - 1):
        parents, children = np.flatnonzero(tokens.t == t), np.flatnonzero(tokens.t == t + 1)
        distance = np.linalg.norm(tokens.yx[parents][:, None] - tokens.yx[children][None], axis=-1)
        i, j = np.nonzero(distance <= cutoff)
        pairs |= set(zip(parents[i].tolist(), children[j].tolist()))
    return pairs


@pytest.fixture(scope="module")
def model() -> AssociationModel:
    torch.manual_seed(0)
    return AssociationModel(MODEL).eval()


# with TTA on a quarter of the field: the reference runs 8 whole-window passes
@pytest.mark.parametrize("tta, field_px, inference_cap", [(False, 1000.0, 256), (True, 500.0, 128)])
def test_inference_above_the_cap_scores_every_pair_once_from_tiles(tokens, model, tta, field_px, inference_cap):
    inside = np.all(tokens.yx < field_px, axis=1)
    n = int(inside.sum())
    tokens = SequenceTokens("dense", tokens.t[inside], tokens.yx[inside], tokens.features[inside], np.full(n, -1), 4)
    ids = np.arange(n)
    options = {"window": 4, "min_association": 0.0, "tta": tta, "device": CPU}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no tile above the cap
        tiled = predict_associations(model, tokens, ids, max_tokens=inference_cap, **options)
    whole = predict_associations(model, tokens, ids, max_tokens=n, **options)  # one window, variants one at a time
    tiles = spatial_tiles(tokens.yx, inference_cap, CUTOFF)
    assert n > 4 * inference_cap and len(tiles) > 4 and max(tile.members.sum() for tile in tiles) <= inference_cap
    # every adjacent-frame pair within the cutoff once (1e-3 px of rounding allowed at the cutoff), none beyond
    within, beyond = adjacent_pairs_within(tokens, CUTOFF - 1e-3), adjacent_pairs_within(tokens, CUTOFF + 1e-3)
    for table in (tiled, whole):
        pairs = set(zip(table["parent"], table["child"]))
        assert within <= pairs <= beyond and len(pairs) == len(table)
    # A 1+1-layer model's column j depends on the tokens within 2 cutoffs of j: exact for children at
    # least one cutoff inside their tile's core box (its members reach one cutoff beyond that box).
    interior = np.zeros(n, dtype=bool)
    for tile in tiles:
        low, high = tokens.yx[tile.core].min(axis=0) + CUTOFF, tokens.yx[tile.core].max(axis=0) - CUTOFF
        interior |= tile.core & np.all((tokens.yx >= low) & (tokens.yx <= high), axis=1)
    merged = tiled.merge(whole, on=["parent", "child"], suffixes=("_tiled", "_whole"))
    exact = interior[merged["child"]]
    assert exact.mean() > 0.2
    assert np.allclose(merged["weight_tiled"][exact], merged["weight_whole"][exact], atol=1e-5)
    assert (merged["weight_tiled"] - merged["weight_whole"]).abs().mean() < 0.05


def test_far_tokens_do_not_change_the_associations_of_near_ones(model):
    rng = np.random.default_rng(3)
    n = 12
    yx = rng.uniform(0, 40, size=(n, 2))
    base = SequenceTokens("far", np.repeat(np.arange(4), 3), yx, rng.uniform(1, 10, (n, 7)), np.full(n, -1), 4)
    moved = SequenceTokens("far", base.t, yx.copy(), base.features, base.parent, 4)
    base.yx[2], moved.yx[2] = (500.0, 500.0), (900.0, 100.0)  # a frame-0 token far from all others
    options = {"window": 4, "min_association": 0.0, "tta": False, "device": CPU}
    before = predict_associations(model, base, np.arange(n), **options)
    after = predict_associations(model, moved, np.arange(n), **options)
    assert 2 not in set(before["parent"]) and np.allclose(before["weight"], after["weight"], atol=1e-6)
    # without the spatial mask in the softmax the far token's logit would count in every denominator
    raw = []
    for tokens in (base, moved):
        batch = collate([tokens.window(0, 4, with_targets=False)])
        with torch.no_grad():
            logits = model(batch.coordinates, batch.features, batch.valid)
            raw.append(quiet_parental_softmax(logits, batch.frames, batch.valid))
    assert not torch.allclose(raw[0][0, 0, 3:], raw[1][0, 0, 3:], atol=1e-6)


def test_tta_thresholds_each_variant_then_averages_over_the_variants_that_kept_a_pair(tokens, model):
    window = tokens.window(0, 2, with_targets=False)
    small = window.subset(np.all(np.abs(window.yx - 500) < 100, axis=1))  # ~60 tokens, frames 0-1
    sequence = SequenceTokens("small", small.t, small.yx, small.features, np.full(len(small), -1), 2)
    everything = np.ones(len(small), dtype=bool)
    parents, children, scores = tile_associations(
        model, sequence.window(0, 2, False), everything, sequence.centre, True, 10**6, CPU
    )
    assert scores.shape == (8, len(parents))
    threshold = float(np.quantile(scores, 0.6))
    kept = scores >= threshold
    table = predict_associations(
        model, sequence, np.arange(len(small)), window=2, min_association=threshold, tta=True, device=CPU
    )
    weight = {(p, c): w for p, c, w in zip(table["parent"], table["child"], table["weight"])}
    some, every = kept.any(axis=0), kept.all(axis=0)
    assert (some & ~every).any()  # pairs some variants drop: where thresholding first makes a difference
    for k in np.flatnonzero(some):
        assert weight[(parents[k], children[k])] == pytest.approx(scores[kept[:, k], k].mean(), abs=1e-6)
    assert len(weight) == some.sum()
