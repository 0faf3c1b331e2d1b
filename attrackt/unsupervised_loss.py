"""The Attrackt loss (SPEC section 5): associations are trained so that each cell's appearance
embedding is predictable from its associated ancestors' embeddings, and so that associations compose
over two frames. No ground truth is used.

Conventions: ``normalised`` is Â (B, N, N) from the quiet parental softmax, rows = earlier token i,
columns = later token j; ``embeddings`` (B, N, D) are frozen autoencoder embeddings (zeros for
padding); ``frames`` (B, N) count from each window's first frame, −1 for padding.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from attrackt.model.network import LOGIT_CLAMP, AssociationModel
from attrackt.model.quiet_softmax import quiet_parental_softmax
from attrackt.training import Checkpointable, Losses
from attrackt.windows import Batch
from benchmark.config import AttracktModelConfig


class ResidualMLP(nn.Module):
    """x + Linear(GELU(Linear(LayerNorm(x)))), width D -> 2D -> D."""

    def __init__(self, dim: int):
        super().__init__()
        self.body = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class AttracktModel(Checkpointable, nn.Module):
    """The association backbone with the two embedding MLPs m_E (encode) and m_D (decode) beside it.

    The backbone never sees the embeddings; only the loss combines them with its associations.
    """

    config_type = AttracktModelConfig

    def __init__(self, config: AttracktModelConfig):
        super().__init__()
        self.config = config
        self.backbone = AssociationModel(config.backbone)
        self.encode_mlp = ResidualMLP(config.embedding_dim)
        self.decode_mlp = ResidualMLP(config.embedding_dim)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def reconstruction_loss(
    normalised: torch.Tensor,
    frames: torch.Tensor,
    valid: torch.Tensor,
    embeddings: torch.Tensor,
    encode: nn.Module,
    decode: nn.Module,
    max_offset: int,
) -> torch.Tensor:
    """Σ_δ=1..max_offset of the mean squared error between e_j and m_D(Σ_{i in frame t_j − δ} Â_ij m_E(e_i)).

    For each δ the mean runs over the children j that have at least one token in frame t_j − δ; a δ
    without any such child contributes 0.
    """
    encoded = encode(embeddings)
    present = torch.stack([((frames == f) & valid).any(dim=1) for f in range(int(frames.max()) + 1)], dim=1)  # (B, F)
    total = normalised.new_zeros(())
    for offset in range(1, max_offset + 1):
        source = frames[:, :, None] == frames[:, None, :] - offset  # (B, N, N): i in frame t_j − δ
        weights = normalised * source
        predicted = decode(weights.transpose(1, 2) @ encoded)  # (B, N, D): one prediction per child j
        parent_frame = frames - offset
        has_parents = valid & (parent_frame >= 0) & present.gather(1, parent_frame.clamp(min=0))
        if has_parents.any():
            error = (predicted - embeddings).pow(2).mean(dim=-1)
            total = total + error[has_parents].mean()
    return total


def transitive_loss(normalised: torch.Tensor, frames: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over windows of the mean over s of MSE(Â_{s→s+2}, Â_{s→s+1} · Â_{s+1→s+2}).

    Only frame triples s, s+1, s+2 that all have tokens count (a missing middle frame says nothing
    about two-frame links); windows without such a triple are left out; 0 when none has one.
    """
    gap = frames[:, None, :] - frames[:, :, None]
    pairs = valid[:, :, None] & valid[:, None, :]
    one_step = normalised * (gap == 1)
    composed = one_step @ one_step  # (i -> k -> j): only frame gaps of 2 are non-zero
    squared = (normalised - composed).pow(2)
    per_window, counted = [], []
    for s in range(max(0, int(frames.max()) - 1)):
        present = [((frames == f) & valid).any(dim=1) for f in (s, s + 1, s + 2)]
        block = pairs & (frames[:, :, None] == s) & (frames[:, None, :] == s + 2)
        size = block.sum(dim=(1, 2))
        usable = present[0] & present[1] & present[2] & (size > 0)
        per_window.append(torch.where(usable, (squared * block).sum(dim=(1, 2)) / size.clamp(min=1), 0.0))
        counted.append(usable)
    if not per_window:
        return normalised.new_zeros(())
    sums, counts = torch.stack(per_window, 1).sum(1), torch.stack(counted, 1).sum(1)
    has_triples = counts > 0
    if not has_triples.any():
        return normalised.new_zeros(())
    return (sums[has_triples] / counts[has_triples]).mean()


def embedding_tables(embeddings: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """Per-sequence (rows, D) embedding arrays as float32 tensors on ``device`` (copied: frozen inputs)."""
    return {name: torch.tensor(np.asarray(values), dtype=torch.float32, device=device) for name, values in embeddings.items()}


def gather_embeddings(batch: Batch, tables: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, N, D) embeddings of the batch's tokens from per-sequence (rows, D) tables; zeros for padding.
    Detached: the embeddings are frozen inputs of the loss."""
    dim = next(iter(tables.values())).shape[1]
    out = torch.zeros(*batch.rows.shape, dim, device=batch.rows.device)
    for b, name in enumerate(batch.sequences):
        real = batch.valid[b]
        out[b, real] = tables[name][batch.rows[b, real]].detach()
    return out


def attrackt_losses(model: AttracktModel, batch: Batch, tables: dict[str, torch.Tensor], transitive_weight: float) -> Losses:
    """L = L_rec + λ·L_trans on a batch (SPEC section 5); the parts are returned for logging."""
    logits = model.backbone(batch.coordinates, batch.features, batch.valid).clamp(-LOGIT_CLAMP, LOGIT_CLAMP)
    normalised = quiet_parental_softmax(logits, batch.frames, batch.valid)
    embeddings = gather_embeddings(batch, tables)
    max_offset = model.config.backbone.window - 1
    reconstruction = reconstruction_loss(
        normalised, batch.frames, batch.valid, embeddings, model.encode_mlp, model.decode_mlp, max_offset
    )
    transitive = transitive_loss(normalised, batch.frames, batch.valid)
    return {
        "loss": reconstruction + transitive_weight * transitive,
        "reconstruction": reconstruction.detach(),
        "transitive": transitive.detach(),
    }
