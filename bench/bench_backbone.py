"""Benchmark of our association backbone against Trackastra's TrackingTransformer (not a test; see
bench/README.md).

Both models are built from a profile's ``model`` section (quick and paper): Trackastra's
``trackastra.model.TrackingTransformer`` 0.5.6 with ``attrackt.model.trackastra.trackastra_arguments``
(same sizes, rotary attention "rope"), and ours with Trackastra's initial weights copied in
(``from_trackastra_state_dict``), so the two compute the same function: the run prints the max logit
difference on a real batch (0 or float rounding). Trackastra's model is called through a thin adapter
with our signature (coordinates, features, valid) -> logits, so that every measurement runs the same
code around the model and only the model differs. In one run it measures:

- training throughput: forward + backward + AdamW step on the same batch, BCE with logits against a
  fixed random target; steps of the two models are interleaved (load from other processes hits both
  alike); windows/s, tokens/s (padded tokens) and the ratio ours / Trackastra's from median step times;
- whole-sequence inference: ``attrackt.inference.predict_associations`` on synth-hela sequence
  "02" (stride-1 windows, quiet parental softmax, edge averaging), TTA off and on, with each model;
  the model's own forward time is reported too;
- the achieved FLOP/s of one of our training steps (FLOPs counted with FlopCounterMode) as a
  fraction of a 4096×4096 float32 matmul's FLOP/s measured in the same run.

On the CPU, sizes and repeats are cut down and torch runs 1 thread unless ``--threads`` says otherwise.

Usage: .venv-bench/bin/python bench/bench_backbone.py [--device cpu|cuda] [--quick-only] [--threads N]
       [--out bench/results]
Results: ``<out>/backbone-<date>T<hhmm>-<device>.json`` (UTC) (benchmark.results format: date, machine, versions
including trackastra's, one flat row per measurement).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attrackt.inference import predict_associations  # noqa: E402
from attrackt.model.network import AssociationModel  # noqa: E402
from attrackt.model.trackastra import from_trackastra_state_dict, trackastra_arguments  # noqa: E402
from attrackt.windows import Batch, SequenceTokens, collate  # noqa: E402
from benchmark.config import ModelConfig, load_config  # noqa: E402
from benchmark.entry_points import load_dataset  # noqa: E402
from benchmark.results import here_and_now, write_results  # noqa: E402
from benchmark.runtime import cpu_model  # noqa: E402
from trackastra.model import TrackingTransformer  # noqa: E402


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward_flops(grad_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_shape, query_shape, key_shape, value_shape)


#: FlopCounterMode has no formula for the CPU flash-attention kernel; it costs what the others do.
CPU_SDPA_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flops,
}
SEQUENCE = "02"
MATMUL_SIZE = 4096


@dataclass(frozen=True)
class Plan:
    """What one profile is measured on (sizes cut down on the CPU to keep the run to minutes)."""

    profile: str
    real_batch: int  # windows of the real sequence per training batch
    dense: tuple[tuple[int, int], ...]  # (windows, tokens) of dense synthetic training batches
    repeats: int  # timed training steps per model
    warmup: int  # untimed steps per model after the first (FLOP-counted) one
    inference_repeats: int  # timed whole-sequence runs per model and TTA setting
    tta_frames: int | None  # frames of the sequence for the TTA inference (None: all)


def plans(device: torch.device, quick_only: bool) -> list[Plan]:
    if device.type == "cuda":
        out = [
            Plan("quick", 8, ((8, 1024),), repeats=20, warmup=3, inference_repeats=3, tta_frames=None),
            Plan("paper", 8, ((8, 1024), (4, 2048)), repeats=10, warmup=3, inference_repeats=3, tta_frames=None),
        ]
    else:
        out = [
            Plan("quick", 8, ((2, 1024),), repeats=6, warmup=1, inference_repeats=1, tta_frames=None),
            Plan("paper", 2, ((1, 1024),), repeats=5, warmup=1, inference_repeats=1, tta_frames=8),
        ]
    return out[:1] if quick_only else out


class TrackastraAdapter(nn.Module):
    """Trackastra's TrackingTransformer with our call signature (coordinates, features, valid) -> logits."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config  # inference reads the model's config (attention cutoff) as it does ours
        self.net = TrackingTransformer(**trackastra_arguments(config))

    def forward(self, coordinates: torch.Tensor, features: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return self.net(coordinates, features, padding_mask=~valid)


class Timed(nn.Module):
    """Wraps a model and adds up the wall time of its forward calls (synchronised on CUDA)."""

    def __init__(self, model: nn.Module, device: torch.device):
        super().__init__()
        self.model, self.device, self.seconds = model, device, 0.0
        self.config = model.config

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        start = now(self.device)
        out = self.model(*args)
        self.seconds += now(self.device) - start
        return out


def now(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def real_batch(tokens: SequenceTokens, window: int, size: int) -> Batch:
    """``size`` windows of the sequence at evenly spread start frames, padded to the longest."""
    starts = np.linspace(0, len(tokens.window_starts(window)) - 1, size).round().astype(int)
    return collate([tokens.window(int(s), window, with_targets=False) for s in starts])


def dense_batch(tokens: SequenceTokens, window: int, size: int, n_tokens: int, rng: np.random.Generator) -> Batch:
    """``size`` synthetic windows of exactly ``n_tokens`` tokens: uniform random frames of the window,
    positions uniform over a square as densely populated as the real sequence's field of view, shallow
    features resampled from the real sequence's rows."""
    tokens_per_window = len(tokens.t) * window / tokens.n_frames
    side = float(np.sqrt(np.prod(np.ptp(tokens.yx, axis=0)) * n_tokens / tokens_per_window))
    coordinates = np.empty((size, n_tokens, 3), np.float32)
    coordinates[..., 0] = np.sort(rng.integers(0, window, (size, n_tokens)), axis=1)
    coordinates[..., 1:] = rng.uniform(0, side, (size, n_tokens, 2))
    features = tokens.features[rng.integers(0, len(tokens.t), (size, n_tokens))].astype(np.float32)
    frames = torch.from_numpy(coordinates[..., 0].astype(np.int64))
    return Batch(
        coordinates=torch.from_numpy(coordinates),
        features=torch.from_numpy(features),
        valid=torch.ones(size, n_tokens, dtype=torch.bool),
        frames=frames,
        target=None,
        rows=torch.full((size, n_tokens), -1),
        sequences=("dense",) * size,
    )


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Batch, target: torch.Tensor) -> None:
    """Forward, BCE with logits against ``target``, backward, optimiser step."""
    optimizer.zero_grad(set_to_none=True)
    logits = model(batch.coordinates, batch.features, batch.valid)
    F.binary_cross_entropy_with_logits(logits, target).backward()
    optimizer.step()


def step_flops(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Batch, target: torch.Tensor) -> int:
    with FlopCounterMode(display=False, custom_mapping=CPU_SDPA_FLOPS) as counter:
        training_step(model, optimizer, batch, target)
    return counter.get_total_flops()


def interleaved_median(
    functions: list[Callable[[], object]], device: torch.device, repeats: int, warmup: int
) -> list[float]:
    """Median seconds of each function, run in turn ``repeats`` times after ``warmup`` untimed rounds."""
    for _ in range(warmup):
        for f in functions:
            f()
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for k, f in enumerate(functions):
            start = now(device)
            f()
            times[k].append(now(device) - start)
    return [statistics.median(t) for t in times]


def matmul_flops_per_second(device: torch.device, repeats: int = 3) -> float:
    """FLOP/s of a MATMUL_SIZE² float32 matmul (2 n³ FLOPs), the median of ``repeats`` after a warm-up."""
    a, b = (torch.randn(MATMUL_SIZE, MATMUL_SIZE, device=device) for _ in range(2))
    seconds = interleaved_median([lambda: a @ b], device, repeats, warmup=1)[0]
    return 2 * MATMUL_SIZE**3 / seconds


def build_models(config: ModelConfig, device: torch.device, seed: int) -> dict[str, nn.Module]:
    """Trackastra's model (initialised with ``seed``) and ours with its weights: the same function."""
    torch.manual_seed(seed)
    theirs = TrackastraAdapter(config).to(device)
    ours = AssociationModel(config).to(device)
    ours.load_state_dict(from_trackastra_state_dict(theirs.net.state_dict()))
    return {"ours": ours, "trackastra": theirs}


def bench_training(
    models: dict[str, nn.Module], batches: dict[str, Batch], plan: Plan, device: torch.device
) -> list[dict]:
    rows = []
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-4) for name, m in models.items()}
    for label, batch in batches.items():
        batch = batch.to(device)
        size, n_tokens = batch.valid.shape
        target = torch.randint(0, 2, (size, n_tokens, n_tokens), generator=torch.Generator().manual_seed(0))
        target = target.float().to(device)
        for model in models.values():
            model.train()
        pairs = list(zip(models.values(), optimizers.values()))
        flops = [step_flops(m, o, batch, target) for m, o in pairs]  # also the first warm-up step
        steps = [partial(training_step, m, o, batch, target) for m, o in pairs]
        seconds = interleaved_median(steps, device, plan.repeats, plan.warmup)
        row = {"measure": "training", "batch": label, "windows": size, "tokens": n_tokens}
        row |= {"valid_tokens": int(batch.valid.sum()), "ours_s": seconds[0], "trackastra_s": seconds[1]}
        row |= {"ratio": seconds[1] / seconds[0], "ours_gflop": flops[0] / 1e9, "trackastra_gflop": flops[1] / 1e9}
        rows.append(row)
        print(f"  train {label}: ours {seconds[0]:.3f} s, trackastra {seconds[1]:.3f} s per step", flush=True)
    return rows


