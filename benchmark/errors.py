"""The suite's own error type: every bad input ends in one of these, with a message naming the culprit."""

from __future__ import annotations

from pathlib import Path


class BenchmarkError(Exception):
    """Base class of every error the suite raises on purpose."""


class DataError(BenchmarkError):
    """Bad input data. The message names the file and, where there is one, the line."""

    def __init__(self, path: Path | str, message: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class ConfigError(BenchmarkError):
    """A bad parameter value or configuration file. The message names the parameter."""


class LinkingError(BenchmarkError):
    """The linking problem could not be solved (e.g. contradictory pins)."""
