"""Tracking metrics through traccuracy 0.4.3 (SPEC section 3).

Predictions link the GT detections themselves, so GT and predicted graphs share node ids and the
matching is the identity: node errors are 0 and AOGM = FP_edges + 1.5·FN_edges + WS_edges.

Metric names are traccuracy's, except that "Mitotic Branching Correctness" is logged as "MBC" and
the division counts are logged as "TP divisions", "FP divisions", "FN divisions", "WC divisions".
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import networkx as nx
import numpy as np
from traccuracy import TrackingGraph, run_metrics
from traccuracy.matchers._base import Matcher  # the public package exports only concrete matchers
from traccuracy.metrics import CTCMetrics, DivisionMetrics

#: Every metric `evaluate_graphs` returns, in report order.
METRIC_NAMES: tuple[str, ...] = (
    "AOGM",
    "TRA",
    "DET",
    "LNK",
    "MBC",
    "Division F1",
    "Division Recall",
    "Division Precision",
    "TP divisions",
    "FP divisions",
    "FN divisions",
    "WC divisions",
    "fp_edges",
    "fn_edges",
    "ws_edges",
    "gt_edges",
    "AOGM per 1000 GT edges",
)


class IdentityMatcher(Matcher):
    """Matches every GT node to the predicted node with the same id (one-to-one)."""

    _matching_type = "one-to-one"

    def _compute_mapping(self, gt_graph: TrackingGraph, pred_graph: TrackingGraph) -> list[tuple[Any, Any]]:
        pred_nodes = pred_graph.graph.nodes
        return [(node, node) for node in gt_graph.graph.nodes if node in pred_nodes]


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """traccuracy 0.4.3 draws three tqdm bars per evaluated sequence; replace them by plain iteration."""
    with patch("traccuracy.track_errors._ctc.tqdm", lambda iterable, *args, **kwargs: iterable):
        yield


def _tracking_graph(graph: nx.DiGraph) -> TrackingGraph:
    """A traccuracy graph over a fresh copy: traccuracy writes its flags into the graph it gets."""
    fresh = nx.DiGraph()
    fresh.add_nodes_from((n, {"t": d["t"], "y": d["y"], "x": d["x"]}) for n, d in graph.nodes(data=True))
    fresh.add_edges_from(graph.edges)
    return TrackingGraph(fresh, frame_key="t", location_keys=("y", "x"))


def division_f1(tp: int, n_gt: int, n_pred: int) -> float:
    """F1 of division detection, 2·TP / (#GT divisions + #predicted divisions).

    traccuracy returns NaN whenever there is no true-positive division; here F1 is 0 then, and NaN
    only when neither graph has a division (the score is undefined).
    """
    if n_gt + n_pred == 0:
        return math.nan
    return 2.0 * tp / (n_gt + n_pred)


def evaluate_graphs(gt: nx.DiGraph, pred: nx.DiGraph) -> dict[str, float]:
    """All metrics of METRIC_NAMES for one sequence. Nodes need attributes t, y, x; inputs are untouched."""
    with _quiet_progress_bars():
        results, _ = run_metrics(
            _tracking_graph(gt), _tracking_graph(pred), IdentityMatcher(), [CTCMetrics(), DivisionMetrics()]
        )
    ctc = results[0]["results"]
    div = results[1]["results"]["Frame Buffer 0"]
    n_gt_edges = gt.number_of_edges()
    metrics = {
        "AOGM": float(ctc["AOGM"]),
        "TRA": float(ctc["TRA"]),
        "DET": float(ctc["DET"]),
        "LNK": float(ctc["LNK"]),
        "MBC": float(div["Mitotic Branching Correctness"]),
        "Division F1": division_f1(
            div["True Positive Divisions"], div["Total GT Divisions"], div["Total Predicted Divisions"]
        ),
        "Division Recall": float(div["Division Recall"]),
        "Division Precision": float(div["Division Precision"]),
        "TP divisions": float(div["True Positive Divisions"]),
        "FP divisions": float(div["False Positive Divisions"]),
        "FN divisions": float(div["False Negative Divisions"]),
        "WC divisions": float(div["Wrong Children Divisions"]),
        "fp_edges": float(ctc["fp_edges"]),
        "fn_edges": float(ctc["fn_edges"]),
        "ws_edges": float(ctc["ws_edges"]),
        "gt_edges": float(n_gt_edges),
        "AOGM per 1000 GT edges": 1000.0 * float(ctc["AOGM"]) / max(n_gt_edges, 1),
    }
    return {name: metrics[name] for name in METRIC_NAMES}


def mean_metrics(per_sequence: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Dataset-level value of each metric: the mean over sequences, ignoring undefined (NaN) values.

    A metric undefined in every sequence stays NaN.
    """
    means = {}
    for name in METRIC_NAMES:
        values = np.array([seq[name] for seq in per_sequence.values()], dtype=np.float64)
        defined = values[~np.isnan(values)]
        means[name] = float(defined.mean()) if len(defined) else math.nan
    return means
