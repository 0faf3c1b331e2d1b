"""Evaluation through traccuracy: the counts and scores the paper's tables are built from."""

from __future__ import annotations

import math

import networkx as nx
import pytest

from benchmark.evaluation import METRIC_NAMES, division_f1, evaluate_graphs, mean_metrics


def lineage(nodes: list[tuple[int, float, float]], edges: list[tuple[int, int]]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from((n, {"t": t, "y": y, "x": 0.0}) for n, (t, y, _) in enumerate(nodes))
    graph.add_edges_from(edges)
    return graph


@pytest.fixture
def gt() -> nx.DiGraph:
    """Two tracks over 4 frames; track A divides after frame 1."""
    nodes = [(0, 0, 0), (1, 0, 0), (2, -5, 0), (2, 5, 0), (3, -5, 0), (3, 5, 0), (0, 40, 0), (1, 40, 0), (2, 40, 0), (3, 40, 0)]
    edges = [(0, 1), (1, 2), (1, 3), (2, 4), (3, 5), (6, 7), (7, 8), (8, 9)]
    return lineage(nodes, edges)


def test_ground_truth_against_itself_is_perfect(gt):
    metrics = evaluate_graphs(gt, gt)
    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["AOGM"] == 0
    assert metrics["TRA"] == 1.0
    assert metrics["DET"] == 1.0
    assert metrics["Division F1"] == 1.0
    assert metrics["MBC"] == 1.0
    assert metrics["TP divisions"] == 1


def test_one_missing_edge_costs_one_and_a_half(gt):
    pred = gt.copy()
    pred.remove_edge(7, 8)
    metrics = evaluate_graphs(gt, pred)
    assert metrics["AOGM"] == 1.5
    assert (metrics["fn_edges"], metrics["fp_edges"], metrics["ws_edges"]) == (1, 0, 0)
    assert metrics["TRA"] < 1.0
    assert metrics["AOGM per 1000 GT edges"] == pytest.approx(1000 * 1.5 / 8)


def test_division_given_to_the_wrong_parent_is_counted(gt):
    pred = gt.copy()
    pred.remove_edge(1, 3)
    pred.add_edge(7, 3)  # the daughter is stolen by the neighbouring track: a false division there
    metrics = evaluate_graphs(gt, pred)
    assert metrics["FN divisions"] == 1
    assert metrics["FP divisions"] == 1
    assert metrics["TP divisions"] == 0
    assert metrics["Division F1"] == 0.0  # traccuracy gives NaN here; there are divisions, so it is 0
    assert metrics["fp_edges"] == 1 and metrics["fn_edges"] == 1
    assert metrics["AOGM"] == pytest.approx(1 + 1.5 + metrics["ws_edges"])


def test_evaluation_leaves_its_inputs_untouched(gt):
    before = {n: dict(d) for n, d in gt.nodes(data=True)}
    evaluate_graphs(gt, gt)
    evaluate_graphs(gt, gt)
    assert {n: dict(d) for n, d in gt.nodes(data=True)} == before


def test_division_f1_is_undefined_only_without_any_division():
    assert math.isnan(division_f1(0, 0, 0))
    assert division_f1(0, 1, 0) == 0.0
    assert division_f1(1, 2, 2) == 0.5


def test_mean_ignores_undefined_values(gt):
    perfect = evaluate_graphs(gt, gt)
    no_divisions = dict(perfect, **{"Division F1": math.nan, "AOGM": 3.0})
    mean = mean_metrics({"a": perfect, "b": no_divisions})
    assert mean["AOGM"] == 1.5
    assert mean["Division F1"] == 1.0
    assert math.isnan(mean_metrics({"b": no_divisions})["Division F1"])
