"""What the pipeline costs at HeLa size (a benchmark, not a test; see bench/README.md).

On ``synth-hela-large`` (3 sequences of 92 frames, 700 x 1100 px, ~25,600 detections each), each
stage of the pipeline runs in a fresh process, so that its peak memory is its own:

- ``generate``: the simulator writes the dataset (skipped when ``--workdir`` already holds it);
- ``read``: masks read and the 7 shallow features computed, from a cold feature cache;
- ``autoencoder``: patch extraction, training steps (batch of the profile) and embedding detections;
- ``reid``: Re-ID (NT-Xent) training steps;
- ``train_step``: association-model training steps: supervised and Attrackt objectives on the
  profile's training windows (crop, augmentation, token cap), and supervised on windows of exactly
  ``model.max_tokens`` tokens (the cap, the densest windows the model can get), measured on
  ``--dense-batch`` windows and scaled linearly to the profile's batch;
- ``inference``: Â of the evaluation sequence at stride 1, TTA off over the whole sequence, TTA off
  and on over a block of frames (``--tta-frames``); whole-sequence TTA on is projected by the
  on/off ratio of that block (``--tta-frames 0``: measured over the whole sequence instead);
- ``link``: candidate graph, costs and the ILP on the evaluation sequence, d2 = the Â of ``inference``;
- ``evaluate``: traccuracy metrics of that solution;
- ``log``: an MLflow run (sqlite store in the work folder) with the resolved config, metrics,
  GEFF and CTC results, as every entry point logs.

Wall time is the stage's own work (perf_counter, imports and inputs excluded, shown as ``setup``);
peak memory is the stage process's maximum resident set size (``os.wait4``'s ``ru_maxrss``: the
whole process, Python, torch and the inputs included). Networks are built at ``--profile`` (default
``paper``) with random weights: costs do not depend on the weights. torch runs ``--threads`` threads
(default 1, see bench/README.md).

From the per-step rates the script projects the cost of ``benchmark/grids/paper.yaml`` (900 runs)
and prints the arithmetic. ``--entry-points PROFILE`` instead runs every entry point on the preset
(``python -m benchmark.cli``, the full-size data, profile PROFILE) and reports each one's wall time
and peak memory.

Usage: python bench/bench_pipeline.py [--workdir /tmp/bench-pipeline] [--steps 3] [--tta-frames 12]
       python bench/bench_pipeline.py --entry-points smoke
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

PRESET = "synth-hela-large"
STAGES = ("generate", "read", "autoencoder", "reid", "train_step", "inference", "link", "evaluate", "log")
#: The recorded H200 step times (bench/README.md; gpu_check.py and bench_backbone.py, 2026-11-25/26) used
#: for the GPU projection when no GPU is measured: a paper-size training step of 8 cropped windows
#: (~200 tokens each) and one of 4 windows of 2048 tokens (8 windows: twice that, GPU-bound).
H200_STEP_S = {"cropped": 0.0324, "dense": 2 * 0.052}
GIB = 1024**3


# --------------------------------------------------------------------------------------- the stages
# Each runs in its own process (``--stage NAME``) and returns (Timing of its own work, details). Timings
# in the details are {"wall_s", "cpu_s"} pairs.


@dataclass
class Timing:
    """Wall seconds (perf_counter) and CPU seconds of this process, all threads (process_time)."""

    wall_s: float = 0.0
    cpu_s: float = 0.0


@contextmanager
def timed() -> Iterator[Timing]:
    """The Timing of the ``with`` block (filled in when it ends)."""
    timing, wall, cpu = Timing(), time.perf_counter(), time.process_time()
    yield timing
    timing.wall_s, timing.cpu_s = time.perf_counter() - wall, time.process_time() - cpu


def _median_step(step: Callable[[], None], steps: int) -> dict[str, float]:
    """Median wall and CPU seconds of ``steps`` calls of ``step()`` after one untimed warm-up call."""
    step()
    timings = []
    for _ in range(steps):
        with timed() as timing:
            step()
        timings.append(timing)
    return {"wall_s": float(np.median([t.wall_s for t in timings])), "cpu_s": float(np.median([t.cpu_s for t in timings]))}


def _per(timing: Timing, count: int) -> dict[str, float]:
    return {"wall_s": timing.wall_s / count, "cpu_s": timing.cpu_s / count}


def _dataset(workdir: Path):
    from benchmark.data.datasets import resolve_dataset

    return resolve_dataset(str(workdir / PRESET), data_dir=workdir, cache_dir=workdir / "cache")


def _evaluation(workdir: Path):
    dataset = _dataset(workdir)
    return dataset, dataset.evaluation_sequences()[0]


def _config(args: argparse.Namespace):
    from benchmark.config import load_config

    return load_config(args.profile)


def stage_generate(args: argparse.Namespace) -> tuple[Timing, dict]:
    from benchmark.data.synthetic import COMPLETE_MARKER, generate_dataset

    root = args.workdir / PRESET
    if (root / COMPLETE_MARKER).is_file():
        return Timing(), {"skipped": f"{root} holds the dataset already"}
    with timed() as timing:
        generate_dataset(PRESET, root, seed=0)
    return timing, {}


def stage_read(args: argparse.Namespace) -> tuple[Timing, dict]:
    shutil.rmtree(args.workdir / "cache", ignore_errors=True)
    with timed() as timing:
        dataset = _dataset(args.workdir)
    sequences = {}
    for name, sequence in dataset.sequences.items():
        per_frame = np.bincount(sequence.frames(), minlength=sequence.n_frames)
        sequences[name] = {
            "frames": sequence.n_frames,
            "detections": sequence.n_detections,
            "nuclei_first_frame": int(per_frame[0]),
            "nuclei_last_frame": int(per_frame[-1]),
            "nuclei_max": int(per_frame.max()),
        }
    split = {"train": list(dataset.split.train), "val": list(dataset.split.val), "test": list(dataset.split.test)}
    return timing, {"sequences": sequences, "split": split, "image_shape": list(sequence.image_shape)}


def _patches(dataset, size: int) -> np.ndarray:
    from attrackt.patches import sequence_patches

    return np.concatenate([sequence_patches(sequence, size) for sequence in dataset.sequences.values()])


def _train_step(model, loss: Callable, batches: Iterator, adamw: bool = False) -> Callable[[], None]:
    """One optimiser step of ``model`` on ``loss(model, next(batches))["loss"]``: Adam (the patch
    networks') or AdamW (the association model's)."""
    import torch

    optimizer = (torch.optim.AdamW if adamw else torch.optim.Adam)(model.parameters(), lr=1e-4)

    def step() -> None:
        value = loss(model, next(batches))["loss"]
        optimizer.zero_grad()
        value.backward()
        optimizer.step()

    return step


def stage_autoencoder(args: argparse.Namespace) -> tuple[Timing, dict]:
    import torch

    from attrackt.autoencoder import Autoencoder, reconstruction_loss
    from attrackt.patches import embed_patches, random_batches

    config, dataset = _config(args).autoencoder, _dataset(args.workdir)
    with timed() as timing:
        with timed() as extraction:
            patches = _patches(dataset, config.patch_size)
        torch.manual_seed(0)
        model = Autoencoder(config)
        batches = random_batches(patches, config.batch_size, np.random.default_rng(0), torch.device("cpu"))
        step = _median_step(_train_step(model, reconstruction_loss, batches), args.steps)
        model.eval()
        sample = patches[: args.embed_sample] if args.embed_sample else patches
        with timed() as embedding:
            embed_patches(model.embed, sample, torch.device("cpu"))
    details = {
        "patches": vars(extraction),
        "step": step,
        "batch_size": config.batch_size,
        "detections": len(patches),
        "embedded": len(sample),
        "embed_per_detection": _per(embedding, len(sample)),
    }
    return timing, details


def stage_reid(args: argparse.Namespace) -> tuple[Timing, dict]:
    import torch

    from attrackt.patches import random_batches
    from attrackt.reid import ReidNetwork, contrastive_loss

    config, dataset = _config(args).reid, _dataset(args.workdir)
    patches = _patches(dataset, config.patch_size)
    with timed() as timing:
        torch.manual_seed(0)
        batches = random_batches(patches, config.batch_size, np.random.default_rng(0), torch.device("cpu"))
        step = _median_step(_train_step(ReidNetwork(config), contrastive_loss, batches), args.steps)
    return timing, {"step": step, "batch_size": config.batch_size}


def _dense_windows(tokens, window: int, n_tokens: int, count: int) -> list:
    """``count`` windows of exactly ``n_tokens`` tokens (those nearest each window's centre), from
    the latest start frames whose windows hold that many."""
    from attrackt.augment import crop

    rng = np.random.default_rng(0)
    full = [tokens.window(start, window) for start in tokens.window_starts(window)]
    return [crop(w, np.inf, n_tokens, rng) for w in [w for w in full if len(w) >= n_tokens][-count:]]


def stage_train_step(args: argparse.Namespace) -> tuple[Timing, dict]:
    import torch

    from attrackt.association_training import supervised_objective, training_batches
    from attrackt.unsupervised_loss import AttracktModel, attrackt_losses, embedding_tables
    from attrackt.windows import SequenceTokens, collate
    from benchmark.config import AttracktModelConfig

    config, dataset = _config(args), _dataset(args.workdir)
    cpu = torch.device("cpu")
    tokens = [SequenceTokens.from_sequence(s) for s in dataset.sequences.values()]
    rng = np.random.default_rng(0)
    embeddings = embedding_tables({t.name: rng.normal(size=(len(t.t), 64)) for t in tokens}, cpu)
    test = next(t for t in tokens if t.name == dataset.split.test[0])
    dense_windows = _dense_windows(test, config.model.window, config.model.max_tokens, args.dense_batch)
    seen: dict[str, list[int]] = {"supervised": [], "attrackt": [], "dense": []}

    def counted(kind: str, batches: Iterator) -> Iterator:
        for batch in batches:
            seen[kind].append(int(batch.valid.sum()))
            yield batch

    with timed() as timing:
        torch.manual_seed(0)
        model = AttracktModel(AttracktModelConfig(backbone=config.model, embedding_dim=64))
        supervised = lambda net, batch: supervised_objective(net.backbone, batch)  # noqa: E731
        attrackt = lambda net, batch: attrackt_losses(net, batch, embeddings, config.attrackt.transitive_weight)  # noqa: E731
        steps = {
            "supervised_step": (supervised, training_batches(tokens, config.model, config.supervised, rng, cpu)),
            "attrackt_step": (attrackt, training_batches(tokens, config.model, config.attrackt, rng, cpu)),
            "dense_step": (supervised, iter(lambda: collate(dense_windows), None)),
        }
        details = {
            name: _median_step(_train_step(model, loss, counted(name.removesuffix("_step"), batches), adamw=True), args.steps)
            for name, (loss, batches) in steps.items()
        }
    # The dense step is measured on dense_batch windows and scaled linearly to the profile's batch.
    scale = config.supervised.batch_size / args.dense_batch
    details["dense_step_measured"] = details["dense_step"]
    details["dense_step"] = {key: value * scale for key, value in details["dense_step"].items()}
    windows = {"supervised": config.supervised.batch_size, "attrackt": config.attrackt.batch_size, "dense": args.dense_batch}
    details.update(
        batch_size=config.supervised.batch_size,
        dense_batch=args.dense_batch,
        crop_size=config.supervised.crop_size,
        tokens_per_window={kind: float(np.mean(n)) / windows[kind] for kind, n in seen.items()},
        n_parameters=model.backbone.n_parameters(),
    )
    return timing, details


def _frame_block(tokens, node_ids: np.ndarray, first: int, count: int) -> tuple:
    """The tokens (and node ids) of frames [first, first + count) as a sequence of their own."""
    keep = (tokens.t >= first) & (tokens.t < first + count)
    block = replace(
        tokens, t=tokens.t[keep] - first, yx=tokens.yx[keep], features=tokens.features[keep],
        parent=np.full(int(keep.sum()), -1), n_frames=count,
    )
    return block, node_ids[keep]


def stage_inference(args: argparse.Namespace) -> tuple[Timing, dict]:
    import torch

    from attrackt.inference import predict_associations
    from attrackt.model.network import AssociationModel
    from attrackt.windows import SequenceTokens

    config, (_, sequence) = _config(args), _evaluation(args.workdir)
    whole = SequenceTokens.from_sequence(sequence), sequence.detections["node_id"].to_numpy()
    torch.manual_seed(0)
    model = AssociationModel(config.model)
    settings = {
        "window": config.model.window, "min_association": config.inference.min_association,
        "device": torch.device("cpu"), "max_tokens": config.inference.max_tokens,
    }

    def infer(tokens: tuple, tta: bool) -> tuple[Timing, Any]:
        with timed() as timing:
            table = predict_associations(model, *tokens, tta=tta, **settings)
        return timing, table

    with timed() as timing:
        off, table = infer(whole, tta=False)
        details: dict[str, Any] = {"sequence": sequence.name, "windows": len(whole[0].window_starts(config.model.window))}
        if args.tta_frames:
            first = (sequence.n_frames - args.tta_frames) // 2
            block = _frame_block(*whole, first, args.tta_frames)
            block_off, block_on = infer(block, tta=False)[0], infer(block, tta=True)[0]
            on = Timing(off.wall_s * block_on.wall_s / block_off.wall_s, off.cpu_s * block_on.cpu_s / block_off.cpu_s)
            details.update(
                block_frames=[first, first + args.tta_frames - 1], block_tta_off=vars(block_off),
                block_tta_on=vars(block_on), tta_on_method="projected: whole-sequence TTA off x (on / off) on the block",
            )
        else:
            on = infer(whole, tta=True)[0]
            details["tta_on_method"] = "measured over the whole sequence"
        details.update(tta_off=vars(off), tta_on=vars(on))
    table.to_csv(args.workdir / "associations.csv", index=False)
    return timing, details


def stage_link(args: argparse.Namespace) -> tuple[Timing, dict]:
    import pandas as pd

    from attrackt.association_method import ASSOCIATION_W2, association_term
    from benchmark.pipeline import track_sequence

    config, (_, sequence) = _config(args), _evaluation(args.workdir)
    table = pd.read_csv(args.workdir / "associations.csv")
    with timed() as timing:
        solution = track_sequence(sequence, config.linking, association_term({sequence.name: table}), ASSOCIATION_W2)
    np.save(args.workdir / "edges.npy", solution.edges)
    (args.workdir / "linking_stats.json").write_text(json.dumps(solution.stats))
    return timing, {key: value for key, value in solution.stats.items() if isinstance(value, (int, float))}


def stage_evaluate(args: argparse.Namespace) -> tuple[Timing, dict]:
    from benchmark.pipeline import evaluate_sequence

    _, sequence = _evaluation(args.workdir)
    edges = np.load(args.workdir / "edges.npy", allow_pickle=False)
    with timed() as timing:
        metrics = evaluate_sequence(sequence, edges)
    return timing, {"AOGM": metrics["AOGM"], "TRA": metrics["TRA"]}


def stage_log(args: argparse.Namespace) -> tuple[Timing, dict]:
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{args.workdir / 'mlflow.db'}"
    from benchmark.linking import LinkingSolution
    from benchmark.mlflow_run import entry_point_run, log_dataset, log_outcome
    from benchmark.pipeline import DatasetOutcome, SequenceOutcome, evaluate_sequence

    config, (dataset, sequence) = _config(args), _evaluation(args.workdir)
    edges = np.load(args.workdir / "edges.npy", allow_pickle=False)
    solution = LinkingSolution(edges, json.loads((args.workdir / "linking_stats.json").read_text()))
    outcome = DatasetOutcome({sequence.name: SequenceOutcome(solution, evaluate_sequence(sequence, edges))})
    with timed() as timing:
        with entry_point_run("bench", config, {"method": "bench", "dataset": PRESET, "seed": 0}):
            log_dataset(dataset)
            log_outcome(dataset, outcome)
    return timing, {}


def run_stage(args: argparse.Namespace) -> None:
    """Child process: run one stage, write its result to ``<workdir>/stage-<name>.json``."""
    import torch

    torch.set_num_threads(args.threads)
    with timed() as total:
        timing, details = globals()[f"stage_{args.stage}"](args)
    result = {"stage": args.stage, **vars(timing), "setup_s": total.wall_s - timing.wall_s, "details": details}
    _stage_file(args.workdir, args.stage).write_text(json.dumps(result))


def _stage_file(workdir: Path, stage: str) -> Path:
    return workdir / f"stage-{stage}.json"


# --------------------------------------------------------------------------------------- the parent


def run_child(command: list[str], env: dict[str, str] | None = None, timeout: float | None = None) -> dict:
    """Run ``command`` from the project root: its exit code, wall seconds, CPU seconds and peak RSS (GiB),
    both of this child alone (``os.wait4``'s rusage), and its output (stdout and stderr together).
    Killed after ``timeout`` s."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, process.kill) if timeout else None
    if timer:
        timer.start()
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)  # reaped here, so that its own rusage is ours to read
    if timer:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "returncode": process.returncode,
        "wall_s": time.perf_counter() - start,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_gib": usage.ru_maxrss * 1024 / GIB,
        "output": output,
    }


