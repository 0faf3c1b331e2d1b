"""Linking (SPEC section 2): candidate graph, edge costs, the globally constrained ILP and a greedy
fallback, behind one entry point ``link``."""

from benchmark.linking.candidates import CandidateGraph, build_candidate_graph
from benchmark.linking.costs import (
    EdgeTerm,
    LinkingWeights,
    appearance_from_associations,
    appearance_from_embeddings,
    edge_costs,
    position_distance,
    zscore,
)
from benchmark.linking.decompose import frame_pair_blocks, solve_decomposed, split_model
from benchmark.linking.greedy import greedy_link
from benchmark.linking.ilp import IlpModel, IlpResult, build_model, objective_value, solve
from benchmark.linking.linker import Appearance, LinkingSolution, link
from benchmark.linking.pins import PinPlan, Pins, plan_pins

__all__ = [
    "Appearance",
    "CandidateGraph",
    "EdgeTerm",
    "IlpModel",
    "IlpResult",
    "LinkingSolution",
    "LinkingWeights",
    "PinPlan",
    "Pins",
    "appearance_from_associations",
    "appearance_from_embeddings",
    "build_candidate_graph",
    "build_model",
    "edge_costs",
    "frame_pair_blocks",
    "greedy_link",
    "link",
    "objective_value",
    "plan_pins",
    "position_distance",
    "solve",
    "solve_decomposed",
    "split_model",
    "zscore",
]
