"""The appearance autoencoder (SPEC section 5) and the convolutional blocks of every patch network.

A patch (B, 1, S, S) with intensities in [0, 1] (see ``attrackt.patches``) is encoded to a
(B, latent_channels, s, s) latent, s = S / 2 ** (levels − 1); its flattened latent (channel-major) is
the detection's embedding (4 x 4 x 4 = 64 values in the paper's configuration). The decoder mirrors
the encoder with one more residual block per level (``res_blocks + 1``, as the reference's
VQGAN-style decoder). Deterministic (not variational); trained with the per-pixel mean squared error
(**decision**: the reference sums the squared error over pixels; the mean only rescales the loss).
The checkpoint kept is the one with the lowest reconstruction error on a fixed random set of patches
(``val_patches``, drawn from all detections and also trained on, as the reference's 100).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from attrackt.patches import EMBED_CHUNK, random_batches
from attrackt.training import (
    Checkpointable,
    Losses,
    TrainingResult,
    load_checkpoint,
    poly_decay,
    seed_everything,
    train_loop,
)
from benchmark.config import AutoencoderConfig, PatchNetConfig


class ResBlock(nn.Module):
    """GroupNorm → SiLU → 3x3 conv, twice, plus the input (1x1-projected when the width changes)."""

    def __init__(self, in_channels: int, out_channels: int, groups: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(groups, in_channels, eps=1e-6),
            nn.SiLU(),
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.GroupNorm(groups, out_channels, eps=1e-6),
            nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class SelfAttention(nn.Module):
    """Single-head self-attention over the pixels of a feature map, plus the input."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)  # (b, hw, c) each
        attended = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(attended.transpose(-1, -2).reshape(b, c, h, w))


class Downsample(nn.Module):
    """Halve the side: pad right/bottom by 1, then a 3x3 conv of stride 2."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Double the side: nearest-neighbour upsampling, then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _level(
    in_channels: int, out_channels: int, n_blocks: int, attention: bool, config: PatchNetConfig
) -> list[nn.Module]:
    """One level's ``n_blocks`` residual blocks, each followed by self-attention when ``attention``."""
    blocks: list[nn.Module] = []
    for i in range(n_blocks):
        blocks.append(ResBlock(in_channels if i == 0 else out_channels, out_channels, config.groups))
        if attention:
            blocks.append(SelfAttention(out_channels, config.groups))
    return blocks


def _middle(channels: int, config: PatchNetConfig) -> list[nn.Module]:
    """Residual block, self-attention (when the config has attention at all), residual block."""
    attention = [SelfAttention(channels, config.groups)] if config.attention_resolution is not None else []
    return [ResBlock(channels, channels, config.groups), *attention, ResBlock(channels, channels, config.groups)]


