"""The ``suggest`` entry point: which nodes of a tracked movie a person should check next (SPEC section 7,
the confidence strategy).

Input: a finished tracking run (``track``, ``attrackt``, ``finetune``, ``scratch`` or ``supervised``)
with ``predictions/<seq>.geff`` (its tracks) and ``associations/<seq>.csv`` (its Â). Per node of
each sequence: the uncertainty |Σ_w Â(v→w) − #predicted children of v| (attrackt.sampling). The GT is
unknown, so every node that could have children is a candidate: not in its sequence's last frame and
not annotated yet. Annotated already: the nodes of the run's own ``annotations.csv`` (a fine-tuned
run's annotations, pinned in its tracks) and of the annotation file ``exclude`` when given. The k
most uncertain candidates over all sequences are the suggestions.

Output (logged to the suggest run; also written to the folder ``output`` when given):
``suggestions.csv`` (SUGGESTION_COLUMNS: the node, its predicted children as ``12;13``, empty for
none, and its score = uncertainty; edit ``children`` and it is an annotation file for
``finetune --annotation-file``) and ``suggestions/<seq>.geff`` (the suggested nodes with node
property ``annotated`` = 1, their predicted children with 0, and the predicted links between them;
see attrackt.annotation_files for its use as an annotation file).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from attrackt.annotation_files import ANNOTATED_PROPERTY, children_text, read_annotations
from attrackt.sampling import node_pool, parse_k, rank_nodes
from benchmark.config import load_config
from benchmark.data.geff_io import read_geff, write_geff
from benchmark.data.sequence import NO_PARENT, Sequence
from benchmark.errors import ConfigError, DataError
from benchmark.mlflow_run import entry_point_run
from benchmark.run_lookup import check_run_id

SUGGESTION_COLUMNS = ["sequence", "node_id", "t", "y", "x", "children", "score"]
PREDICTIONS, ASSOCIATIONS, ANNOTATIONS = "predictions", "associations", "annotations.csv"


def tracked_run(run_id: str) -> Run:
    """The finished run ``run_id``; ConfigError (parameter ``run``) when it is unknown, unfinished or
    lacks predictions or associations."""
    check_run_id("run", run_id)
    client = MlflowClient()
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ConfigError(
            f"parameter run={run_id!r}: no such run in the MLflow store {mlflow.get_tracking_uri()}"
        ) from None
    if run.info.status != "FINISHED":
        raise ConfigError(f"parameter run={run_id!r}: the run did not finish (status {run.info.status})")
    for folder in (PREDICTIONS, ASSOCIATIONS):
        if not client.list_artifacts(run_id, folder):
            raise ConfigError(
                f"parameter run={run_id!r}: the {run.data.tags.get('entry_point')!r} run has no {folder}/; suggest "
                "needs a run that tracked the movie with associations (track, attrackt, finetune, scratch, supervised)"
            )
    return run


def movie_sequence(name: str, nodes: pd.DataFrame) -> Sequence:
    """The movie's sequence ``name`` as its tracks' GEFF nodes hold it: detections without GT or features."""
    return Sequence(name, nodes.assign(parent_id=NO_PARENT), n_frames=int(nodes["t"].max()) + 1, has_gt=False)


def tracked_movie(run_id: str, folder: Path) -> dict[str, tuple[Sequence, np.ndarray, pd.DataFrame]]:
    """Per sequence of the run's predictions: (sequence, predicted (parent, child) edges, association table)."""
    client = MlflowClient()
    items = client.list_artifacts(run_id, PREDICTIONS)
    stores = sorted(Path(item.path).name for item in items if item.path.endswith(".geff"))
    movie = {}
    for store in stores:
        name = store.removesuffix(".geff")
        nodes, edges = read_geff(Path(client.download_artifacts(run_id, f"{PREDICTIONS}/{store}", str(folder))))
        if not np.array_equal(nodes["node_id"].to_numpy(), np.arange(len(nodes))):
            raise DataError(folder / PREDICTIONS / store, "node ids are not 0..N-1 (not tracks written by this suite)")
        try:
            table = pd.read_csv(client.download_artifacts(run_id, f"{ASSOCIATIONS}/{name}.csv", str(folder)))
        except (OSError, MlflowException):
            raise ConfigError(
                f"parameter run={run_id!r}: the run has predictions of sequence {name!r} but no {ASSOCIATIONS}/{name}.csv"
            ) from None
        movie[name] = (movie_sequence(name, nodes), edges, table)
    return movie


