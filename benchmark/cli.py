"""Command line of the suite; MLproject's entry points call it (``python -m benchmark.cli ENTRY ...``).

Common options: ``--dataset`` (preset, named real dataset or path), ``--profile`` (smoke, quick,
paper), ``--seed`` (integer >= 0) and ``--overrides "section.field=value ..."`` (any profile field).
Bad input ends with one line ``error: ...`` on stderr and exit status 2. A sweep (or the main job)
in which a run failed or was blocked ends with exit status 1, after listing those runs, their
``error`` tags and the command that reruns just them.
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
from typing import TYPE_CHECKING, Any

from benchmark.config import PROFILES, parse_override
from benchmark.errors import BenchmarkError, ConfigError

if TYPE_CHECKING:
    from benchmark.sweep.runner import SweepResult

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
    """A command-line option beyond the common ones, passed to the entry point as ``keyword``, or, with
    ``override`` set, as that profile override (when given). With ``const`` the flag alone means that value."""

    flag: str
    keyword: str
    help: str
    default: str = ""
    override: str | None = None
    const: str | None = None


ILP_WEIGHTS_RUN = Option(
    "--ilp-weights-run", "ilp_weights_run", "id of a finished `tune` run whose best ILP weights to link with "
    "(default: the profile's)", override="linking.weights_run"
)


def _with_overrides(args: argparse.Namespace, options: Sequence[Option]) -> dict[str, Any]:
    """``--overrides`` plus the given options that are overrides; ConfigError when both set one key."""
    overrides = parse_overrides(args.overrides)
    for option in options:
        value = getattr(args, option.keyword)
        if option.override and value:
            if overrides.get(option.override, value) != value:
                raise ConfigError(f"parameter {option.keyword}={value!r} contradicts override {option.override}")
            overrides[option.override] = value
    return overrides


def _method(module: str, function: str, *options: Option) -> Callable[[argparse.Namespace], None]:
    """A command that runs ``module.function(dataset, profile, seed, overrides, **options)`` and prints
    its metrics table. Every method takes ILP_WEIGHTS_RUN."""
    options = (*options, ILP_WEIGHTS_RUN)

    def run(args: argparse.Namespace) -> None:
        overrides = _with_overrides(args, options)
        entry_point = getattr(importlib.import_module(module), function)
        extra = {option.keyword: getattr(args, option.keyword) or None for option in options if not option.override}
        table = entry_point(args.dataset, args.profile, args.seed, overrides, **extra)
        if table.empty:  # a dataset of movies without GT
            print("tracked; no metrics: no evaluation sequence has GT")
        else:
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
ANNOTATION_FILE = Option(
    "--annotation-file", "annotation_file", "a person's annotations (CSV like suggest's suggestions.csv with corrected "
    "children, or a GEFF of corrected links) to fine-tune on and pin, instead of k annotations sampled from the GT"
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
EXECUTOR = Option(
    "--executor", "executor", "where runs execute: local (processes started here) or dask (tasks on a Dask cluster)", "local"
)
SCHEDULER = Option(
    "--scheduler", "scheduler", "Dask scheduler address tcp://HOST:PORT (executor dask only; default: a local "
    "cluster of --workers processes)"
)


def _positive_int(parameter: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"parameter {parameter}={text!r}: must be an integer >= 1") from None
    if value < 1:
        raise ConfigError(f"parameter {parameter}={text!r}: must be an integer >= 1")
    return value


def _sweep(args: argparse.Namespace) -> SweepResult:
    """Run the grid of ``args`` (options GRID, WORKERS, EXECUTOR, SCHEDULER), validated first."""
    from benchmark.sweep.executors import check_executor

    workers = _positive_int("workers", args.workers)
    scheduler = args.scheduler or None
    check_executor(args.executor, workers, scheduler)
    from benchmark.sweep.runner import run_sweep

    return run_sweep(args.grid, workers, executor=args.executor, scheduler=scheduler)


def _failures(result: SweepResult, args: argparse.Namespace) -> int:
    """Print the runs that failed or were blocked (see ``failure_summary``) on stderr; the exit status:
    1 if there are any, else 0."""
    from benchmark.sweep.runner import failure_summary

    summary = failure_summary(result, [sys.executable, "-m", "benchmark.cli", *args.argv])
    if summary:
        print(summary, file=sys.stderr)
    return 1 if summary else 0


def _run_sweep(args: argparse.Namespace) -> int:
    """Run a grid; print one line per run and the counts, then what did not finish (status 1 if any)."""
    result = _sweep(args)
    counts = Counter(outcome.status for outcome in result.outcomes)
    print(f"sweep {args.grid}: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    return _failures(result, args)


_run_sweep.options = (GRID, WORKERS, EXECUTOR, SCHEDULER)  # type: ignore[attr-defined]

SWEEP_RUN = Option("--sweep-run", "sweep_run", "report on the runs of this sweep run (id)")
EXPERIMENT = Option("--experiment", "experiment", "report on the runs of this experiment (default: the current one)")
OUTPUT = Option("--output", "output", "folder of the report", "reports")
INCLUDE_NON_OPTIMAL = Option(
    "--include-non-optimal", "include_non_optimal", "true: average runs whose links are not proven optimal with the "
    "others (marked †) instead of in rows of their own", "false", const="true",
)


def _flag(parameter: str, text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ConfigError(f"parameter {parameter}={text!r}: must be true or false")
    return text.lower() == "true"


def _run_report(args: argparse.Namespace) -> None:
    """Tables and figures of a sweep's or an experiment's runs; print where the index is."""
    from pathlib import Path

    from benchmark.report import build_report

    include = _flag("include_non_optimal", args.include_non_optimal)
    print(f"report: {build_report(args.sweep_run or None, args.experiment or None, Path(args.output), include)}")


_run_report.options = (SWEEP_RUN, EXPERIMENT, OUTPUT, INCLUDE_NON_OPTIMAL)  # type: ignore[attr-defined]

TUNE_METHOD = Option("--method", "method", "whose d2 the weights are tuned for: position, supervised, autoencoder, reid "
                     "or attrackt", "attrackt")
METHOD_RUN = Option("--method-run", "method_run", "run id of the finished method run whose d2 to use (default: the "
                    "latest one on the same data, profile and method settings; none for position)")
N_TRIALS = Option("--n-trials", "n_trials", "finished trials of the study in all, whichever worker ran them "
                  "(default: the profile's tune.n_trials)")
STORAGE = Option("--storage", "storage", "Optuna RDB URL shared by workers, e.g. postgresql://user@host/db "
                 "(default: sqlite optuna.db beside the MLflow store)")
STUDY = Option("--study", "study", "study name (default: derived from the method run, data, linking and search ranges)")


def _run_tune(args: argparse.Namespace) -> None:
    """Search the ILP weights on the validation sequences; print the evaluation metrics with the
    profile's and with the tuned weights."""
    from benchmark.tune.run import run_tune

    extra = {option.keyword: getattr(args, option.keyword) or None for option in _run_tune.options}  # type: ignore[attr-defined]
    table = run_tune(args.dataset, args.profile, args.seed, parse_overrides(args.overrides), **extra)
    print(table[SUMMARY_COLUMNS].to_string(float_format=lambda v: f"{v:.3f}"))


