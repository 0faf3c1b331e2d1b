"""Lineages as GEFF (graph exchange file format) zarr stores, through the ``geff`` package.

A store holds one sequence's detections as nodes (id = node id) with the properties ``t`` (frame),
``y``, ``x`` (centroid, px) and ``label`` (the detection's mask label), the axes t, y, x, and the
lineage as directed edges (parent node id, child node id).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from geff.core_io import read_to_memory, write_arrays
from geff_spec import Axis, GeffMetadata

from benchmark.data.sequence import Sequence
from benchmark.errors import DataError

#: Node properties written and read, in this order.
NODE_PROPERTIES: tuple[str, ...] = ("t", "y", "x", "label")


def write_geff(path: Path, seq: Sequence, edges: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write ``seq``'s detections and the (M, 2) (parent, child) node-id ``edges`` to ``path``.

    ``extra``: further node properties, one value per detection. An existing store at ``path`` is
    replaced. Returns ``path``.
    """
    detections = seq.detections
    metadata = GeffMetadata(
        directed=True,
        axes=[
            Axis(name="t", type="time", unit="frame"),
            Axis(name="y", type="space", unit="pixel"),
            Axis(name="x", type="space", unit="pixel"),
        ],
        node_props_metadata={},
        edge_props_metadata={},
    )
    props = {name: {"values": detections[name].to_numpy(), "missing": None} for name in NODE_PROPERTIES}
    props.update({name: {"values": np.asarray(values), "missing": None} for name, values in (extra or {}).items()})
    write_arrays(
        str(path),
        detections["node_id"].to_numpy(dtype=np.uint64),
        props,
        np.asarray(edges, dtype=np.uint64).reshape(-1, 2),
        None,
        metadata,
        overwrite=True,
    )
    return Path(path)


def read_geff(path: Path, extra: tuple[str, ...] = ()) -> tuple[pd.DataFrame, np.ndarray]:
    """Nodes (columns ``node_id`` + NODE_PROPERTIES + those of the ``extra`` properties the store has,
    sorted by node id) and (M, 2) int64 edges.

    Raises DataError naming ``path`` when it is not a GEFF store or lacks a node property.
    """
    try:
        graph = read_to_memory(str(path))
    except (OSError, ValueError, KeyError) as error:
        raise DataError(path, f"not a readable GEFF store ({error})") from None
    missing = [name for name in NODE_PROPERTIES if name not in graph["node_props"]]
    if missing:
        raise DataError(path, f"GEFF nodes lack the propert(ies) {', '.join(missing)}")
    nodes = pd.DataFrame({"node_id": graph["node_ids"].astype(np.int64)})
    for name in (*NODE_PROPERTIES, *(name for name in extra if name in graph["node_props"])):
        nodes[name] = graph["node_props"][name]["values"]
    edges = np.asarray(graph["edge_ids"], dtype=np.int64).reshape(-1, 2)
    return nodes.sort_values("node_id", ignore_index=True), edges
