"""Grid files: which runs a sweep makes, validated, and expanded into runs in dependency order.

A grid (YAML) names a profile, datasets, seeds, the Table 1 methods, and optionally the annotation
grids of fine-tuning and of training from scratch (k × sampling × setup). Named grids live in
``benchmark/grids/<name>.yaml``; any other value is read as a path. Every run gets a config hash
(entry point, dataset, seed, annotation settings, fully resolved profile): a sweep that is run again
skips the runs that already finished with the same hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from attrackt.sampling import parse_k
from benchmark.config import flatten, load_config
from benchmark.errors import ConfigError

GRID_DIR = Path(__file__).resolve().parent.parent / "grids"
GRIDS: tuple[str, ...] = ("smoke", "quick", "paper")
TABLE1_METHODS: tuple[str, ...] = ("position", "reid", "autoencoder", "attrackt", "supervised")
#: What each entry point needs to have finished first (on the same dataset and seed).
NEEDS: dict[str, str] = {"attrackt": "autoencoder", "finetune": "attrackt", "scratch": "attrackt"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnnotationGrid(_Strict):
    """k × sampling × setup of the fine-tuning (or from-scratch) runs."""

    k: list[str] = Field(min_length=1)
    sampling: list[Literal["confidence", "random", "optimal"]] = Field(min_length=1)
    setup: list[Literal["interpolation", "extrapolation"]] = Field(min_length=1)

    @field_validator("k", mode="before")
    @classmethod
    def _k_values(cls, values: Any) -> Any:
        if not isinstance(values, list):
            return values
        for value in values:
            try:
                parse_k(value)
            except ConfigError as error:
                raise ValueError(str(error)) from None
        return [str(value).lower() for value in values]


class Grid(_Strict):
    """A sweep's grid file."""

    profile: Literal["smoke", "quick", "paper"]
    datasets: list[str] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    methods: list[Literal["position", "reid", "autoencoder", "attrackt", "supervised"]] = Field(default_factory=list)
    finetune: AnnotationGrid | None = None
    scratch: AnnotationGrid | None = None
    overrides: dict[str, Any] = Field(default_factory=dict, description="profile overrides of every run")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct integers >= 0")
        return seeds


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid. ``needs``: the spec that must finish first (its run id is passed on)."""

    entry_point: str
    dataset: str
    seed: int
    profile: str
    overrides: dict[str, Any] = field(hash=False, compare=False)
    k: str | None = None
    sampling: str | None = None
    setup: str | None = None
    needs: RunSpec | None = field(default=None, hash=False, compare=False)

    @property
    def name(self) -> str:
        parts = [self.entry_point, self.dataset, self.k, self.sampling, self.setup, str(self.seed)]
        return "-".join(part for part in parts if part is not None)

    def config_hash(self) -> str:
        """Hash of everything that determines the run's result (the resolved profile included)."""
        resolved = flatten(load_config(self.profile, self.overrides))
        identity = {
            "entry_point": self.entry_point, "dataset": self.dataset, "seed": self.seed,
            "k": self.k, "sampling": self.sampling, "setup": self.setup, "config": resolved,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_grid(name_or_path: str) -> Grid:
    """A named grid (smoke, quick, paper) or a grid file; ConfigError naming the file and the field."""
    path = GRID_DIR / f"{name_or_path}.yaml" if name_or_path in GRIDS else Path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"parameter grid={name_or_path!r}: not a named grid ({', '.join(GRIDS)}) nor a file")
    try:
        tree = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, ValueError) as error:  # ValueError: not UTF-8, or an impossible date
        raise ConfigError(f"grid file {path}: not valid YAML ({error})") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"grid file {path}: expected a mapping of grid fields, got {type(tree).__name__}")
    try:
        grid = Grid.model_validate(tree)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in error.errors()
        )
        raise ConfigError(f"grid file {path}: {problems}") from None
    try:
        load_config(grid.profile, grid.overrides)
    except ConfigError as error:
        raise ConfigError(f"grid file {path}: overrides: {error}") from None
    return grid


def expand(grid: Grid) -> list[RunSpec]:
    """Every run of ``grid``, each after the run it needs (autoencoder, then Attrackt, then fine-tuning)."""
    runs: list[RunSpec] = []
    for dataset in grid.datasets:
        for seed in grid.seeds:
            made: dict[str, RunSpec] = {}

            def add(entry_point: str, **annotation: str | None) -> RunSpec:
                need = NEEDS.get(entry_point)
                if need is not None and need not in made:
                    add(need)
                spec = RunSpec(entry_point, dataset, seed, grid.profile, grid.overrides, needs=made.get(need), **annotation)
                if not annotation:
                    made[entry_point] = spec
                runs.append(spec)
                return spec

            for method in TABLE1_METHODS:
                if method in grid.methods and method not in made:
                    add(method)
            for entry_point in ("finetune", "scratch"):
                annotations: AnnotationGrid | None = getattr(grid, entry_point)
                if annotations is None:
                    continue
                for setup in annotations.setup:
                    for sampling in annotations.sampling:
                        for k in annotations.k:
                            add(entry_point, k=k, sampling=sampling, setup=setup)
    return runs
