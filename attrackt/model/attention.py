"""Multi-head attention with rotary position encoding over (t, y, x) and the additive distance mask,
laid out as Trackastra 0.5.6's ``RelativePositionalAttention`` in its ``"rope"`` mode.

Both depend on token positions only through differences, so attention is unchanged when every
position is shifted by the same amount (a global translation in space or time).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import ConfigError

#: Added to the attention logits of pairs that must not attend (too far apart, or padding).
MASKED = -1000.0


def rotary_channels(head_dim: int) -> tuple[int, int, int]:
    """Channels of a head rotated by t, y and x: 2·⌊head_dim/6⌋ for each of y and x, the rest for t
    (Trackastra's split: 24, 20, 20 of 64 channels; 8, 4, 4 of 16)."""
    if head_dim % 2 or head_dim < 6:
        raise ConfigError(
            f"parameters model.d_model / model.n_heads: the head size must be even and >= 6 for the rotary "
            f"encoding over (t, y, x), got {head_dim}"
        )
    spatial = 2 * (head_dim // 6)
    return head_dim - 2 * spatial, spatial, spatial


class RotaryEncoding(nn.Module):
    """Rotate pairs of query/key channels by angles proportional to each token's t, y and x.

    Channel pairs (2k, 2k+1) of a head are assigned, in order, to t, y and x (:func:`rotary_channels`).
    A pair of a coordinate with cutoff c and n channels turns by π/2 · coordinate · f_k, with n/2
    learnable frequencies f_k initialised to exp(linspace(0, −ln c, n/2)) (periods 4 to 4c in the
    coordinate's unit); a query·key product then depends on position differences only. There is
    no scaling: Trackastra 0.5.6 divides its cos/sin tables by sqrt(len(freq)), but its frequency
    tensors have shape (1, 1, n/2), so len is 1.
    """

    def __init__(self, head_dim: int, cutoffs: tuple[float, float, float]):
        super().__init__()
        self.frequencies = nn.ParameterList(
            nn.Parameter(torch.exp(torch.linspace(0.0, -math.log(cutoff), channels // 2)))
            for cutoff, channels in zip(cutoffs, rotary_channels(head_dim))
        )

    def tables(self, coordinates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of every channel's angle, each (B, 1, N, head_dim), from (B, N, 3) coordinates."""
        angle = torch.cat(
            [0.5 * math.pi * coordinates[..., k, None] * frequencies for k, frequencies in enumerate(self.frequencies)],
            dim=-1,
        )
        angle = angle.repeat_interleave(2, dim=-1).unsqueeze(1)
        return torch.cos(angle), torch.sin(angle)

    @staticmethod
    def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """(B, heads, N, head_dim) queries or keys, each channel pair (a, b) -> (a·cos − b·sin, b·cos + a·sin).

        Written as x·cos + (−b, a)·sin, Trackastra's order of float operations, so the result is bitwise
        the same as its. (A complex product would be one kernel, but it rounds differently: up to 9e-5
        in the paper model's logits, above the parity test's 1e-5.)
        """
        a, b = x.unflatten(-1, (-1, 2)).unbind(dim=-1)
        return x * cos + torch.stack((-b, a), dim=-1).flatten(-2) * sin


def attention_bias(
    coordinates: torch.Tensor, valid: torch.Tensor, spatial_cutoff: float, prior_decay: float
) -> torch.Tensor:
    """Additive attention mask (B, 1, N, N) from (B, N, 3) coordinates (t, y, x) and (B, N) validity.

    MASKED where two tokens are more than ``spatial_cutoff`` px apart in (y, x) or the key is padding;
    elsewhere exp(−prior_decay · ‖Δ(t, y, x)‖), a bonus for nearby tokens. Distances are torch.cdist's
    (as Trackastra's). A padding query's row is left unmasked: its output is never used.
    """
    distance = torch.cdist(coordinates, coordinates)  # (B, N, N), over (t, y, x)
    spatial = torch.cdist(coordinates[..., 1:], coordinates[..., 1:])
    blocked = (spatial > spatial_cutoff) | ~valid[:, None, :]
    bias = torch.exp(-prior_decay * distance).masked_fill(blocked, MASKED)
    return bias.unsqueeze(1)


class Attention(nn.Module):
    """Multi-head attention of a query stream on a key/value stream, with its own rotary encoding and
    a shared additive bias; dropout (training only) acts on the attention weights.

    The projections are separate ``nn.Linear`` named ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``
    (LoRA adapters target them by name). ``cutoffs``: the rotary encoding's (t, y, x) cutoffs.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float, cutoffs: tuple[float, float, float]):
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(f"parameter model.d_model ({d_model}) must be divisible by model.n_heads ({n_heads})")
        self.n_heads, self.dropout = n_heads, dropout
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d_model, d_model) for _ in range(4))
        self.rotary = RotaryEncoding(d_model // n_heads, cutoffs)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        return x.view(batch, tokens, self.n_heads, -1).transpose(1, 2)

    def forward(
        self, query: torch.Tensor, memory: torch.Tensor, coordinates: torch.Tensor, bias: torch.Tensor
    ) -> torch.Tensor:
        """(B, N, d) queries attending to (B, N, d) memory tokens at the same (B, N, 3) positions -> (B, N, d).

        ``bias``: (B, 1, N, N) from :func:`attention_bias`, added to every head's logits.
        """
        cos, sin = self.rotary.tables(coordinates)
        q = self.rotary.rotate(self._heads(self.q_proj(query)), cos, sin)
        k = self.rotary.rotate(self._heads(self.k_proj(memory)), cos, sin)
        v = self._heads(self.v_proj(memory))
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias.to(q.dtype), dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(out.transpose(1, 2).flatten(2))
