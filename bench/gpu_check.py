"""CUDA check of the association model path (not a test: CI has no GPU).

Runs on a machine with a GPU and only torch, numpy, pandas, networkx, pyyaml, tqdm, peft and pydantic:
the supervised and Attrackt objectives train on CUDA, LoRA adapters train there, whole-sequence
inference on CUDA agrees with CPU, and a training step's throughput at the paper config is printed
beside the CPU's. Usage: ``python bench/gpu_check.py [--steps 30]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attrackt.association_training import supervised_objective, training_batches  # noqa: E402
from attrackt.inference import predict_associations  # noqa: E402
from attrackt.lora import add_lora  # noqa: E402
from attrackt.model.network import AssociationModel  # noqa: E402
from attrackt.training import train_loop, warmup_cosine  # noqa: E402
from attrackt.unsupervised_loss import AttracktModel, attrackt_losses  # noqa: E402
from attrackt.windows import SequenceTokens  # noqa: E402
from benchmark.config import AttracktModelConfig, ModelConfig, TrainConfig  # noqa: E402
from benchmark.data.sequence import FEATURE_COLUMNS, Sequence  # noqa: E402


def random_walk_sequence(frames: int, cells: int, seed: int) -> Sequence:
    """``cells`` cells moving 3 px per frame on average in a 400 px field; GT parent = same cell before."""
    rng = np.random.default_rng(seed)
    position = rng.uniform(0, 400, (cells, 2))
    rows = []
    for t in range(frames):
        position = position + rng.normal(0, 3, position.shape)
        for cell in range(cells):
            rows.append((t, cell + 1, *position[cell], t * cells + cell - cells if t else -1))
    detections = pd.DataFrame(rows, columns=["t", "label", "y", "x", "parent_id"])
    detections.insert(0, "node_id", np.arange(len(detections)))
    for name in FEATURE_COLUMNS:
        detections[name] = rng.uniform(1, 20, len(detections))
    return Sequence(name="walk", detections=detections, n_frames=frames)


def step_time(model: torch.nn.Module, batch, device: torch.device, repeats: int) -> float:
    """Median seconds of one supervised forward + backward + AdamW step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for i in range(repeats + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = supervised_objective(model, batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cuda", help="cuda (the check), or cpu to try the script itself")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    cuda, cpu = torch.device(args.device), torch.device("cpu")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name() if cuda.type == 'cuda' else 'CPU only'}")
    sequence = random_walk_sequence(frames=20, cells=80, seed=0)
    tokens = [SequenceTokens.from_sequence(sequence)]
    config = ModelConfig()  # the paper's sizes
    train = TrainConfig(iterations=args.steps, batch_size=8, learning_rate=1e-4, warmup_iterations=5, log_every=5)

    torch.manual_seed(0)
    model = AssociationModel(config).to(cuda)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.learning_rate)
    result = train_loop(
        model=model, batches=training_batches(tokens, config, train, np.random.default_rng(0), cuda),
        losses=lambda batch: supervised_objective(model, batch), optimizer=optimizer,
        scheduler=warmup_cosine(optimizer, train.warmup_iterations, train.iterations), iterations=train.iterations,
        checkpoint=lambda step: model.checkpoint(step=step), checkpoint_dir=Path("/tmp/gpu-check"),
        log_every=train.log_every, log_metrics=None,
    )
    losses = [row["loss"] for row in result.history if "loss" in row]
    print(f"supervised training on CUDA, {args.steps} steps: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    assert all(np.isfinite(losses)), "non-finite loss on CUDA"

    ids = sequence.detections["node_id"].to_numpy()
    kwargs = dict(window=config.window, min_association=0.01, tta=True)
    on_gpu = predict_associations(model, tokens[0], ids, device=cuda, **kwargs)
    on_cpu = predict_associations(model.to(cpu), tokens[0], ids, device=cpu, **kwargs)
    merged = on_gpu.merge(on_cpu, on=["parent", "child"], how="outer", suffixes=("_gpu", "_cpu")).fillna(0.0)
    difference = (merged["weight_gpu"] - merged["weight_cpu"]).abs().max()
    print(f"inference (TTA) CUDA vs CPU: {len(on_gpu)} vs {len(on_cpu)} associations, max |difference| {difference:.2e}")
    assert difference < 1e-2, "CUDA and CPU associations disagree"

    torch.manual_seed(0)
    attrackt = AttracktModel(AttracktModelConfig(backbone=config, embedding_dim=64)).to(cuda)
    add_lora(attrackt, r=32, alpha=32.0, dropout=0.1)
    embeddings = {"walk": torch.randn(len(ids), 64, device=cuda)}
    batch = next(training_batches(tokens, config, train, np.random.default_rng(1), cuda))
    losses_attrackt = attrackt_losses(attrackt, batch, embeddings, transitive_weight=0.1)
    losses_attrackt["loss"].backward()
    grads = [p.grad for p in attrackt.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads), "LoRA/Attrackt gradients on CUDA"
    print(f"Attrackt loss with LoRA on CUDA: {losses_attrackt['loss'].item():.4f}, {len(grads)} trainable tensors, finite")

    batch = next(training_batches(tokens, config, train, np.random.default_rng(2), cuda))
    tokens_per_batch = int(batch.valid.sum())
    gpu_time = step_time(AssociationModel(config).to(cuda), batch, cuda, repeats=10)
    cpu_time = step_time(AssociationModel(config), batch.to(cpu), cpu, repeats=2)
    print(
        f"paper-config training step, batch of 8 windows ({tokens_per_batch} tokens): "
        f"CUDA {gpu_time * 1e3:.1f} ms ({8 / gpu_time:.0f} windows/s), CPU {cpu_time * 1e3:.0f} ms; "
        f"CUDA/CPU speed-up {cpu_time / gpu_time:.1f}x"
    )
    print("GPU CHECK PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
