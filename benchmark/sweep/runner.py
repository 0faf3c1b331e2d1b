"""Running a grid: each run is an entry point in its own process, a child of one sweep run in MLflow.

A sweep is identified by its grid hash (grid file contents): running the same grid again resumes the
same sweep run, skips children that already FINISHED with the same config hash, marks children left
RUNNING by a killed sweep as KILLED, and redoes failed or killed ones. A run starts once the run it
needs (autoencoder, Attrackt) has finished; its run id is passed on, so artifacts are reused, never
retrained. Runs execute in processes started by threads of the sweep (``local``: ``workers`` at
once) or by Dask workers (``dask``: see :mod:`benchmark.sweep.executors`);
either way each child runs in the sweep's working folder and logs to the sweep's tracking store. A
child run on a Dask worker is tagged ``dask.worker`` with that worker's address. A failed run's reason
is its ``error`` tag (else the last line its process wrote to stderr); ``failure_summary`` lists the
runs that failed or were blocked, why, and the command that reruns just those.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from tqdm import tqdm

from benchmark.errors import ConfigError
from benchmark.tracking import EXTRA_TAGS_ENV, PARENT_RUN_ENV, current_experiment_id
from benchmark.sweep.executors import current_worker, open_executor
from benchmark.sweep.grid import Grid, RunSpec, expand, load_grid

#: The option that hands a needed run's id to the entry point.
NEEDED_RUN_OPTION = {"autoencoder": "--autoencoder-run", "attrackt": "--attrackt-run"}
#: The tag naming the Dask worker (its address) that executed a run.
WORKER_TAG = "dask.worker"
#: Outcomes of runs that did not finish.
NOT_FINISHED = ("failed", "blocked")


@dataclass
class Outcome:
    """How one run of the grid ended: finished, skipped (finished before), failed or blocked (a run it
    needs did not finish). ``message``: AOGM when finished, the reason otherwise; ``worker``: the Dask
    worker's address that executed it ("" elsewhere)."""

    spec: RunSpec
    status: str
    run_id: str | None = None
    seconds: float = 0.0
    message: str = ""
    worker: str = ""


@dataclass
class SweepResult:
    """The sweep run's id and how each run of the grid ended (in grid order)."""

    sweep_run_id: str
    outcomes: list[Outcome]


@dataclass(frozen=True)
class SweepContext:
    """What every child run needs to know about its sweep, wherever it executes.

    ``cwd``: the sweep's working folder (absolute), the child's too. How many CPU threads a child
    computes with is its config's ``threads``, not the sweep's business, so that ``workers`` never
    changes a result.
    """

    parent_run_id: str
    grid_hash: str
    experiment_id: str
    tracking_uri: str
    cwd: str


def grid_hash(grid: Grid) -> str:
    return hashlib.sha256(json.dumps(grid.model_dump(), sort_keys=True, default=str).encode()).hexdigest()[:16]


def command(spec: RunSpec, needed_run_id: str | None) -> list[str]:
    """The child process's argument list (no shell is involved)."""
    overrides = " ".join(f"{key}={json.dumps(value)}" for key, value in spec.overrides.items())
    args = [sys.executable, "-m", "benchmark.cli", spec.entry_point, "--dataset", spec.dataset,
            "--profile", spec.profile, "--seed", str(spec.seed), "--overrides", overrides]
    for option, value in (("--k", spec.k), ("--sampling", spec.sampling), ("--setup", spec.setup)):
        if value is not None:
            args += [option, value]
    if spec.needs is not None:
        args += [NEEDED_RUN_OPTION[spec.needs.entry_point], needed_run_id or ""]
    return args


def child_runs(client: MlflowClient, context: SweepContext, status: str | None = None) -> list:
    """Runs of this sweep (tag grid_hash), optionally with one status."""
    query = f"tags.grid_hash = '{context.grid_hash}' and tags.sweep_run = '{context.parent_run_id}'"
    if status:
        query += f" and attributes.status = '{status}'"
    return client.search_runs([context.experiment_id], query, max_results=50_000)


