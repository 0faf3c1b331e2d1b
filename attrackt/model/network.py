"""The association network (SPEC section 4): tokens -> encoder/decoder transformer -> N×N logits.

A token is one detection of a window: its coordinates (t, y, x) in frames and px and its 7 shallow
features (benchmark.data.sequence.FEATURE_COLUMNS). Logits A_ij = ⟨h_x(i), h_y(j)⟩ score token i
(rows, the earlier one) as an ancestor of token j (columns).

The layout is Trackastra 0.5.6's ``TrackingTransformer`` (``attn_positional_bias="rope"``,
``attn_dist_mode="v0"``): the same layers, norms, residuals and dropout, so that its weights load
into this network (attrackt.model.trackastra) and give the same logits. Note two details of that
layout: each layer normalises its input stream and the residual branches off the normalised
stream; dropout acts only on the attention weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from attrackt.model.attention import Attention, attention_bias
from attrackt.model.fourier import FourierFeatures
from attrackt.training import Checkpointable
from benchmark.config import ModelConfig
from benchmark.data.sequence import FEATURE_COLUMNS
from benchmark.errors import BenchmarkError

#: Logits are clamped to this range in training (SPEC section 4).
LOGIT_CLAMP = 20.0

#: Version of the parameter layout, saved in every state dict (torch's per-module ``version``
#: metadata). 1: the suite's own layout before Trackastra parity; 2: Trackastra's.
LAYOUT_VERSION = 2


class OutdatedCheckpointError(BenchmarkError):
    """Weights saved with an older parameter layout of the backbone: they cannot be loaded, only retrained."""


class FeedForward(nn.Sequential):
    """Linear d -> 2d, GELU, Linear 2d -> d."""

    def __init__(self, d_model: int):
        super().__init__(nn.Linear(d_model, 2 * d_model), nn.GELU(), nn.Linear(2 * d_model, d_model))


class TokenEmbedding(nn.Module):
    """Fourier features of (t, y, x) and of each shallow feature, a Linear to d_model, LayerNorm."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        n_pos, n_feat = config.position_features, config.feature_features
        self.coordinates = nn.ModuleList(
            FourierFeatures(n_pos, cutoff) for cutoff in (config.time_cutoff, config.space_cutoff, config.space_cutoff)
        )
        self.features = nn.ModuleList(FourierFeatures(n_feat, config.feature_cutoff) for _ in FEATURE_COLUMNS)
        self.project = nn.Linear(3 * n_pos + len(FEATURE_COLUMNS) * n_feat, config.d_model)
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, coordinates: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """(B, N, 3) coordinates and (B, N, 7) features -> (B, N, d_model)."""
        parts = [fourier(coordinates[..., k]) for k, fourier in enumerate(self.coordinates)]
        parts += [fourier(features[..., k]) for k, fourier in enumerate(self.features)]
        return self.norm(self.project(torch.cat(parts, dim=-1)))


def _attention(config: ModelConfig) -> Attention:
    """An attention block whose rotary cutoffs are (window, attention_cutoff, attention_cutoff), as Trackastra's."""
    cutoffs = (float(config.window), config.attention_cutoff, config.attention_cutoff)
    return Attention(config.d_model, config.n_heads, config.dropout, cutoffs)


class EncoderLayer(nn.Module):
    """x = LN(x); x = x + SelfAttention(x); x = x + FF(LN(x))."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.norm_attention, self.norm_feedforward = nn.LayerNorm(config.d_model), nn.LayerNorm(config.d_model)
        self.attention = _attention(config)
        self.feedforward = FeedForward(config.d_model)

    def forward(self, x: torch.Tensor, coordinates: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = self.norm_attention(x)
        x = x + self.attention(x, x, coordinates, bias)
        return x + self.feedforward(self.norm_feedforward(x))


class DecoderLayer(nn.Module):
    """x = LN(x); x = x + CrossAttention(x, LN(memory)); x = x + FF(LN(x)); memory: the encoder output."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        d = config.d_model
        self.norm_query, self.norm_memory, self.norm_feedforward = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.attention = _attention(config)
        self.feedforward = FeedForward(d)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, coordinates: torch.Tensor, bias: torch.Tensor
    ) -> torch.Tensor:
        x = self.norm_query(x)
        x = x + self.attention(x, self.norm_memory(memory), coordinates, bias)
        return x + self.feedforward(self.norm_feedforward(x))


class AssociationModel(Checkpointable, nn.Module):
    """Trackastra-style transformer giving association logits between all tokens of a window."""

    config_type = ModelConfig
    _version = LAYOUT_VERSION  # torch saves it as this module's state-dict metadata

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = TokenEmbedding(config)
        self.encoder = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.head_parent, self.head_child = FeedForward(config.d_model), FeedForward(config.d_model)

    def forward(self, coordinates: torch.Tensor, features: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Logits (B, N, N) from coordinates (B, N, 3) = (t, y, x), features (B, N, 7), valid (B, N).

        As in Trackastra, the frame of each window's first valid token is subtracted from all three
        coordinates (from y and x too, a quirk of its code; our windows count t from their first frame,
        so this is 0 unless that frame has no tokens).
        """
        first = coordinates[..., :1].masked_fill(~valid[..., None], torch.inf).amin(dim=1, keepdim=True)
        coordinates = coordinates - first.nan_to_num(posinf=0.0)
        bias = attention_bias(coordinates, valid, self.config.attention_cutoff, self.config.attention_prior_decay)
        tokens = self.embedding(coordinates, features)
        encoded = tokens
        for layer in self.encoder:
            encoded = layer(encoded, coordinates, bias)
        decoded = tokens
        for layer in self.decoder:
            decoded = layer(decoded, encoded, coordinates, bias)
        return self.head_parent(encoded) @ self.head_child(decoded).transpose(1, 2)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, local_metadata: dict, *args: Any) -> None:
        version = local_metadata.get("version")  # absent when the state dict carries no metadata
        if version is not None and version != LAYOUT_VERSION:
            raise OutdatedCheckpointError(
                f"the association backbone's weights have parameter layout {version}, this version of the suite "
                f"needs layout {LAYOUT_VERSION} (Trackastra 0.5.6's): train the model again"
            )
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
