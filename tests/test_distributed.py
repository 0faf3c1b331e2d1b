"""Sweeps on Dask: a LocalCluster (fast), and a real deployment (integration): PostgreSQL, an MLflow
server backed by it, a Dask scheduler and two workers, each its own process on 127.0.0.1."""

from __future__ import annotations

import base64
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import patch

import distributed
import pytest
import yaml
from mlflow.tracking import MlflowClient

from benchmark.cli import main
from benchmark.sweep.grid import expand, load_grid
from benchmark.sweep.runner import WORKER_TAG, run_sweep
from conftest import unavailable

VENV_BIN = Path(sys.executable).parent


def test_dask_local_cluster_runs_the_grid_on_its_workers_and_resumes(tracking, tmp_path, real_data):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({
        "profile": "smoke", "datasets": [str(real_data)], "seeds": [0, 1], "methods": ["position"],
        "overrides": {"data.data_dir": tracking["data.data_dir"]},
    }))
    first = run_sweep(str(grid), workers=2, executor="dask")
    assert [o.status for o in first.outcomes] == ["finished", "finished"], first.outcomes
    assert all(o.worker.startswith("tcp://127.0.0.1:") for o in first.outcomes)
    client = MlflowClient()
    sweep = client.get_run(first.sweep_run_id)
    assert sweep.info.status == "FINISHED"
    assert (sweep.data.tags["executor"], sweep.data.tags["scheduler"]) == ("dask", "LocalCluster")
    children = client.search_runs([sweep.info.experiment_id], f"tags.sweep_run = '{first.sweep_run_id}'")
    assert sorted(run.info.run_id for run in children) == sorted(o.run_id for o in first.outcomes)
    assert all(run.info.status == "FINISHED" and run.data.metrics["AOGM"] >= 0 for run in children)
    worker_of = {o.run_id: o.worker for o in first.outcomes}  # each run tagged with the worker that ran it
    assert all(run.data.tags[WORKER_TAG] == worker_of[run.info.run_id] for run in children)

    again = run_sweep(str(grid), workers=2, executor="dask")
    assert again.sweep_run_id == first.sweep_run_id
    assert [(o.status, o.run_id) for o in again.outcomes] == [("skipped", o.run_id) for o in first.outcomes]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sweep", "--executor", "ray"], "parameter executor='ray': must be one of local, dask"),
        (["sweep", "--scheduler", "tcp://127.0.0.1:8786"], "parameter scheduler='tcp://127.0.0.1:8786': only with executor=dask"),
        (["sweep", "--executor", "dask", "--scheduler", "127.0.0.1:8786"], "must be a Dask scheduler address tcp://HOST:PORT"),
        (["main", "--executor", "dask", "--scheduler", "tcp://host:70000"], "must be a Dask scheduler address"),
        (["sweep", "--executor", "dask", "--scheduler", "tcp://host:8786", "--workers", "3"], "parameter workers=3: with scheduler"),
    ],
)
def test_bad_executor_options_are_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ConfigError: ") and message in error and len(error.splitlines()) == 1


# --- integration: real servers, each a process of its own ------------------------------------------------


