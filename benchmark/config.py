"""Profiles: validated run configurations (smoke, quick, paper) with dotted-key overrides.

A profile is a YAML file in ``benchmark/profiles/``; every field can be overridden by an entry-point
parameter ``section.field=value`` (e.g. ``linking.time_limit_s=60``). The resolved config is what a
run logs as its params.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchmark.errors import ConfigError

PROFILE_DIR = Path(__file__).parent / "profiles"
PROFILES: tuple[str, ...] = ("smoke", "quick", "paper")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Where data lives and how the synthetic presets are generated."""

    data_dir: str = Field("data", description="folder of generated and downloaded datasets")
    synth_seed: int = Field(0, ge=0, description="seed of the synthetic generator (fixed across run seeds)")
    synth: dict[str, Any] = Field(default_factory=dict, description="size overrides of the synthetic preset")


class LinkingConfig(_Section):
    """Candidate graph and ILP (SPEC section 2). w2 is set by the method (None: no appearance term)."""

    k_neighbors: int = Field(10, ge=1)
    w1: float = 1.0
    b: float = 0.0
    appear_cost: float = 1.0
    disappear_cost: float = 1.0
    solver: str = Field("highs", description="highs | greedy | pulp | pulp:<PuLP solver name>")
    time_limit_s: float | None = Field(None, gt=0)
    mip_rel_gap: float = Field(0.0, ge=0)
    threads: int = Field(1, ge=1)


class RunConfig(_Section):
    """The fully resolved configuration of one run."""

    profile: Literal["smoke", "quick", "paper"]
    data: DataConfig = Field(default_factory=DataConfig)
    linking: LinkingConfig = Field(default_factory=LinkingConfig)


def parse_override(text: str) -> tuple[str, Any]:
    """``"section.field=value"`` -> (key, YAML-parsed value)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. linking.time_limit_s=60")
    return key.strip(), yaml.safe_load(value) if value.strip() else None


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    *sections, leaf = key.split(".")
    node = tree
    for section in sections:
        child = node.setdefault(section, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key!r}: {section!r} is a value, not a section")
        node = child
    node[leaf] = value


def load_config(profile: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The profile's YAML with ``overrides`` (dotted keys) applied, validated."""
    if profile not in PROFILES:
        raise ConfigError(f"parameter profile={profile!r}: must be one of {', '.join(PROFILES)}")
    tree = yaml.safe_load((PROFILE_DIR / f"{profile}.yaml").read_text()) or {}
    tree["profile"] = profile
    for key, value in (overrides or {}).items():
        _set_dotted(tree, key, value)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in error.errors()
        )
        raise ConfigError(f"profile {profile!r} with overrides {overrides or {}}: {problems}") from None


def flatten(config: BaseModel) -> dict[str, Any]:
    """Dotted-key view of a config (``linking.w1`` ...), for MLflow params."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(f"{prefix}.{key}" if prefix else key, child)
        else:
            flat[prefix] = value

    walk("", config.model_dump())
    return flat
