"""A trained association model as an MLflow pyfunc model: ``mlflow.pyfunc.load_model(uri).predict(movie)``
gives the association table of a movie given as images and masks.

Artifacts of the model (logged by ``association_method.log_association_model``):

- ``checkpoint``: the backbone's checkpoint (config + weights): an AssociationModel's (supervised) or
  an AttracktModel's (Attrackt, from scratch, and the base of a fine-tuned model), whose backbone is used;
- ``adapter`` (fine-tuned models): the LoRA adapter file, applied to ``checkpoint``;
- ``autoencoder`` (models trained with the Attrackt loss): the autoencoder checkpoint whose embeddings
  that loss used. Prediction does not need it; it travels with the model so that the model can be
  trained further on a new movie's embeddings.

Model config (set when logged, overridable with ``load_model(uri, model_config={...})``): ``window``,
``min_association``, ``tta`` and ``max_tokens`` (inference.max_tokens) of the training run, and
``device`` (``auto``: CUDA when present).

Input: one movie, as a DataFrame with one row or a dict: ``images`` (a CTC folder, of GT sequences
or of movies ``NAME/tTTT.tif`` + ``NAME_SEG/maskTTT.tif``, or an images TIFF stack (T, Y, X)) and
``masks`` (the masks TIFF stack (T, Y, X) of labels when ``images`` is a stack; empty or absent for a
folder). Output: DataFrame (sequence, parent, child, weight), one row per adjacent-frame association
of each evaluation sequence of the movie (a movie folder: all of them); parent and child are node
ids, the row of a detection in its sequence's detections sorted by (t, label).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import torch

from attrackt.association_method import association_tables
from attrackt.inference import INFERENCE_MAX_TOKENS
from attrackt.model.network import AssociationModel, OutdatedCheckpointError
from attrackt.training import load_checkpoint, pick_device
from attrackt.unsupervised_loss import AttracktModel
from benchmark.data.datasets import read_movie
from benchmark.data.sequence import Dataset
from benchmark.errors import ConfigError, DataError

OUTPUT_COLUMNS = ["sequence", "parent", "child", "weight"]


def load_backbone(checkpoint: Path, adapter: Path | None, device: torch.device) -> torch.nn.Module:
    """The association backbone of ``checkpoint`` (with the LoRA ``adapter`` applied, if given), in eval mode.
    DataError naming the file when its weights have an older parameter layout of the backbone."""
    state = load_checkpoint(checkpoint, device)
    attrackt = "backbone" in state["config"]  # an AttracktModel: backbone + m_E, m_D
    if adapter is not None and not attrackt:
        raise ConfigError(f"{adapter}: a LoRA adapter applies to an Attrackt checkpoint, not to {checkpoint}")
    try:
        model = (AttracktModel if attrackt else AssociationModel).from_checkpoint(state)
    except OutdatedCheckpointError as error:
        raise DataError(checkpoint, str(error)) from None
    if adapter is not None:
        from attrackt.lora import load_adapter  # noqa: PLC0415 - peft takes seconds to import; only adapters need it

        load_adapter(model, load_checkpoint(adapter, device))
    backbone = model.backbone if attrackt else model
    return backbone.to(device).eval()


def movie_paths(model_input: pd.DataFrame | dict[str, Any]) -> tuple[str, str | None]:
    """(images, masks or None) of a one-movie input (see the module docstring)."""
    frame = pd.DataFrame([model_input]) if isinstance(model_input, dict) else model_input
    if len(frame) != 1 or "images" not in frame.columns:
        raise ConfigError(
            f"model input: one movie (one row) with columns images[, masks], got {len(frame)} row(s) "
            f"with columns {', '.join(map(str, frame.columns))}"
        )
    row = frame.iloc[0]
    masks = row.get("masks")
    return str(row["images"]), (str(masks) if isinstance(masks, str) and masks.strip() else None)


class AssociationPyfunc(mlflow.pyfunc.PythonModel):
    """The pyfunc flavour of an association model (see the module docstring)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        settings = context.model_config
        self.device = pick_device(str(settings.get("device", "auto")))
        self.settings = {key: settings[key] for key in ("window", "min_association", "tta")}
        self.settings["max_tokens"] = int(settings.get("max_tokens", INFERENCE_MAX_TOKENS))  # absent in older models
        adapter = context.artifacts.get("adapter")
        self.backbone = load_backbone(
            Path(context.artifacts["checkpoint"]), Path(adapter) if adapter else None, self.device
        )

    def associations(self, dataset: Dataset) -> dict[str, pd.DataFrame]:
        """Association table (parent, child, weight) of each evaluation sequence of ``dataset``."""
        return association_tables(self.backbone, dataset.evaluation_sequences(), device=self.device, **self.settings)

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        images, masks = movie_paths(model_input)
        with tempfile.TemporaryDirectory() as scratch:  # a pair of TIFF stacks is laid out (and its features cached) here
            features = Path(scratch) / "features" if masks else None
            tables = self.associations(read_movie(images, masks, data_dir=Path(scratch), cache_dir=features))
        frames = [table.assign(sequence=name) for name, table in tables.items()]
        return pd.concat(frames, ignore_index=True)[OUTPUT_COLUMNS] if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)
