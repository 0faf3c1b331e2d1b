"""The association network (SPEC section 4): tokens -> encoder/decoder transformer -> N×N logits.

A token is one detection of a window: its coordinates (t − t_min, y, x) in frames and px and its
7 shallow features (benchmark.data.sequence.FEATURE_COLUMNS). Logits A_ij = ⟨h_x(i), h_y(j)⟩/√d
score token i (rows, the earlier one) as an ancestor of token j (columns).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from attrackt.model.attention import Attention, RotaryEncoding, attention_bias
from attrackt.model.fourier import FourierFeatures
from attrackt.training import Checkpointable
from benchmark.config import ModelConfig
from benchmark.data.sequence import FEATURE_COLUMNS

#: Logits are clamped to this range in training (SPEC section 4).
LOGIT_CLAMP = 20.0


class FeedForward(nn.Sequential):
    """Linear d -> 2d, GELU, dropout, Linear 2d -> d."""

    def __init__(self, d_model: int, dropout: float = 0.0):
        super().__init__(nn.Linear(d_model, 2 * d_model), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d_model, d_model))


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


class EncoderLayer(nn.Module):
    """Pre-norm self-attention then feed-forward, each with a residual connection."""

    def __init__(self, config: ModelConfig, rotary: RotaryEncoding):
        super().__init__()
        d, p = config.d_model, config.dropout
        self.norm_attention, self.norm_feedforward = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attention = Attention(d, config.n_heads, p, rotary)
        self.feedforward = FeedForward(d, p)
        self.dropout = nn.Dropout(p)

    def forward(self, x: torch.Tensor, rotation: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor) -> torch.Tensor:
        normed = self.norm_attention(x)
        x = x + self.dropout(self.attention(normed, normed, rotation, bias))
        return x + self.dropout(self.feedforward(self.norm_feedforward(x)))


class DecoderLayer(nn.Module):
    """Pre-norm cross-attention (decoder stream to the encoder output) then feed-forward."""

    def __init__(self, config: ModelConfig, rotary: RotaryEncoding):
        super().__init__()
        d, p = config.d_model, config.dropout
        self.norm_query, self.norm_memory, self.norm_feedforward = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.attention = Attention(d, config.n_heads, p, rotary)
        self.feedforward = FeedForward(d, p)
        self.dropout = nn.Dropout(p)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, rotation: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor
    ) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.norm_query(x), self.norm_memory(memory), rotation, bias))
        return x + self.dropout(self.feedforward(self.norm_feedforward(x)))


class AssociationModel(Checkpointable, nn.Module):
    """Trackastra-style transformer giving association logits between all tokens of a window."""

    config_type = ModelConfig

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        head_dim = config.d_model // config.n_heads
        rotary = RotaryEncoding(head_dim, (config.window, config.attention_cutoff, config.attention_cutoff))
        self.embedding = TokenEmbedding(config)
        self.encoder = nn.ModuleList(EncoderLayer(config, rotary) for _ in range(config.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(config, rotary) for _ in range(config.decoder_layers))
        self.norm_encoder, self.norm_decoder = nn.LayerNorm(config.d_model), nn.LayerNorm(config.d_model)
        self.head_parent, self.head_child = FeedForward(config.d_model), FeedForward(config.d_model)
        self.rotary = rotary

    def forward(self, coordinates: torch.Tensor, features: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Logits (B, N, N) from coordinates (B, N, 3) = (t − t_min, y, x), features (B, N, 7), valid (B, N)."""
        rotation = self.rotary.angles(coordinates)
        bias = attention_bias(coordinates, valid, self.config.attention_cutoff, self.config.attention_prior_decay)
        tokens = self.embedding(coordinates, features)
        encoded = tokens
        for layer in self.encoder:
            encoded = layer(encoded, rotation, bias)
        decoded = tokens
        for layer in self.decoder:
            decoded = layer(decoded, encoded, rotation, bias)
        parents = self.head_parent(self.norm_encoder(encoded))
        children = self.head_child(self.norm_decoder(decoded))
        return parents @ children.transpose(1, 2) / math.sqrt(self.config.d_model)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