def truncated(tokens: SequenceTokens, n_frames: int) -> SequenceTokens:
    """The first ``n_frames`` frames of a sequence (parents always lie in earlier rows)."""
    stop = int(np.searchsorted(tokens.t, n_frames))
    return SequenceTokens(
        name=tokens.name,
        t=tokens.t[:stop],
        yx=tokens.yx[:stop],
        features=tokens.features[:stop],
        parent=tokens.parent[:stop],
        n_frames=n_frames,
    )


def bench_inference(
    models: dict[str, nn.Module], tokens: SequenceTokens, plan: Plan, config: ModelConfig, device: torch.device
) -> list[dict]:
    rows = []
    for tta in (False, True):
        sequence = truncated(tokens, plan.tta_frames) if tta and plan.tta_frames else tokens
        node_ids = np.arange(len(sequence.t))
        n_windows = len(sequence.window_starts(config.window))
        row = {"measure": "inference", "tta": tta, "frames": sequence.n_frames, "windows": n_windows}
        row["forwards"] = n_windows * (8 if tta else 1)
        timed = [Timed(m, device) for m in models.values()]
        options = dict(window=config.window, min_association=0.01, tta=tta, device=device)
        for model in timed:  # warm-up on the first two windows
            predict_associations(model, truncated(sequence, config.window + 1), node_ids, **options)
            model.seconds = 0.0
        runs = [partial(predict_associations, model, sequence, node_ids, **options) for model in timed]
        seconds = interleaved_median(runs, device, plan.inference_repeats, warmup=0)
        for name, s, model in zip(models, seconds, timed):
            row |= {f"{name}_s": s, f"{name}_forward_s": model.seconds / plan.inference_repeats}
        row["ratio"] = seconds[1] / seconds[0]
        rows.append(row)
        print(f"  inference tta={tta}: ours {seconds[0]:.2f} s, trackastra {seconds[1]:.2f} s", flush=True)
    return rows


