"""What every network of the suite shares when it trains: seeding, device, schedule, checkpoints, loop.

A checkpoint is a plain dict ``{"config": dict, "state_dict": {...}, "step": int, ...}`` of tensors and
primitives, written atomically (temporary file, then rename) and read back with
``torch.load(weights_only=True)``: no pickled code, so a checkpoint can be loaded safely.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from tqdm import tqdm

from benchmark.errors import ConfigError, DataError

#: A training step's losses by name; "loss" is the one that is minimised.
Losses = dict[str, torch.Tensor]


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (all devices); return a NumPy generator for data sampling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cpu`` / ``cuda[:i]`` as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"parameter device={name!r}: CUDA is not available on this machine")
    return torch.device(name)


#: The reference's schedule (Trackastra and Attrackt): the warm-up starts at this fraction of the
#: learning rate and the cosine decay ends at that one.
WARMUP_START = 0.01
COSINE_END = 0.001


def warmup_cosine_factor(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor at optimiser step ``step`` (0-based): linear from WARMUP_START at step 0 to 1
    at step ``warmup``, then a half cosine from 1 to COSINE_END at step ``total`` (held there after).
    ``warmup`` 0 starts the cosine at 1 (the fine-tuning recipe)."""
    if step < warmup:
        return WARMUP_START + (1.0 - WARMUP_START) * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return COSINE_END + (1.0 - COSINE_END) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The optimiser's learning rates times ``warmup_cosine_factor(step, warmup, total)``."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine_factor(step, warmup, total))


def poly_decay(optimizer: torch.optim.Optimizer, total: int, power: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning-rate factor (1 − step / total) ** power: 1 at the first step, 0 at ``total``."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total) ** power)


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically: a killed writer never leaves a corrupt file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(checkpoint, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # only still there when the write or the rename failed
    return path


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (weights only, no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise DataError(path, f"not a readable checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(checkpoint, dict) or not {"config", "state_dict"} <= checkpoint.keys():
        raise DataError(path, "not a checkpoint of this suite (needs 'config' and 'state_dict')")
    return checkpoint


class Checkpointable:
    """Mixin for an ``nn.Module`` built from one pydantic config (``config_type``): saved and loaded
    as that config plus the weights."""

    config_type: type[BaseModel]
    config: BaseModel

    def checkpoint(self, **extra: Any) -> dict[str, Any]:
        """The model's config and weights (and ``extra`` entries such as the step) as a plain dict."""
        return {"config": self.config.model_dump(), "state_dict": self.state_dict(), **extra}

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> Any:
        model = cls(cls.config_type.model_validate(checkpoint["config"]))
        model.load_state_dict(checkpoint["state_dict"])
        return model

    def save(self, path: Path, **extra: Any) -> Path:
        return save_checkpoint(path, self.checkpoint(**extra))

    @classmethod
    def load(cls, path: Path, device: torch.device | str = "cpu") -> Any:
        return cls.from_checkpoint(load_checkpoint(path, device)).to(device)


def log_to_active_run(metrics: dict[str, float], step: int) -> None:
    """Log ``metrics`` at ``step`` to the active MLflow run, if there is one. (MLflow is imported here,
    not at module level, so the models and the loop work without it, e.g. on a bare GPU machine.)"""
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.log_metrics(metrics, step=step)


@dataclass
class TrainingResult:
    """Where a training run ended: checkpoints and the loss history (one row per logged step)."""

    last_checkpoint: Path
    best_checkpoint: Path
    best_step: int
    best_validation: float
    history: list[dict[str, float]] = field(default_factory=list)


def train_loop(
    *,
    model: torch.nn.Module,
    batches: Iterator[Any],
    losses: Callable[[Any], Losses],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    iterations: int,
    checkpoint: Callable[[int], dict[str, Any]],
    checkpoint_dir: Path,
    validate: Callable[[], float] | None = None,
    val_every: int = 100,
    log_every: int = 10,
    name: str = "train",
    max_grad_norm: float | None = None,
    log_metrics: Callable[[dict[str, float], int], None] | None = log_to_active_run,
) -> TrainingResult:
    """Run ``iterations`` optimisation steps of ``losses(next(batches))["loss"]``.

    Every ``log_every`` steps the mean of each loss since the last log is recorded and handed to
    ``log_metrics`` as ``<name>/<loss>`` with the step (default: the active MLflow run, if any). Every ``val_every`` steps and at the
    end, ``validate()`` (lower is better; the model is in eval mode and gradients are off) is logged
    as ``<name>/val_loss`` and the best model is saved as ``best.pt``; without ``validate`` the best
    checkpoint is the last. ``checkpoint(step)`` builds the dict that is saved. ``max_grad_norm``: clip
    the gradients' global L2 norm to it before each step (None: no clipping). Non-finite losses stop
    training with an error rather than writing a corrupt model.
    """
    last_path, best_path = Path(checkpoint_dir) / "last.pt", Path(checkpoint_dir) / "best.pt"
    best_value, best_step = math.inf, 0
    sums: dict[str, float] = {}
    history: list[dict[str, float]] = []
    steps_since_log = 0

    def run_validation(step: int) -> None:
        nonlocal best_value, best_step
        model.eval()
        with torch.no_grad():
            value = float(validate())
        model.train()
        history.append({"step": step, "val_loss": value})
        if log_metrics is not None:
            log_metrics({f"{name}/val_loss": value}, step)
        if value < best_value:
            best_value, best_step = value, step
            save_checkpoint(best_path, checkpoint(step))

    model.train()
    progress = tqdm(range(1, iterations + 1), desc=name, unit="it", disable=None, leave=False)
    for step in progress:
        step_losses = losses(next(batches))
        loss = step_losses["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{name}: loss became {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        for key, value in step_losses.items():
            sums[key] = sums.get(key, 0.0) + float(value.detach())
        steps_since_log += 1
        if step % log_every == 0 or step == iterations:
            means = {key: total / steps_since_log for key, total in sums.items()}
            means["learning_rate"] = scheduler.get_last_lr()[0]
            history.append({"step": step, **means})
            if log_metrics is not None:
                log_metrics({f"{name}/{key}": value for key, value in means.items()}, step)
            progress.set_postfix(loss=f"{means['loss']:.4f}")
            sums, steps_since_log = {}, 0
        if validate is not None and (step % val_every == 0 or step == iterations):
            run_validation(step)
    save_checkpoint(last_path, checkpoint(iterations))
    if validate is None:
        save_checkpoint(best_path, checkpoint(iterations))
        best_step, best_value = iterations, math.nan
    return TrainingResult(last_path, best_path, best_step, best_value, history)