def annotated_nodes(run_id: str, exclude: str | None, sequences: dict[str, Sequence], folder: Path) -> pd.MultiIndex:
    """(sequence, node_id) of the nodes annotated already: the run's annotations.csv and the file ``exclude``."""
    client = MlflowClient()
    tables = []
    if any(item.path == ANNOTATIONS for item in client.list_artifacts(run_id)):
        tables.append(pd.read_csv(client.download_artifacts(run_id, ANNOTATIONS, str(folder)), dtype={"sequence": str}))
    if exclude:
        tables.append(read_annotations(Path(exclude), sequences))
    columns = ["sequence", "node_id"]
    keys = pd.concat([table[columns] for table in tables]) if tables else pd.DataFrame(columns=columns)
    return pd.MultiIndex.from_frame(keys.astype({"sequence": str, "node_id": np.int64}))


def rank_suggestions(
    movie: dict[str, tuple[Sequence, np.ndarray, pd.DataFrame]], annotated: pd.MultiIndex, k: int | None, seed: int
) -> pd.DataFrame:
    """The k most uncertain nodes (all when ``k`` is None) that could have children and are not
    annotated (SUGGESTION_COLUMNS)."""
    pool = pd.concat([node_pool(sequence, table, edges) for sequence, edges, table in movie.values()], ignore_index=True)
    last_frame = pool.groupby("sequence")["t"].transform("max")
    candidates = pool[(pool["t"] < last_frame) & ~pd.MultiIndex.from_frame(pool[["sequence", "node_id"]]).isin(annotated)]
    ranked = rank_nodes(candidates, "confidence", np.random.default_rng(seed))
    chosen = ranked if k is None else ranked.head(k)
    return pd.DataFrame(
        {
            "sequence": chosen["sequence"],
            "node_id": chosen["node_id"],
            "t": chosen["t"],
            "y": chosen["y"],
            "x": chosen["x"],
            "children": chosen["ilp_children"].map(children_text),
            "score": chosen["uncertainty"],
        },
        columns=SUGGESTION_COLUMNS,
    )


def write_suggestions(
    suggestions: pd.DataFrame, movie: dict[str, tuple[Sequence, np.ndarray, pd.DataFrame]], folder: Path
) -> Path:
    """``folder``/suggestions.csv and ``folder``/suggestions/<seq>.geff (see the module docstring); the CSV's path."""
    folder.mkdir(parents=True, exist_ok=True)
    suggestions.to_csv(folder / "suggestions.csv", index=False)
    stores = folder / "suggestions"
    shutil.rmtree(stores, ignore_errors=True)
    stores.mkdir()
    for name, rows in suggestions.groupby("sequence"):
        sequence, edges, _ = movie[name]
        suggested = rows["node_id"].to_numpy()
        links = edges[np.isin(edges[:, 0], suggested)]
        nodes = sequence.detections[np.isin(sequence.detections["node_id"], np.concatenate([suggested, links[:, 1]]))]
        flags = np.isin(nodes["node_id"], suggested).astype(np.int8)
        write_geff(stores / f"{name}.geff", Sequence(name, nodes, sequence.n_frames), links, {ANNOTATED_PROPERTY: flags})
    return folder / "suggestions.csv"


def run_suggest(
    run: str,
    k: str = "20",
    exclude: str | None = None,
    output: str | None = None,
    profile: str = "quick",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, str]:
    """The ``suggest`` entry point: log (and write to the folder ``output``) the ``k`` nodes to check next
    (``k``: a positive integer or ``all``). ``profile``, ``seed`` and ``overrides`` are logged as by
    every entry point; the ranking needs no settings (the confidence order has no random part).

    Returns the suggestions table and where its CSV is (``output``'s, else the run's artifact URI).
    """
    count = parse_k(k)
    config = load_config(profile, overrides)
    source = tracked_run(run)
    params = {"dataset": source.data.params.get("dataset", ""), "run": run, "k": str(k), "seed": seed}
    # only those given: ``mlflow run`` has logged the entry point's parameters already, an empty one as "''"
    params.update({name: value for name, value in (("exclude", exclude), ("output", output)) if value})
    with entry_point_run("suggest", config, params), tempfile.TemporaryDirectory() as tmp:
        movie = tracked_movie(run, Path(tmp) / "run")
        annotated = annotated_nodes(run, exclude, {name: entry[0] for name, entry in movie.items()}, Path(tmp) / "run")
        suggestions = rank_suggestions(movie, annotated, count, seed)
        mlflow.log_metrics({"suggestions": len(suggestions), "annotated_before": len(annotated)})
        written = write_suggestions(suggestions, movie, Path(tmp) / "out")
        mlflow.log_artifacts(str(written.parent))
        where = mlflow.get_artifact_uri("suggestions.csv")
        if output:
            where = str(write_suggestions(suggestions, movie, Path(output)))
    return suggestions, where