_run_tune.options = (TUNE_METHOD, METHOD_RUN, N_TRIALS, STORAGE, STUDY)  # type: ignore[attr-defined]

TRACKED_RUN = Option("--run", "run", "id of a finished run that tracked the movie (track, attrackt, finetune, scratch, supervised)")
SUGGEST_K = Option("--k", "k", "how many nodes to suggest: a positive integer or 'all'", "20")
EXCLUDE = Option("--exclude", "exclude", "an annotation file whose nodes are annotated already (the run's own annotations are)")
SUGGEST_OUTPUT = Option("--output", "output", "also write suggestions.csv and suggestions/<seq>.geff to this folder")


def _run_suggest(args: argparse.Namespace) -> None:
    """Rank the nodes of a tracked movie a person should check next; print them and where the CSV is."""
    from attrackt.suggest import run_suggest

    table, where = run_suggest(
        args.run, args.k, args.exclude or None, args.output or None, args.profile, args.seed, parse_overrides(args.overrides)
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"suggestions: {where}")


_run_suggest.options = (TRACKED_RUN, SUGGEST_K, EXCLUDE, SUGGEST_OUTPUT)  # type: ignore[attr-defined]

MOVIE = Option("--movie", "movie", "the movie: a CTC folder (NAME/tTTT.tif + NAME_SEG/maskTTT.tif) or an images TIFF stack")
MASKS = Option("--masks", "masks", "the masks TIFF stack (T, Y, X labels) when --movie is an images TIFF stack")
MODEL = Option("--model", "model", "the model: run id of a supervised, attrackt, finetune or scratch run, or models:/NAME/VERSION")


def _run_track(args: argparse.Namespace) -> None:
    """Track a movie with a trained model; print one line per sequence (links, tracks, divisions)."""
    from attrackt.track import run_track

    table = run_track(args.movie, args.masks, args.model, args.profile, args.seed, parse_overrides(args.overrides))
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))


