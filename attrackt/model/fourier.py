"""Fourier features with learnable frequencies (SPEC section 4, token inputs)."""

from __future__ import annotations

import math

import torch
from torch import nn


class FourierFeatures(nn.Module):
    """Map a scalar coordinate c to ``n_features`` values: sin and cos of π/2 · c · f_k.

    The ``n_features / 2`` frequencies f_k start at exp(linspace(0, −ln cutoff, n/2)), i.e. from 1
    down to 1/cutoff (periods from 4 to 4·cutoff in the coordinate's unit), and are learned. The
    output is not rescaled (its squared norm is n/2), as in Trackastra 0.5.6's ``PositionalEncoding``:
    its code divides by sqrt(len(freq)), but its frequency tensors have shape (1, 1, n/2), so len is 1.
    """

    def __init__(self, n_features: int, cutoff: float):
        super().__init__()
        if n_features < 2 or n_features % 2:
            raise ValueError(f"n_features must be an even number >= 2, got {n_features}")
        if cutoff <= 0:
            raise ValueError(f"cutoff must be > 0, got {cutoff}")
        self.frequencies = nn.Parameter(torch.exp(torch.linspace(0.0, -math.log(cutoff), n_features // 2)))

    def forward(self, coordinate: torch.Tensor) -> torch.Tensor:
        """(...,) -> (..., n_features): sin features first, then cos."""
        phase = 0.5 * math.pi * coordinate.unsqueeze(-1) * self.frequencies
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)
