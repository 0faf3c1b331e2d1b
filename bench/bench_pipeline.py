"""What the pipeline costs at HeLa size (a benchmark, not a test; see bench/README.md).

On ``synth-hela-large`` (3 sequences of 92 frames, 700 x 1100 px, ~25,600 detections each), each
stage of the pipeline runs in a fresh process, so that its peak memory is its own:

- ``generate``: the simulator writes the dataset (skipped when ``--workdir`` already holds it);
- ``read``: masks read and the 7 shallow features computed, from a cold feature cache;
- ``autoencoder``: patch extraction, training steps (batch of the profile) and embedding detections;
- ``reid``: Re-ID (NT-Xent) training steps;
- ``train_step``: association-model training steps: supervised and Attrackt objectives on the
  profile's training windows (crop, augmentation, token cap), and supervised on windows of exactly
  ``model.max_tokens`` tokens (the cap, the densest windows the model can get);
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
# Each runs in its own process (``--stage NAME``) and returns (seconds of its own work, details).


def _dataset(workdir: Path):
    from benchmark.data.datasets import resolve_dataset

    return resolve_dataset(str(workdir / PRESET), data_dir=workdir, cache_dir=workdir / "cache")


def _config(args: argparse.Namespace):
    from benchmark.config import load_config

    return load_config(args.profile)


def _median_step(step, steps: int) -> float:
    """Median seconds of ``steps`` calls of ``step()`` after one untimed warm-up call."""
    step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def stage_generate(args: argparse.Namespace) -> tuple[float, dict]:
    from benchmark.data.synthetic import COMPLETE_MARKER, generate_dataset

    root = args.workdir / PRESET
    if (root / COMPLETE_MARKER).is_file():
        return 0.0, {"skipped": f"{root} holds the dataset already"}
    start = time.perf_counter()
    generate_dataset(PRESET, root, seed=0)
    return time.perf_counter() - start, {}


def stage_read(args: argparse.Namespace) -> tuple[float, dict]:
    shutil.rmtree(args.workdir / "cache", ignore_errors=True)
    start = time.perf_counter()
    dataset = _dataset(args.workdir)
    seconds = time.perf_counter() - start
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
    return seconds, {"sequences": sequences, "split": split, "height_width": list(sequence.image_shape)}


def stage_autoencoder(args: argparse.Namespace) -> tuple[float, dict]:
    import torch

    from attrackt.autoencoder import Autoencoder, reconstruction_loss
    from attrackt.patches import embed_patches, random_batches, sequence_patches

    config, dataset = _config(args).autoencoder, _dataset(args.workdir)
    start = time.perf_counter()
    patches = np.concatenate([sequence_patches(s, config.patch_size) for s in dataset.sequences.values()])
    patches_s = time.perf_counter() - start
    torch.manual_seed(0)
    model = Autoencoder(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    batches = random_batches(patches, config.batch_size, np.random.default_rng(0), torch.device("cpu"))

    def step() -> None:
        loss = reconstruction_loss(model, next(batches))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step_s = _median_step(step, args.steps)
    model.eval()
    sample = patches[: min(args.embed_sample, len(patches))] if args.embed_sample else patches
    begin = time.perf_counter()
    embed_patches(model.embed, sample, torch.device("cpu"))
    embed_s = time.perf_counter() - begin
    details = {
        "patches_s": patches_s,
        "step_s": step_s,
        "batch_size": config.batch_size,
        "embedded": len(sample),
        "embed_s_per_detection": embed_s / len(sample),
        "detections": len(patches),
    }
    return time.perf_counter() - start, details


def stage_reid(args: argparse.Namespace) -> tuple[float, dict]:
    import torch

    from attrackt.patches import random_batches, sequence_patches
    from attrackt.reid import ReidNetwork, contrastive_loss

    config, dataset = _config(args).reid, _dataset(args.workdir)
    patches = np.concatenate([sequence_patches(s, config.patch_size) for s in dataset.sequences.values()])
    start = time.perf_counter()
    torch.manual_seed(0)
    model = ReidNetwork(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    batches = random_batches(patches, config.batch_size, np.random.default_rng(0), torch.device("cpu"))

    def step() -> None:
        loss = contrastive_loss(model, next(batches))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step_s = _median_step(step, args.steps)
    return time.perf_counter() - start, {"step_s": step_s, "batch_size": config.batch_size}


def _dense_windows(tokens, window: int, n_tokens: int, count: int) -> list:
    """``count`` windows of exactly ``n_tokens`` tokens (those nearest each window's centre), from
    the latest start frames whose windows hold that many."""
    from attrackt.augment import crop

    rng = np.random.default_rng(0)
    full = [tokens.window(start, window) for start in tokens.window_starts(window)]
    dense = [w for w in full if len(w) >= n_tokens][-count:]
    return [crop(w, np.inf, n_tokens, rng) for w in dense]


def stage_train_step(args: argparse.Namespace) -> tuple[float, dict]:
    import torch

    from attrackt.association_training import supervised_objective, training_batches
    from attrackt.model.network import AssociationModel
    from attrackt.unsupervised_loss import AttracktModel, attrackt_losses, embedding_tables
    from attrackt.windows import SequenceTokens, collate
    from benchmark.config import AttracktModelConfig

    config, dataset = _config(args), _dataset(args.workdir)
    cpu = torch.device("cpu")
    tokens = [SequenceTokens.from_sequence(s) for s in dataset.sequences.values()]
    rng = np.random.default_rng(0)
    embeddings = embedding_tables({t.name: rng.normal(size=(len(t.t), 64)) for t in tokens}, cpu)
    start = time.perf_counter()
    torch.manual_seed(0)
    attrackt = AttracktModel(AttracktModelConfig(backbone=config.model, embedding_dim=64))
    model = attrackt.backbone
    optimizer = torch.optim.AdamW(attrackt.parameters(), lr=1e-4)
    seen: dict[str, list[int]] = {"supervised": [], "attrackt": [], "dense": []}

    def stepper(kind: str, batches, objective):
        def step() -> None:
            batch = next(batches)
            seen[kind].append(int(batch.valid.sum()))
            loss = objective(batch)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return step

    supervised = training_batches(tokens, config.model, config.supervised, rng, cpu)
    unsupervised = training_batches(tokens, config.model, config.attrackt, rng, cpu)
    test = next(t for t in tokens if t.name == dataset.split.test[0])
    dense_windows = _dense_windows(test, config.model.window, config.model.max_tokens, config.supervised.batch_size)
    dense = iter(lambda: collate(dense_windows), None)
    times = {
        "supervised_step_s": _median_step(stepper("supervised", supervised, lambda b: supervised_objective(model, b)), args.steps),
        "attrackt_step_s": _median_step(
            stepper("attrackt", unsupervised, lambda b: attrackt_losses(attrackt, b, embeddings, 0.1)), args.steps
        ),
        "dense_step_s": _median_step(stepper("dense", dense, lambda b: supervised_objective(model, b)), args.steps),
    }
    details = {
        **times,
        "batch_size": config.supervised.batch_size,
        "crop_size": config.supervised.crop_size,
        "tokens_per_window": {kind: float(np.mean(n)) / config.supervised.batch_size for kind, n in seen.items()},
        "n_parameters": model.n_parameters(),
    }
    return time.perf_counter() - start, details


def _frame_block(tokens, node_ids: np.ndarray, first: int, count: int):
    """The tokens (and node ids) of frames [first, first + count) as a sequence of their own."""
    from dataclasses import replace

    keep = (tokens.t >= first) & (tokens.t < first + count)
    block = replace(
        tokens, t=tokens.t[keep] - first, yx=tokens.yx[keep], features=tokens.features[keep],
        parent=np.full(int(keep.sum()), -1), n_frames=count,
    )
    return block, node_ids[keep]


def stage_inference(args: argparse.Namespace) -> tuple[float, dict]:
    import torch

    from attrackt.inference import predict_associations
    from attrackt.model.network import AssociationModel
    from attrackt.windows import SequenceTokens

    config, dataset = _config(args), _dataset(args.workdir)
    sequence = dataset.evaluation_sequences()[0]
    tokens, node_ids = SequenceTokens.from_sequence(sequence), sequence.detections["node_id"].to_numpy()
    torch.manual_seed(0)
    model = AssociationModel(config.model)
    settings = {
        "window": config.model.window, "min_association": config.inference.min_association,
        "device": torch.device("cpu"), "max_tokens": config.inference.max_tokens,
    }

    def timed(tta: bool, block=(tokens, node_ids)) -> tuple[float, Any]:
        begin = time.perf_counter()
        table = predict_associations(model, *block, tta=tta, **settings)
        return time.perf_counter() - begin, table

    start = time.perf_counter()
    off_s, table = timed(False)
    table.to_csv(args.workdir / "associations.csv", index=False)
    windows = len(tokens.window_starts(config.model.window))
    details: dict[str, Any] = {"sequence": sequence.name, "windows": windows, "tta_off_s": off_s}
    if args.tta_frames:
        first = (sequence.n_frames - args.tta_frames) // 2
        block = _frame_block(tokens, node_ids, first, args.tta_frames)
        block_off, _ = timed(False, block)
        block_on, _ = timed(True, block)
        details.update(
            block_frames=[first, first + args.tta_frames - 1], block_tta_off_s=block_off, block_tta_on_s=block_on,
            tta_on_s=off_s * block_on / block_off, tta_on="projected: whole-sequence TTA off x (on / off) on the block",
        )
    else:
        details.update(tta_on_s=timed(True)[0], tta_on="measured over the whole sequence")
    return time.perf_counter() - start, details


def _evaluation(args: argparse.Namespace):
    dataset = _dataset(args.workdir)
    return dataset, dataset.evaluation_sequences()[0]


def stage_link(args: argparse.Namespace) -> tuple[float, dict]:
    import pandas as pd

    from attrackt.association_method import ASSOCIATION_W2, association_term
    from benchmark.pipeline import track_sequence

    config, (_, sequence) = _config(args), _evaluation(args)
    table = pd.read_csv(args.workdir / "associations.csv")
    start = time.perf_counter()
    solution = track_sequence(sequence, config.linking, association_term({sequence.name: table}), ASSOCIATION_W2)
    seconds = time.perf_counter() - start
    np.save(args.workdir / "edges.npy", solution.edges)
    (args.workdir / "linking_stats.json").write_text(json.dumps(solution.stats))
    return seconds, {key: value for key, value in solution.stats.items() if isinstance(value, (int, float))}


def stage_evaluate(args: argparse.Namespace) -> tuple[float, dict]:
    from benchmark.pipeline import evaluate_sequence

    _, sequence = _evaluation(args)
    edges = np.load(args.workdir / "edges.npy", allow_pickle=False)
    start = time.perf_counter()
    metrics = evaluate_sequence(sequence, edges)
    return time.perf_counter() - start, {"AOGM": metrics["AOGM"], "TRA": metrics["TRA"]}


def stage_log(args: argparse.Namespace) -> tuple[float, dict]:
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{args.workdir / 'mlflow.db'}"
    from benchmark.linking import LinkingSolution
    from benchmark.mlflow_run import entry_point_run, log_dataset, log_outcome
    from benchmark.pipeline import DatasetOutcome, SequenceOutcome, evaluate_sequence

    config, (dataset, sequence) = _config(args), _evaluation(args)
    edges = np.load(args.workdir / "edges.npy", allow_pickle=False)
    stats = json.loads((args.workdir / "linking_stats.json").read_text())
    outcome = DatasetOutcome({sequence.name: SequenceOutcome(LinkingSolution(edges, stats), evaluate_sequence(sequence, edges))})
    start = time.perf_counter()
    with entry_point_run("bench", config, {"method": "bench", "dataset": PRESET, "seed": 0}):
        log_dataset(dataset)
        log_outcome(dataset, outcome)
    return time.perf_counter() - start, {}


def run_stage(args: argparse.Namespace) -> None:
    """Child process: run one stage, write its result to ``<workdir>/stage-<name>.json``."""
    import torch

    torch.set_num_threads(args.threads)
    begin = time.perf_counter()
    seconds, details = globals()[f"stage_{args.stage}"](args)
    setup_s = time.perf_counter() - begin - seconds
    result = {"stage": args.stage, "wall_s": seconds, "setup_s": setup_s, "details": details}
    _stage_file(args.workdir, args.stage).write_text(json.dumps(result))


def _stage_file(workdir: Path, stage: str) -> Path:
    return workdir / f"stage-{stage}.json"


# --------------------------------------------------------------------------------------- the parent


def run_child(command: list[str], env: dict[str, str] | None = None, timeout: float | None = None) -> dict:
    """Run ``command`` from the project root; its exit code, wall seconds, peak RSS (GiB: ``ru_maxrss`` of
    this child alone, from ``os.wait4``) and output (stdout and stderr). Killed after ``timeout`` s."""
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
        "peak_rss_gib": usage.ru_maxrss * 1024 / GIB,
        "output": output,
    }


def machine() -> dict[str, Any]:
    """Where the numbers come from: CPU model, cores, RAM, Python and torch versions, load average."""
    import torch

    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def run_stages(args: argparse.Namespace) -> dict[str, dict]:
    """Every stage of ``args.stages`` in its own process, in order; stops at the first that fails."""
    results = {}
    for stage in args.stages:
        command = [
            sys.executable, __file__, "--stage", stage, "--workdir", str(args.workdir), "--profile", args.profile,
            "--steps", str(args.steps), "--threads", str(args.threads), "--tta-frames", str(args.tta_frames),
            "--embed-sample", str(args.embed_sample),
        ]
        load = os.getloadavg()[0]
        _stage_file(args.workdir, stage).unlink(missing_ok=True)
        child = run_child(command)
        if child["returncode"] != 0:
            sys.exit(f"stage {stage} failed (exit {child['returncode']}):\n{child['output'][-3000:]}")
        result = json.loads(_stage_file(args.workdir, stage).read_text())
        result.update(peak_rss_gib=child["peak_rss_gib"], load_before=load, load_after=os.getloadavg()[0])
        results[stage] = result
        print(f"{stage:>11}: {result['wall_s']:9.1f} s  (setup {result['setup_s']:.1f} s)  peak RSS {child['peak_rss_gib']:.2f} GiB", flush=True)
    return results


def print_stages(results: dict[str, dict]) -> None:
    print("\nstage        | wall s  | setup s | peak RSS GiB | load avg (1 min) before/after | details")
    for stage, r in results.items():
        details = ", ".join(f"{k}={_short(v)}" for k, v in r["details"].items() if k != "sequences")
        print(f"{stage:<12} | {r['wall_s']:7.1f} | {r['setup_s']:7.1f} | {r['peak_rss_gib']:12.2f} | "
              f"{r['load_before']:5.1f} / {r['load_after']:5.1f}                 | {details}")
    for name, seq in results.get("read", {}).get("details", {}).get("sequences", {}).items():
        print(f"  sequence {name}: {seq}")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


# ------------------------------------------------------------------------------------ the projection


def rates(results: dict[str, dict], profile: str) -> dict[str, dict[str, float]]:
    """Seconds per unit of work, on this CPU and projected to the GPU, for the cropped-window and the
    dense-window (max_tokens) variants of the association training steps."""
    steps = results["train_step"]["details"]
    encoder = results["autoencoder"]["details"]
    inference = results["inference"]["details"]
    cpu = {
        "read": results["read"]["wall_s"],
        "link": results["link"]["wall_s"],
        "evaluate": results["evaluate"]["wall_s"],
        "log": results["log"]["wall_s"],
        "embed_all": encoder["embed_s_per_detection"] * encoder["detections"],
        "autoencoder_step": encoder["step_s"],
        "reid_step": results["reid"]["details"]["step_s"],
        "inference": inference["tta_on_s"] if _config_for(profile).inference.tta else inference["tta_off_s"],
    }
    variants = {}
    for variant, dense_factor in (("cropped", 1.0), ("dense", steps["dense_step_s"] / steps["supervised_step_s"])):
        sup, att = steps["supervised_step_s"] * dense_factor, steps["attrackt_step_s"] * dense_factor
        on_cpu = {**cpu, "supervised_step": sup, "attrackt_step": att, "finetune_step": 2 * sup + att, "scratch_step": sup + att}
        # GPU: the network's work divided by the H200 / this CPU ratio of a paper training step of the
        # same kind; the big inference windows and patch batches use the dense ratio; CPU stages stay.
        ratio = (steps["supervised_step_s"] * dense_factor) / H200_STEP_S[variant]
        dense_ratio = steps["dense_step_s"] / H200_STEP_S["dense"]
        on_gpu = {key: value / ratio if key.endswith("_step") else value for key, value in on_cpu.items()}
        on_gpu.update(inference=cpu["inference"] / dense_ratio, embed_all=cpu["embed_all"] / dense_ratio,
                      autoencoder_step=cpu["autoencoder_step"] / dense_ratio, reid_step=cpu["reid_step"] / dense_ratio)
        variants[variant] = {"cpu": on_cpu, "gpu": on_gpu, "gpu_ratio_step": ratio, "gpu_ratio_dense": dense_ratio}
    return variants


def _config_for(profile: str):
    from benchmark.config import load_config

    return load_config(profile)


def run_cost(spec, config, r: dict[str, float], annotatable: int) -> tuple[float, str]:
    """Seconds of one grid run and the arithmetic, from the rates ``r``."""
    from attrackt.sampling import parse_k

    base = r["read"] + r["link"] + r["evaluate"] + r["log"]
    method = spec.entry_point
    if method == "position":
        return base, "read + link + evaluate + log"
    if method in ("autoencoder", "reid"):
        iterations = getattr(config, method).iterations
        return iterations * r[f"{method}_step"] + r["embed_all"] + base, f"{iterations:,} x {method} step + embed all + base"
    if method in ("attrackt", "supervised"):
        iterations = getattr(config, method).iterations
        return iterations * r[f"{method}_step"] + r["inference"] + base, f"{iterations:,} x {method} step + inference + base"
    k = parse_k(spec.k)
    n = annotatable if k is None else min(k, annotatable)
    iterations = min(config.finetune.iterations_per_annotation * n, config.finetune.iterations)
    # the pool (inference + ILP on the annotated sequence), the evaluation inference, then base
    seconds = iterations * r[f"{method}_step"] + 2 * r["inference"] + r["link"] + base
    return seconds, f"{iterations:,} x {method} step + 2 x inference + link + base"


def project(results: dict[str, dict], profile: str) -> dict[str, Any]:
    """Hours of benchmark/grids/paper.yaml from the measured rates: per entry point and in all."""
    from benchmark.sweep.grid import expand, load_grid

    grid = load_grid("paper")
    config = _config_for(grid.profile)
    specs = expand(grid)
    annotatable = max(s["detections"] for s in results["read"]["details"]["sequences"].values())
    projection: dict[str, Any] = {"runs": len(specs), "profile": grid.profile, "variants": {}}
    for variant, variant_rates in rates(results, profile).items():
        out = {"gpu_ratio_step": variant_rates["gpu_ratio_step"], "gpu_ratio_dense": variant_rates["gpu_ratio_dense"]}
        for where in ("cpu", "gpu"):
            groups: dict[str, dict[str, Any]] = {}
            for spec in specs:
                seconds, formula = run_cost(spec, config, variant_rates[where], annotatable)
                key = spec.entry_point if spec.k is None else f"{spec.entry_point} k={spec.k}"
                group = groups.setdefault(key, {"runs": 0, "hours": 0.0, "hours_per_run": seconds / 3600, "formula": formula})
                group["runs"] += 1
                group["hours"] += seconds / 3600
            out[where] = {"rates_s": variant_rates[where], "groups": groups, "hours": sum(g["hours"] for g in groups.values())}
        projection["variants"][variant] = out
    return projection


def print_projection(projection: dict[str, Any], threads: int, cores: int) -> None:
    print(f"\nProjected cost of benchmark/grids/paper.yaml ({projection['runs']} runs, profile {projection['profile']}),")
    print("every run costed at synth-hela-large's size (Bacteria's sequences are smaller: an upper bound there).")
    print("base = read (cold features) + link + evaluate + log of one evaluation sequence; a fine-tuning step =")
    print("2 supervised + 1 Attrackt step (annotated, pseudo-labelled, unlabelled windows), scratch = 1 + 1.")
    for variant, out in projection["variants"].items():
        label = {"cropped": "training windows as the profile cuts them (crop, cap)", "dense": "every training window at the token cap"}[variant]
        print(f"\n[{variant}] {label}")
        cpu, gpu = out["cpu"], out["gpu"]
        print("  rates (s): " + ", ".join(f"{k} {v:.4g}" for k, v in cpu["rates_s"].items()))
        print(f"  GPU rates = CPU rates / {out['gpu_ratio_step']:.1f} for training steps, / {out['gpu_ratio_dense']:.1f} "
              "for inference and patch networks (H200 step times recorded in bench/README.md), CPU stages unchanged")
        print(f"  {'runs of':<22} {'runs':>5} {'CPU h/run':>11} {'CPU h':>12} {'GPU h/run':>10} {'GPU h':>9}  arithmetic")
        for key, group in cpu["groups"].items():
            g = gpu["groups"][key]
            print(f"  {key:<22} {group['runs']:>5} {group['hours_per_run']:>11,.1f} {group['hours']:>12,.0f} "
                  f"{g['hours_per_run']:>10,.2f} {g['hours']:>9,.1f}  {group['formula']}")
        print(f"  total: {cpu['hours']:,.0f} CPU core-hours at {threads} thread(s) per run "
              f"({cpu['hours'] / max(1, cores // threads):,.0f} h on this {cores}-core machine with {max(1, cores // threads)} runs at once); "
              f"{gpu['hours']:,.0f} GPU-hours on one H200 (projected)")


# ------------------------------------------------------------------------------ the entry points


#: An argument filled in from earlier runs: ``{attrackt}``, ``{track}`` (run ids), ``{movie}`` (a folder).
PLACEHOLDER = re.compile(r"^\{(\w+)\}$")


def entry_point_commands(profile: str, workdir: Path) -> list[tuple[str, list[str]]]:
    """(name, CLI arguments) of every entry point, in dependency order (see PLACEHOLDER)."""
    common = ["--dataset", PRESET, "--profile", profile, "--overrides", f"data.data_dir={workdir / 'data'} data.synth={{}}"]
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
        ("track", ["track", "--movie", "{movie}", "--model", "{attrackt}", "--profile", profile]),
        ("suggest", ["suggest", "--run", "{track}", "--k", "20", "--output", str(workdir / "suggestions"), "--profile", profile]),
    ]


def run_entry_points(args: argparse.Namespace) -> list[dict]:
    """Every entry point on the full-size preset at profile ``args.entry_points``, one after another."""
    workdir = args.workdir / f"entry-points-{args.entry_points}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}", "ATTRACKT_CACHE": str(workdir / "cache"),
           "OMP_NUM_THREADS": str(args.threads)}
    workdir.mkdir(parents=True, exist_ok=True)
    filled: dict[str, str] = {}
    rows = []
    for name, arguments in entry_point_commands(args.entry_points, workdir):
        if name == "track":
            filled["movie"] = str(next((workdir / "data").glob(f"{PRESET}-*/dataset.yaml")).parent)
        arguments = [filled[m[1]] if (m := PLACEHOLDER.match(a)) else a for a in arguments]
        child = run_child([sys.executable, "-m", "benchmark.cli", *arguments], env, timeout=args.timeout)
        found = re.findall(r"^MLflow run: ([0-9a-f]{32})$", child["output"], flags=re.MULTILINE)
        if found and name in ("attrackt", "track"):
            filled[name] = found[-1]
        row = {"entry_point": name, "returncode": child["returncode"], "wall_s": child["wall_s"], "peak_rss_gib": child["peak_rss_gib"]}
        if child["returncode"] != 0:
            row["output_tail"] = child["output"][-2000:]
        rows.append(row)
        status = "ok" if child["returncode"] == 0 else f"FAILED (exit {child['returncode']})"
        print(f"{name:<15} {status:<18} {child['wall_s']:8.1f} s  peak RSS {child['peak_rss_gib']:.2f} GiB", flush=True)
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
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--entry-points", choices=("smoke", "quick", "paper"), help="run every entry point instead")
    parser.add_argument("--timeout", type=float, default=3600, help="s per entry point (--entry-points)")
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
        save(args, f"pipeline-entry-points-{args.entry_points}", {**about, "profile": args.entry_points, "entry_points": rows})
        return 0 if all(row["returncode"] == 0 for row in rows) else 1
    print(f"{about['machine']}, {args.threads} torch thread(s), profile {args.profile}", flush=True)
    results = run_stages(args)
    print_stages(results)
    payload = {**about, "profile": args.profile, "steps": args.steps, "stages": results}
    if set(STAGES) - {"generate"} <= set(results):
        payload["projection"] = project(results, args.profile)
        print_projection(payload["projection"], args.threads, os.cpu_count() or 1)
    save(args, "pipeline", payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
