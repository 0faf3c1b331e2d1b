"""Fuzzed grid files (sweep and main-job grids): each bad grid ends in a ConfigError naming the file,
never in a library's exception or a hang (see fuzzing.py for the time limit and the counts)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from attrackt.finetune import SETUPS
from attrackt.sampling import STRATEGIES
from benchmark.config import PROFILES, flatten, load_config
from benchmark.errors import ConfigError
from benchmark.sweep.grid import GRIDS, TABLE1_METHODS, load_grid
from fuzzing import Draw, FUZZ, LETTERS, NON_INTEGRAL, is_number, outcome_table, record, time_limit

__all__ = ["outcome_table", "CONFIG", "NOT_FLOATS", "NUMERIC_KEYS"]

VALID_GRID = {
    "profile": "smoke",
    "datasets": ["synth-bacteria"],
    "seeds": [0],
    "methods": ["position"],
    "finetune": {"k": [10], "sampling": ["confidence"], "setup": ["interpolation"]},
    "overrides": {"linking.w1": 1.0},
}
CONFIG = flatten(load_config("quick"))
#: Numeric profile fields (data.synth takes any keys and values).
NUMERIC_KEYS = sorted(key for key, value in CONFIG.items() if type(value) in (int, float) and "synth." not in key)
NOT_FLOATS = LETTERS.filter(lambda text: not is_number(text) and isinstance(yaml.safe_load(text), str))
JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.lists(st.integers()))
BAD_OVERRIDE_MAPPINGS = st.one_of(
    NOT_FLOATS.map(lambda text: {f"linking.{text}": 1}),
    st.tuples(st.sampled_from(NUMERIC_KEYS), NOT_FLOATS).map(lambda item: dict([item])),
    st.sampled_from([{"linking": 5}, {"profile.x": 1}, {"": 1}, {"linking.k_neighbors": 0}, {"model.dropout": 1.5}]),
)


def names_except(allowed: Any) -> st.SearchStrategy[str]:
    return LETTERS.filter(lambda name: name not in allowed)


def grid_with(*keys: str, values: st.SearchStrategy[Any]) -> Callable[[Draw], dict[str, Any]]:
    """The valid grid with the value at ``keys`` replaced by a drawn one."""

    def corrupt(draw: Draw) -> dict[str, Any]:
        tree = yaml.safe_load(yaml.safe_dump(VALID_GRID))
        node = tree
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = draw(values)
        return tree

    return corrupt


def grid_without(draw: Draw) -> dict[str, Any]:
    missing = draw(st.sampled_from(["profile", "datasets", "seeds"]))
    return {key: value for key, value in VALID_GRID.items() if key != missing}


def grid_with_unknown_field(draw: Draw) -> dict[str, Any]:
    return {**VALID_GRID, draw(names_except([*VALID_GRID, "scratch"])): draw(JUNK)}


def impossible_date(draw: Draw) -> bytes:
    date = f"{draw(st.integers(1000, 9999))}-{draw(st.integers(13, 99))}-01"  # PyYAML raises ValueError
    return f"profile: smoke\ndatasets: [x]\nseeds: [{date}]\n".encode()


BAD_K = st.one_of(
    st.integers(max_value=0),
    names_except(["all"]),
    st.none(),
    NON_INTEGRAL,
    st.sampled_from([float("inf"), float("nan")]),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
BAD_ANNOTATION_GRIDS = st.one_of(
    LETTERS, st.lists(st.integers(), max_size=2), st.sampled_from([{}, {"k": [10]}, {**VALID_GRID["finetune"], "extra": 1}])
)
#: name -> a bad grid (a tree to write as YAML, or bytes); load_grid must raise a ConfigError naming the file.
GRID_KINDS: dict[str, Callable[[Draw], Any]] = {
    "profile": grid_with("profile", values=st.one_of(names_except(PROFILES), st.integers(), st.none(), st.lists(LETTERS))),
    "datasets": grid_with(
        "datasets",
        values=st.one_of(
            st.just([]),
            LETTERS,
            st.lists(st.integers(), min_size=1, max_size=3),
            st.none(),
            st.dictionaries(LETTERS, st.integers(), min_size=1, max_size=2),
        ),
    ),
    "seeds": grid_with(
        "seeds",
        values=st.one_of(
            st.just([]),
            st.lists(st.integers(max_value=-1), min_size=1, max_size=3),
            st.integers(0, 9).map(lambda seed: [seed, seed]),
            st.lists(LETTERS, min_size=1, max_size=2),
            st.lists(NON_INTEGRAL, min_size=1, max_size=2),
            st.none(),
            LETTERS,
        ),
    ),
    "methods": grid_with(
        "methods", values=st.one_of(st.lists(names_except(TABLE1_METHODS), min_size=1, max_size=2), LETTERS, st.integers())
    ),
    "k": grid_with("finetune", "k", values=st.one_of(st.just([]), st.lists(BAD_K, min_size=1, max_size=3))),
    "sampling": grid_with(
        "finetune", "sampling", values=st.one_of(st.just([]), st.lists(names_except(STRATEGIES), min_size=1), LETTERS)
    ),
    "setup": grid_with(
        "finetune", "setup", values=st.one_of(st.just([]), st.lists(names_except(SETUPS), min_size=1), LETTERS)
    ),
    "annotation grid": grid_with("finetune", values=BAD_ANNOTATION_GRIDS),
    "overrides": grid_with(
        "overrides", values=st.one_of(NOT_FLOATS, st.lists(st.integers(), min_size=1, max_size=2), BAD_OVERRIDE_MAPPINGS)
    ),
    "unknown field": grid_with_unknown_field,
    "missing field": grid_without,
    "not a mapping": lambda draw: draw(st.one_of(st.lists(JUNK, max_size=3), JUNK)),
    "random text": lambda draw: draw(st.text(max_size=60)).encode(),
    "not UTF-8": lambda draw: yaml.safe_dump(VALID_GRID).encode() + draw(st.sampled_from([b"\xff", b"\x80\n", b"\xc3("])),
    "impossible date": impossible_date,
}


@FUZZ
@pytest.mark.parametrize("kind", GRID_KINDS)
@given(data=st.data())
def test_bad_grid_file(kind, data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.yaml"
        content = GRID_KINDS[kind](data.draw)
        path.write_bytes(content if isinstance(content, bytes) else yaml.safe_dump(content).encode())
        started = time.perf_counter()
        with pytest.raises(ConfigError) as caught, time_limit():
            load_grid(str(path))
        assert str(path) in str(caught.value)
        record("grid", kind, "ConfigError", time.perf_counter() - started)


@FUZZ
@given(name=st.text(max_size=20).filter(lambda name: name.strip() and name not in GRIDS and not Path(name).exists()))
def test_grid_that_is_no_file(name):
    with pytest.raises(ConfigError, match="parameter grid=") as caught:
        load_grid(name)
    assert repr(name) in str(caught.value)
    record("grid", "no such file", "ConfigError", 0.0)
