"""The quiet parental softmax Φ (SPEC section 4): per child, a distribution over each earlier frame's
tokens whose mass may stay below 1 ("no parent in that frame")."""

from __future__ import annotations

import torch


def quiet_parental_softmax(
    logits: torch.Tensor, frames: torch.Tensor, valid: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Normalised associations Â from raw logits A, both (B, N, N) with rows = earlier tokens i.

    For a later token j and an earlier token i:
    Â_ij = exp(A_ij) / (1 + Σ_{i' in frame t_i} exp(A_i'j)). The 1 is the "quiet" option. Entries
    with t_i >= t_j or a padding token (``valid`` False) are 0. ``frames``: (B, N) integer frame of
    each token. Stable: the max over the frame's logits and 0 (the quiet term's logit) is subtracted
    before exponentiating, and ``eps`` is added to the denominator.
    """
    if logits.shape[-2:] != (frames.shape[-1], frames.shape[-1]) or frames.shape != valid.shape:
        raise ValueError(
            f"shapes disagree: logits {tuple(logits.shape)}, frames {tuple(frames.shape)}, valid {tuple(valid.shape)}"
        )
    earlier = (frames[:, :, None] < frames[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    normalised = torch.zeros_like(logits)
    for frame in torch.unique(frames[valid]):
        rows = ((frames == frame) & valid)[:, :, None]  # (B, N, 1): the candidate parents in `frame`
        masked = logits.masked_fill(~rows, float("-inf"))
        top = masked.amax(dim=1, keepdim=True).clamp(min=0.0)  # (B, 1, N), includes the quiet logit 0
        weights = torch.exp(masked - top)  # 0 outside `frame`
        denominator = torch.exp(-top) + weights.sum(dim=1, keepdim=True) + eps
        normalised = torch.where(rows & earlier, weights / denominator, normalised)
    return normalised