def machine() -> dict[str, Any]:
    """Where the numbers come from: CPU model, cores, RAM, Python and torch versions."""
    import torch

    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def run_stages(args: argparse.Namespace) -> dict[str, dict]:
    """Every stage of ``args.stages`` in its own process, in order; stops at the first that fails."""
    results = {}
    for stage in args.stages:
        done = _stage_file(args.workdir, stage)
        if args.resume and done.is_file() and "peak_rss_gib" in (earlier := json.loads(done.read_text())):
            results[stage] = earlier
            print(f"{stage:>11}: measured earlier ({done})", flush=True)
            continue
        command = [
            sys.executable, __file__, "--stage", stage, "--workdir", str(args.workdir), "--profile", args.profile,
            "--steps", str(args.steps), "--threads", str(args.threads), "--tta-frames", str(args.tta_frames),
            "--embed-sample", str(args.embed_sample), "--dense-batch", str(args.dense_batch),
        ]
        load = os.getloadavg()[0]
        _stage_file(args.workdir, stage).unlink(missing_ok=True)
        child = run_child(command)
        if child["returncode"] != 0:
            sys.exit(f"stage {stage} failed (exit {child['returncode']}):\n{child['output'][-3000:]}")
        result = json.loads(_stage_file(args.workdir, stage).read_text())
        result.update(peak_rss_gib=child["peak_rss_gib"], load_before=load, load_after=os.getloadavg()[0])
        _stage_file(args.workdir, stage).write_text(json.dumps(result))
        results[stage] = result
        print(f"{stage:>11}: {result['wall_s']:8.1f} s wall, {result['cpu_s']:8.1f} s CPU  peak RSS "
              f"{child['peak_rss_gib']:.2f} GiB", flush=True)
    return results


