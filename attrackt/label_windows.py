"""Training windows around labelled nodes (annotations or pseudo-labels) with their targets and masks.

A label says: node p has exactly these children. In a window it makes known (SPEC section 7): p's row
to every node of the next frame (1 for its children, 0 otherwise) and each child's column to every
node of p's frame (1 for p, 0 otherwise). All other entries are unknown (masked out of the loss).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from attrackt.augment import augment, crop
from attrackt.windows import Batch, SequenceTokens, Window, collate
from benchmark.config import ModelConfig

#: Per sequence, labelled node row -> its children's rows (node ids are rows).
Labels = dict[str, dict[int, tuple[int, ...]]]


def labels_from_table(table: pd.DataFrame, children_column: str) -> Labels:
    """Labels from a table with columns sequence, node_id and a column of children tuples."""
    labels: Labels = {}
    for sequence, node, children in zip(table["sequence"], table["node_id"], table[children_column]):
        labels.setdefault(str(sequence), {})[int(node)] = tuple(int(c) for c in children)
    return labels


def labelled_window(window: Window, labels: Mapping[int, tuple[int, ...]]) -> Window:
    """``window`` with the targets and the mask that ``labels`` (of its sequence) make known."""
    n = len(window)
    target = np.zeros((n, n), dtype=np.float32)
    mask = np.zeros((n, n), dtype=bool)
    position = {int(row): index for index, row in enumerate(window.rows)}
    for index, row in enumerate(window.rows):
        children = labels.get(int(row))
        if children is None:
            continue
        frame = window.t[index]
        mask[index, window.t == frame + 1] = True
        for child in children:
            if child in position:
                mask[window.t == frame, position[child]] = True
                target[index, position[child]] = 1.0
    return replace(window, target=target, mask=mask)


def labelled_batches(
    tokens: Mapping[str, SequenceTokens],
    labels: Labels,
    model: ModelConfig,
    batch_size: int,
    rng: np.random.Generator,
    device: torch.device,
    augmented: bool = True,
) -> Iterator[Batch]:
    """Endless batches of windows that each contain a labelled node and its next frame: a labelled node
    is drawn uniformly, then a start frame uniformly among those that keep both frames inside.

    Every window holds at most ``model.max_tokens`` tokens, augmented or not: above the cap it is cut
    to the square around the drawn node (see ``label_crop``), so the label it was drawn for survives."""
    nodes = [(name, row) for name, rows in labels.items() for row in rows]
    if not nodes:
        raise ValueError("labelled_batches needs at least one label")
    while True:
        windows = []
        for _ in range(batch_size):
            name, row = nodes[rng.integers(len(nodes))]
            sequence = tokens[name]
            frame = int(sequence.t[row])
            last_start = max(0, sequence.n_frames - model.window)
            first, last = min(max(0, frame + 2 - model.window), last_start), min(frame, last_start)
            window = sequence.window(int(rng.integers(first, last + 1)), model.window, False)
            window = labelled_window(label_crop(window, row, labels[name][row], model.max_tokens, rng), labels[name])
            windows.append(augment(window, rng, np.inf, model.max_tokens) if augmented else window)
        yield collate(windows).to(device)


def label_crop(window: Window, row: int, children: tuple[int, ...], max_tokens: int, rng: np.random.Generator) -> Window:
    """``window`` cut to at most ``max_tokens`` tokens around the labelled node ``row`` (a sequence row):
    the tokens nearest to it in Chebyshev distance, the node and its ``children`` always among them
    (see ``attrackt.augment.crop``). Other labels in the window keep what of them the square holds."""
    required = np.isin(window.rows, (row, *children))
    centre = window.yx[np.flatnonzero(window.rows == row)[0]]
    return crop(window, np.inf, max_tokens, rng, centre=centre, required=required)
