"""Backbone parity with Trackastra 0.5.6, proven by weights (issue 16).

Trackastra's ``TrackingTransformer`` is built at the quick and the paper profile's sizes, every
parameter moved away from its initial value (so that a wrongly mapped norm or frequency shows), and
its state dict is copied into our AssociationModel through attrackt.model.trackastra's name mapping.
Both must give the same logits (max abs difference <= 1e-5, eval mode, float32) on real windows of
synth-hela, one window alone and a padded batch of windows of different sizes.

The comparisons need trackastra 0.5.6 (bench/requirements-trackastra.txt; .ci/run runs this file in
.venv-bench): skipped when it is not importable, except under CI=true, where that fails. That our
logits of a window do not depend on the padding around it is checked without Trackastra.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attrackt.model.network import AssociationModel
from attrackt.model.trackastra import from_trackastra_state_dict, trackastra_arguments
from attrackt.windows import Batch, SequenceTokens, collate
from benchmark.config import ModelConfig, load_config
from benchmark.entry_points import load_dataset
from conftest import unavailable

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def tracking_transformer() -> type:
    try:
        from trackastra.model import TrackingTransformer  # noqa: PLC0415 - optional, benchmark-only package
    except ImportError as error:
        unavailable(f"trackastra is not importable ({error}); install it as bench/requirements-trackastra.txt says")
    return TrackingTransformer


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> SequenceTokens:
    """Sequence 01 of synth-hela at the smoke profile's size (12 frames, ~40 nuclei a frame, ~385 px)."""
    config = load_config("smoke", {"data.data_dir": str(tmp_path_factory.mktemp("data"))})
    return SequenceTokens.from_sequence(load_dataset("synth-hela", config).sequences["01"])


def windows(tokens: SequenceTokens, length: int, padded: bool) -> Batch:
    """One window alone, or three windows of different sizes (one without its first frame's tokens)."""
    if not padded:
        return collate([tokens.window(0, length, with_targets=False)])
    later = tokens.window(4, length, with_targets=False)
    return collate([
        tokens.window(0, length, with_targets=False),
        tokens.window(2, length - 2, with_targets=False),
        later.subset(later.t > 0),
    ])


def perturbed(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``model`` with every parameter changed: frequencies scaled by up to ~±20 %, the rest shifted by N(0, 0.05²)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if "freq" in name:
                parameter.mul_(torch.exp(0.1 * noise))
            else:
                parameter.add_(0.05 * noise)
    return model


def models(tracking_transformer: type, config: ModelConfig) -> tuple[torch.nn.Module, AssociationModel]:
    torch.manual_seed(0)
    theirs = perturbed(tracking_transformer(**trackastra_arguments(config)), seed=1).eval()
    ours = AssociationModel(config).eval()
    ours.load_state_dict(from_trackastra_state_dict(theirs.state_dict()))  # strict: every name maps, shapes agree
    return theirs, ours


@pytest.mark.parametrize("padded", [False, True], ids=["one-window", "padded-batch"])
@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_trackastra_weights_give_the_same_logits(tracking_transformer, tokens, profile, padded):
    config = load_config(profile).model
    theirs, ours = models(tracking_transformer, config)
    batch = windows(tokens, config.window, padded)
    assert batch.valid.all().item() is not padded
    yx = batch.coordinates[0, batch.valid[0], 1:]
    assert torch.cdist(yx, yx).max() > config.attention_cutoff  # the spatial mask is exercised
    with torch.no_grad():
        expected = theirs(batch.coordinates, batch.features, padding_mask=~batch.valid)
        logits = ours(batch.coordinates, batch.features, batch.valid)
    pairs = batch.valid[:, :, None] & batch.valid[:, None, :]  # padding tokens' logits are never used
    assert expected[pairs].std() > 0.1  # not a degenerate comparison
    assert (logits - expected)[pairs].abs().max().item() <= TOLERANCE


def test_padding_does_not_change_a_windows_logits(tokens):
    config = load_config("quick").model
    torch.manual_seed(0)
    ours = perturbed(AssociationModel(config), seed=1).eval()
    batch = windows(tokens, config.window, padded=True)
    with torch.no_grad():
        together = ours(batch.coordinates, batch.features, batch.valid)
        for b in range(len(batch.sequences)):
            n = int(batch.valid[b].sum())
            alone = ours(batch.coordinates[b : b + 1, :n], batch.features[b : b + 1, :n], batch.valid[b : b + 1, :n])
            assert np.allclose(together[b, :n, :n].numpy(), alone[0].numpy(), atol=TOLERANCE)
