"""The Attrackt loss (SPEC section 5) on hand-made windows: reconstruction, transitivity, gradients."""

from __future__ import annotations

import numpy as np
import torch

from attrackt.unsupervised_loss import (
    AttracktModel,
    ResidualMLP,
    attrackt_losses,
    reconstruction_loss,
    transitive_loss,
)
from attrackt.windows import SequenceTokens, collate
from benchmark.config import AttracktModelConfig, ModelConfig
from conftest import hand_made_sequence


def identity_mlp(dim: int) -> ResidualMLP:
    """m_E or m_D that is exactly the identity (its residual branch outputs 0)."""
    mlp = ResidualMLP(dim)
    torch.nn.init.zeros_(mlp.body[-1].weight)
    torch.nn.init.zeros_(mlp.body[-1].bias)
    return mlp


def three_tracks(frames: int = 4, cells: int = 3):
    """``cells`` tracks over ``frames`` frames, each with its own embedding (slowly drifting)."""
    generator = torch.Generator().manual_seed(0)
    identity = torch.randn(cells, 8, generator=generator)
    frame = torch.arange(frames).repeat_interleave(cells)
    cell = torch.arange(cells).repeat(frames)
    embeddings = identity[cell] + 0.05 * torch.randn(frames * cells, 8, generator=generator)
    return frame[None], torch.ones(1, frames * cells, dtype=torch.bool), embeddings[None], cell


def association_matrix(frame: torch.Tensor, parent_of: callable) -> torch.Tensor:
    """Â with 1 for (i, j) when i is ``parent_of(j)`` in every earlier frame, else 0."""
    n = frame.shape[1]
    matrix = torch.zeros(1, n, n)
    for j in range(n):
        for i in range(n):
            if frame[0, i] < frame[0, j] and parent_of(i, j):
                matrix[0, i, j] = 1.0
    return matrix


def test_reconstruction_prefers_the_true_assignment():
    frame, valid, embeddings, cell = three_tracks()
    encode, decode = identity_mlp(8), identity_mlp(8)
    truth = association_matrix(frame, lambda i, j: cell[i] == cell[j])
    shuffled = association_matrix(frame, lambda i, j: cell[i] == (cell[j] + 1) % 3)
    earlier = (frame[:, :, None] < frame[:, None, :]).float()
    uniform = earlier / 3.0  # every earlier-frame token of a frame equally likely (mass 1 per frame)

    def loss(matrix):
        return reconstruction_loss(matrix, frame, valid, embeddings, encode, decode, max_offset=3).item()

    assert loss(truth) < 0.1 * loss(uniform)
    assert loss(truth) < 0.1 * loss(shuffled)


def test_reconstruction_ignores_children_without_tokens_in_the_source_frame():
    frame, valid, embeddings, cell = three_tracks()
    truth = association_matrix(frame, lambda i, j: cell[i] == cell[j])
    loss = reconstruction_loss(truth, frame, valid, embeddings, identity_mlp(8), identity_mlp(8), max_offset=5)
    # offsets 4 and 5 reach before frame 0: no child has a source frame there, so they add nothing
    same = reconstruction_loss(truth, frame, valid, embeddings, identity_mlp(8), identity_mlp(8), max_offset=3)
    assert torch.isclose(loss, same)


def test_transitive_term_is_zero_for_consistent_permutations_and_positive_otherwise():
    frame, valid, _, cell = three_tracks(frames=3)
    consistent = association_matrix(frame, lambda i, j: cell[i] == cell[j])
    assert transitive_loss(consistent, frame, valid).item() == 0.0
    broken = consistent.clone()
    skip = (frame[0][:, None] == 0) & (frame[0][None, :] == 2)
    broken[0][skip] = association_matrix(frame, lambda i, j: cell[i] == (cell[j] + 1) % 3)[0][skip]
    assert transitive_loss(broken, frame, valid).item() > 0.1


def test_transitive_term_skips_triples_with_a_missing_frame():
    frame = torch.tensor([[0, 0, 2, 2, 3]])  # frame 1 is empty: no triple (0, 1, 2), and (1, 2, 3) neither
    valid = torch.ones(1, 5, dtype=torch.bool)
    normalised = torch.rand(1, 5, 5) * (frame[:, :, None] < frame[:, None, :])
    assert transitive_loss(normalised, frame, valid).item() == 0.0


def small_attrackt() -> AttracktModel:
    torch.manual_seed(0)
    backbone = ModelConfig(d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1, dropout=0.0, window=4)
    return AttracktModel(AttracktModelConfig(backbone=backbone, embedding_dim=8))


def test_gradients_reach_backbone_and_mlps_but_not_the_embeddings():
    sequence = hand_made_sequence()
    tokens = SequenceTokens.from_sequence(sequence)
    batch = collate([tokens.window(0, 4), tokens.window(1, 3)])
    table = torch.randn(len(sequence.detections), 8, requires_grad=True)
    model = small_attrackt()
    losses = attrackt_losses(model, batch, {"hand": table}, transitive_weight=0.1)
    losses["loss"].backward()
    assert losses["reconstruction"] > 0 and losses["transitive"] >= 0
    for name, module in (("backbone", model.backbone), ("m_E", model.encode_mlp), ("m_D", model.decode_mlp)):
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), name
    assert table.grad is None


def test_no_nan_when_frames_are_missing_from_a_window():
    sequence = hand_made_sequence()
    detections = sequence.detections
    keep = detections["t"] != 1  # drop a whole frame
    sparse = type(sequence)(name="hand", detections=detections[keep].reset_index(drop=True), n_frames=4)
    sparse.detections["parent_id"] = -1
    tokens = SequenceTokens.from_sequence(sparse)
    batch = collate([tokens.window(0, 4), tokens.window(2, 2), tokens.window(3, 1)])
    table = torch.as_tensor(np.random.default_rng(0).normal(size=(len(sparse.detections), 8)), dtype=torch.float32)
    model = small_attrackt()
    losses = attrackt_losses(model, batch, {"hand": table}, transitive_weight=0.1)
    losses["loss"].backward()
    assert torch.isfinite(losses["loss"])
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
