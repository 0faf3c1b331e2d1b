"""Fuzzed command-line (MLproject) values and corrupted data given on the command line: status 2 and
one line "error: ..." naming the parameter (or argparse's usage error), or for data "error: DataError:
<culprit>: <what is wrong>", before any run starts (``nothing_runs`` turns a run that would start into
a failure). Then the plain examples of what the fuzzing found outside the data layer."""

from __future__ import annotations

import importlib
import io
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import benchmark.entry_points as entry_points
import benchmark.sweep.runner as sweep_runner
from attrackt.finetune import SETUPS
from attrackt.sampling import STRATEGIES, parse_k
from benchmark.cli import COMMANDS, WITHOUT_COMMON, main
from benchmark.config import PROFILES, parse_override
from benchmark.errors import ConfigError
from benchmark.sweep.executors import EXECUTORS, SCHEDULER_ADDRESS
from benchmark.sweep.grid import load_grid
from fuzzing import (
    Draw, Expect, FUZZ, LETTERS, PRINTABLE, fresh_folder, fresh_points, is_int, outcome_table, record, templates,
    time_limit,
)
from test_ctc_files import FILE_KINDS
from test_ctc_folder import FOLDER_KINDS
from test_ctc_man_track import TABLE_KINDS
from test_ctc_pixels import IMAGE_KINDS, PIXEL_KINDS
from test_grid_files import CONFIG, NOT_FLOATS, NUMERIC_KEYS
from test_point_csv import CSV_KINDS

__all__ = ["outcome_table", "templates"]

ENTRY_MODULES = (
    "baselines.position",
    "baselines.supervised",
    "baselines.autoencoder",
    "baselines.reid",
    "attrackt.unsupervised",
    "attrackt.finetune",
)
COMMON_COMMANDS = [name for name in COMMANDS if name not in WITHOUT_COMMON]  # with --dataset, --profile, --seed
RUN_SWEEP = sweep_runner.run_sweep
RUN_OPTIONS = {
    "finetune": "--attrackt-run",
    "scratch": "--attrackt-run",
    "attrackt": "--autoencoder-run",
    "autoencoder": "--autoencoder-run",
}


@pytest.fixture(scope="module")
def nothing_runs() -> Iterator[None]:
    """Parameters that pass validation would start a run: make that fail the test instead."""
    for module in ENTRY_MODULES:  # imported up front, not inside a case's time limit
        importlib.import_module(module)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the parameters passed validation: a run would have started")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(entry_points, "entry_point_run", refuse)
        patch.setattr(sweep_runner, "run_sweep", refuse)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        yield


def not_at_least(minimum: int) -> Callable[[str], bool]:
    return lambda text: not (is_int(text) and int(text) >= minimum)


NOT_SEEDS = st.one_of(PRINTABLE, st.integers(max_value=-1).map(str), st.text(max_size=6)).filter(not_at_least(0))
NOT_POSITIVE = st.one_of(PRINTABLE, st.integers(max_value=0).map(str), st.text(max_size=6)).filter(not_at_least(1))
BAD_YAML = ["[1", "{a", "2001-13-01", "*alias", "!!python/name:os.system", "@x", "`x", "a:b:\n-c"]
BAD_OVERRIDES = st.one_of(
    st.sampled_from(["abc", "=5", "'linking.w1=1", 'linking.w1="1', "linking.w1=1 b", "a.b.c"]),  # malformed
    st.sampled_from(BAD_YAML).map(lambda value: f"linking.w1={value}"),
    NOT_FLOATS.map(lambda name: f"linking.{name}=1"),  # unknown keys
    st.tuples(NOT_FLOATS, LETTERS).filter(lambda item: item[0] not in CONFIG).map(lambda item: f"{item[0]}.{item[1]}=1"),
    st.tuples(st.sampled_from(NUMERIC_KEYS), NOT_FLOATS).map(lambda item: f"{item[0]}={item[1]}"),  # wrong types
    st.sampled_from(["linking.k_neighbors=0", "linking.threads=-1", "model.dropout=1.5", "profile.x=1", "device=gpu"]),
)
Argv = tuple[list[str], str]  # the arguments, and what the error must name


def argv_seed(draw: Draw) -> Argv:
    return [draw(st.sampled_from(COMMON_COMMANDS)), f"--seed={draw(NOT_SEEDS)}"], "argument --seed"