def execute(spec: RunSpec, config_hash: str, needed_run_id: str | None, context: SweepContext) -> Outcome:
    """Run one entry point to completion in a child process and find the run it made."""
    worker = current_worker()
    tags = {"config_hash": config_hash, "grid_hash": context.grid_hash, **({WORKER_TAG: worker} if worker else {})}
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_RUN_ID"}
    env.update(
        {
            "MLFLOW_TRACKING_URI": context.tracking_uri,
            "MLFLOW_EXPERIMENT_ID": context.experiment_id,
            PARENT_RUN_ENV: context.parent_run_id,
            EXTRA_TAGS_ENV: json.dumps(tags),
        }
    )
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    start = time.perf_counter()
    result = subprocess.run(command(spec, needed_run_id), env=env, cwd=context.cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    client = MlflowClient(context.tracking_uri)
    query = f"tags.config_hash = '{config_hash}' and tags.sweep_run = '{context.parent_run_id}'"
    runs = client.search_runs([context.experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1)
    run = runs[0] if runs else None
    if result.returncode == 0 and run is not None and run.info.status == "FINISHED":
        return Outcome(spec, "finished", run.info.run_id, seconds, _summary(run), worker or "")
    lines = [line for line in (result.stderr or "").strip().splitlines() if line.strip()]
    reason = (run.data.tags.get("error") if run else None) or (lines[-1] if lines else f"exit status {result.returncode}")
    if run is not None and run.info.status == "RUNNING":  # the process died without closing its run
        reason = f"the run's process ended with exit status {result.returncode} without closing its run: {reason}"
        client.set_tag(run.info.run_id, "error", reason[:5000])
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
    return Outcome(spec, "failed", run.info.run_id if run else None, seconds, reason, worker or "")


def _summary(run) -> str:
    aogm = run.data.metrics.get("AOGM")
    return f"AOGM {aogm:.1f}" if aogm is not None else ""


def open_sweep(grid_name: str, grid: Grid, executor_tags: dict[str, str]) -> SweepContext:
    """The sweep run of this grid (resumed when it exists, else created) and its child-run context.

    Under ``mlflow run`` the run MLflow made becomes the sweep run, or points at the existing one
    (tag ``sweep_run``). Children a killed sweep left RUNNING are marked KILLED. ``executor_tags``
    (where this session's runs execute) are set on every start, resumed or not.
    """
    experiment_id = current_experiment_id()
    client = MlflowClient()
    hashed = grid_hash(grid)
    existing = client.search_runs(
        [experiment_id], f"tags.entry_point = 'sweep' and tags.grid_hash = '{hashed}'",
        order_by=["attributes.start_time ASC"], max_results=1,
    )
    launched_by_mlflow = os.environ.get("MLFLOW_RUN_ID")
    if existing:
        parent = existing[0].info.run_id
        client.update_run(parent, status="RUNNING")
        if launched_by_mlflow and launched_by_mlflow != parent:
            client.set_tag(launched_by_mlflow, "sweep_run", parent)
    else:
        parent = launched_by_mlflow or client.create_run(experiment_id).info.run_id
        tags = {"entry_point": "sweep", "grid": grid_name, "grid_hash": hashed, "profile": grid.profile,
                "mlflow.runName": f"sweep-{Path(grid_name).stem}"}
        for key, value in tags.items():
            client.set_tag(parent, key, value)
        client.log_param(parent, "grid", grid_name)
        client.log_text(parent, json.dumps(grid.model_dump(), indent=2), "grid.json")
    for key, value in executor_tags.items():
        client.set_tag(parent, key, value)
    context = SweepContext(parent, hashed, experiment_id, mlflow.get_tracking_uri(), os.getcwd())
    for run in child_runs(client, context, "RUNNING"):
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
    return context


def run_sweep(
    grid_name: str,
    workers: int = 1,
    run: Callable[..., Outcome] = execute,
    executor: str = "local",
    scheduler: str | None = None,
) -> SweepResult:
    """Run every run of the grid ``grid_name`` (name or file) on ``executor`` (local, or dask at the
    scheduler address ``scheduler`` or on a LocalCluster) with ``workers`` at once; see the module doc.
    ``run`` must be importable by reference where it executes (Dask pickles it)."""
    if workers < 1:
        raise ConfigError(f"parameter workers={workers}: must be >= 1")
    grid = load_grid(grid_name)
    specs = expand(grid)
    with open_executor(executor, workers, scheduler) as pool:
        tags = {"executor": executor, "scheduler": scheduler or ("LocalCluster" if executor == "dask" else "")}
        context = open_sweep(grid_name, grid, tags)
        return _schedule(pool, run, grid_name, specs, context)


def _schedule(pool: Executor, run: Callable[..., Outcome], grid_name: str, specs: list[RunSpec],
              context: SweepContext) -> SweepResult:
    """Submit each run to ``pool`` once the run it needs has finished, skip those finished before,
    and close the sweep run with the outcomes."""
    client = MlflowClient()
    hashes = {spec: spec.config_hash() for spec in specs}
    done = {run.data.tags["config_hash"]: run for run in child_runs(client, context, "FINISHED")}
    outcomes: dict[RunSpec, Outcome] = {}
    pending = list(specs)
    progress = tqdm(total=len(specs), desc=f"sweep {Path(grid_name).stem}", unit="run", disable=None)

    def report(outcome: Outcome) -> None:
        outcomes[outcome.spec] = outcome
        progress.update()
        detail = f": {outcome.message}" if outcome.message else ""
        progress.write(f"[{len(outcomes)}/{len(specs)}] {outcome.status:8} {outcome.spec.name} "
                       f"({outcome.seconds:.0f} s){detail}")

    running: dict[Future, RunSpec] = {}
    while pending or running:
        for spec in list(pending):
            need = spec.needs
            if need is not None and need not in outcomes:
                continue
            pending.remove(spec)
            if need is not None and outcomes[need].status not in ("finished", "skipped"):
                report(Outcome(spec, "blocked", message=f"needs {need.name}, which {outcomes[need].status}"))
            elif hashes[spec] in done:
                before = done[hashes[spec]]
                report(Outcome(spec, "skipped", before.info.run_id, message=f"finished before; {_summary(before)}"))
            else:
                needed_id = outcomes[need].run_id if need is not None else None
                running[pool.submit(run, spec, hashes[spec], needed_id, context)] = spec
        if running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                spec = running.pop(future)
                try:
                    outcome = future.result()
                except Exception as error:  # the executor lost the run, e.g. Dask workers died running it
                    outcome = Outcome(spec, "failed", message=f"{type(error).__name__}: {error}")
                report(outcome)
    progress.close()
    close_sweep(client, context, list(outcomes.values()))
    return SweepResult(context.parent_run_id, [outcomes[spec] for spec in specs])


def close_sweep(client: MlflowClient, context: SweepContext, outcomes: list[Outcome]) -> None:
    """Log the table of outcomes and their counts on the sweep run and end it (FAILED if any run failed
    or was blocked)."""
    table = pd.DataFrame(
        [{"run": o.spec.name, "entry_point": o.spec.entry_point, "dataset": o.spec.dataset, "seed": o.spec.seed,
          "k": o.spec.k, "sampling": o.spec.sampling, "setup": o.spec.setup, "status": o.status,
          "run_id": o.run_id, "seconds": round(o.seconds, 1), "worker": o.worker, "message": o.message}
         for o in outcomes]
    )
    client.log_text(context.parent_run_id, table.to_csv(index=False), "sweep_runs.csv")
    counts = table["status"].value_counts()
    for status in ("finished", "skipped", *NOT_FINISHED):
        client.log_metric(context.parent_run_id, f"runs_{status}", float(counts.get(status, 0)))
    missed = table[table["status"].isin(NOT_FINISHED)]
    if len(missed):
        names = ", ".join(f"{run} ({status})" for run, status in zip(missed["run"], missed["status"]))
        client.set_tag(context.parent_run_id, "error", f"{len(missed)} of {len(table)} runs did not finish: {names}"[:5000])
    elif "error" in client.get_run(context.parent_run_id).data.tags:  # left by an earlier session
        client.delete_tag(context.parent_run_id, "error")
    client.set_terminated(context.parent_run_id, "FAILED" if len(missed) else "FINISHED")


def failure_summary(result: SweepResult, rerun: list[str]) -> str:
    """What did not finish, for people: one line per failed run (name, run id, its ``error`` tag) and
    per blocked run (the run it needed), then ``rerun`` (the sweep's own command line), which redoes
    just those since finished runs are skipped. "" when every run finished."""
    missed = [o for o in result.outcomes if o.status in NOT_FINISHED]
    if not missed:
        return ""
    lines = [f"{len(missed)} of {len(result.outcomes)} runs did not finish (sweep run {result.sweep_run_id}):"]
    for outcome in missed:
        where = f" (run {outcome.run_id})" if outcome.run_id else ""
        lines.append(f"  {outcome.status:7} {outcome.spec.name}{where}: {' '.join(outcome.message.split())}")
    lines.append(f"Rerun just these (finished runs are skipped): {shlex.join(rerun)}")
    return "\n".join(lines)
