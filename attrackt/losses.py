"""The supervised association loss (paper appendix Eq. 8, SPEC section 4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attrackt.model.network import LOGIT_CLAMP
from attrackt.model.quiet_softmax import quiet_parental_softmax

#: Weight of the BCE on the raw sigmoid σ(A) beside the BCE on the normalised Â.
SIGMOID_TERM_WEIGHT = 0.01
#: Largest frame gap t_j − t_i that the loss looks at.
MAX_FRAME_GAP = 2


def pair_mask(frames: torch.Tensor, valid: torch.Tensor, max_gap: int = MAX_FRAME_GAP) -> torch.Tensor:
    """(B, N, N) True where both tokens are real and 0 < t_j − t_i <= ``max_gap`` (rows i, columns j)."""
    gap = frames[:, None, :] - frames[:, :, None]
    return (gap > 0) & (gap <= max_gap) & valid[:, :, None] & valid[:, None, :]


def supervised_loss(
    logits: torch.Tensor,
    frames: torch.Tensor,
    valid: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """BCE(target, Â; W) + 0.01·BCE(target, σ(A); W) as a weighted mean over the scored pairs.

    Scored pairs: :func:`pair_mask`, further restricted by ``mask`` (B, N, N) when given (fine-tuning
    scores only annotated rows/columns). W weights positives by #negatives/#positives over the batch
    so both classes count equally. Returns 0 (with a graph) when nothing is scored.
    """
    logits = logits.clamp(-LOGIT_CLAMP, LOGIT_CLAMP)
    scored = pair_mask(frames, valid)
    if mask is not None:
        scored = scored & mask
    if not scored.any():
        return logits.sum() * 0.0
    normalised = quiet_parental_softmax(logits, frames, valid)
    target = target.to(logits.dtype)
    positives = (target[scored] > 0.5).sum()
    negatives = scored.sum() - positives
    positive_weight = negatives.clamp(min=1) / positives.clamp(min=1)
    weight = torch.where(target > 0.5, positive_weight, torch.ones_like(target))[scored]
    probability = normalised[scored].clamp(1e-7, 1 - 1e-7)
    bce = F.binary_cross_entropy(probability, target[scored], reduction="none")
    bce_sigmoid = F.binary_cross_entropy_with_logits(logits[scored], target[scored], reduction="none")
    return (weight * (bce + SIGMOID_TERM_WEIGHT * bce_sigmoid)).sum() / weight.sum()