def print_stages(results: dict[str, dict]) -> None:
    print("\nstage       | wall s  | CPU s   | setup s | peak RSS GiB | load before/after | details (timings: wall/CPU s)")
    for stage, r in results.items():
        details = ", ".join(f"{k}={_short(v)}" for k, v in r["details"].items() if k != "sequences")
        print(f"{stage:<11} | {r['wall_s']:7.1f} | {r['cpu_s']:7.1f} | {r['setup_s']:7.1f} | {r['peak_rss_gib']:12.2f} | "
              f"{_short(r['load_before']):>5} / {_short(r['load_after']):>5}     | {details}")
    for name, seq in results.get("read", {}).get("details", {}).get("sequences", {}).items():
        print(f"  sequence {name}: {seq}")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict) and set(value) == {"wall_s", "cpu_s"}:
        return f"{value['wall_s']:.4g}/{value['cpu_s']:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


# ------------------------------------------------------------------------------------ the projection


ASSOCIATION_STEPS = ("supervised_step", "attrackt_step", "finetune_step", "scratch_step")


def rates(results: dict[str, dict], tta: bool) -> dict[str, dict[str, Any]]:
    """CPU seconds per unit of work measured here, and GPU seconds projected from them, for two
    variants of the association training steps: ``cropped`` (the windows the profile's crop and cap
    give) and ``dense`` (every window at the token cap; the Attrackt step scaled like the supervised).

    GPU: CPU seconds divided by the ratio of this CPU's paper training step to the recorded H200 step of
    the same shape (H200_STEP_S): the cropped ratio for small steps (association steps of cropped
    windows, the autoencoder's batch of 8), the dense ratio for large ones (dense steps, Re-ID's batch
    of 256, inference, embedding); reading, linking, evaluation and logging stay on the CPU."""
    steps, encoder, inference = (results[s]["details"] for s in ("train_step", "autoencoder", "inference"))
    cpu = {stage: results[stage]["cpu_s"] for stage in ("read", "link", "evaluate", "log")}
    cpu.update(
        embed_all=encoder["embed_per_detection"]["cpu_s"] * encoder["detections"],
        autoencoder_step=encoder["step"]["cpu_s"],
        reid_step=results["reid"]["details"]["step"]["cpu_s"],
        inference=inference["tta_on" if tta else "tta_off"]["cpu_s"],
    )
    supervised, attrackt, dense = (steps[f"{kind}_step"]["cpu_s"] for kind in ("supervised", "attrackt", "dense"))
    ratio = {"cropped": supervised / H200_STEP_S["cropped"], "dense": dense / H200_STEP_S["dense"]}
    variants = {}
    for variant, scale in (("cropped", 1.0), ("dense", dense / supervised)):
        sup, att = supervised * scale, attrackt * scale
        on_cpu = {**cpu, "supervised_step": sup, "attrackt_step": att, "finetune_step": 2 * sup + att, "scratch_step": sup + att}
        divisor = {key: ratio["dense"] for key in on_cpu}  # Re-ID step, inference, embedding
        divisor.update({key: 1.0 for key in ("read", "link", "evaluate", "log")})
        divisor.update({key: ratio[variant] for key in ASSOCIATION_STEPS}, autoencoder_step=ratio["cropped"])
        on_gpu = {key: value / divisor[key] for key, value in on_cpu.items()}
        variants[variant] = {"cpu": on_cpu, "gpu": on_gpu, "gpu_ratio": ratio}
    return variants


