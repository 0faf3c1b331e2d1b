"""Pins (SPEC section 2, interpolation setup): annotated nodes whose outgoing links are fixed.

``pins`` maps an annotated parent node to its GT children: ``()`` (track end: every out-link fixed
to 0), one child (that edge fixed to 1) or two (that hyperedge fixed to 1); all other edges and
hyperedges leaving the parent are fixed to 0. A GT link that is not a candidate is counted in
``n_missing`` and its parent is left unpinned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from benchmark.errors import ConfigError, LinkingError
from benchmark.linking.candidates import CandidateGraph

Pins = Mapping[int, Sequence[int]]

FREE, OFF, ON = -1, 0, 1


@dataclass(frozen=True)
class PinPlan:
    """Per candidate: FREE (-1), fixed OFF (0) or fixed ON (1); and the pin counts."""

    edges: np.ndarray  # (E,) int8
    hyperedges: np.ndarray  # (H,) int8
    pinned_nodes: np.ndarray  # parents whose pin is applied
    n_pins: int
    n_missing: int


def plan_pins(candidates: CandidateGraph, pins: Pins | None) -> PinPlan:
    """Translate ``pins`` into fixed values; raise LinkingError when two pins claim one child."""
    edge_fix = np.full(len(candidates.edges), FREE, np.int8)
    hyper_fix = np.full(len(candidates.hyperedges), FREE, np.int8)
    if not pins:
        return PinPlan(edge_fix, hyper_fix, np.empty(0, np.int64), 0, 0)
    parents, children = _validated(pins, candidates.n_nodes)
    _check_no_shared_child(parents, children)

    n_children = np.array([len(c) for c in children])
    first = np.array([c[0] if c else -1 for c in children], np.int64)
    second = np.array([c[1] if len(c) == 2 else -1 for c in children], np.int64)
    single, double = n_children == 1, n_children == 2
    edge_on = np.full(len(parents), -1, np.int64)
    hyper_on = np.full(len(parents), -1, np.int64)
    edge_on[single] = candidates.edge_ids(parents[single], first[single])
    hyper_on[double] = candidates.hyperedge_ids(parents[double], first[double], second[double])
    missing = (single & (edge_on < 0)) | (double & (hyper_on < 0))

    applied = parents[~missing]
    edge_fix[np.isin(candidates.edges[:, 0], applied)] = OFF
    hyper_fix[np.isin(candidates.hyperedges[:, 0], applied)] = OFF
    edge_fix[edge_on[single & ~missing]] = ON
    hyper_fix[hyper_on[double & ~missing]] = ON
    return PinPlan(edge_fix, hyper_fix, np.sort(applied), len(parents), int(missing.sum()))


def _validated(pins: Pins, n_nodes: int) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    parents, children = [], []
    for parent, kids in pins.items():
        kids = tuple(int(k) for k in kids)
        if not 0 <= int(parent) < n_nodes or any(not 0 <= k < n_nodes for k in kids):
            raise ConfigError(f"pins[{parent}] = {kids}: node ids must be in [0, {n_nodes})")
        if len(kids) > 2 or len(set(kids)) != len(kids):
            raise ConfigError(f"pins[{parent}] = {kids}: expected 0, 1 or 2 distinct children")
        parents.append(int(parent))
        children.append(kids)
    return np.array(parents, np.int64), children


def _check_no_shared_child(parents: np.ndarray, children: list[tuple[int, ...]]) -> None:
    claimed_by: dict[int, int] = {}
    for parent, kids in zip(parents.tolist(), children):
        for kid in kids:
            if kid in claimed_by:
                raise LinkingError(
                    f"contradictory pins: nodes {claimed_by[kid]} and {parent} both claim node {kid} as their child"
                )
            claimed_by[kid] = parent
