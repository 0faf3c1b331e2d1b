"""Building blocks of the association model: the quiet parental softmax and Fourier features."""

from __future__ import annotations

import math

import pytest
import torch

from attrackt.model.fourier import FourierFeatures
from attrackt.model.quiet_softmax import quiet_parental_softmax


def reference_quiet_softmax(logits, frames, valid):
    """Â_ij = exp(A_ij) / (1 + Σ_{i' in frame t_i} exp(A_i'j)) by explicit loops (float64)."""
    batch, n, _ = logits.shape
    out = torch.zeros(batch, n, n, dtype=torch.float64)
    for b in range(batch):
        for j in range(n):
            for i in range(n):
                if not (valid[b, i] and valid[b, j] and frames[b, i] < frames[b, j]):
                    continue
                same = [k for k in range(n) if valid[b, k] and frames[b, k] == frames[b, i]]
                denominator = 1.0 + sum(math.exp(logits[b, k, j]) for k in same)
                out[b, i, j] = math.exp(logits[b, i, j]) / denominator
    return out


@pytest.fixture
def window():
    generator = torch.Generator().manual_seed(0)
    frames = torch.tensor([[0, 0, 1, 1, 1, 2, 3, 3], [0, 1, 1, 2, 2, 2, 0, 0]])
    valid = torch.tensor([[True] * 8, [True] * 6 + [False] * 2])
    logits = 3 * torch.randn(2, 8, 8, generator=generator, dtype=torch.float64)
    return logits, frames, valid


def test_matches_the_formula(window):
    logits, frames, valid = window
    expected = reference_quiet_softmax(logits, frames, valid)
    assert torch.allclose(quiet_parental_softmax(logits, frames, valid), expected, atol=1e-6)


def test_each_child_has_at_most_unit_mass_per_earlier_frame(window):
    logits, frames, valid = window
    assoc = quiet_parental_softmax(logits, frames, valid)
    for b in range(2):
        for frame in frames[b][valid[b]].unique():
            mass = assoc[b][(frames[b] == frame) & valid[b]].sum(dim=0)
            assert torch.all(mass < 1) and torch.all(mass >= 0)
    later_or_same = frames[:, :, None] >= frames[:, None, :]
    assert torch.all(assoc[later_or_same] == 0)
    assert torch.all(assoc[1, 6:] == 0) and torch.all(assoc[1, :, 6:] == 0)  # padding


def test_extreme_logits_stay_finite_and_differentiable():
    frames = torch.tensor([[0, 0, 1]])
    valid = torch.ones(1, 3, dtype=torch.bool)
    logits = torch.tensor([[[0.0, 0.0, 1000.0], [0.0, 0.0, -1000.0], [0.0, 0.0, 0.0]]], requires_grad=True)
    assoc = quiet_parental_softmax(logits, frames, valid)
    assert assoc[0, 0, 2].item() == pytest.approx(1.0, abs=1e-5)
    assert assoc[0, 1, 2].item() == pytest.approx(0.0, abs=1e-6)
    assoc.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_fourier_features_are_unscaled_sines_and_cosines_with_learnable_frequencies():
    features = FourierFeatures(32, cutoff=256)
    coordinate = torch.linspace(0, 300, 50)
    encoded = features(coordinate)
    assert encoded.shape == (50, 32)
    assert torch.allclose(encoded.pow(2).sum(-1), torch.full((50,), 16.0), atol=1e-4)  # n/2: not rescaled
    assert torch.allclose(encoded[:, 1], torch.sin(0.5 * math.pi * coordinate * features.frequencies[1]).detach())
    assert features.frequencies[0].item() == pytest.approx(1.0)
    assert features.frequencies[-1].item() == pytest.approx(1 / 256)
    encoded.sum().backward()
    assert features.frequencies.grad is not None and features.frequencies.grad.abs().sum() > 0


def test_fourier_features_refuse_odd_sizes():
    with pytest.raises(ValueError, match="even"):
        FourierFeatures(7, cutoff=6)
