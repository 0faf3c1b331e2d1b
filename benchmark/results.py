"""Committed result files: the numbers the README publishes, with where and how they were measured.

A results file is JSON (``results/*.json`` for main-job and sweep results, exported from MLflow by
``scripts/export_results.py``; ``bench/results/*.json`` for the benchmarks), one object:

- ``date`` (required): when the numbers were measured, an ISO 8601 date, or date and time with a UTC
  offset;
- ``machine`` (required): ``cpu`` (model), ``cpu_count``, ``os``, and ``torch_cpu_capability``,
  ``gpu`` where torch was used (see ``benchmark.runtime.machine``);
- ``versions`` (required): ``python`` and package versions;
- ``rows`` (required): a list of flat objects (str, int, float, bool or null values), one per
  measurement;
- ``schema``: this format's version (SCHEMA); ``git_commit``: the code's commit; ``source``: what
  produced the numbers (a command line, a sweep run); any other field a producer needs.

``write_results`` fills ``schema``, ``date``, ``machine``, ``versions`` and ``git_commit`` for a
measurement made now.

``scripts/render_readme.py`` renders the README's generated tables from such files only.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmark.errors import DataError
from benchmark.runtime import git_commit, machine, package_versions

SCHEMA = 1
REQUIRED_FIELDS = ("date", "machine", "versions", "rows")


def here_and_now() -> dict[str, Any]:
    """``date``, ``machine``, ``versions`` and ``git_commit`` of a measurement made by this process now."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": package_versions(),
        "git_commit": git_commit(),
    }


def write_results(path: Path, rows: list[dict[str, Any]], *, source: str, **provenance: Any) -> Path:
    """Write a results file: ``rows`` with ``source`` and ``provenance`` (date, machine, versions,
    git_commit; each taken from ``here_and_now()`` when not given). Checked as ``read_results`` would."""
    document = {"schema": SCHEMA, **here_and_now(), **provenance, "source": source, "rows": rows}
    path = Path(path)
    check_results(document, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path


def read_results(path: Path) -> dict[str, Any]:
    """A results file, checked; DataError naming the file and the field that is wrong."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"not a readable results file ({error})") from None
    check_results(document, path)
    return document


def _is_date(text: Any) -> bool:
    try:
        when = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return len(text) == len("YYYY-MM-DD") or when.utcoffset() is not None


def check_results(document: Any, path: Path) -> None:
    """DataError naming ``path`` unless ``document`` follows the module's format."""
    if not isinstance(document, dict):
        raise DataError(path, "a results file is a JSON object")
    missing = [name for name in REQUIRED_FIELDS if name not in document]
    if missing:
        raise DataError(path, f"results file without field(s) {', '.join(missing)}")
    if document.get("schema", SCHEMA) != SCHEMA:
        raise DataError(path, f"field schema: {document['schema']!r}, this suite reads schema {SCHEMA}")
    if not _is_date(document["date"]):
        raise DataError(
            path, f"field date: {document['date']!r} is no ISO 8601 date, or date and time with a UTC offset"
        )
    for name in ("machine", "versions"):
        if not isinstance(document[name], dict) or not document[name]:
            raise DataError(path, f"field {name}: must be a non-empty object")
    rows = document["rows"]
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise DataError(path, "field rows: must be a list of objects")
    for number, row in enumerate(rows):
        nested = [key for key, value in row.items() if not isinstance(value, (str, int, float, bool, type(None)))]
        if nested:
            raise DataError(path, f"field rows[{number}]: {', '.join(nested)} must be plain values (a flat row)")
