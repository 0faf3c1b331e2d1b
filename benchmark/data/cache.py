"""On-disk cache of computed detection tables, and content fingerprints of datasets.

A cached table is keyed by what it was computed from: the input files' paths, sizes and
modification times plus the parameters of the computation (feature version, ``merge_st``), so an
edited file or a new feature definition is a cache miss. Entries are ``<key>.npz`` files (one array
per column plus a JSON ``__meta__`` entry), written atomically (temporary file + rename) so that
concurrent runs never read a half-written entry.

Default folder: ``$ATTRACKT_CACHE`` when set, else ``<project>/.cache/features``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_META = "__meta__"


def default_cache_dir() -> Path:
    """``$ATTRACKT_CACHE`` when set, else ``<project>/.cache/features``."""
    env = os.environ.get("ATTRACKT_CACHE")
    return Path(env) if env else PROJECT_ROOT / ".cache" / "features"


def cache_key(files: Iterable[Path], params: Mapping[str, Any]) -> str:
    """Hex sha256 of the files' absolute paths, sizes and mtimes (ns) and of ``params`` (JSON)."""
    digest = hashlib.sha256(json.dumps(dict(params), sort_keys=True, default=str).encode())
    for path in files:
        stat = Path(path).stat()
        digest.update(f"{Path(path).resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_table(cache_dir: Path, key: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """The table and metadata stored under ``key``, or None when absent or unreadable."""
    path = Path(cache_dir) / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored[_META]))
            table = pd.DataFrame({column: stored[column] for column in meta["columns"]})
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    return table, meta["meta"]


def save_table(cache_dir: Path, key: str, table: pd.DataFrame, meta: Mapping[str, Any]) -> Path:
    """Store ``table`` (numeric columns) and JSON-serialisable ``meta`` under ``key``; returns the file."""
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    columns = [str(column) for column in table.columns]
    arrays = {column: table[column].to_numpy() for column in columns}
    arrays[_META] = np.array(json.dumps({"columns": columns, "meta": dict(meta)}))
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        final = folder / f"{key}.npz"
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


def fingerprint(files: Iterable[Path], root: Path, extra: Mapping[str, Any] | None = None) -> str:
    """Hex sha256 of the files' contents and paths relative to ``root``, and of ``extra`` (JSON).

    Independent of where the dataset lives and of file times: two copies of the same data (and the
    same ``extra``, e.g. the split) have the same fingerprint.
    """
    digest = hashlib.sha256(json.dumps(dict(extra or {}), sort_keys=True, default=str).encode())
    for path in files:
        digest.update(f"{Path(path).relative_to(root).as_posix()}\0".encode())
        with open(path, "rb") as stream:
            digest.update(hashlib.file_digest(stream, "sha256").digest())
    return digest.hexdigest()
