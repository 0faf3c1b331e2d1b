"""Write a synthetic preset as a CTC dataset with lineage GT and the cells' true appearance.

Layout written under ``root``::

    NN/tTTT.tif, NN_GT/TRA/...      every sequence, via benchmark.data.ctc.write_ctc_sequence
    NN_GT/appearance.csv            t, label, size, intensity, texture_frequency, texture_contrast
    dataset.yaml                    name, split {train, val, test}, generator (resolved config + seed)
    .complete                       written last: the dataset is whole

Sequence i of a dataset draws from numpy's Generator seeded with (seed, i), so the same seed and
configuration always give byte-identical files.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmark.data.ctc import write_ctc_sequence
from benchmark.data.synthetic.cells import Frame, Lineage, appearance_table
from benchmark.data.synthetic.colony import simulate_colony
from benchmark.data.synthetic.nuclei import simulate_nuclei
from benchmark.data.synthetic.presets import BacteriaConfig, SyntheticConfig, config_dict, resolve_config
from benchmark.data.synthetic.render import camera, render
from benchmark.errors import ConfigError

#: Written last into a generated dataset's folder; its absence means the folder is incomplete.
COMPLETE_MARKER = ".complete"
#: Bump when the simulator changes what a (preset, seed, overrides) generates: old folders are not reused.
GENERATOR_VERSION = 1
DATASET_FILE = "dataset.yaml"


def simulate(config: SyntheticConfig, rng: np.random.Generator) -> tuple[list[Frame], Lineage]:
    """One sequence of the preset that ``config`` belongs to."""
    if isinstance(config, BacteriaConfig):
        return simulate_colony(config, rng)
    return simulate_nuclei(config, rng)


def _write_sequence(root: Path, name: str, config: SyntheticConfig, rng: np.random.Generator) -> None:
    frames, lineage = simulate(config, rng)
    shape = (config.height, config.width)
    masks, images = [], []
    for frame in frames:
        mask, signal = render(frame.bodies, shape)
        masks.append(mask)
        images.append(camera(signal, rng, config.background, config.blur_sigma, config.read_noise))
    write_ctc_sequence(root, name, np.stack(images), np.stack(masks), lineage.tracks(frames))
    appearance_table(frames).to_csv(root / f"{name}_GT" / "appearance.csv", index=False, float_format="%.6g")


def _generated_here(root: Path) -> bool:
    """Whether ``root`` holds a dataset this generator wrote (its dataset.yaml has a ``generator``)."""
    try:
        description = yaml.safe_load((root / DATASET_FILE).read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(description, dict) and isinstance(description.get("generator"), dict)


def _clear(root: Path) -> None:
    """Make ``root`` an empty folder; only a previous generator output may be deleted."""
    if root.exists() and not root.is_dir():
        raise ConfigError(f"synthetic dataset root {root}: is a file, not a folder")
    if root.exists() and any(root.iterdir()):
        if not _generated_here(root):
            raise ConfigError(
                f"synthetic dataset root {root}: exists, is not empty and holds no generated dataset; "
                "choose an empty or new folder"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)


def generate_dataset(preset: str, root: Path, seed: int = 0, **overrides: Any) -> Path:
    """Generate ``preset`` (with parameter ``overrides``) into ``root``; returns ``root``.

    A folder holding an earlier generated dataset is replaced; any other non-empty folder is refused.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"synthetic parameter seed={seed!r}: must be an integer >= 0")
    config = resolve_config(preset, **overrides)
    root = Path(root)
    _clear(root)
    split = config.split()
    for index, name in enumerate(name for names in split.values() for name in names):
        _write_sequence(root, name, config, np.random.default_rng([int(seed), index]))
    description = {"name": preset, "split": split, "generator": config_dict(preset, int(seed), config)}
    (root / DATASET_FILE).write_text(yaml.safe_dump(description, sort_keys=False))
    (root / COMPLETE_MARKER).write_text("")
    return root
