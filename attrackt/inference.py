"""Running a trained association model over a whole sequence (SPEC section 4, inference).

Every window at stride 1 is scored; with test-time augmentation the window is also scored under the
8 rotations/flips of the square and Â is averaged over them. Adjacent-frame associations (dt = 1)
with Â >= ``min_association`` are kept and each (parent, child) pair is averaged over the windows
that produced it. The result is a table (parent, child, weight) of node ids, the d2 of the ILP.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from attrackt.augment import SQUARE_SYMMETRIES, affine
from attrackt.model.quiet_softmax import quiet_parental_softmax
from attrackt.windows import SequenceTokens, collate

ASSOCIATION_COLUMNS = ["parent", "child", "weight"]


@torch.no_grad()
def window_associations(
    model: torch.nn.Module, tokens: SequenceTokens, start: int, length: int, tta: bool, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Â of one window, (n, n) over its tokens (averaged over the 8 symmetries when ``tta``), and the
    tokens' rows in the sequence."""
    window = tokens.window(start, length, with_targets=False)
    if len(window) == 0:
        return np.zeros((0, 0)), window.rows
    if tta:
        variants = [affine(window, matrix, tokens.centre) for matrix in SQUARE_SYMMETRIES]
    else:
        variants = [window]
    batch = collate(variants).to(device)
    logits = model(batch.coordinates, batch.features, batch.valid)
    normalised = quiet_parental_softmax(logits.float(), batch.frames, batch.valid)
    return normalised.mean(dim=0).cpu().numpy(), window.rows


def predict_associations(
    model: torch.nn.Module,
    tokens: SequenceTokens,
    node_ids: np.ndarray,
    *,
    window: int,
    min_association: float,
    tta: bool,
    device: torch.device,
) -> pd.DataFrame:
    """The sequence's association table: one row per (parent, child) node-id pair in adjacent frames."""
    was_training = model.training
    model.eval()
    keys, values = [], []
    n = len(tokens.t)
    for start in tokens.window_starts(window):
        scores, rows = window_associations(model, tokens, start, window, tta, device)
        frame = tokens.t[rows]
        adjacent = (frame[None, :] - frame[:, None]) == 1
        i, j = np.nonzero(adjacent & (scores >= min_association))
        keys.append(rows[i] * n + rows[j])
        values.append(scores[i, j])
    model.train(was_training)
    keys_all, values_all = np.concatenate([np.empty(0, np.int64)] + keys), np.concatenate([np.empty(0)] + values)
    unique, inverse = np.unique(keys_all, return_inverse=True)
    mean = np.bincount(inverse, weights=values_all, minlength=len(unique)) / np.bincount(inverse, minlength=len(unique))
    return pd.DataFrame(
        {"parent": node_ids[unique // n], "child": node_ids[unique % n], "weight": mean},
        columns=ASSOCIATION_COLUMNS,
    )
