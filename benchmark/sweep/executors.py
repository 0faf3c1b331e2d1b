"""Where a sweep's runs execute: threads of the sweep's own process, or tasks on a Dask cluster.

Both give a ``concurrent.futures.Executor``, so the sweep schedules runs with one loop whatever the
executor. ``local``: a pool of ``workers`` threads, each waiting on one entry-point process. ``dask``:
each run is a task (``pure=False``: a unique key, never deduplicated) on the Dask distributed cluster
whose scheduler listens at ``scheduler`` (``tcp://HOST:PORT``), or, without an address, on a
LocalCluster of ``workers`` processes with one thread each. Dask workers must import ``benchmark``
(the same checkout and environment) and reach the MLflow tracking store. Light on purpose: Dask is
imported only when a cluster is used, so the command line validates options without it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

from benchmark.errors import ConfigError

EXECUTORS: tuple[str, ...] = ("local", "dask")
SCHEDULER_ADDRESS = re.compile(r"tcp://(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})")
#: Seconds to wait for a Dask scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 30


def check_executor(executor: str, workers: int, scheduler: str | None) -> None:
    """ConfigError naming the parameter unless ``executor`` is known and ``scheduler`` fits it.

    ``scheduler`` must be ``tcp://HOST:PORT`` (port 1-65535) and is only for ``dask``; with it, the
    cluster's workers decide how many runs go at once, so ``workers`` must stay 1.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"parameter executor={executor!r}: must be one of {', '.join(EXECUTORS)}")
    if scheduler is None:
        return
    if executor != "dask":
        raise ConfigError(f"parameter scheduler={scheduler!r}: only with executor=dask (got executor={executor!r})")
    match = SCHEDULER_ADDRESS.fullmatch(scheduler)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ConfigError(f"parameter scheduler={scheduler!r}: must be a Dask scheduler address tcp://HOST:PORT")
    if workers != 1:
        raise ConfigError(
            f"parameter workers={workers}: with scheduler={scheduler} the cluster's workers decide how many "
            "runs go at once; leave workers at 1"
        )


def current_worker() -> str | None:
    """Address of the Dask worker executing the caller, None outside a Dask worker's task (Dask is
    only looked at when this process has imported it already)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.get_worker().address
    except ValueError:  # not in a task of a worker
        return None


@contextmanager
def open_executor(executor: str, workers: int, scheduler: str | None = None) -> Iterator[Executor]:
    """The executor the runs are submitted to, shut down (with any LocalCluster it started) on exit."""
    check_executor(executor, workers, scheduler)
    if executor == "local":
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield pool
        return
    from distributed import Client, LocalCluster

    with ExitStack() as stack:
        if scheduler is None:
            target = stack.enter_context(
                LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            )
        else:
            target = scheduler
        try:
            client = stack.enter_context(Client(target, timeout=CONNECT_TIMEOUT_S))
        except OSError as error:  # distributed raises OSError (TimeoutError included) when nothing answers
            raise ConfigError(f"parameter scheduler={scheduler!r}: no Dask scheduler answers there ({error})") from None
        yield client.get_executor(pure=False)