def test_missing_server_binaries_fail_under_ci_and_skip_elsewhere(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "postgres_bin", lambda: None)
    for ci, outcome in (("true", pytest.fail.Exception), ("", pytest.skip.Exception)):
        monkeypatch.setenv("CI", ci)
        with ExitStack() as stack, pytest.raises(outcome, match="PostgreSQL server binaries"):
            start_postgres(stack)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    """Poll ``ready`` until true; fail with the log's tail if ``process`` ends or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert process.poll() is None, f"{what} ended (status {process.returncode}):\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} not ready after {timeout_s} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def group_ends(process: subprocess.Popen, timeout_s: float) -> bool:
    """Whether ``process`` and every process of its group are gone within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        process.poll()  # reap it: a zombie still counts as a member of the group
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def stop(process: subprocess.Popen) -> None:
    """End ``process`` and everything it started (its own session): SIGTERM, then SIGKILL after 20 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        if group_ends(process, 20):
            return


class Services:
    """Processes started in their own sessions, each logging to a file; all stopped on close."""

    def __init__(self, stack: ExitStack, logs: Path):
        self.stack, self.logs = stack, logs

    def start(self, name: str, args: list[str | Path], env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, Path]:
        log = self.logs / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        self.stack.callback(stop, process)
        return process, log


def succeed(args: list[str | Path | int]) -> None:
    """Run a set-up command; fail with its output unless it succeeds."""
    result = subprocess.run([str(arg) for arg in args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{args}: status {result.returncode}\n{result.stdout}\n{result.stderr}"


def postgres_bin() -> Path | None:
    """The folder of initdb and pg_ctl: Debian's /usr/lib/postgresql/*/bin (newest) or PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3]))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def start_postgres(stack: ExitStack) -> str:
    """A PostgreSQL server on 127.0.0.1 (free port, trust authentication, data in a fresh folder), run
    by an unprivileged user when we are root; stopped and deleted on close. Returns the database URI."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found; .ci/run installs them")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="attrackt-pg-"))  # not under pytest's root-only tmp_path
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    succeed([*as_user, bin_dir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale",
             "--no-instructions"])
    options = f"-h 127.0.0.1 -p {port} -k {folder}"
    succeed([*as_user, bin_dir / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t", "60", "-o", options, "start"])
    stack.callback(subprocess.run, [*as_user, bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                   capture_output=True)
    succeed([bin_dir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "mlflow"])
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"


@dataclass
class Deployment:
    """What the sweep needs (``env``: MLFLOW_TRACKING_URI of the server) and where things land."""

    env: dict[str, str]
    scheduler: str
    workers: set[str]  # the Dask workers' addresses
    artifacts: Path
    workers_dir: Path


@pytest.fixture
def deployment(tmp_path) -> Iterator[Deployment]:
    """PostgreSQL, an MLflow server on it, a Dask scheduler and two one-thread workers (started in a
    folder of their own), all on 127.0.0.1; everything is stopped afterwards."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env |= {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "OMP_NUM_THREADS": "1"}
    logs, workers_dir = tmp_path / "logs", tmp_path / "workers"
    logs.mkdir()
    workers_dir.mkdir()
    with ExitStack() as stack:
        services = Services(stack, logs)
        database = start_postgres(stack)
        tracking_uri = f"http://127.0.0.1:{free_port()}"
        server, log = services.start("mlflow", [
            VENV_BIN / "mlflow", "server", "--backend-store-uri", database, "--artifacts-destination",
            str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", tracking_uri.rsplit(":", 1)[1], "--workers", "1",
        ], env, tmp_path)
        wait_until(lambda: answers(f"{tracking_uri}/health"), "the MLflow server", server, log)
        scheduler_address = f"tcp://127.0.0.1:{free_port()}"
        services.start("scheduler", [
            VENV_BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", scheduler_address.rsplit(":", 1)[1],
            "--no-dashboard",
        ], env, tmp_path)
        for name in ("worker-1", "worker-2"):
            services.start(name, [VENV_BIN / "dask", "worker", scheduler_address, "--nthreads", "1", "--nworkers", "1",
                                  "--host", "127.0.0.1", "--no-dashboard", "--name", name], env, workers_dir)
        with distributed.Client(scheduler_address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            workers = set(client.scheduler_info()["workers"])
        env |= {"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_EXPERIMENT_NAME": "distributed"}
        yield Deployment(env, scheduler_address, workers, tmp_path / "artifacts", workers_dir)


def cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run ``python -m benchmark.cli ARGS``; its stdout (fails with its output if it fails)."""
    result = subprocess.run([sys.executable, "-m", "benchmark.cli", *args], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, f"{args}: status {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.mark.integration
def test_smoke_grid_on_postgres_mlflow_server_and_dask_workers(deployment, tmp_path):
    env = deployment.env
    project = tmp_path / "project"  # the sweep's working folder: the runs' data lands here, not where workers are
    project.mkdir()
    sweep = ["sweep", "--grid", "smoke", "--executor", "dask", "--scheduler", deployment.scheduler]
    assert "sweep smoke: 5 finished" in cli(sweep, env, project)

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("distributed").experiment_id
    [parent] = client.search_runs([experiment], "tags.entry_point = 'sweep'")
    assert parent.info.status == "FINISHED" and parent.data.tags["scheduler"] == deployment.scheduler
    children = client.search_runs([experiment], f"tags.sweep_run = '{parent.info.run_id}'")
    specs = expand(load_grid("smoke"))
    assert sorted(run.data.tags["config_hash"] for run in children) == sorted(spec.config_hash() for spec in specs)
    assert all(run.info.status == "FINISHED" for run in children)  # every run once, each finished
    assert {run.data.tags[WORKER_TAG] for run in children} == deployment.workers  # both workers ran some
    by_method = {run.data.tags["method"]: run for run in children}
    attrackt = by_method["attrackt"]
    assert attrackt.data.params["resolved.autoencoder_run"] == by_method["autoencoder"].info.run_id
    for method in ("finetune", "scratch"):  # started after the Attrackt run they need had finished
        assert by_method[method].data.params["resolved.attrackt_run"] == attrackt.info.run_id
        assert by_method[method].info.start_time >= attrackt.info.end_time
    assert (project / "data").is_dir() and not (deployment.workers_dir / "data").exists()
    assert any(deployment.artifacts.rglob("*.geff"))  # predictions went through the server's artifact store

    assert "sweep smoke: 5 skipped" in cli(sweep, env, project)
    assert len(client.search_runs([experiment], f"tags.sweep_run = '{parent.info.run_id}'")) == len(specs)

    printed = cli(["report", "--sweep-run", parent.info.run_id, "--output", str(tmp_path / "reports")], env, project)
    assert "index.html" in printed and (tmp_path / "reports" / "index.html").stat().st_size > 0
    assert "report/index.html" in {f.path for f in client.list_artifacts(parent.info.run_id, "report")}


@pytest.mark.integration
def test_basic_auth_server_refuses_strangers_and_takes_runs_with_credentials_from_the_environment(tmp_path, real_data):
    """docs/distributed.md's secure server: MLflow's basic-auth app; the client's credentials come from
    MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, never from the URL, and are in no log or param."""
    password = secrets.token_urlsafe(18)
    config = tmp_path / "auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{tmp_path / 'auth.db'}\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    base = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    base["MLFLOW_DISABLE_TELEMETRY"] = "true"
    server_env = base | {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_AUTH_ADMIN_PASSWORD": password,
                         "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    uri = f"http://127.0.0.1:{free_port()}"
    with ExitStack() as stack:
        server, log = Services(stack, tmp_path).start("mlflow-auth", [
            VENV_BIN / "mlflow", "server", "--app-name", "basic-auth", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--artifacts-destination", str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", uri.rsplit(":", 1)[1],
            "--workers", "1",
        ], server_env, tmp_path)
        wait_until(lambda: answers(f"{uri}/health"), "the MLflow server with basic-auth", server, log)
        search = f"{uri}/api/2.0/mlflow/experiments/search?max_results=1"
        for credentials in (None, ("admin", "not-the-password")):
            request = urllib.request.Request(search)
            if credentials:
                request.add_header("Authorization", "Basic " + base64.b64encode(":".join(credentials).encode()).decode())
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401

        client_env = base | {"MLFLOW_TRACKING_URI": uri, "MLFLOW_TRACKING_USERNAME": "admin",
                             "MLFLOW_TRACKING_PASSWORD": password, "MLFLOW_EXPERIMENT_NAME": "secure"}
        printed = cli(["position", "--dataset", str(real_data), "--profile", "smoke",
                       "--overrides", f"data.data_dir={tmp_path / 'data'}"], client_env, tmp_path)
        run_id = printed.strip().splitlines()[-1].removeprefix("MLflow run: ")
        with patch.dict(os.environ, {key: client_env[key] for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}):
            run = MlflowClient(uri).get_run(run_id)
        assert run.info.status == "FINISHED" and run.data.metrics["AOGM"] >= 0
        logged = [*run.data.params.values(), *run.data.tags.values(), printed, log.read_text()]
        assert not any(password in text for text in logged) and "@" not in uri
