"""Peak memory of ``attrackt.inference.predict_associations`` on one dense window, by inference cap.

One 6-frame window of ``--tokens`` detections (default 3,000: the late frames of HeLa, ~500 nuclei
per frame, on a 700 x 1100 px field) is scored with test-time augmentation by a randomly initialised
association model of the ``quick`` and the ``paper`` sizes, under three settings of
``inference.max_tokens``:

- ``8 x tokens``: the 8 TTA variants in one batch, the whole window (the suite's inference before
  the cap, and the peer of the ratios);
- ``4096`` (the default): whole window, variants batched while variants x tokens^2 <= 4096^2
  (here: one at a time);
- ``2048``: overlapping spatial tiles (halo 256 px; 4 tiles of at most 1,954 tokens here).

Each measurement runs in a fresh process: peak RSS (ru_maxrss) and its growth over the RSS just
before the call, wall time, and on CUDA the peak of allocated GPU memory. Ratios are to the
``8 x tokens`` row of the same model size, measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/bench_inference_memory.py             # CPU, 2 cores: about 15 minutes
    PYTHONPATH=. .venv/bin/python bench/bench_inference_memory.py --device cuda
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from attrackt.inference import predict_associations
from attrackt.model.network import AssociationModel
from attrackt.tiles import spatial_tiles
from attrackt.windows import SequenceTokens
from benchmark.config import load_config

FRAMES = 6
FIELD_PX = (700.0, 1100.0)
RESULTS = Path(__file__).parent / "results" / "inference_memory.csv"


def dense_window(n_tokens: int, seed: int = 0) -> SequenceTokens:
    """A one-window sequence: ``n_tokens`` detections spread evenly over FRAMES frames, uniform positions."""
    rng = np.random.default_rng(seed)
    t = np.sort(np.arange(n_tokens) % FRAMES)
    yx = rng.uniform(0.0, 1.0, size=(n_tokens, 2)) * FIELD_PX
    features = rng.uniform(0.0, 1.0, size=(n_tokens, 7))
    return SequenceTokens("dense", t, yx, features, np.full(n_tokens, -1), FRAMES)


def _rss_mib() -> float:
    """Current resident set size of this process, MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def _measure(profile: str, n_tokens: int, max_tokens: int, device: str, queue) -> None:
    """Runs in a fresh process: one predict_associations call, its memory and time, put on ``queue``."""
    torch.manual_seed(0)
    config = load_config(profile).model.model_copy(update={"window": FRAMES, "dropout": 0.0})
    target = torch.device(device)
    model = AssociationModel(config).to(target).eval()
    tokens = dense_window(n_tokens)
    tiles = spatial_tiles(tokens.yx, max_tokens, config.attention_cutoff)
    before = _rss_mib()
    if target.type == "cuda":
        torch.cuda.reset_peak_memory_stats(target)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiles above the cap are reported below
        table = predict_associations(
            model, tokens, np.arange(n_tokens), window=FRAMES, min_association=0.01, tta=True,
            device=target, max_tokens=max_tokens,
        )
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    queue.put(
        {
            "profile": profile,
            "parameters_M": sum(p.numel() for p in model.parameters()) / 1e6,
            "tokens": n_tokens,
            "max_tokens": max_tokens,
            "tiles": len(tiles),
            "largest_tile": max(int(tile.members.sum()) for tile in tiles),
            "peak_rss_mib": peak,
            "growth_mib": peak - before,
            "gpu_peak_mib": torch.cuda.max_memory_allocated(target) / 2**20 if target.type == "cuda" else float("nan"),
            "wall_s": wall,
            "pairs": len(table),
        }
    )


def measure(profile: str, n_tokens: int, max_tokens: int, device: str) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(profile, n_tokens, max_tokens, device, queue))
    process.start()
    row = queue.get()
    process.join()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--profiles", nargs="+", default=["quick", "paper"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rows = []
    header = (
        f"{'profile':<7} {'params':>7} {'max_tokens':>10} {'tiles':>5} {'largest':>7} {'peak RSS':>9} "
        f"{'growth':>8} {'ratio':>6} {'GPU peak':>9} {'ratio':>6} {'wall s':>7} {'ratio':>6} {'pairs':>6}"
    )
    print(f"predict_associations, TTA on, one {FRAMES}-frame window of {args.tokens} tokens, device {args.device}")
    print(header)
    for profile in args.profiles:
        peer = None
        for max_tokens in (8 * args.tokens, 4096, 2048):
            row = measure(profile, args.tokens, max_tokens, args.device)
            peer = peer or row
            rows.append(row)
            print(
                f"{profile:<7} {row['parameters_M']:>6.2f}M {max_tokens:>10} {row['tiles']:>5} {row['largest_tile']:>7} "
                f"{row['peak_rss_mib']:>5.0f} MiB {row['growth_mib']:>4.0f} MiB {row['growth_mib'] / peer['growth_mib']:>6.2f} "
                f"{row['gpu_peak_mib']:>5.0f} MiB {row['gpu_peak_mib'] / peer['gpu_peak_mib']:>6.2f} "
                f"{row['wall_s']:>7.1f} {row['wall_s'] / peer['wall_s']:>6.2f} {row['pairs']:>6}",
                flush=True,
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(RESULTS, index=False)
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
