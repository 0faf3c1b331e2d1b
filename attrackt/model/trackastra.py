"""Trackastra 0.5.6's ``TrackingTransformer`` weights in our AssociationModel: the constructor arguments
that give the same network as a ModelConfig, and the mapping of its parameter names onto ours.

Trackastra is not imported here; a state dict is a plain name -> tensor mapping. ``NAME_MAP`` below
is the mapping of names, Trackastra's -> ours (i: a layer, k: a coordinate or feature index):

- token embedding: ``proj``, ``norm`` -> ``embedding.project``, ``embedding.norm``;
  ``pos_embed.freqs.k`` -> ``embedding.coordinates.k.frequencies``;
  ``feat_embed.freqs.k`` -> ``embedding.features.k.frequencies``;
- layers: ``encoder.i.norm1``, ``norm2`` -> ``encoder.i.norm_attention``, ``norm_feedforward``;
  ``decoder.i.norm1``, ``norm2``, ``norm3`` -> ``decoder.i.norm_query``, ``norm_memory``,
  ``norm_feedforward``; in both, ``attn.q_pro``, ``k_pro``, ``v_pro``, ``proj`` ->
  ``attention.q_proj``, ``k_proj``, ``v_proj``, ``out_proj``; ``attn.rot_pos_enc.freqs.k`` ->
  ``attention.rotary.frequencies.k``; ``mlp.fc1``, ``fc2`` -> ``feedforward.0``, ``feedforward.2``;
- heads: ``head_x`` -> ``head_parent``, ``head_y`` -> ``head_child`` (``fc1``, ``fc2`` -> ``0``, ``2``).

Frequency vectors are stored (1, 1, n) by Trackastra and (n,) by us; every other tensor keeps its shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from benchmark.config import ModelConfig
from benchmark.data.sequence import FEATURE_COLUMNS
from benchmark.errors import ConfigError

#: (pattern on a Trackastra name, replacement giving ours), tried in order; the first match wins.
NAME_MAP: tuple[tuple[str, str], ...] = (
    (r"proj\.(weight|bias)", r"embedding.project.\1"),
    (r"norm\.(weight|bias)", r"embedding.norm.\1"),
    (r"pos_embed\.freqs\.(\d+)", r"embedding.coordinates.\1.frequencies"),
    (r"feat_embed\.freqs\.(\d+)", r"embedding.features.\1.frequencies"),
    (r"encoder\.(\d+)\.norm1\.", r"encoder.\1.norm_attention."),
    (r"encoder\.(\d+)\.norm2\.", r"encoder.\1.norm_feedforward."),
    (r"decoder\.(\d+)\.norm1\.", r"decoder.\1.norm_query."),
    (r"decoder\.(\d+)\.norm2\.", r"decoder.\1.norm_memory."),
    (r"decoder\.(\d+)\.norm3\.", r"decoder.\1.norm_feedforward."),
    (r"(encoder|decoder)\.(\d+)\.attn\.(q|k|v)_pro\.", r"\1.\2.attention.\3_proj."),
    (r"(encoder|decoder)\.(\d+)\.attn\.proj\.", r"\1.\2.attention.out_proj."),
    (r"(encoder|decoder)\.(\d+)\.attn\.rot_pos_enc\.freqs\.(\d+)", r"\1.\2.attention.rotary.frequencies.\3"),
    (r"(encoder|decoder)\.(\d+)\.mlp\.fc1\.", r"\1.\2.feedforward.0."),
    (r"(encoder|decoder)\.(\d+)\.mlp\.fc2\.", r"\1.\2.feedforward.2."),
    (r"head_x\.fc1\.", "head_parent.0."),
    (r"head_x\.fc2\.", "head_parent.2."),
    (r"head_y\.fc1\.", "head_child.0."),
    (r"head_y\.fc2\.", "head_child.2."),
)


def our_name(name: str) -> str:
    """Our parameter name for Trackastra's ``name``; ConfigError for a name the mapping does not know."""
    for pattern, replacement in NAME_MAP:
        ours, found = re.subn(f"^{pattern}", replacement, name)
        if found:
            return ours
    raise ConfigError(f"Trackastra parameter {name!r} has no counterpart in the association backbone")


def from_trackastra_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Trackastra's state dict renamed (and frequency vectors flattened) for AssociationModel.load_state_dict."""
    return {our_name(name): value.flatten() if ".freqs." in name else value for name, value in state.items()}


def trackastra_arguments(config: ModelConfig) -> dict[str, Any]:
    """Keyword arguments of ``trackastra.model.TrackingTransformer`` that build the network ``config``
    describes. ConfigError naming the parameter where Trackastra cannot express the config: it ties the
    time Fourier cutoff to the window, the spatial one to the attention cutoff, and fixes the feature
    cutoff (1000) and the attention prior's decay (0.1)."""
    fixed = {
        "time_cutoff": float(config.window),
        "space_cutoff": config.attention_cutoff,
        "feature_cutoff": 1000.0,
        "attention_prior_decay": 0.1,
    }
    for field, value in fixed.items():
        if getattr(config, field) != value:
            raise ConfigError(f"parameter model.{field}={getattr(config, field)}: Trackastra's network needs {value}")
    return {
        "coord_dim": 2,
        "feat_dim": len(FEATURE_COLUMNS),
        "d_model": config.d_model,
        "nhead": config.n_heads,
        "num_encoder_layers": config.encoder_layers,
        "num_decoder_layers": config.decoder_layers,
        "dropout": config.dropout,
        "pos_embed_per_dim": config.position_features,
        "feat_embed_per_dim": config.feature_features,
        "window": config.window,
        "spatial_pos_cutoff": config.attention_cutoff,
        "attn_positional_bias": "rope",
        "causal_norm": "quiet_softmax",
        "attn_dist_mode": "v0",
    }
