"""Training an association model on windows of sequences: sampling, augmentation, validation, loop.

The objective is the caller's (supervised lineage targets, the Attrackt loss, fine-tuning mixes): a
function ``(model, batch) -> {"loss": ..., ...}``. Everything else (which windows, how augmented,
how validated, optimiser and schedule, checkpoints, logging) is shared here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attrackt.augment import augment, crop
from attrackt.losses import supervised_loss
from attrackt.model.network import AssociationModel
from attrackt.training import Losses, TrainingResult, train_loop, warmup_cosine
from attrackt.windows import Batch, SequenceTokens, collate
from benchmark.config import ModelConfig, TrainConfig
from benchmark.errors import ConfigError

#: An objective: the model and a batch (already on the model's device) give the losses to minimise.
Objective = Callable[[torch.nn.Module, Batch], Losses]


def training_batches(
    sequences: list[SequenceTokens],
    model: ModelConfig,
    train: TrainConfig,
    rng: np.random.Generator,
    device: torch.device,
) -> Iterator[Batch]:
    """Endless batches of random windows: a sequence drawn in proportion to its number of windows,
    a uniform start frame, then the SPEC's augmentations (or only the ``crop_size`` crop when ``augment``
    is off); either way ``attrackt.augment.crop`` caps the window at ``model.max_tokens`` tokens."""
    starts = [seq.window_starts(model.window) for seq in sequences]
    weights = np.array([len(s) for s in starts], dtype=np.float64)
    if weights.sum() == 0:
        raise ConfigError("training: no sequence has any frame")
    weights /= weights.sum()
    while True:
        windows = []
        for _ in range(train.batch_size):
            k = rng.choice(len(sequences), p=weights)
            window = sequences[k].window(int(rng.choice(starts[k])), model.window)
            if train.augment:
                windows.append(augment(window, rng, train.crop_size, model.max_tokens))
            else:
                windows.append(crop(window, train.crop_size, model.max_tokens, rng))
        yield collate(windows).to(device)


def validation_batches(
    sequences: list[SequenceTokens], model: ModelConfig, train: TrainConfig, seed: int, device: torch.device
) -> list[Batch]:
    """A fixed set of at most ``val_windows`` unaugmented windows, evenly spread over the sequences'
    start frames. A window above the token cap keeps its ``model.max_tokens`` tokens nearest to the
    centre of its bounding box (Chebyshev distance; ``attrackt.augment.crop`` with an infinite size):
    the same tokens for every seed and every validation."""
    rng = np.random.default_rng(seed)
    all_starts = [(seq, start) for seq in sequences for start in seq.window_starts(model.window)]
    if not all_starts:
        return []
    picks = np.unique(np.linspace(0, len(all_starts) - 1, min(train.val_windows, len(all_starts))).round().astype(int))
    windows = [crop(all_starts[i][0].window(all_starts[i][1], model.window), np.inf, model.max_tokens, rng) for i in picks]
    return [collate(windows[i : i + train.batch_size]).to(device) for i in range(0, len(windows), train.batch_size)]


def train_association_model(
    model: torch.nn.Module,
    objective: Objective,
    batches: Iterator[Any],
    validation: list[Any],
    *,
    train: TrainConfig,
    checkpoint_dir: Path,
    checkpoint: Callable[[int], dict[str, Any]],
    name: str,
    iterations: int | None = None,
) -> TrainingResult:
    """Optimise ``objective`` over ``batches`` with AdamW, warm-up + cosine decay and ``train.max_grad_norm``.

    Steps: ``iterations`` (default ``train.iterations``). The optimiser updates the parameters of
    ``model`` that require a gradient. The mean objective over the fixed ``validation`` batches
    selects the best checkpoint; without validation batches the best checkpoint is the last.
    """
    steps = iterations if iterations is not None else train.iterations
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=train.learning_rate, weight_decay=train.weight_decay)
    scheduler = warmup_cosine(optimizer, train.warmup_iterations, steps)

    def validate() -> float:
        return float(np.mean([objective(model, batch)["loss"].item() for batch in validation]))

    return train_loop(
        model=model,
        batches=batches,
        losses=lambda batch: objective(model, batch),
        optimizer=optimizer,
        scheduler=scheduler,
        iterations=steps,
        checkpoint=checkpoint,
        checkpoint_dir=checkpoint_dir,
        validate=validate if validation else None,
        val_every=train.val_every,
        log_every=train.log_every,
        name=name,
        max_grad_norm=train.max_grad_norm,
    )


def supervised_objective(model: AssociationModel, batch: Batch) -> Losses:
    """The supervised loss of SPEC section 4 on a batch with targets (restricted to ``batch.mask`` if set)."""
    logits = model(batch.coordinates, batch.features, batch.valid)
    return {"loss": supervised_loss(logits, batch.frames, batch.valid, batch.target, batch.mask)}
