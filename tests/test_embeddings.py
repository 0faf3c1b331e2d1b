"""Autoencoder and Re-ID embeddings: training, determinism, row order, NT-Xent, MLflow artifacts and reuse."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from attrackt.autoencoder import Autoencoder, ResBlock, train_autoencoder
from attrackt.embeddings_store import EMBEDDINGS_ARTIFACT, EMBEDDINGS_TAG, REUSED_PARAM, autoencoder_embeddings
from attrackt.patches import embed_patches, sequence_patches
from attrackt.reid import augment, nt_xent
from attrackt.training import load_checkpoint
from baselines.autoencoder import run_autoencoder
from baselines.position import run_position
from baselines.reid import run_reid
from benchmark.config import load_config
from benchmark.entry_points import load_dataset
from benchmark.errors import ConfigError
from conftest import last_run

CPU = torch.device("cpu")
SMOKE = load_config("smoke")


def blob_patches(n: int, size: int, seed: int = 0) -> np.ndarray:
    """(n, size, size) patches of one Gaussian blob each, of random centre, width and brightness."""
    rng = np.random.default_rng(seed)
    grid = np.arange(size)
    centre = rng.uniform(size / 4, 3 * size / 4, (n, 2, 1, 1))
    width = rng.uniform(1.5, 4.0, (n, 1, 1))
    distance2 = (grid[None, :, None] - centre[:, 0]) ** 2 + (grid[None, None, :] - centre[:, 1]) ** 2
    return (rng.uniform(0.3, 1.0, (n, 1, 1)) * np.exp(-distance2 / (2 * width**2))).astype(np.float32)


@pytest.fixture(scope="module")
def patches() -> np.ndarray:
    return blob_patches(300, SMOKE.autoencoder.patch_size)


def test_reconstruction_loss_falls(patches, tmp_path):
    config = SMOKE.autoencoder.model_copy(update={"iterations": 80})
    _, result = train_autoencoder(patches, config, 0, CPU, tmp_path)
    losses = [row["loss"] for row in result.history if "loss" in row]
    assert len(losses) == 8
    assert losses[-1] < 0.5 * losses[0]


def test_training_is_deterministic_given_the_seed(patches, tmp_path):
    config = SMOKE.autoencoder.model_copy(update={"iterations": 10})
    first, _ = train_autoencoder(patches, config, 3, CPU, tmp_path / "a")
    again, _ = train_autoencoder(patches, config, 3, CPU, tmp_path / "b")
    other, _ = train_autoencoder(patches, config, 4, CPU, tmp_path / "c")
    embeddings = embed_patches(first.embed, patches, CPU)
    assert embeddings.shape == (len(patches), config.embedding_dim) == (300, 64)
    np.testing.assert_array_equal(embeddings, embed_patches(again.embed, patches, CPU))
    assert not np.allclose(embeddings, embed_patches(other.embed, patches, CPU))
    # Rows follow the patches, across chunks: permuting the patches permutes the embeddings.
    order = np.random.default_rng(0).permutation(len(patches))
    np.testing.assert_allclose(embed_patches(first.embed, patches[order], CPU), embeddings[order], atol=1e-5)
    # The checkpoint kept holds config and weights: reloaded, it embeds the same.
    reloaded = Autoencoder.from_checkpoint(load_checkpoint(tmp_path / "a" / "best.pt")).eval()
    np.testing.assert_array_equal(embed_patches(reloaded.embed, patches, CPU), embeddings)


def test_decoder_has_one_more_residual_block_per_level_than_the_encoder():
    for config in (SMOKE.autoencoder, load_config("paper").autoencoder):
        model = Autoencoder(config)
        count = lambda part: sum(isinstance(m, ResBlock) for m in part.modules())  # noqa: E731
        levels = len(config.multipliers)
        assert count(model.encoder) == levels * config.res_blocks + 2  # + the middle block's two
        assert count(model.decoder) == levels * (config.res_blocks + 1) + 2
    patch = torch.rand(2, 1, SMOKE.autoencoder.patch_size, SMOKE.autoencoder.patch_size)
    assert Autoencoder(SMOKE.autoencoder)(patch).shape == patch.shape


def test_the_autoencoder_kept_is_the_best_on_its_validation_patches(patches, tmp_path):
    config = SMOKE.autoencoder.model_copy(update={"iterations": 30, "val_every": 10, "val_patches": 50})
    model, result = train_autoencoder(patches, config, 0, CPU, tmp_path)
    validation = [(row["step"], row["val_loss"]) for row in result.history if "val_loss" in row]
    assert [step for step, _ in validation] == [10, 20, 30]
    best_step, best_value = min(validation, key=lambda pair: pair[1])
    assert (result.best_step, result.best_validation) == (best_step, best_value)
    best = load_checkpoint(result.best_checkpoint)
    assert best["step"] == best_step
    for name, value in model.state_dict().items():
        assert torch.equal(value, best["state_dict"][name]), name
    # the value is the returned model's mean reconstruction error on 50 of the patches
    with torch.no_grad():
        reconstructed = model(torch.from_numpy(patches[:, None]))
    errors = ((reconstructed - torch.from_numpy(patches[:, None])) ** 2).mean(dim=(1, 2, 3)).numpy()
    assert np.sort(errors)[:50].mean() <= best_value <= np.sort(errors)[-50:].mean()
    unvalidated = config.model_copy(update={"val_patches": 0, "iterations": 10})
    _, plain = train_autoencoder(patches, unvalidated, 0, CPU, tmp_path / "plain")
    assert plain.best_step == 10 and not any("val_loss" in row for row in plain.history)


def test_nt_xent_matches_its_formula_and_prefers_aligned_pairs():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 1.0], [-1.0, 1.0]])
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    similarity = (z @ z.T / 0.5).numpy()
    expected = np.mean(
        [
            -similarity[i, (i + 2) % 4] + math.log(sum(math.exp(similarity[i, k]) for k in range(4) if k != i))
            for i in range(4)
        ]
    )
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(expected, rel=1e-6)

    generator = torch.Generator().manual_seed(0)
    anchors = torch.randn(16, 8, generator=generator)
    views = anchors + 0.1 * torch.randn(16, 8, generator=generator)
    shuffled = views[torch.randperm(16, generator=generator)]
    assert nt_xent(anchors, views, 0.1) < 0.1 * nt_xent(anchors, shuffled, 0.1)


def test_geometric_augmentation_is_an_exact_symmetry_of_the_square(patches):
    geometry_only = {"symmetries": True, "max_shift": 0, "brightness": 0.0, "contrast": 0.0, "noise": 0.0}
    config = SMOKE.reid.model_copy(update=geometry_only)
    batch = torch.from_numpy(patches[:32]).unsqueeze(1)
    torch.manual_seed(0)
    views = augment(batch, config)
    symmetries = [torch.rot90(flipped, k, dims=(-2, -1)) for flipped in (batch, batch.flip(-1)) for k in range(4)]
    matches = torch.stack([(views == s).flatten(1).all(dim=1) for s in symmetries])  # (8, B)
    assert matches.any(dim=0).all()
    assert (matches.sum(dim=1) > 0).sum() >= 4  # several different symmetries were drawn
    assert torch.equal(augment(batch, config.model_copy(update={"symmetries": False})), batch)


def test_autoencoder_run_logs_embeddings_that_later_runs_reuse(tracking, tmp_path):
    table = run_autoencoder("synth-hela", "smoke", seed=0, overrides=tracking)
    client, run = last_run()
    trained = run.info.run_id
    assert run.info.status == "FINISHED" and run.data.params["linking.w2"] == "1.0"
    assert run.data.tags[EMBEDDINGS_TAG] == trained and run.data.metrics["autoencoder/train_seconds"] > 0
    logged = pd.read_parquet(client.download_artifacts(trained, EMBEDDINGS_ARTIFACT, str(tmp_path)))
    config = load_config("smoke", tracking)
    dataset = load_dataset("synth-hela", config)
    for name, sequence in dataset.sequences.items():
        rows = logged[logged["sequence"] == name]
        np.testing.assert_array_equal(rows[["t", "node_id", "label"]], sequence.detections[["t", "node_id", "label"]])
    assert [c for c in logged.columns if c.startswith("e_")] == [f"e_{i}" for i in range(64)]

    # The checkpoint reproduces the logged embeddings.
    checkpoint = load_checkpoint(client.download_artifacts(trained, "checkpoints/autoencoder.pt", str(tmp_path)))
    model = Autoencoder.from_checkpoint(checkpoint).eval()
    again = embed_patches(model.embed, sequence_patches(dataset.sequences["02"], config.autoencoder.patch_size), CPU)
    np.testing.assert_allclose(again, logged.loc[logged["sequence"] == "02", "e_0":"e_63"].to_numpy(), atol=1e-5)

    run_position("synth-hela", "smoke", overrides=tracking)  # a later run of another method is skipped
    found, source = autoencoder_embeddings(dataset, config)
    assert source == trained
    by_id, _ = autoencoder_embeddings(dataset, config, trained)
    for name, sequence in dataset.sequences.items():
        assert found[name].shape == (sequence.n_detections, 64)
        np.testing.assert_array_equal(found[name], by_id[name])

    reused = run_autoencoder("synth-hela", "smoke", seed=1, overrides=tracking, autoencoder_run=trained)
    _, run = last_run()
    assert run.data.tags[EMBEDDINGS_TAG] == trained and run.data.params[REUSED_PARAM] == trained
    assert "autoencoder/train_seconds" not in run.data.metrics
    assert reused.loc["mean", "AOGM"] == table.loc["mean", "AOGM"]

    # A run that reused them under another autoencoder config is not where that config's embeddings are.
    other = {**tracking, "autoencoder.iterations": 41}
    run_autoencoder("synth-hela", "smoke", overrides=other, autoencoder_run=trained)
    with pytest.raises(ConfigError, match="run the `autoencoder` entry point first"):
        autoencoder_embeddings(dataset, load_config("smoke", other))


def test_missing_or_wrong_autoencoder_runs_are_clear_errors(tracking):
    other_config = {**tracking, "autoencoder.iterations": 39}
    config = load_config("smoke", other_config)
    dataset = load_dataset("synth-hela", config)
    with pytest.raises(ConfigError, match="run the `autoencoder` entry point first"):
        autoencoder_embeddings(dataset, config)
    with pytest.raises(ConfigError, match="autoencoder_run='abc'.*not an MLflow run id"):
        run_autoencoder("synth-hela", "smoke", overrides=tracking, autoencoder_run="abc")
    with pytest.raises(ConfigError, match="no such run"):
        autoencoder_embeddings(dataset, config, "0" * 32)
    run_position("synth-hela", "smoke", overrides=tracking)
    _, position = last_run()
    with pytest.raises(ConfigError, match="'position' run, not an 'autoencoder' run"):
        autoencoder_embeddings(dataset, config, position.info.run_id)


def test_reid_run_logs_unit_length_embeddings(tracking, tmp_path):
    table = run_reid("synth-hela", "smoke", seed=0, overrides=tracking)
    client, run = last_run()
    assert run.info.status == "FINISHED" and "AOGM" in run.data.metrics and table.loc["mean", "TRA"] > 0
    assert {"checkpoints/reid.pt"} == {f.path for f in client.list_artifacts(run.info.run_id, "checkpoints")}
    logged = pd.read_parquet(client.download_artifacts(run.info.run_id, EMBEDDINGS_ARTIFACT, str(tmp_path)))
    values = logged.filter(regex=r"^e_\d+$").to_numpy()
    assert values.shape[1] == SMOKE.reid.embedding_dim
    np.testing.assert_allclose(np.linalg.norm(values, axis=1), 1.0, rtol=1e-5)