_run_track.options = (MOVIE, MASKS, MODEL)  # type: ignore[attr-defined]


def _run_main(args: argparse.Namespace) -> int:
    """The README's main job: a grid (default quick: every method on both synthetic presets), then the
    report; prints the AOGM of every run, where the report is and how to browse the runs, then what
    did not finish (exit status 1 if anything)."""
    from pathlib import Path

    import mlflow

    from benchmark.mlflow_ui import runs_url
    from benchmark.report import build_report

    result = _sweep(args)
    index = build_report(result.sweep_run_id, None, Path("reports"))
    print("\nAOGM (mean over each dataset's evaluation sequences):")
    for outcome in result.outcomes:
        print(f"  {outcome.spec.name:55} {outcome.status:9} {outcome.message}")
    uri = mlflow.get_tracking_uri()
    experiment_id = mlflow.MlflowClient().get_run(result.sweep_run_id).info.experiment_id
    print(f"\nReport: {index}")
    print(f"MLflow runs: {uri} (sweep run {result.sweep_run_id})")
    if uri.startswith(("http://", "https://")):  # a tracking server serves its own UI
        print(f"Browse them: {runs_url(uri, experiment_id)}")
    else:
        print(f"Browse them: .venv/bin/mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000")
        print(f"  then open {runs_url('http://127.0.0.1:5000', experiment_id)} (expand the sweep run)")
    return _failures(result, args)


_run_main.options = (GRID, WORKERS, EXECUTOR, SCHEDULER)  # type: ignore[attr-defined]


#: Command name -> (function, help). A function returns its exit status (None: 0).
COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int | None], str]] = {
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
        _method("attrackt.finetune", "run_finetune", K, SAMPLING, SETUP, ATTRACKT_RUN, ANNOTATION_FILE),
        "LoRA fine-tuning of an Attrackt run on k sampled annotations (Figure 2) or on a person's annotation file",
    ),
    "scratch": (
        _method("attrackt.finetune", "run_scratch", K, SAMPLING, SETUP, ATTRACKT_RUN),
        "the fine-tuning recipe from random weights (Figure 3)",
    ),
    "track": (_run_track, "track a movie (CTC folder or TIFF stacks) with a trained model; GEFF, CTC results, overlays"),
    "suggest": (_run_suggest, "the nodes of a tracked movie a person should check next (CSV and GEFF to correct)"),
    "tune": (_run_tune, "Optuna search of a method's ILP weights on the validation sequences (nested run per trial)"),
    "sweep": (_run_sweep, "run a grid of entry points as child runs of one sweep run (resumable)"),
    "report": (_run_report, "tables (Markdown, HTML, LaTeX) and figures of a sweep's or an experiment's runs"),
    "main": (_run_main, "the main job: a grid (default quick: every method on both synthetic presets), then the report"),
}
#: Commands that work on many datasets and profiles at once: no --dataset, --profile, --seed.
WITHOUT_COMMON = {"sweep", "report", "main"}
#: Commands that read their data from a run: no --dataset.
WITHOUT_DATASET = {"suggest", "track"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (run, help_text) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text)
        if name not in WITHOUT_COMMON:
            _common(command, dataset=name not in WITHOUT_DATASET)
        for option in getattr(run, "options", ()):
            flag_alone = {"nargs": "?", "const": option.const} if option.const is not None else {}
            command.add_argument(option.flag, dest=option.keyword, default=option.default, help=option.help, **flag_alone)
    return parser


def _mark_mlflow_run_failed(message: str) -> None:
    """Under ``mlflow run`` the run exists before our code starts: keep the reason on it."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    from mlflow.tracking import MlflowClient

    MlflowClient().set_tag(run_id, "error", message[:5000])


def _print_run_id() -> None:
    """Name the MLflow run the command made, for the next command (``suggest --run``, ``--model``, ...)."""
    mlflow = sys.modules.get("mlflow")  # commands that never imported MLflow made no run
    run = mlflow.last_active_run() if mlflow is not None else None
    if run is not None:
        print(f"MLflow run: {run.info.run_id}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # for the command that reruns a sweep's failed runs
    try:
        status = COMMANDS[args.command][0](args)
        if args.command not in WITHOUT_COMMON:
            _print_run_id()
    except BenchmarkError as error:
        message = f"{type(error).__name__}: {error}"
        _mark_mlflow_run_failed(message)
        print(f"error: {' '.join(message.split())}", file=sys.stderr)  # one line, whatever a library wrote
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
