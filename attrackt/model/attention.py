"""Multi-head attention with rotary position encoding over (t, y, x) and the additive distance mask.

Both depend on token positions only through differences, so attention is unchanged when every
position is shifted by the same amount (a global translation in space or time).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Added to the attention logits of pairs that must not attend (too far apart, or padding).
MASKED = -1000.0


class RotaryEncoding(nn.Module):
    """Rotate query/key channel pairs by angles proportional to each token's t, y and x.

    The head's channels are split into three equal even-sized groups (t, y, x; leftover channels are
    not rotated). In a group for a coordinate with cutoff c, channel pair k turns by the angle
    π/2 · coordinate · f_k with fixed frequencies f_k = exp(linspace(0, −ln c, n/2)), i.e. periods
    from 4 to 4c in the coordinate's unit. A query·key product then depends on position differences
    only.
    """

    def __init__(self, head_dim: int, cutoffs: tuple[float, float, float]):
        super().__init__()
        pairs_per_coordinate = head_dim // 6
        if pairs_per_coordinate < 1:
            raise ValueError(f"head_dim must be >= 6 for rotary encoding over (t, y, x), got {head_dim}")
        frequencies = [
            0.5 * math.pi * torch.exp(torch.linspace(0.0, -math.log(cutoff), pairs_per_coordinate))
            for cutoff in cutoffs
        ]
        self.register_buffer("frequencies", torch.stack(frequencies), persistent=False)  # (3, P)
        self.rotated = 6 * pairs_per_coordinate

    def angles(self, coordinates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of the rotation angles, each (B, 1, N, rotated/2), from (B, N, 3) coordinates."""
        theta = (coordinates.unsqueeze(-1) * self.frequencies).flatten(-2)  # (B, N, 3P)
        return torch.cos(theta).unsqueeze(1), torch.sin(theta).unsqueeze(1)

    def rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Apply the rotation to (B, heads, N, head_dim) queries or keys."""
        half = self.rotated // 2
        first, second, rest = x[..., :half], x[..., half : self.rotated], x[..., self.rotated :]
        return torch.cat([first * cos - second * sin, first * sin + second * cos, rest], dim=-1)


def attention_bias(
    coordinates: torch.Tensor, valid: torch.Tensor, spatial_cutoff: float, prior_decay: float
) -> torch.Tensor:
    """Additive attention mask (B, 1, N, N) from (B, N, 3) coordinates (t, y, x) and (B, N) validity.

    MASKED where two tokens are more than ``spatial_cutoff`` px apart in (y, x) or the key is padding;
    elsewhere exp(−prior_decay · ‖Δ(t, y, x)‖), a bonus for nearby tokens.
    """
    distance = torch.cdist(coordinates, coordinates)  # (B, N, N), over (t, y, x)
    spatial = torch.cdist(coordinates[..., 1:], coordinates[..., 1:])
    blocked = (spatial > spatial_cutoff) | ~valid[:, None, :]
    bias = torch.exp(-prior_decay * distance).masked_fill(blocked, MASKED)
    return bias.unsqueeze(1)


class Attention(nn.Module):
    """Multi-head attention of a query stream on a key/value stream with rotary encoding and a bias.

    The projections are separate ``nn.Linear`` named ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``
    (LoRA adapters target them by name).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float, rotary: RotaryEncoding):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads, self.dropout = n_heads, dropout
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d_model, d_model) for _ in range(4))
        self.rotary = rotary

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        return x.view(batch, tokens, self.n_heads, -1).transpose(1, 2)

    def forward(
        self, query: torch.Tensor, memory: torch.Tensor, rotation: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor
    ) -> torch.Tensor:
        """(B, N, d) queries attending to (B, N, d) memory tokens at the same positions -> (B, N, d)."""
        cos, sin = rotation
        q = self.rotary.rotate(self._heads(self.q_proj(query)), cos, sin)
        k = self.rotary.rotate(self._heads(self.k_proj(memory)), cos, sin)
        v = self._heads(self.v_proj(memory))
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias.to(q.dtype), dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(out.transpose(1, 2).flatten(2))
