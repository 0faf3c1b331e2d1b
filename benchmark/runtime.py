"""What a run's numbers depend on besides its config, seed and data: CPU threads, the machine, the
package versions and the code.

torch splits a CPU float reduction (a matmul, a convolution, a sum) among its intra-op threads and
adds the partial results, so the same computation with 1 and with 2 threads differs in the last bits;
training amplifies that. Measured on synth-bacteria: Re-ID embeddings trained at ``smoke`` with 1 and
2 threads differ by up to 1.6e-6 after 20 steps; at ``quick`` the Re-ID AOGM was 122.5 with torch's
AVX2 kernels and 113.25 with its default ones (``ATEN_CPU_CAPABILITY=default``), same code and seed.
A run inheriting its thread count from the machine (or from how many runs a sweep starts at once)
would therefore not be repeatable elsewhere. Every entry-point run computes with the config's
``threads`` instead (``fixed_threads``) and logs the rest (``machine``, ``package_versions``,
``git_commit``): with the same threads, torch CPU kernel set and versions a CPU run repeats bit for
bit; on another kernel set, or on a GPU, it may differ, and a trained method's metrics with it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: Environment variables that set the thread count of torch (and other OpenMP/MKL users) at import.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Packages whose versions a run logs (``version.<name>``) and a results file records.
VERSIONED_PACKAGES = ("torch", "mlflow", "traccuracy", "highspy", "pulp", "numpy", "scikit-image", "networkx")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """Inside the block torch computes with ``threads`` CPU threads.

    torch is set directly when this process has imported it (and reset afterwards), and through
    THREAD_VARIABLES when it is imported inside the block (it then keeps ``threads``); a process that
    never uses torch (position only) is not made to import it.
    """
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch:
            torch.set_num_threads(previous)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what the platform module says."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def machine() -> dict[str, str]:
    """This machine: ``cpu`` (model), ``cpu_count`` (logical cores), ``os`` and, when torch is loaded,
    ``torch_cpu_capability`` (the CPU kernel set it picked: ``DEFAULT``, ``AVX2``, ``AVX512``, ...) and
    ``gpu`` (``none`` without CUDA)."""
    facts = {"cpu": cpu_model(), "cpu_count": str(os.cpu_count() or 0), "os": platform.platform()}
    torch = sys.modules.get("torch")
    if torch:
        facts["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        facts["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    return facts


def package_versions() -> dict[str, str]:
    """Python's and VERSIONED_PACKAGES' versions ("absent" for a package that is not installed)."""
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "absent"
    return versions


def git_commit() -> str:
    """The project checkout's HEAD commit, "unknown" outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"
