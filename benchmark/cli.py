"""Command line of the suite; MLproject's entry points call it (``python -m benchmark.cli ENTRY ...``).

Common options: ``--dataset`` (preset, named real dataset or path), ``--profile`` (smoke, quick,
paper), ``--seed`` (integer >= 0) and ``--overrides "section.field=value ..."`` (any profile field).
Bad input ends with one line ``error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.config import PROFILES, parse_override
from benchmark.errors import BenchmarkError, ConfigError

SUMMARY_COLUMNS = ["AOGM", "AOGM per 1000 GT edges", "TRA", "MBC", "Division F1", "fp_edges", "fn_edges", "ws_edges"]


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def _dataset(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a preset (synth-bacteria, synth-hela), hela, bacteria or a path")
    return text.strip()


def parse_overrides(text: str) -> dict[str, Any]:
    """``"a.b=1 c.d=x"`` -> {"a.b": 1, "c.d": "x"}; quoting as in a shell."""
    try:
        items = shlex.split(text)
    except ValueError as error:
        raise ConfigError(f"parameter overrides={text!r}: {error}") from None
    return dict(parse_override(item) for item in items)


def _common(parser: argparse.ArgumentParser, dataset: bool = True) -> None:
    if dataset:
        parser.add_argument("--dataset", type=_dataset, default="synth-hela")
    parser.add_argument("--profile", choices=PROFILES, default="quick")
    parser.add_argument("--seed", type=_seed, default=0)
    parser.add_argument("--overrides", default="", help='profile overrides, e.g. "linking.time_limit_s=60"')


def _run_prepare(args: argparse.Namespace) -> None:
    overrides = parse_overrides(args.overrides)
    from benchmark.entry_points import prepare

    print(prepare(args.dataset, args.profile, args.seed, overrides).to_string(index=False))


@dataclass(frozen=True)
class Option:
    """A command-line option beyond the common ones, passed to the entry point as ``keyword``."""

    flag: str
    keyword: str
    help: str
    default: str = ""


def _method(module: str, function: str, *options: Option) -> Callable[[argparse.Namespace], None]:
    """A command that runs ``module.function(dataset, profile, seed, overrides, **options)`` and prints
    its metrics table."""

    def run(args: argparse.Namespace) -> None:
        overrides = parse_overrides(args.overrides)
        entry_point = getattr(importlib.import_module(module), function)
        extra = {option.keyword: getattr(args, option.keyword) or None for option in options}
        table = entry_point(args.dataset, args.profile, args.seed, overrides, **extra)
        print(table[SUMMARY_COLUMNS].to_string(float_format=lambda v: f"{v:.3f}"))

    run.options = options  # type: ignore[attr-defined]
    return run


K = Option("--k", "k", "number of annotations: a positive integer or 'all'", "100")
SAMPLING = Option("--sampling", "sampling", "which nodes are annotated: confidence, random or optimal", "confidence")
SETUP = Option("--setup", "setup", "interpolation (annotate the evaluation sequences) or extrapolation", "interpolation")
ATTRACKT_RUN = Option(
    "--attrackt-run", "attrackt_run", "run id of the Attrackt run to start from "
    "(default: the latest finished one on the same data, profile and model settings)"
)
AUTOENCODER_RUN = Option(
    "--autoencoder-run", "autoencoder_run", "run id of the autoencoder run whose embeddings to use "
    "(default: the latest finished one on the same data, profile and autoencoder config)"
)
AUTOENCODER_REUSE = Option(
    "--autoencoder-run", "autoencoder_run", "run id of an earlier autoencoder run whose embeddings to reuse "
    "instead of training (default: train)"
)


GRID = Option("--grid", "grid", "a named grid (smoke, quick, paper) or a grid file (YAML)", "quick")
WORKERS = Option("--workers", "workers", "runs at once, each in its own process", "1")
EXECUTOR = Option("--executor", "executor", "where runs execute: local", "local")


def _positive_int(parameter: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"parameter {parameter}={text!r}: must be an integer >= 1") from None
    if value < 1:
        raise ConfigError(f"parameter {parameter}={text!r}: must be an integer >= 1")
    return value


def _run_sweep(args: argparse.Namespace) -> None:
    """Run a grid; print one line per run and the counts."""
    workers = _positive_int("workers", args.workers)
    if args.executor != "local":
        raise ConfigError(f"parameter executor={args.executor!r}: must be local")
    from benchmark.sweep.runner import run_sweep

    result = run_sweep(args.grid, workers)
    counts = Counter(outcome.status for outcome in result.outcomes)
    print(f"sweep {args.grid}: " + ", ".join(f"{n} {status}" for status, n in counts.items()))


_run_sweep.options = (GRID, WORKERS, EXECUTOR)  # type: ignore[attr-defined]

SWEEP_RUN = Option("--sweep-run", "sweep_run", "report on the runs of this sweep run (id)")
EXPERIMENT = Option("--experiment", "experiment", "report on the runs of this experiment (default: the current one)")
OUTPUT = Option("--output", "output", "folder of the report", "reports")


def _run_report(args: argparse.Namespace) -> None:
    """Tables and figures of a sweep's or an experiment's runs; print where the index is."""
    from pathlib import Path

    from benchmark.report import build_report

    print(f"report: {build_report(args.sweep_run or None, args.experiment or None, Path(args.output))}")


_run_report.options = (SWEEP_RUN, EXPERIMENT, OUTPUT)  # type: ignore[attr-defined]


def _run_main(args: argparse.Namespace) -> None:
    """The README's main job: a grid (default quick: every method on both synthetic presets), then the
    report; prints the AOGM of every run, where the report is and how to browse the runs."""
    from pathlib import Path

    import mlflow

    from benchmark.report import build_report
    from benchmark.sweep.runner import run_sweep

    result = run_sweep(args.grid, _positive_int("workers", args.workers))
    index = build_report(result.sweep_run_id, None, Path("reports"))
    print("\nAOGM (mean over each dataset's evaluation sequences):")
    for outcome in result.outcomes:
        print(f"  {outcome.spec.name:55} {outcome.status:9} {outcome.message}")
    uri = mlflow.get_tracking_uri()
    print(f"\nReport: {index}")
    print(f"MLflow runs: {uri} (sweep run {result.sweep_run_id})")
    print(f"Browse them: .venv/bin/mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000")


_run_main.options = (GRID, WORKERS)  # type: ignore[attr-defined]


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], None], str]] = {
    "prepare": (_run_prepare, "generate or read a dataset, cache its features, log a summary"),
    "position": (_method("baselines.position", "run_position"), "position-only linking (Table 1, first row)"),
    "supervised": (_method("baselines.supervised", "run_supervised"), "supervised Trackastra associations (Pos. & Sup. Assoc.)"),
    "autoencoder": (
        _method("baselines.autoencoder", "run_autoencoder", AUTOENCODER_REUSE),
        "autoencoder embeddings (Pos. & A.E. Emb.); trains the autoencoder whose embeddings Attrackt uses",
    ),
    "reid": (_method("baselines.reid", "run_reid"), "contrastive Re-ID embeddings (Pos. & Re-ID Emb.)"),
    "attrackt": (
        _method("attrackt.unsupervised", "run_attrackt", AUTOENCODER_RUN),
        "Attrackt: associations trained without labels (Pos. & Unsup. Assoc.)",
    ),
    "finetune": (
        _method("attrackt.finetune", "run_finetune", K, SAMPLING, SETUP, ATTRACKT_RUN),
        "LoRA fine-tuning of an Attrackt run on k sampled annotations (Figure 2)",
    ),
    "scratch": (
        _method("attrackt.finetune", "run_scratch", K, SAMPLING, SETUP, ATTRACKT_RUN),
        "the fine-tuning recipe from random weights (Figure 3)",
    ),
    "sweep": (_run_sweep, "run a grid of entry points as child runs of one sweep run (resumable)"),
    "report": (_run_report, "tables (Markdown, HTML, LaTeX) and figures of a sweep's or an experiment's runs"),
    "main": (_run_main, "the main job: a grid (default quick: every method on both synthetic presets), then the report"),
}
#: Commands that work on many datasets and profiles at once: no --dataset, --profile, --seed.
WITHOUT_COMMON = {"sweep", "report", "main"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (run, help_text) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text)
        if name not in WITHOUT_COMMON:
            _common(command, dataset=name != "main")
        for option in getattr(run, "options", ()):
            command.add_argument(option.flag, dest=option.keyword, default=option.default, help=option.help)
    return parser


def _mark_mlflow_run_failed(message: str) -> None:
    """Under ``mlflow run`` the run exists before our code starts: keep the reason on it."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    from mlflow.tracking import MlflowClient

    MlflowClient().set_tag(run_id, "error", message[:5000])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command][0](args)
    except BenchmarkError as error:
        message = f"{type(error).__name__}: {error}"
        _mark_mlflow_run_failed(message)
        print(f"error: {' '.join(message.split())}", file=sys.stderr)  # one line, whatever a library wrote
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
