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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.config import PROFILES, parse_override
from benchmark.errors import BenchmarkError, ConfigError

SUMMARY_COLUMNS = ["AOGM", "AOGM per 1000 GT edges", "TRA", "MBC", "Division F1", "fp_edges", "fn_edges", "ws_edges"]
MAIN_DATASETS = ("synth-bacteria", "synth-hela")


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


AUTOENCODER_RUN = Option(
    "--autoencoder-run", "autoencoder_run", "run id of the autoencoder run whose embeddings to use "
    "(default: the latest finished one on the same data, profile and autoencoder config)"
)


def _run_main(args: argparse.Namespace) -> None:
    """The README's main job: both synthetic presets, position-only linking, one table."""
    overrides = parse_overrides(args.overrides)
    import mlflow
    import pandas as pd

    from baselines.position import run_position
    from benchmark.entry_points import prepare
    from benchmark.mlflow_run import DEFAULT_EXPERIMENT

    rows = {}
    for dataset in MAIN_DATASETS:
        print(f"== {dataset}: preparing data", flush=True)
        print(prepare(dataset, args.profile, args.seed, overrides).to_string(index=False), flush=True)
        print(f"== {dataset}: position-only linking", flush=True)
        rows[(dataset, "position")] = run_position(dataset, args.profile, args.seed, overrides).loc["mean"]
    table = pd.DataFrame(rows).T[SUMMARY_COLUMNS]
    table.index.names = ["dataset", "method"]
    print("\nMean over each dataset's evaluation sequences:")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    uri = mlflow.get_tracking_uri()
    print(f"\nMLflow runs: {uri}, experiment {os.environ.get('MLFLOW_EXPERIMENT_NAME', DEFAULT_EXPERIMENT)!r}")
    print(f"Browse them: .venv/bin/mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000")


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], None], str]] = {
    "prepare": (_run_prepare, "generate or read a dataset, cache its features, log a summary"),
    "position": (_method("baselines.position", "run_position"), "position-only linking (Table 1, first row)"),
    "supervised": (_method("baselines.supervised", "run_supervised"), "supervised Trackastra associations (Pos. & Sup. Assoc.)"),
    "attrackt": (
        _method("attrackt.unsupervised", "run_attrackt", AUTOENCODER_RUN),
        "Attrackt: associations trained without labels (Pos. & Unsup. Assoc.)",
    ),
    "main": (_run_main, "the main job: both synthetic presets through every available method"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (run, help_text) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text)
        _common(command, dataset=name != "main")
        for option in getattr(run, "options", ()):
            command.add_argument(option.flag, dest=option.keyword, default="", help=option.help)
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
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
