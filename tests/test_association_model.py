"""The association model (SPEC section 4): attention invariances, windows and targets, augmentation,
the supervised loss, training that overfits a tiny sequence, inference and checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attrackt.association_training import supervised_objective, train_association_model, training_batches
from attrackt.augment import SQUARE_SYMMETRIES, affine, augment, random_matrix
from attrackt.inference import predict_associations
from attrackt.losses import pair_mask, supervised_loss
from attrackt.model.attention import Attention, RotaryEncoding, attention_bias
from attrackt.model.network import AssociationModel
from attrackt.training import load_checkpoint, save_checkpoint
from attrackt.windows import SequenceTokens, collate
from benchmark.config import ModelConfig, TrainConfig, load_config
from benchmark.data.sequence import FEATURE_COLUMNS, Sequence
from conftest import hand_made_sequence
from benchmark.entry_points import load_dataset
from benchmark.errors import DataError
from benchmark.pipeline import evaluate_sequence, track_sequence
from attrackt.association_method import association_term

SMALL = ModelConfig(d_model=32, n_heads=2, encoder_layers=1, decoder_layers=1, dropout=0.0, window=4, max_tokens=512)


def test_lineage_targets_mark_ancestors_within_the_window_only():
    tokens = SequenceTokens.from_sequence(hand_made_sequence())
    full = tokens.window(0, 4)
    expected = {(0, 2), (0, 4), (0, 5), (2, 4), (2, 5), (1, 3), (1, 6), (1, 7), (3, 6), (3, 7), (6, 7)}
    pairs = {(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(full.target)))}
    assert pairs == expected
    assert np.array_equal(full.target, full.target.T)
    later = tokens.window(1, 3)  # frames 1-3: ancestors in frame 0 are outside
    rows = later.rows
    pairs = {(int(rows[i]), int(rows[j])) for i, j in zip(*np.nonzero(np.triu(later.target)))}
    assert pairs == {(2, 4), (2, 5), (3, 6), (3, 7), (6, 7)}
    assert list(later.t) == [0, 0, 1, 1, 1, 2, 2]


def test_collate_pads_with_invalid_tokens():
    tokens = SequenceTokens.from_sequence(hand_made_sequence())
    batch = collate([tokens.window(0, 2), tokens.window(0, 4)])
    assert batch.coordinates.shape == (2, 9, 3)
    assert batch.valid.sum(dim=1).tolist() == [4, 9]
    assert batch.frames[0, 4:].eq(-1).all() and batch.rows[0, 4:].eq(-1).all()
    assert batch.target[0, 4:].eq(0).all() and batch.sequences == ("hand", "hand")


def test_attention_is_unchanged_by_a_global_translation():
    torch.manual_seed(0)
    head_dim = 16
    rotary = RotaryEncoding(head_dim, (6.0, 256.0, 256.0))
    attention = Attention(d_model=32, n_heads=2, dropout=0.0, rotary=rotary).double()
    x = torch.randn(2, 10, 32, dtype=torch.float64)
    coordinates = torch.rand(2, 10, 3, dtype=torch.float64) * torch.tensor([5.0, 300.0, 300.0], dtype=torch.float64)
    valid = torch.ones(2, 10, dtype=torch.bool)
    valid[1, 8:] = False

    def run(coords):
        bias = attention_bias(coords, valid, spatial_cutoff=100.0, prior_decay=0.1)
        return attention(x, x, rotary.angles(coords), bias)

    shift = torch.tensor([3.0, -71.5, 140.25], dtype=torch.float64)
    assert torch.allclose(run(coordinates), run(coordinates + shift), atol=1e-9)
    assert not torch.allclose(run(coordinates), run(coordinates * 1.5), atol=1e-3)  # positions do matter


def test_attention_bias_blocks_far_and_padding_tokens():
    coordinates = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 10.0], [0.0, 300.0, 0.0], [0.0, 1.0, 1.0]]])
    valid = torch.tensor([[True, True, True, False]])
    bias = attention_bias(coordinates, valid, spatial_cutoff=256.0, prior_decay=0.1)[0, 0]
    assert bias[0, 1].item() == pytest.approx(math.exp(-0.1 * math.sqrt(101.0)))
    assert bias[0, 2].item() == -1000.0 and bias[2, 0].item() == -1000.0
    assert torch.all(bias[:, 3] == -1000.0)


def test_paper_model_has_about_6_9_million_parameters():
    model = AssociationModel(ModelConfig())
    assert 6.8e6 < model.n_parameters() < 7.0e6
    assert model(torch.rand(1, 5, 3), torch.rand(1, 5, 7), torch.ones(1, 5, dtype=torch.bool)).shape == (1, 5, 5)


def test_affine_transforms_inertia_and_diameter_consistently():
    tokens = SequenceTokens.from_sequence(hand_made_sequence())
    window = tokens.window(0, 4)
    inertia = [FEATURE_COLUMNS.index(n) for n in ("inertia_yy", "inertia_yx", "inertia_xy", "inertia_xx")]
    diameter = FEATURE_COLUMNS.index("diameter")
    matrix = random_matrix(np.random.default_rng(3))
    moved = affine(window, matrix, np.array([20.0, 30.0]))
    before = window.features[:, inertia].reshape(-1, 2, 2)
    after = moved.features[:, inertia].reshape(-1, 2, 2)
    assert np.allclose(np.linalg.det(after), np.linalg.det(before) * np.linalg.det(matrix) ** 2)
    assert np.allclose(moved.features[:, diameter], window.features[:, diameter] * abs(np.linalg.det(matrix)) ** 0.5)
    distances = lambda yx: np.linalg.norm(yx[:, None] - yx[None], axis=-1)  # noqa: E731
    for symmetry in SQUARE_SYMMETRIES:  # the 8 test-time variants are isometries
        assert np.allclose(distances(affine(window, symmetry, np.zeros(2)).yx), distances(window.yx))
    assert len({tuple(s.ravel()) for s in SQUARE_SYMMETRIES}) == 8


def test_augment_keeps_targets_aligned_with_tokens_and_respects_the_token_cap():
    tokens = SequenceTokens.from_sequence(hand_made_sequence())
    window = tokens.window(0, 4)
    rng = np.random.default_rng(1)
    for _ in range(20):
        out = augment(window, rng, crop_size=60.0, max_tokens=5)
        assert len(out) <= 5
        expected = tokens.window(0, 4).subset(np.isin(window.rows, out.rows)).target
        assert np.array_equal(out.target, expected)


def test_supervised_loss_weights_positives_and_ignores_far_and_padding_pairs():
    frames = torch.tensor([[0, 1, 1, 3, -1]])
    valid = torch.tensor([[True, True, True, True, False]])
    target = torch.zeros(1, 5, 5)
    target[0, 0, 1] = 1.0
    mask = pair_mask(frames, valid)
    assert mask[0].nonzero().tolist() == [[0, 1], [0, 2], [1, 3], [2, 3]]  # dt 3 and padding excluded
    right = torch.full((1, 5, 5), -8.0)
    right[0, 0, 1] = 8.0
    wrong = right.clone()
    wrong[0, 0, 1], wrong[0, 0, 2] = -8.0, 8.0
    assert supervised_loss(right, frames, valid, target) < 0.01 < supervised_loss(wrong, frames, valid, target)
    outside = right.clone()
    outside[0, 0, 3] = outside[0, 4, :] = 20.0  # dt = 3 and padding: not scored
    assert torch.isclose(supervised_loss(outside, frames, valid, target), supervised_loss(right, frames, valid, target))
    nothing = supervised_loss(right, frames, valid, target, mask=torch.zeros(1, 5, 5, dtype=torch.bool))
    assert nothing.item() == 0.0


def test_checkpoint_roundtrip_loads_weights_only(tmp_path):
    model = AssociationModel(SMALL)
    path = model.save(tmp_path / "model.pt", step=3)
    loaded = AssociationModel.load(path)
    assert loaded.config == SMALL
    inputs = (torch.rand(1, 6, 3) * 50, torch.rand(1, 6, 7), torch.ones(1, 6, dtype=torch.bool))
    assert torch.equal(model.eval()(*inputs), loaded.eval()(*inputs))
    assert load_checkpoint(path)["step"] == 3
    (tmp_path / "broken.pt").write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="broken.pt"):
        load_checkpoint(tmp_path / "broken.pt")
    save_checkpoint(tmp_path / "other.pt", {"weights": torch.zeros(2)})
    with pytest.raises(DataError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_inference_averages_adjacent_frame_associations(tmp_path):
    sequence = hand_made_sequence()
    tokens = SequenceTokens.from_sequence(sequence)
    model = AssociationModel(SMALL)
    table = predict_associations(
        model, tokens, sequence.detections["node_id"].to_numpy(), window=3, min_association=0.0, tta=True, device=torch.device("cpu")
    )
    t = sequence.detections.set_index("node_id")["t"]
    assert (t[table["child"]].to_numpy() - t[table["parent"]].to_numpy() == 1).all()
    assert len(table) == 2 * 2 + 2 * 3 + 3 * 2  # every adjacent-frame pair once
    assert table["weight"].between(0, 1).all()
    assert not table.duplicated(["parent", "child"]).any()


@pytest.fixture(scope="module")
def tiny_sequence(tmp_path_factory) -> Sequence:
    """A 12-frame synthetic bacteria sequence on which position-only linking makes 14 errors."""
    config = load_config("smoke", {"data.data_dir": str(tmp_path_factory.mktemp("data"))})
    return load_dataset("synth-bacteria", config).sequences["04"]


def overfit(sequence: Sequence, seed: int, tmp_path) -> tuple[AssociationModel, list[dict]]:
    torch.manual_seed(seed)
    model = AssociationModel(SMALL)
    train = TrainConfig(iterations=150, batch_size=4, learning_rate=3e-3, warmup_iterations=10, log_every=25, augment=False)
    tokens = [SequenceTokens.from_sequence(sequence)]
    batches = training_batches(tokens, SMALL, train, np.random.default_rng(seed), torch.device("cpu"))
    result = train_association_model(
        model, supervised_objective, batches, [], train=train, checkpoint_dir=tmp_path,
        checkpoint=lambda step: model.checkpoint(step=step), name="test",
    )
    return model, result.history


def test_small_model_overfits_a_tiny_sequence_and_links_better_than_position_only(tiny_sequence, tmp_path):
    config = load_config("smoke")
    position_aogm = evaluate_sequence(tiny_sequence, track_sequence(tiny_sequence, config.linking).edges)["AOGM"]
    model, history = overfit(tiny_sequence, seed=0, tmp_path=tmp_path)
    losses = [row["loss"] for row in history]
    assert losses[-1] < 0.3 * losses[0]
    table = predict_associations(
        model, SequenceTokens.from_sequence(tiny_sequence), tiny_sequence.detections["node_id"].to_numpy(),
        window=SMALL.window, min_association=0.01, tta=False, device=torch.device("cpu"),
    )
    appearance = association_term({tiny_sequence.name: table})
    solution = track_sequence(tiny_sequence, config.linking, appearance, w2=-1.0)
    assert position_aogm > 0
    assert evaluate_sequence(tiny_sequence, solution.edges)["AOGM"] < position_aogm


def test_training_is_deterministic_for_a_seed(tiny_sequence, tmp_path):
    first, history_a = overfit(tiny_sequence, seed=5, tmp_path=tmp_path / "a")
    second, history_b = overfit(tiny_sequence, seed=5, tmp_path=tmp_path / "b")
    assert history_a == history_b
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
