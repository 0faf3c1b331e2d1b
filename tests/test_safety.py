"""Safety, by scanning the source: checkpoints load weights only, nothing is unpickled, no subprocess
goes through a shell, and the servers the suite starts or suggests bind to 127.0.0.1."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("attrackt", "baselines", "benchmark", "bench")
SOURCES = sorted(p for package in PACKAGES for p in (PROJECT_ROOT / package).rglob("*.py"))
#: Modules whose import (or use) would unpickle data.
PICKLING = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"}
#: Calls that run a command line through a shell.
SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput")}


def dotted(node: ast.expr) -> tuple[str, ...]:
    """("torch", "load") for ``torch.load``; () for anything that is not a plain dotted name."""
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, ast.Attribute):
        prefix = dotted(node.value)
        return (*prefix, node.attr) if prefix else ()
    return ()


def keyword_is(call: ast.Call, name: str, value: object) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is value for k in call.keywords)


def problems(source: str, filename: str) -> list[str]:
    """Every unsafe load, pickle use or shell call in ``source``, as ``file:line: what``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where}: imports {a.name}" for a in node.names if a.name.split(".")[0] in PICKLING]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PICKLING:
            found.append(f"{where}: imports from {node.module}")
        elif isinstance(node, ast.Call):
            name = dotted(node.func)
            if name[-2:] == ("torch", "load") and not keyword_is(node, "weights_only", True):
                found.append(f"{where}: torch.load without weights_only=True")
            if name[-2:] == ("np", "load") and not keyword_is(node, "allow_pickle", False):
                found.append(f"{where}: np.load without allow_pickle=False")
            if name[-1:] == ("read_pickle",) or name[-2:] in SHELL_CALLS:
                found.append(f"{where}: {'.'.join(name)}")
            if any(k.arg == "shell" and not keyword_is(node, "shell", False) for k in node.keywords):
                found.append(f"{where}: shell=")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "0.0.0.0" in node.value:
            found.append(f"{where}: binds to every interface")
    return found


def test_the_scan_catches_each_kind_of_problem():
    bad = (
        "import pickle\nfrom joblib import load\nimport torch, numpy as np, os, subprocess\n"
        "torch.load('a')\ntorch.load('a', weights_only=False)\nnp.load('a')\nos.system('ls')\n"
        "subprocess.run('ls', shell=True)\nsubprocess.run(['ls'], shell=flag)\nhost = '0.0.0.0'\n"
    )
    assert [line.split(": ", 1)[1] for line in problems(bad, "bad.py")] == [
        "imports pickle", "imports from joblib", "torch.load without weights_only=True",
        "torch.load without weights_only=True", "np.load without allow_pickle=False", "os.system", "shell=", "shell=",
        "binds to every interface",
    ]
    good = "import torch, subprocess\ntorch.load('a', weights_only=True)\nsubprocess.run(['ls'], shell=False)\n"
    assert problems(good, "good.py") == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_source_loads_safely_and_never_uses_a_shell(path: Path):
    assert problems(path.read_text(), str(path.relative_to(PROJECT_ROOT))) == []


def test_suggested_servers_bind_to_localhost():
    """Every ``mlflow ui|server`` command the suite prints or documents names --host 127.0.0.1."""
    documents = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "scripts").glob("*"))]
    texts = [p.read_text() for p in SOURCES + documents]
    commands = [line for text in texts for line in text.splitlines() if re.search(r"mlflow (ui|server)\b", line)]
    assert commands  # the README and the CLI both suggest one
    assert all("--host 127.0.0.1" in line for line in commands), commands
