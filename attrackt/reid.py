"""The Re-ID appearance embedding (SPEC section 6, **decision**: the paper's Re-ID network has no public code).

The autoencoder's convolutional encoder maps a patch to its flattened latent h (``embedding_dim``
= 64 values; the flattened 4 x 4 map keeps where in the patch a feature is: global average pooling
instead separated GT from other candidate edges much worse on synth-bacteria, AUC 0.75 vs 0.95).
It is trained without labels, SimCLR-style: two random augmentations of the same patch form a
positive pair, every other patch of the batch a negative; the NT-Xent loss is taken on a projection
head's output z = g(h). The embedding used for linking is h scaled to unit length (**decision**:
contrastive features are compared by direction, so the Euclidean distance of unit vectors, a
monotone function of the cosine distance, is the ILP's d2).

The augmentations mimic what changes between two frames of one cell: small shifts, brightness,
contrast and noise. Random rotations by k * 90 degrees and flips are optional (``symmetries``, off by
default: cells do not turn over between frames, and the invariance cost the rod cells of
synth-bacteria their orientation cue: quick profile, seed 0, AOGM 160 with them vs 127 without;
position only 152.5).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from attrackt.autoencoder import Encoder, train_patch_network
from attrackt.training import Checkpointable, Losses, TrainingResult
from benchmark.config import ReidConfig


class ReidNetwork(Checkpointable, nn.Module):
    """Patch encoder (``embed``) and a projection head for the loss (``project``)."""

    config_type = ReidConfig

    def __init__(self, config: ReidConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config, config.latent_channels)
        self.head = nn.Sequential(
            nn.Linear(config.embedding_dim, config.embedding_dim),
            nn.ReLU(),
            nn.Linear(config.embedding_dim, config.projection_dim),
        )

    def features(self, patches: torch.Tensor) -> torch.Tensor:
        """h: (B, embedding_dim) flattened encoder output of (B, 1, S, S) patches."""
        return self.encoder(patches).flatten(1)

    def embed(self, patches: torch.Tensor) -> torch.Tensor:
        """The linking embedding: h scaled to unit length, (B, embedding_dim)."""
        return F.normalize(self.features(patches), dim=1)

    def project(self, patches: torch.Tensor) -> torch.Tensor:
        """z = g(h): what the contrastive loss compares, (B, projection_dim)."""
        return self.head(self.features(patches))


def augment(patches: torch.Tensor, config: ReidConfig) -> torch.Tensor:
    """A random view of each (B, 1, S, S) patch (see ReidConfig); draws from torch's global generator
    (the same draws whether or not ``config.symmetries``).

    Rotation by k * 90 degrees, flip and integer shift are one nearest-neighbour resampling, exact on
    the pixel grid; pixels shifted in from outside are 0.
    """
    b, _, size, _ = patches.shape
    device = patches.device
    symmetric = float(config.symmetries)
    quarter_turns = torch.randint(0, 4, (b,), device=device).float() * (symmetric * math.pi / 2)
    cos, sin = torch.cos(quarter_turns).round(), torch.sin(quarter_turns).round()
    flip = 1 - 2 * symmetric * torch.randint(0, 2, (b,), device=device).float()
    shift = torch.randint(-config.max_shift, config.max_shift + 1, (b, 2), device=device).float() * (2 / size)
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[:, 0]], dim=1), torch.stack([sin * flip, cos, shift[:, 1]], dim=1)], dim=1
    )
    grid = F.affine_grid(theta, list(patches.shape), align_corners=False)
    views = F.grid_sample(patches, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    mean = views.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1 + (torch.rand(b, 1, 1, 1, device=device) * 2 - 1) * config.contrast
    brightness = (torch.rand(b, 1, 1, 1, device=device) * 2 - 1) * config.brightness
    return views * contrast + mean * (1 - contrast) + brightness + config.noise * torch.randn_like(views)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent loss of B positive pairs (z1[i], z2[i]), each (B, D); the other 2B − 2 vectors
    of the batch are the negatives. Cosine similarities divided by ``temperature``; mean over the 2B anchors."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(-math.inf)
    b = len(z1)
    positives = torch.cat([torch.arange(b, 2 * b), torch.arange(b)]).to(z.device)
    return F.cross_entropy(similarity, positives)


def contrastive_loss(model: ReidNetwork, batch: torch.Tensor) -> Losses:
    """NT-Xent between the projections of two augmentations of every patch of ``batch``."""
    config = model.config
    z1, z2 = model.project(augment(batch, config)), model.project(augment(batch, config))
    return {"loss": nt_xent(z1, z2, config.temperature)}


def train_reid(
    patches: np.ndarray, config: ReidConfig, seed: int, device: torch.device, checkpoint_dir: Path
) -> tuple[ReidNetwork, TrainingResult]:
    """Train the Re-ID network on (N, S, S) patches; deterministic given ``seed`` on CPU. Returned in eval mode."""
    return train_patch_network(ReidNetwork, contrastive_loss, patches, config, seed, device, checkpoint_dir, "reid")