"""Running a trained association model over a whole sequence (SPEC section 4, inference).

As Trackastra 0.5.6 (``predict_windows``, ``normalize_output``) and the Attrackt reference
(``Trackastra.track`` with test-time augmentation):

- every window at stride 1 is scored; Â is the quiet parental softmax of the logits in which pairs
  farther apart than the model's ``attention_cutoff`` px (256) are left out of the normalisation and
  set to 0;
- adjacent-frame associations (dt = 1) with Â >= ``min_association`` are kept, and each (parent,
  child) pair is averaged over the windows that produced it;
- with test-time augmentation (tta) the sequence is scored under each of the 8 rotations/flips of
  the square separately, thresholded per variant as above, and a pair's weight is the mean over the
  variants that produced it of its per-variant mean (the reference's ``average_weights``).

Memory (docs/tokens.md): one forward pass holds at most ``max_tokens`` tokens where the data allow.
A larger window is split into overlapping spatial tiles (``attrackt.tiles``, halo = the attention
cutoff) and each child's associations come from the tile whose core holds it; TTA variants of a
window or tile are batched only as far as variants × tokens² stays within ``max_tokens``². Under
the cap the result is Trackastra's whole-window result.

The result is a table (parent, child, weight) of node ids, the d2 of the ILP.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from attrackt.augment import SQUARE_SYMMETRIES, affine
from attrackt.model.quiet_softmax import quiet_parental_softmax
from attrackt.tiles import spatial_tiles
from attrackt.windows import SequenceTokens, Window, collate
from benchmark.config import InferenceConfig

ASSOCIATION_COLUMNS = ["parent", "child", "weight"]
#: Default cap of tokens in one inference forward pass (InferenceConfig.max_tokens).
INFERENCE_MAX_TOKENS: int = InferenceConfig.model_fields["max_tokens"].default


@torch.no_grad()
def tile_associations(
    model: torch.nn.Module,
    tile: Window,
    core: np.ndarray,
    pivot: np.ndarray,
    tta: bool,
    max_tokens: int,
    device: torch.device,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Â of the adjacent-frame pairs of ``tile`` whose child is in ``core`` ((n,) bool) and whose
    tokens are at most the model's attention cutoff apart.

    Returns (parents, children, scores): token indices into ``tile`` (m,) each and scores
    (variants, m), one row per TTA variant (the 8 symmetries about ``pivot`` (y, x) px, or the tile
    itself without ``tta``).
    """
    n = len(tile)
    yx = torch.as_tensor(tile.yx, dtype=torch.float32, device=device)
    # exact pairwise distances (no matrix-product shortcut): a pair's side of the cutoff never depends on the tile
    far = torch.cdist(yx, yx, compute_mode="donot_use_mm_for_euclid_dist") > model.config.attention_cutoff
    frames = torch.as_tensor(tile.t, device=device)
    in_core = torch.as_tensor(core, device=device)
    pairs = (frames[None, :] - frames[:, None] == 1) & ~far & in_core[None, :]
    parents, children = torch.nonzero(pairs, as_tuple=True)
    variants = [affine(tile, matrix, pivot) for matrix in SQUARE_SYMMETRIES] if tta else [tile]
    group = max(1, min(len(variants), int((max_tokens / n) ** 2)))
    scores = []
    for first in range(0, len(variants), group):
        batch = collate(variants[first : first + group]).to(device)
        logits = model(batch.coordinates, batch.features, batch.valid).float()
        normalised = quiet_parental_softmax(logits.masked_fill(far, float("-inf")), batch.frames, batch.valid)
        scores.append(normalised[:, parents, children].cpu())
    return parents.cpu().numpy(), children.cpu().numpy(), torch.cat(scores).numpy()


def predict_associations(
    model: torch.nn.Module,
    tokens: SequenceTokens,
    node_ids: np.ndarray,
    *,
    window: int,
    min_association: float,
    tta: bool,
    device: torch.device,
    max_tokens: int = INFERENCE_MAX_TOKENS,
) -> pd.DataFrame:
    """The sequence's association table: one row per (parent, child) node-id pair in adjacent frames
    that some window (and, with ``tta``, some variant) scored at least ``min_association``."""
    was_training = model.training
    model.eval()
    n = len(tokens.t)
    keys: list[list[np.ndarray]] = [[] for _ in range(len(SQUARE_SYMMETRIES) if tta else 1)]
    values: list[list[np.ndarray]] = [[] for _ in keys]
    oversized = []
    for start in tqdm(tokens.window_starts(window), desc=f"associations {tokens.name}", disable=None, leave=False):
        whole = tokens.window(start, window, with_targets=False)
        for tile in spatial_tiles(whole.yx, max_tokens, model.config.attention_cutoff):
            part = whole.subset(tile.members)
            if len(part) > max_tokens:
                oversized.append(len(part))
            parents, children, scores = tile_associations(
                model, part, tile.core[tile.members], tokens.centre, tta, max_tokens, device
            )
            key = part.rows[parents] * n + part.rows[children]
            for variant, variant_scores in enumerate(scores):
                kept = variant_scores >= min_association
                keys[variant].append(key[kept])
                values[variant].append(variant_scores[kept])
    model.train(was_training)
    if oversized:
        warnings.warn(
            f"sequence {tokens.name}: {len(oversized)} inference tile(s) above inference.max_tokens={max_tokens} "
            f"(largest {max(oversized)} tokens): the detections are too dense for the cap with a "
            f"{model.config.attention_cutoff:g} px halo; memory grows with the square of the tokens",
            stacklevel=2,
        )
    per_variant = [_mean_by_key(variant_keys, variant_values) for variant_keys, variant_values in zip(keys, values)]
    unique, mean = _mean_by_key([k for k, _ in per_variant], [v for _, v in per_variant])
    return pd.DataFrame(
        {"parent": node_ids[unique // n], "child": node_ids[unique % n], "weight": mean},
        columns=ASSOCIATION_COLUMNS,
    )


def _mean_by_key(keys: list[np.ndarray], values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique keys, mean of the values of each key) over the concatenated parts."""
    keys_all = np.concatenate([np.empty(0, np.int64), *keys])
    values_all = np.concatenate([np.empty(0), *values])
    unique, inverse = np.unique(keys_all, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(unique))
    return unique, np.bincount(inverse, weights=values_all, minlength=len(unique)) / counts