def run_cost(spec, config, r: dict[str, float]) -> tuple[float, str]:
    """Seconds of the grid run ``spec`` at ``config`` from the rates ``r``, and the arithmetic."""
    from attrackt.sampling import parse_k

    base = r["read"] + r["link"] + r["evaluate"] + r["log"]
    method = spec.entry_point
    if method == "position":
        return base, "base"
    if method in ("autoencoder", "reid"):
        iterations = getattr(config, method).iterations
        return iterations * r[f"{method}_step"] + r["embed_all"] + base, f"{iterations:,} x step + embed all + base"
    if method in ("attrackt", "supervised"):
        iterations = getattr(config, method).iterations
        return iterations * r[f"{method}_step"] + r["inference"] + base, f"{iterations:,} x step + inference + base"
    k = parse_k(spec.k)  # None: all, far above the cap at this size
    budget = config.finetune.iterations if k is None else min(config.finetune.iterations_per_annotation * k, config.finetune.iterations)
    # the annotation pool (inference + ILP on the annotated sequence), the evaluation's inference, base
    seconds = budget * r[f"{method}_step"] + 2 * r["inference"] + r["link"] + base
    return seconds, f"{budget:,} x step + 2 x inference + link + base"


def project(results: dict[str, dict]) -> dict[str, Any]:
    """Hours of benchmark/grids/paper.yaml from the measured rates: per kind of run and in all."""
    from benchmark.config import load_config
    from benchmark.sweep.grid import expand, load_grid

    grid = load_grid("paper")
    config = load_config(grid.profile, grid.overrides)
    specs = expand(grid)
    projection: dict[str, Any] = {"runs": len(specs), "profile": grid.profile, "variants": {}}
    for variant, variant_rates in rates(results, config.inference.tta).items():
        out: dict[str, Any] = {"gpu_ratio": variant_rates["gpu_ratio"]}
        for where in ("cpu", "gpu"):
            groups: dict[str, dict[str, Any]] = {}
            for spec in specs:
                seconds, formula = run_cost(spec, config, variant_rates[where])
                key = spec.entry_point if spec.k is None else f"{spec.entry_point} k={spec.k}"
                group = groups.setdefault(key, {"runs": 0, "hours": 0.0, "hours_per_run": seconds / 3600, "formula": formula})
                group["runs"] += 1
                group["hours"] += seconds / 3600
            out[where] = {"rates_s": variant_rates[where], "groups": groups, "hours": sum(g["hours"] for g in groups.values())}
        projection["variants"][variant] = out
    return projection