def max_logit_difference(models: dict[str, nn.Module], batch: Batch, device: torch.device) -> float:
    """Max |ours − Trackastra's| logit over the valid pairs of ``batch``, eval mode: 0 when the two
    compute the same function (they start with the same weights)."""
    batch = batch.to(device)
    pairs = batch.valid[:, :, None] & batch.valid[:, None, :]
    with torch.no_grad():
        ours, theirs = (m.eval()(batch.coordinates, batch.features, batch.valid) for m in models.values())
    return float((ours - theirs)[pairs].abs().max())


def print_tables(rows: list[dict]) -> None:
    first = rows[0]
    print(f"\ndevice: {first['device']}, {first['threads']} torch threads")
    print(f"{MATMUL_SIZE}x{MATMUL_SIZE} float32 matmul: {first['matmul_gflops']:.1f} GFLOP/s")
    for profile in dict.fromkeys(row["profile"] for row in rows):
        mine = [row for row in rows if row["profile"] == profile]
        print(f"\n== {profile} profile: {mine[0]['config']}; parameters ours {mine[0]['parameters_ours']:,}, "
              f"trackastra {mine[0]['parameters_trackastra']:,}; max |logit difference| with the same weights "
              f"{mine[0]['max_logit_difference']:.1e}")
        print("training (forward + backward + AdamW), median step")
        header = f"{'batch':<10} {'B x N':>10} {'ours s':>8} {'theirs s':>9} {'ours win/s':>11} {'theirs win/s':>13} "
        header += f"{'ours tok/s':>11} {'theirs tok/s':>13} {'ours/theirs':>12} {'GFLOP/step':>11} "
        header += f"{'ours GFLOP/s':>13} {'of matmul':>10}"
        print(header)
        for row in (r for r in mine if r["measure"] == "training"):
            size, n, ours, theirs = row["windows"], row["tokens"], row["ours_s"], row["trackastra_s"]
            gflops = row["ours_gflop"] / ours
            same = "" if row["ours_gflop"] == row["trackastra_gflop"] else f" (theirs {row['trackastra_gflop']:.1f})"
            print(
                f"{row['batch']:<10} {size:>4} x {n:<4} {ours:>8.3f} {theirs:>9.3f} {size / ours:>11.2f} "
                f"{size / theirs:>13.2f} {size * n / ours:>11.0f} {size * n / theirs:>13.0f} {row['ratio']:>11.2f}x "
                f"{row['ours_gflop']:>11.1f} {gflops:>13.1f} {gflops / row['matmul_gflops']:>9.1%}{same}"
            )
        print(f"inference, sequence {SEQUENCE} (predict_associations; fwd = the model's own time)")
        header = f"{'tta':<5} {'frames':>6} {'forwards':>9} {'ours s':>8} {'(fwd)':>7} {'theirs s':>9} {'(fwd)':>7} "
        print(header + f"{'ours/theirs':>12}")
        for row in (r for r in mine if r["measure"] == "inference"):
            print(
                f"{'on' if row['tta'] else 'off':<5} {row['frames']:>6} {row['forwards']:>9} {row['ours_s']:>8.2f} "
                f"{row['ours_forward_s']:>7.2f} {row['trackastra_s']:>9.2f} {row['trackastra_forward_s']:>7.2f} "
                f"{row['ratio']:>11.2f}x"
            )
        print(f"note: {mine[0]['note']}")
    print("\nratio ours/theirs = Trackastra's time / ours (> 1: ours is faster); tok/s counts padded tokens (B x N);")
    print("GFLOP/step counted with FlopCounterMode (matmuls and attention), the same for both models unless shown")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick-only", action="store_true", help="only the quick profile's model")
    parser.add_argument("--data-dir", default="/tmp/bench-data", help="where the synthetic dataset is cached")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1 with --device cpu, where the cores are shared with other jobs and "
        "threads waiting for a busy core make timings erratic; torch's default with --device cuda)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    device = torch.device(args.device)
    threads = args.threads or (1 if device.type == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)

    dataset = load_dataset("synth-hela", load_config("quick", {"data.data_dir": args.data_dir}))
    tokens = SequenceTokens.from_sequence(dataset.sequences[SEQUENCE])
    provenance = here_and_now()
    provenance["versions"]["trackastra"] = version("trackastra")
    setting = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({cpu_model()})",
        "threads": torch.get_num_threads(),
        "matmul_gflops": matmul_flops_per_second(device) / 1e9,
    }
    rows: list[dict] = []
    for plan in plans(device, args.quick_only):
        config = load_config(plan.profile).model
        print(f"{plan.profile} profile ...", flush=True)
        models = build_models(config, device, args.seed)
        rng = np.random.default_rng(args.seed)
        batches = {"synth-hela": real_batch(tokens, config.window, plan.real_batch)}
        batches |= {f"dense-{n}": dense_batch(tokens, config.window, b, n, rng) for b, n in plan.dense}
        note = (
            f"median of {plan.repeats} timed steps after {plan.warmup + 1} warm-up (the first counts FLOPs); "
            f"inference: median of {plan.inference_repeats} run(s) after a 2-window warm-up"
        )
        if plan.tta_frames:
            note += f"; TTA inference on the first {plan.tta_frames} frames only"
        if device.type == "cpu":
            note += "; batch sizes and repeats cut down for the CPU"
        shared = setting | {
            "profile": plan.profile,
            "config": f"d_model {config.d_model}, {config.n_heads} heads, "
            f"{config.encoder_layers}+{config.decoder_layers} layers, dropout {config.dropout}, window {config.window}",
            "parameters_ours": sum(p.numel() for p in models["ours"].parameters()),
            "parameters_trackastra": sum(p.numel() for p in models["trackastra"].parameters()),
            "max_logit_difference": max_logit_difference(models, batches["synth-hela"], device),
            "note": note,
        }
        measured = bench_training(models, batches, plan, device) + bench_inference(models, tokens, plan, config, device)
        rows += [shared | row for row in measured]
    print_tables(rows)
    moment = provenance["date"][:16].replace(":", "")  # 2026-12-03T2059 (UTC)
    path = args.out / f"backbone-{moment}-{device.type}.json"
    write_results(path, rows, source=" ".join(["bench/bench_backbone.py", *sys.argv[1:]]), **provenance)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