class Encoder(nn.Module):
    """(B, 1, S, S) → (B, out_channels, s, s), s = S / 2 ** (levels − 1)."""

    def __init__(self, config: PatchNetConfig, out_channels: int):
        super().__init__()
        widths = [config.base_width * m for m in config.multipliers]
        layers: list[nn.Module] = [nn.Conv2d(1, config.base_width, 3, padding=1)]
        channels, side = config.base_width, config.patch_size
        for i, width in enumerate(widths):
            layers += _level(channels, width, config.res_blocks, side == config.attention_resolution, config)
            channels = width
            if i < len(widths) - 1:
                layers.append(Downsample(channels))
                side //= 2
        layers += _middle(channels, config)
        layers += [nn.GroupNorm(config.groups, channels, eps=1e-6), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    """The encoder mirrored, with ``res_blocks + 1`` residual blocks per level (as the reference's):
    (B, in_channels, s, s) → (B, 1, S, S)."""

    def __init__(self, config: PatchNetConfig, in_channels: int):
        super().__init__()
        widths = [config.base_width * m for m in config.multipliers]
        channels, side = widths[-1], config.latent_size
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1), *_middle(channels, config)]
        for i, width in reversed(list(enumerate(widths))):
            layers += _level(channels, width, config.res_blocks + 1, side == config.attention_resolution, config)
            channels = width
            if i > 0:
                layers.append(Upsample(channels))
                side *= 2
        layers += [nn.GroupNorm(config.groups, channels, eps=1e-6), nn.SiLU(), nn.Conv2d(channels, 1, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z)


class Autoencoder(Checkpointable, nn.Module):
    """Deterministic convolutional autoencoder of patches; ``embed`` gives the flattened latent."""

    config_type = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config, config.latent_channels)
        self.decoder = Decoder(config, config.latent_channels)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """Reconstruction of (B, 1, S, S) patches."""
        return self.decoder(self.encoder(patches))

    def embed(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, embedding_dim) embeddings of (B, 1, S, S) patches."""
        return self.encoder(patches).flatten(1)


def train_patch_network(
    network: Callable[[PatchNetConfig], Checkpointable],
    loss: Callable[[Any, torch.Tensor], Losses],
    patches: np.ndarray,
    config: PatchNetConfig,
    seed: int,
    device: torch.device,
    checkpoint_dir: Path,
    name: str,
    val_patches: int = 0,
    val_every: int = 100,
) -> tuple[Any, TrainingResult]:
    """Build ``network(config)`` on ``device`` and train it on random batches of ``patches`` (N, S, S)
    with Adam, polynomial learning-rate decay and ``config.max_grad_norm``, minimising
    ``loss(model, batch)``; deterministic given ``seed`` on CPU. Checkpoints go to ``checkpoint_dir``;
    metrics are logged as ``name/...``.

    With ``val_patches`` > 0, every ``val_every`` iterations the mean loss over that many fixed patches
    (drawn at random from ``patches``, not held out; the loss must be deterministic) is the validation
    value and the model returned has the best checkpoint's weights; otherwise the last ones.
    Returns the model in eval mode and the training result."""
    rng = seed_everything(seed)
    model = network(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    chosen = rng.choice(len(patches), size=min(val_patches, len(patches)), replace=False) if val_patches else []
    validation = torch.from_numpy(patches[np.sort(chosen).astype(np.int64)]).unsqueeze(1)

    def validate() -> float:
        total = 0.0
        for begin in range(0, len(validation), EMBED_CHUNK):
            batch = validation[begin : begin + EMBED_CHUNK].to(device)
            total += float(loss(model, batch)["loss"]) * len(batch)
        return total / len(validation)

    result = train_loop(
        model=model,
        batches=random_batches(patches, config.batch_size, rng, device),
        losses=lambda batch: loss(model, batch),
        optimizer=optimizer,
        scheduler=poly_decay(optimizer, config.iterations, config.poly_power),
        iterations=config.iterations,
        checkpoint=lambda step: model.checkpoint(step=step),
        checkpoint_dir=checkpoint_dir,
        validate=validate if len(validation) else None,
        val_every=val_every,
        log_every=config.log_every,
        name=name,
        max_grad_norm=config.max_grad_norm,
    )
    model.load_state_dict(load_checkpoint(result.best_checkpoint, device)["state_dict"])
    model.eval()
    return model, result


def reconstruction_loss(model: Autoencoder, batch: torch.Tensor) -> Losses:
    """Per-pixel mean squared error of the reconstruction."""
    return {"loss": F.mse_loss(model(batch), batch)}


def train_autoencoder(
    patches: np.ndarray, config: AutoencoderConfig, seed: int, device: torch.device, checkpoint_dir: Path
) -> tuple[Autoencoder, TrainingResult]:
    """Train an autoencoder on (N, S, S) patches, keeping the best validation checkpoint (``config.val_patches``);
    deterministic given ``seed`` on CPU. Returned in eval mode."""
    return train_patch_network(
        Autoencoder, reconstruction_loss, patches, config, seed, device, checkpoint_dir, "autoencoder",
        val_patches=config.val_patches, val_every=config.val_every,
    )