def print_projection(projection: dict[str, Any], threads: int, cores: int) -> None:
    at_once = max(1, cores // threads)
    print(f"\nProjected cost of benchmark/grids/paper.yaml ({projection['runs']} runs, profile {projection['profile']}), every run")
    print("costed at synth-hela-large's size (Bacteria's sequences are smaller: an upper bound there), from CPU seconds.")
    print("base = read (cold feature cache) + link + evaluate + log of one evaluation sequence; a fine-tuning step =")
    print("2 supervised + 1 Attrackt step (annotated, pseudo-labelled and unlabelled windows), a scratch step = 1 + 1.")
    for variant, out in projection["variants"].items():
        label = {"cropped": "training windows as the profile cuts them", "dense": "every training window at the token cap"}
        cpu, gpu, ratio = out["cpu"], out["gpu"], out["gpu_ratio"]
        print(f"\n[{variant}] {label[variant]}")
        print("  CPU rates (s): " + ", ".join(f"{k} {v:.4g}" for k, v in cpu["rates_s"].items()))
        print(f"  GPU (projected, not measured) = CPU / {ratio['cropped']:.1f} (cropped ratio) or / {ratio['dense']:.1f} "
              "(dense ratio), see rates(); read, link, evaluate and log stay on the CPU")
        print("  GPU rates (s): " + ", ".join(f"{k} {v:.4g}" for k, v in gpu["rates_s"].items()))
        print(f"  {'runs of':<22} {'runs':>5} {'CPU h/run':>10} {'CPU h':>10} {'GPU h/run':>10} {'GPU h':>8}  arithmetic")
        for key, group in cpu["groups"].items():
            g = gpu["groups"][key]
            print(f"  {key:<22} {group['runs']:>5} {group['hours_per_run']:>10,.1f} {group['hours']:>10,.0f} "
                  f"{g['hours_per_run']:>10,.2f} {g['hours']:>8,.0f}  {group['formula']}")
        print(f"  total: {cpu['hours']:,.0f} CPU core-hours at {threads} thread(s) a run, {cpu['hours'] / at_once:,.0f} h "
              f"on this {cores}-core machine with {at_once} runs at once; {gpu['hours']:,.0f} GPU-hours on one H200 (projected)")


# ------------------------------------------------------------------------------ the entry points


#: An argument filled in from earlier runs: ``{attrackt}``, ``{track}`` (run ids), ``{movie}`` (a folder).
PLACEHOLDER = re.compile(r"^\{(\w+)\}$")


def entry_point_commands(profile: str, workdir: Path, overrides: str = "") -> list[tuple[str, list[str]]]:
    """(name, CLI arguments) of every entry point, in dependency order (see PLACEHOLDER); ``overrides``
    are added to those that keep the full-size data."""
    common = [
        "--dataset", PRESET, "--profile", profile, "--overrides", f"data.data_dir={workdir / 'data'} data.synth={{}} {overrides}".strip(),
    ]
    return [
        ("prepare", ["prepare", *common]),
        ("position", ["position", *common]),
        ("autoencoder", ["autoencoder", *common]),
        ("reid", ["reid", *common]),
        ("attrackt", ["attrackt", *common]),
        ("supervised", ["supervised", *common]),
        ("finetune k=100", ["finetune", *common, "--k", "100"]),
        ("finetune k=all", ["finetune", *common, "--k", "all"]),
        ("scratch k=100", ["scratch", *common, "--k", "100"]),
        ("tune", ["tune", *common, "--method", "attrackt"]),
        ("track", ["track", "--movie", "{movie}", "--model", "{attrackt}", "--profile", profile, "--overrides", overrides]),
        ("suggest", ["suggest", "--run", "{track}", "--k", "20", "--output", str(workdir / "suggestions"), "--profile", profile,
                     "--overrides", overrides]),
    ]


def run_entry_points(args: argparse.Namespace) -> list[dict]:
    """Every entry point on the full-size preset at profile ``args.entry_points``, one after another."""
    workdir = args.workdir / f"entry-points-{args.entry_points}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}", "ATTRACKT_CACHE": str(workdir / "cache"),
           "OMP_NUM_THREADS": str(args.threads)}
    workdir.mkdir(parents=True, exist_ok=True)
    filled: dict[str, str] = {}
    rows = []
    for name, arguments in entry_point_commands(args.entry_points, workdir, args.overrides):
        if name == "track":
            filled["movie"] = str(next((workdir / "data").glob(f"{PRESET}-*/dataset.yaml")).parent)
        missing = [m[1] for a in arguments if (m := PLACEHOLDER.match(a)) and m[1] not in filled]
        if missing:
            rows.append({"entry_point": name, "returncode": None, "skipped": f"no {', '.join(missing)} run"})
            print(f"{name:<15} skipped: no {', '.join(missing)} run", flush=True)
            continue
        arguments = [filled[m[1]] if (m := PLACEHOLDER.match(a)) else a for a in arguments]
        child = run_child([sys.executable, "-m", "benchmark.cli", *arguments], env, timeout=args.timeout)
        found = re.findall(r"^MLflow run: ([0-9a-f]{32})$", child["output"], flags=re.MULTILINE)
        if found and child["returncode"] == 0 and name in ("attrackt", "track"):
            filled[name] = found[-1]
        row = {key: child[key] for key in ("returncode", "wall_s", "cpu_s", "peak_rss_gib")}
        row = {"entry_point": name, **row, "load_after": os.getloadavg()[0]}
        if child["returncode"] != 0:
            row["output_tail"] = child["output"][-2000:]
        rows.append(row)
        status = "ok" if child["returncode"] == 0 else f"FAILED (exit {child['returncode']})"
        print(f"{name:<15} {status:<18} {child['wall_s']:8.1f} s wall {child['cpu_s']:8.1f} s CPU  "
              f"peak RSS {child['peak_rss_gib']:.2f} GiB", flush=True)
    return rows