def argv_profile(draw: Draw) -> Argv:
    profile = draw(st.text(max_size=8).filter(lambda text: text not in PROFILES))
    return [draw(st.sampled_from(COMMON_COMMANDS)), f"--profile={profile}"], "argument --profile"


def argv_overrides(draw: Draw) -> Argv:
    """A bad override, maybe among good ones."""
    items = [draw(BAD_OVERRIDES), *draw(st.lists(st.sampled_from(["linking.w1=2", "model.dropout=0.2"]), max_size=2))]
    return [draw(st.sampled_from(COMMON_COMMANDS)), f"--overrides={' '.join(draw(st.permutations(items)))}"], "override"


def argv_annotation(option: str, values: st.SearchStrategy[str]) -> Callable[[Draw], Argv]:
    def argv(draw: Draw) -> Argv:
        return [draw(st.sampled_from(["finetune", "scratch"])), f"--{option}={draw(values)}"], f"parameter {option}="

    return argv


def argv_run_id(draw: Draw) -> Argv:
    command = draw(st.sampled_from(sorted(RUN_OPTIONS)))
    not_ids = st.one_of(PRINTABLE, st.text("0123456789abcdefABCDEF", min_size=1, max_size=40))
    run_id = draw(not_ids.filter(lambda text: not re.fullmatch("[0-9a-f]{32}", text)))
    parameter = RUN_OPTIONS[command].removeprefix("--").replace("-", "_")
    return [command, f"{RUN_OPTIONS[command]}={run_id}"], f"parameter {parameter}="


def argv_workers(draw: Draw) -> Argv:
    return [draw(st.sampled_from(["sweep", "main"])), f"--workers={draw(NOT_POSITIVE)}"], "parameter workers="


def argv_executor(draw: Draw) -> Argv:
    executor = draw(st.text(max_size=8).filter(lambda text: text not in EXECUTORS))
    return ["sweep", f"--executor={executor}"], "parameter executor="


def argv_scheduler(draw: Draw) -> Argv:
    scheduler = draw(st.text(min_size=1, max_size=24).filter(lambda text: not SCHEDULER_ADDRESS.fullmatch(text)))
    command = draw(st.sampled_from(["sweep", "main"]))
    return [command, "--executor=dask", f"--scheduler={scheduler}"], "parameter scheduler="


CLI_KINDS: dict[str, Callable[[Draw], Argv]] = {
    "--seed": argv_seed,
    "--profile": argv_profile,
    "--overrides": argv_overrides,
    "--k": argv_annotation("k", st.one_of(st.just(""), NOT_POSITIVE).filter(lambda text: text.strip().lower() != "all")),
    "--sampling": argv_annotation("sampling", st.text(max_size=10).filter(lambda text: text not in STRATEGIES)),
    "--setup": argv_annotation("setup", st.text(max_size=10).filter(lambda text: text not in SETUPS)),
    "--attrackt-run / --autoencoder-run": argv_run_id,
    "--workers": argv_workers,
    "--executor": argv_executor,
    "--scheduler": argv_scheduler,
}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Exit status of ``main(argv)``, its stderr, and how it ended ("error" line or argparse "usage")."""
    stderr = io.StringIO()
    with redirect_stderr(stderr), redirect_stdout(io.StringIO()), time_limit():
        try:
            status, how = main(argv), "error"
        except SystemExit as stop:
            status, how = stop.code, "usage"
    return status, stderr.getvalue(), how


@FUZZ
@pytest.mark.parametrize("kind", CLI_KINDS)
@given(data=st.data())
def test_bad_command_line_values(nothing_runs, kind, data):
    """Status 2 and one line "error: ..." naming the parameter, or argparse's usage message naming it."""
    argv, names = CLI_KINDS[kind](data.draw)
    started = time.perf_counter()
    status, stderr, how = run_cli(argv)
    assert status == 2 and "Traceback" not in stderr, f"{argv}: status {status}\n{stderr}"
    if how == "usage":
        assert stderr.startswith("usage: ") and names in stderr.splitlines()[-1], f"{argv}:\n{stderr}"
    else:
        assert len(stderr.splitlines()) == 1 and stderr.startswith("error: ") and names in stderr, f"{argv}:\n{stderr}"
    record("cli", kind, how, time.perf_counter() - started)


class Loaded(BaseException):
    """The dataset passed the readers (raised where ``prepare`` would log it)."""


