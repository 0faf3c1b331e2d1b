"""The association model (SPEC section 4): attention invariances, windows and targets, augmentation,
the supervised loss, training that overfits a tiny sequence, inference and checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attrackt.association_training import supervised_objective, train_association_model, training_batches
from attrackt.augment import (
    AFFINE_P,
    BRIGHTNESS_P,
    FLIP_P,
    JITTER_P,
    SQUARE_SYMMETRIES,
    TRANSLATION_PX,
    AugmentationDraw,
    affine,
    apply_augmentation,
    augment,
    draw_augmentation,
    random_matrix,
)
from attrackt.inference import predict_associations
from attrackt.losses import pair_mask, supervised_loss
from attrackt.model.attention import Attention, RotaryEncoding, attention_bias, rotary_channels
from attrackt.model.network import LAYOUT_VERSION, AssociationModel, OutdatedCheckpointError
from attrackt.pyfunc_model import load_backbone
from attrackt.unsupervised_loss import AttracktModel
from attrackt.training import load_checkpoint, save_checkpoint, train_loop, warmup_cosine, warmup_cosine_factor
from attrackt.windows import SequenceTokens, collate
from benchmark.config import AttracktModelConfig, ModelConfig, TrainConfig, load_config
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
    attention = Attention(d_model=32, n_heads=2, dropout=0.0, cutoffs=(6.0, 256.0, 256.0)).double()
    x = torch.randn(2, 10, 32, dtype=torch.float64)
    coordinates = torch.rand(2, 10, 3, dtype=torch.float64) * torch.tensor([5.0, 300.0, 300.0], dtype=torch.float64)
    valid = torch.ones(2, 10, dtype=torch.bool)
    valid[1, 8:] = False

    def run(coords):
        bias = attention_bias(coords, valid, spatial_cutoff=100.0, prior_decay=0.1)
        return attention(x, x, coords, bias)

    shift = torch.tensor([3.0, -71.5, 140.25], dtype=torch.float64)
    assert torch.allclose(run(coordinates), run(coordinates + shift), atol=1e-9)
    assert not torch.allclose(run(coordinates), run(coordinates * 1.5), atol=1e-3)  # positions do matter


def test_rotary_encoding_splits_head_channels_as_trackastra_and_rotates_pairs():
    assert rotary_channels(64) == (24, 20, 20) and rotary_channels(16) == (8, 4, 4)
    rotary = RotaryEncoding(16, (6.0, 256.0, 256.0))
    assert [len(f) for f in rotary.frequencies] == [4, 2, 2]
    assert all(f.requires_grad for f in rotary.frequencies)  # learnable, as Trackastra's
    coordinates = torch.tensor([[[2.0, 100.0, -30.0]]])
    cos, sin = rotary.tables(coordinates)
    x = torch.randn(1, 1, 1, 16)
    rotated = RotaryEncoding.rotate(x, cos, sin)
    pairs, turned = x.view(8, 2), rotated.view(8, 2)
    assert torch.allclose(turned.norm(dim=-1), pairs.norm(dim=-1), atol=1e-5)  # a rotation: no scaling
    frequencies = torch.cat(list(rotary.frequencies)).detach()
    angles = 0.5 * math.pi * torch.tensor([2.0] * 4 + [100.0] * 2 + [-30.0] * 2) * frequencies
    expected = torch.stack([
        pairs[:, 0] * angles.cos() - pairs[:, 1] * angles.sin(), pairs[:, 1] * angles.cos() + pairs[:, 0] * angles.sin()
    ], dim=-1)
    assert torch.allclose(turned, expected, atol=1e-5)


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


def test_a_checkpoint_of_the_old_parameter_layout_is_refused_naming_the_file(tmp_path):
    model = AssociationModel(SMALL)
    checkpoint = model.checkpoint()
    assert checkpoint["state_dict"]._metadata[""]["version"] == LAYOUT_VERSION
    checkpoint["state_dict"]._metadata[""]["version"] = 1  # what the suite saved before Trackastra parity
    path = save_checkpoint(tmp_path / "old.pt", checkpoint)
    with pytest.raises(OutdatedCheckpointError, match="layout 1"):
        AssociationModel.load(path)
    with pytest.raises(DataError, match="old.pt: .*train the model again"):
        load_backbone(path, None, torch.device("cpu"))
    wrapped = AttracktModel(AttracktModelConfig(backbone=SMALL)).checkpoint()
    wrapped["state_dict"]._metadata["backbone"]["version"] = 1
    with pytest.raises(DataError, match="wrapped.pt: .*layout 1"):
        load_backbone(save_checkpoint(tmp_path / "wrapped.pt", wrapped), None, torch.device("cpu"))


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


def test_schedule_warms_up_from_a_hundredth_and_decays_to_a_thousandth():
    assert warmup_cosine_factor(0, 100, 1000) == pytest.approx(0.01)
    assert warmup_cosine_factor(50, 100, 1000) == pytest.approx(0.01 + 0.99 * 0.5)
    assert warmup_cosine_factor(100, 100, 1000) == pytest.approx(1.0)  # end of warm-up
    assert warmup_cosine_factor(550, 100, 1000) == pytest.approx(0.001 + 0.999 * 0.5)  # half-way down
    assert warmup_cosine_factor(1000, 100, 1000) == pytest.approx(0.001)  # the end
    assert warmup_cosine_factor(5000, 100, 1000) == pytest.approx(0.001)
    assert warmup_cosine_factor(0, 0, 1000) == pytest.approx(1.0)  # fine-tuning: no warm-up
    factors = [warmup_cosine_factor(step, 100, 1000) for step in range(1001)]
    assert all(a < b for a, b in zip(factors[:100], factors[1:101]))
    assert all(a > b for a, b in zip(factors[100:-1], factors[101:]))
    # the learning rate the optimiser actually steps with follows the factor
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.5)
    scheduler = warmup_cosine(optimizer, 10, 40)
    used = []
    for _ in range(41):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert used[0] == pytest.approx(0.005) and used[10] == pytest.approx(0.5) and used[40] == pytest.approx(0.0005)


def test_gradient_clipping_only_when_asked(tmp_path):
    def final_weight(max_grad_norm):
        weight = torch.nn.Parameter(torch.zeros(2))
        optimizer = torch.optim.SGD([weight], lr=1.0)
        train_loop(
            model=torch.nn.ParameterList([weight]), batches=iter(range(1, 2)),
            losses=lambda _: {"loss": (weight * torch.tensor([30.0, 40.0])).sum()},
            optimizer=optimizer, scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0),
            iterations=1, checkpoint=lambda step: {"config": {}, "state_dict": {}}, checkpoint_dir=tmp_path,
            log_metrics=None, max_grad_norm=max_grad_norm,
        )
        return weight.detach()

    assert torch.allclose(final_weight(None), torch.tensor([-30.0, -40.0]))  # the gradient, norm 50
    assert torch.allclose(final_weight(1.0), torch.tensor([-0.6, -0.8]), atol=1e-6)  # clipped to norm 1


def test_each_augmentation_is_applied_with_its_probability():
    rng = np.random.default_rng(0)
    draws = [draw_augmentation(5, rng) for _ in range(2000)]
    for probability, applied in (
        (FLIP_P, [d.flip is not None for d in draws]),
        (AFFINE_P, [d.affine is not None for d in draws]),
        (BRIGHTNESS_P, [d.brightness is not None for d in draws]),
        (JITTER_P, [d.jitter is not None for d in draws]),
    ):
        assert abs(np.mean(applied) - probability) < 0.03
    # the four decisions are independent: all four together as often as the product says
    together = np.mean([all(x is not None for x in (d.flip, d.affine, d.brightness, d.jitter)) for d in draws])
    assert abs(together - FLIP_P * AFFINE_P * BRIGHTNESS_P * JITTER_P) < 0.03
    translations = np.array([d.translation for d in draws])
    assert np.all(translations == np.round(translations)) and translations.min() == 0
    assert translations.max() == TRANSLATION_PX - 1
    jitter = np.concatenate([d.jitter for d in draws if d.jitter is not None])
    assert jitter.shape[1] == 2 and np.abs(jitter).max() <= 3.0


def test_affine_scale_is_uniform_per_axis_not_isotropic():
    rng = np.random.default_rng(1)
    matrices = np.array([random_matrix(rng) for _ in range(2000)])
    det = np.linalg.det(matrices)  # s_y * s_x * (1 - h_y * h_x), the shear changing it by at most 1 %
    # s_y, s_x independent U(0.5, 2): E[s_y s_x] = 1.25² and P(s_y s_x < 1) = (ln 4 - 0.75) / 1.5²
    # (an isotropic log-uniform scale s would give E[s²] = 1.35 and P = 0.5)
    assert abs(det.mean() - 1.5625) < 0.05
    assert abs(np.mean(det < 1.0) - (math.log(4) - 0.75) / 2.25) < 0.03
    singular = np.linalg.svd(matrices, compute_uv=False)
    assert singular.max() <= 2.0 * 1.1 + 1e-9 and singular.min() >= 0.5 * 0.9 - 1e-9
    assert np.mean(singular[:, 0] / singular[:, 1] > 1.5) > 0.3  # anisotropic: per axis


def test_apply_augmentation_flips_about_the_origin_and_moves_features_along():
    tokens = SequenceTokens.from_sequence(hand_made_sequence())
    window = tokens.window(0, 4)
    draw = AugmentationDraw(
        flip=np.diag([-1.0, 1.0]), affine=None, brightness=(2.0, 0.1), jitter=None, translation=np.array([5.0, 7.0])
    )
    out = apply_augmentation(window, draw)
    assert np.allclose(out.yx, np.stack([5.0 - window.yx[:, 0], 7.0 + window.yx[:, 1]], axis=1))
    intensity, inertia_yx = FEATURE_COLUMNS.index("intensity"), FEATURE_COLUMNS.index("inertia_yx")
    assert np.allclose(out.features[:, intensity], 2.0 * window.features[:, intensity] + 0.1)
    assert np.allclose(out.features[:, inertia_yx], -window.features[:, inertia_yx])  # the tensor turns with the flip
    assert np.array_equal(out.target, window.target)
    matrix = random_matrix(np.random.default_rng(2))
    moved = apply_augmentation(window, AugmentationDraw(None, matrix, None, None, np.zeros(2)))
    assert np.allclose(moved.yx, window.yx @ matrix.T)  # about (0, 0), as the reference's