def save(args: argparse.Namespace, name: str, payload: dict) -> Path:
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{name}-{datetime.date.today().isoformat()}.json"
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    print(f"\nresults: {path}")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-pipeline"), help="data, caches, stores")
    parser.add_argument("--profile", default="paper", help="the networks' and linking's settings (default paper)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per kind (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--tta-frames", type=int, default=12, help="frames of the TTA block; 0: TTA over the whole sequence")
    parser.add_argument("--embed-sample", type=int, default=2048, help="detections embedded to time it; 0: all")
    parser.add_argument("--dense-batch", type=int, default=2, help="windows of the dense step measured (scaled to the "
                        "profile's batch; 8 x 2048 tokens needs more than 23 GB at the paper size on a CPU)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--resume", action="store_true", help="reuse the stages a previous run in --workdir finished")
    parser.add_argument("--entry-points", choices=("smoke", "quick", "paper"), help="run every entry point instead")
    parser.add_argument("--timeout", type=float, default=3600, help="s per entry point (--entry-points)")
    parser.add_argument("--overrides", default="", help='profile overrides of every entry point (--entry-points), '
                        'e.g. "tune.time_limit_s=60"')
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # a child process: one stage
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()
    if args.stage:
        run_stage(args)
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    about = {"date": datetime.date.today().isoformat(), "machine": machine(), "threads": args.threads, "preset": PRESET}
    if args.entry_points:
        rows = run_entry_points(args)
        payload = {**about, "profile": args.entry_points, "overrides": args.overrides, "entry_points": rows}
        save(args, f"pipeline-entry-points-{args.entry_points}", payload)
        return 0 if all(row["returncode"] == 0 for row in rows) else 1
    print(f"{about['machine']}, {args.threads} torch thread(s), profile {args.profile}", flush=True)
    results = run_stages(args)
    print_stages(results)
    payload = {**about, "profile": args.profile, "steps": args.steps, "stages": results}
    if args.profile == "paper" and set(STAGES) - {"generate"} <= set(results):  # the grid's profile
        payload["projection"] = project(results)
        print_projection(payload["projection"], args.threads, os.cpu_count() or 1)
    save(args, "pipeline", payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