CTC_KINDS = {**FILE_KINDS, **PIXEL_KINDS, **TABLE_KINDS, **FOLDER_KINDS}
DATA_KINDS: dict[tuple[str, str], Callable[[Draw, Any], Expect]] = {
    **{("ctc", kind): corrupt for kind, corrupt in CTC_KINDS.items()},
    **{("csv", kind): corrupt for kind, corrupt in CSV_KINDS.items()},
}
#: Kinds that always load (harmless, or skipped with a warning): nothing to see on the command line.
LOADING = ("harmless", "warned")


def error_prefixes(expect: Expect) -> tuple[str, ...]:
    """How the CLI's error line may begin: ``error: DataError: <culprit>:`` and the line, where checked."""
    if expect.lines is None:
        return tuple(f"error: DataError: {path}:" for path in expect.culprits)
    where = [f"{path}:{line}" if line else str(path) for path in expect.culprits for line in expect.lines]
    return tuple(f"error: DataError: {place}: " for place in where)


@settings(FUZZ, max_examples=3)
@pytest.mark.parametrize("family, kind", [key for key in DATA_KINDS if not any(word in key[1] for word in LOADING)])
@given(data=st.data())
def test_corrupted_data_through_the_command_line(templates, nothing_runs, family, kind, data):
    """``prepare --dataset=<corrupted folder or CSV>``: status 2 and one line "error: DataError: <culprit>:
    <what is wrong>"."""

    def loaded(*args: Any) -> None:
        raise Loaded

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(entry_points, "entry_point_run", lambda *args, **kwargs: nullcontext())
        patch.setattr(entry_points, "log_dataset", loaded)
        if family == "ctc":
            folder = fresh_folder(data.draw, templates, Path(tmp), images=kind in IMAGE_KINDS)
            expect, spec = DATA_KINDS[family, kind](data.draw, folder), folder.root
        else:
            doc = fresh_points(data.draw, Path(tmp))
            expect, spec = DATA_KINDS[family, kind](data.draw, doc), doc.path
            doc.write()
        started = time.perf_counter()
        try:
            status, stderr, how = run_cli(["prepare", f"--dataset={spec}"])
        except Loaded:
            assert expect.may_load, f"{kind}: loaded, expected an error naming {expect.culprits}"
            outcome = "loaded"
        else:
            assert (status, how) == (2, "error") and len(stderr.splitlines()) == 1, f"{kind}: status {status}\n{stderr}"
            assert stderr.startswith(error_prefixes(expect)), f"{kind}: {stderr}"
            assert re.search(expect.says, stderr), f"{kind}: {stderr} does not say /{expect.says}/"
            outcome = "error"
    record("cli data", f"{family}: {kind}", outcome, time.perf_counter() - started)


# --------------------------------------------------------------------------------------------------
# What the fuzzing found outside the data layer, as plain examples


@pytest.mark.parametrize("k", [None, float("inf"), [1], 1.5, True, "", "0"])
def test_k_is_a_positive_integer_or_all(k):
    """None, inf and lists raised TypeError/OverflowError; 1.5 and True passed as 1."""
    with pytest.raises(ConfigError, match="parameter k="):
        parse_k(k)


@pytest.mark.parametrize("value", ["[1", "2001-13-01", "*alias"])
def test_an_override_that_is_no_yaml_is_a_config_error(value):
    """yaml's errors (and its ValueError for impossible dates) escaped parse_override."""
    with pytest.raises(ConfigError, match="linking.w1.*not valid YAML"):
        parse_override(f"linking.w1={value}")


def test_a_grid_with_an_impossible_date_is_a_config_error(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("profile: smoke\ndatasets: [x]\nseeds: [2001-13-01]\n")
    with pytest.raises(ConfigError, match=f"grid file {path}: not valid YAML"):
        load_grid(str(path))


def test_a_multiline_library_message_is_one_error_line(tmp_path, monkeypatch):
    """YAML's error messages span lines (here through ``sweep --grid``); the command line prints one."""
    path = tmp_path / "grid.yaml"
    path.write_text("profile: smoke\ndatasets: [x\n")
    monkeypatch.setattr(sweep_runner, "run_sweep", RUN_SWEEP)  # the real one: it reads the grid first
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    status, stderr, _ = run_cli(["sweep", f"--grid={path}"])
    assert status == 2 and stderr.startswith(f"error: ConfigError: grid file {path}: not valid YAML")
    assert len(stderr.splitlines()) == 1
