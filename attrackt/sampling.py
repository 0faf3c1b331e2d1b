"""Which nodes a person annotates (SPEC section 7): uncertainty, the three sampling strategies, and the
pseudo-labels of the most certain nodes.

An annotation is a node with all its GT outgoing links. Nodes are pooled over the sequences being
annotated; one row of a pool is one node (sequence, node_id). Children are tuples of node ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.data.sequence import Sequence
from benchmark.errors import ConfigError

STRATEGIES = ("confidence", "random", "optimal")
POOL_COLUMNS = ["sequence", "node_id", "t", "y", "x", "uncertainty", "ilp_children", "gt_children"]


def children_of(n_nodes: int, edges: np.ndarray) -> list[tuple[int, ...]]:
    """Per node, the sorted tuple of its children in the (parent, child) ``edges``."""
    children: list[list[int]] = [[] for _ in range(n_nodes)]
    for parent, child in np.asarray(edges, dtype=np.int64).reshape(-1, 2):
        children[parent].append(int(child))
    return [tuple(sorted(c)) for c in children]


def uncertainty(n_nodes: int, associations: pd.DataFrame, ilp_edges: np.ndarray) -> np.ndarray:
    """|Σ_w Â(v→w) − #ILP children of v| per node, over the adjacent-frame associations of the table."""
    mass = np.bincount(associations["parent"].to_numpy(np.int64), associations["weight"].to_numpy(), n_nodes)
    degree = np.bincount(np.asarray(ilp_edges, dtype=np.int64).reshape(-1, 2)[:, 0], minlength=n_nodes)
    return np.abs(mass - degree)


def node_pool(sequence: Sequence, associations: pd.DataFrame, ilp_edges: np.ndarray) -> pd.DataFrame:
    """Every node of ``sequence`` with its uncertainty, ILP children and GT children (POOL_COLUMNS)."""
    detections = sequence.detections
    n = len(detections)
    return pd.DataFrame(
        {
            "sequence": sequence.name,
            "node_id": detections["node_id"].to_numpy(),
            "t": detections["t"].to_numpy(),
            "y": detections["y"].to_numpy(),
            "x": detections["x"].to_numpy(),
            "uncertainty": uncertainty(n, associations, ilp_edges),
            "ilp_children": children_of(n, ilp_edges),
            "gt_children": children_of(n, sequence.gt_edges()),
        },
        columns=POOL_COLUMNS,
    )


def rank_annotations(pool: pd.DataFrame, strategy: str, rng: np.random.Generator) -> pd.DataFrame:
    """The annotatable nodes (at least one GT child) in the order ``strategy`` would annotate them
    (see ``rank_nodes``)."""
    return rank_nodes(pool[pool["gt_children"].map(len) > 0], strategy, rng)


def rank_nodes(candidates: pd.DataFrame, strategy: str, rng: np.random.Generator) -> pd.DataFrame:
    """The rows of ``candidates`` (a part of a pool) in the order ``strategy`` would annotate them.

    confidence: highest uncertainty first. random: a permutation drawn from ``rng``. optimal (an
    oracle, decision): nodes whose ILP children differ from their GT children first, each group by
    uncertainty. Ties keep (sequence, node_id) order. Adds the column ``rank`` (0 = first).
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"parameter sampling={strategy!r}: must be one of {', '.join(STRATEGIES)}")
    candidates = candidates.sort_values(["sequence", "node_id"], kind="stable")
    if strategy == "random":
        ranked = candidates.iloc[rng.permutation(len(candidates))]
    elif strategy == "confidence":
        ranked = candidates.sort_values("uncertainty", ascending=False, kind="stable")
    else:
        wrong = candidates["ilp_children"] != candidates["gt_children"]
        ranked = candidates.assign(_right=~wrong).sort_values(
            ["_right", "uncertainty"], ascending=[True, False], kind="stable"
        ).drop(columns="_right")
    return ranked.reset_index(drop=True).assign(rank=lambda frame: np.arange(len(frame)))


def parse_k(text: str | int) -> int | None:
    """The parameter k: a positive integer, or ``all`` (None)."""
    if str(text).strip().lower() == "all":
        return None
    try:
        k = int(str(text))  # not int(text): no float truncated, no bool, None, list or inf let through
    except ValueError:
        raise ConfigError(f"parameter k={text!r}: must be a positive integer or 'all'") from None
    if k < 1:
        raise ConfigError(f"parameter k={text!r}: must be a positive integer or 'all'")
    return k


def choose_annotations(pool: pd.DataFrame, strategy: str, k: int | None, rng: np.random.Generator) -> pd.DataFrame:
    """The first ``k`` nodes of the strategy's ranking (every annotatable node when ``k`` is None)."""
    ranked = rank_annotations(pool, strategy, rng)
    return ranked if k is None else ranked.head(k)


def pseudo_labels(
    pool: pd.DataFrame, annotated: pd.DataFrame, fraction: float, rule: str = "reference"
) -> pd.DataFrame:
    """The least uncertain nodes of ``pool`` whose ILP children (column ``ilp_children``) become labels.

    ``reference`` (the reference's rule): the int(fraction · len(pool)) least uncertain of all nodes,
    ranked as confidence sampling ranks them (most uncertain first, ties in (sequence, node_id) order)
    and taken from the end; annotated nodes and nodes without ILP child (leaves, e.g. every node of a
    last frame) count among them but give no label, so fewer rows come back.
    ``no_last_frame_negatives``: the round(fraction · len(pool)) least uncertain nodes among those not
    annotated and not in their sequence's last frame; a node without ILP child is kept, its empty tuple
    saying "no child" (a negative label). Rows come least uncertain first.
    """
    taken = pd.MultiIndex.from_frame(pool[["sequence", "node_id"]]).isin(
        pd.MultiIndex.from_frame(annotated[["sequence", "node_id"]])
    )
    if rule == "reference":
        ranked = pool.assign(_taken=taken).sort_values(["sequence", "node_id"], kind="stable")
        ranked = ranked.sort_values("uncertainty", ascending=False, kind="stable")
        least = ranked.tail(int(fraction * len(pool))).iloc[::-1]
        chosen = least[~least["_taken"] & (least["ilp_children"].map(len) > 0)].drop(columns="_taken")
    elif rule == "no_last_frame_negatives":
        last_frame = pool.groupby("sequence")["t"].transform("max")
        free = pool[~taken & (pool["t"] < last_frame)]
        chosen = free.sort_values("uncertainty", kind="stable").head(int(round(fraction * len(pool))))
    else:
        raise ConfigError(f"finetune.pseudo_label_rule={rule!r}: must be reference or no_last_frame_negatives")
    return chosen.reset_index(drop=True)
