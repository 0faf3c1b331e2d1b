"""The one path every method shares: link each evaluation sequence, then score it against its GT.

A method differs only in the appearance term it hands to the linker (``appearance``, giving d2 on a
sequence's candidate graph) and in the sign/weight of that term (``w2``); position only passes
neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from benchmark.config import LinkingConfig
from benchmark.data.sequence import Dataset, Sequence, lineage_graph
from benchmark.evaluation import evaluate_graphs, mean_metrics
from benchmark.linking import CandidateGraph, EdgeTerm, LinkingSolution, LinkingWeights, link
from benchmark.linking.pins import Pins

#: d2 of a sequence's candidate edges and hyperedges, computed by a method.
AppearanceFn = Callable[[Sequence, CandidateGraph], EdgeTerm]


@dataclass
class SequenceOutcome:
    """Linking result and metrics of one evaluation sequence (no metrics for a sequence without GT)."""

    solution: LinkingSolution
    metrics: dict[str, float]


@dataclass
class DatasetOutcome:
    """Per-sequence outcomes of a dataset's evaluation sequences, and their mean metrics."""

    sequences: dict[str, SequenceOutcome] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        """Mean of each metric over the scored sequences; empty when none has GT."""
        scored = {name: outcome.metrics for name, outcome in self.sequences.items() if outcome.metrics}
        return mean_metrics(scored) if scored else {}


def track_sequence(
    sequence: Sequence,
    linking: LinkingConfig,
    appearance: AppearanceFn | None = None,
    w2: float | None = None,
    pins: Pins | None = None,
) -> LinkingSolution:
    """Solve the linking problem of one sequence with the configured weights and solver; the method's
    ``w2`` is multiplied by ``linking.w2_scale``."""
    weights = LinkingWeights(
        w1=linking.w1,
        w2=None if w2 is None else w2 * linking.w2_scale,
        b=linking.b,
        appear=linking.appear_cost,
        disappear=linking.disappear_cost,
    )
    edge_term = None if appearance is None else (lambda candidates: appearance(sequence, candidates))
    return link(
        sequence.frames(),
        sequence.positions(),
        edge_term,
        weights=weights,
        k_neighbors=linking.k_neighbors,
        solver=linking.solver,
        time_limit_s=linking.time_limit_s,
        mip_rel_gap=linking.mip_rel_gap,
        pins=pins,
        threads=linking.threads,
        decompose=linking.decompose,
    )


def evaluate_sequence(sequence: Sequence, edges: np.ndarray) -> dict[str, float]:
    """traccuracy metrics of predicted (parent, child) edges against the sequence's GT lineage."""
    return evaluate_graphs(sequence.gt_graph(), lineage_graph(sequence.detections, edges))


def track_and_evaluate(
    dataset: Dataset,
    linking: LinkingConfig,
    appearance: AppearanceFn | None = None,
    w2: float | None = None,
    pins: dict[str, Pins] | None = None,
) -> DatasetOutcome:
    """Link every evaluation sequence of ``dataset`` (with ``pins[sequence name]`` if given) and score
    those with GT (``Sequence.has_gt``)."""
    outcome = DatasetOutcome()
    for sequence in dataset.evaluation_sequences():
        solution = track_sequence(sequence, linking, appearance, w2, (pins or {}).get(sequence.name))
        metrics = evaluate_sequence(sequence, solution.edges) if sequence.has_gt else {}
        outcome.sequences[sequence.name] = SequenceOutcome(solution, metrics)
    return outcome
