"""The appearance term d2 of a finished method run: on a dataset's validation sequences (for the
search) and, separately, on its evaluation sequences (read only after the search).

Association methods: on the validation sequences Â is inferred here with the run's checkpoint (the
one the method links with: supervised ``checkpoints/best.pt``, Attrackt ``checkpoints/last.pt``) and
logged as ``tuning_associations/<seq>.csv``; on the evaluation sequences the run's own
``associations/<seq>.csv`` are read. Embedding methods (autoencoder, Re-ID): the run's embeddings
artifact, which covers every sequence. Position only has no d2 and needs no run.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.entities import Run

from attrackt.association_method import ASSOCIATION_W2, association_term, infer_associations
from attrackt.embeddings_store import EMBEDDING_W2, EMBEDDINGS_TAG, embedding_appearance, load_run_embeddings
from attrackt.pyfunc_model import load_backbone
from attrackt.training import pick_device
from benchmark.config import RunConfig, flatten
from benchmark.data.sequence import Dataset, Sequence
from benchmark.errors import ConfigError
from benchmark.pipeline import AppearanceFn
from benchmark.run_lookup import resolve_run

PARAMETER = "method_run"
#: Settings that shape Â at inference: a named association run must share them with the tune run.
INFERENCE_KEYS = ("model.window", "inference.")


@dataclass(frozen=True)
class Tunable:
    """A method whose ILP weights ``tune`` can search.

    ``w2``: the method's w2 (its sign; None: no d2). ``same``: config prefixes the latest matching run
    must share (when ``method_run`` is not given). ``tag``: a tag that run must carry. ``checkpoint``:
    for association methods, the checkpoint artifact the method links with.
    """

    w2: float | None
    same: tuple[str, ...] = ()
    tag: str | None = None
    checkpoint: str | None = None


TUNABLE: dict[str, Tunable] = {
    "position": Tunable(None),
    "supervised": Tunable(ASSOCIATION_W2, ("model.", "supervised.", "inference."), checkpoint="checkpoints/best.pt"),
    "attrackt": Tunable(ASSOCIATION_W2, ("model.", "attrackt.", "inference."), checkpoint="checkpoints/last.pt"),
    "autoencoder": Tunable(EMBEDDING_W2, ("autoencoder.",), tag=EMBEDDINGS_TAG),
    "reid": Tunable(EMBEDDING_W2, ("reid.",), tag=EMBEDDINGS_TAG),
}


def tunable(method: str) -> Tunable:
    """TUNABLE[method], else ConfigError naming the parameter."""
    if method not in TUNABLE:
        raise ConfigError(
            f"parameter method={method!r}: must be one of {', '.join(TUNABLE)} (finetune and scratch runs use "
            "the weights tuned for attrackt)"
        )
    return TUNABLE[method]


def method_run(method: str, run_id: str | None, dataset: Dataset, config: RunConfig) -> Run | None:
    """The finished ``method`` run whose d2 is tuned for: ``run_id``, or the latest on the same data and
    profile with the same method settings, of any seed (the tune's seed only seeds its sampler, and tune
    processes sharing a study with different seeds must tune one run); None for position only.
    ConfigError otherwise."""
    spec = tunable(method)
    if spec.w2 is None:
        if run_id:
            raise ConfigError(f"parameter {PARAMETER}={run_id!r}: method {method!r} has no appearance term; leave it empty")
        return None
    flat = {key: str(value) for key, value in flatten(config).items()}
    same = {key: value for key, value in flat.items() if key.startswith(spec.same)}
    run = resolve_run(PARAMETER, run_id, method, dataset, config.profile, same, tag=spec.tag, seed=None)
    if spec.checkpoint is not None:
        differ = sorted(
            key for key, value in flat.items() if key.startswith(INFERENCE_KEYS) and run.data.params.get(key) != value
        )
        if differ:
            raise ConfigError(
                f"parameter {PARAMETER}={run.info.run_id!r}: the run inferred its associations with other settings "
                f"({', '.join(f'{key}={run.data.params.get(key)!r}' for key in differ)}); tune with the same overrides"
            )
    return run


def validation_term(method: str, run: Run | None, dataset: Dataset, config: RunConfig) -> AppearanceFn | None:
    """d2 on the validation sequences only (the term raises KeyError for any other sequence)."""
    if run is None:
        return None
    spec, sequences = TUNABLE[method], dataset.validation_sequences()
    if spec.checkpoint is None:
        return _embedding_term(run, dataset, sequences)
    device = pick_device(config.device)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=spec.checkpoint, dst_path=tmp)
        network = load_backbone(Path(path), None, device)
    return association_term(infer_associations(network, sequences, config, device, artifact_dir="tuning_associations"))


def evaluation_term(method: str, run: Run | None, dataset: Dataset) -> AppearanceFn | None:
    """d2 on the evaluation sequences, as the method run linked them."""
    if run is None:
        return None
    sequences = dataset.evaluation_sequences()
    if TUNABLE[method].checkpoint is None:
        return _embedding_term(run, dataset, sequences)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="associations", dst_path=tmp))
        return association_term({sequence.name: pd.read_csv(folder / f"{sequence.name}.csv") for sequence in sequences})


def _embedding_term(run: Run, dataset: Dataset, sequences: list[Sequence]) -> AppearanceFn:
    embeddings, _ = load_run_embeddings(run, dataset)
    return embedding_appearance({sequence.name: embeddings[sequence.name] for sequence in sequences})
