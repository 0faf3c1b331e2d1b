"""The synthetic presets' parameters: small frozen dataclasses, overridable by keyword.

Units: lengths in px, times in frames, angles in radians, intensities in camera counts (uint16).
Every field can be overridden (``resolve_config("synth-hela", n_frames=20)``); unknown keys and
out-of-range values raise ConfigError naming the key.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from benchmark.errors import ConfigError


def _param(default: int | float, low: float, high: float = math.inf) -> Any:
    """A config field whose value must lie in [low, high]."""
    return field(default=default, metadata={"low": low, "high": high})


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters shared by every preset: sequences, split, field of view, imaging, appearance."""

    n_sequences: int = _param(2, 1)  # sequences "01", "02", ...: train first, then val, then test
    n_val: int = _param(0, 0)
    n_test: int = _param(1, 0)
    n_frames: int = _param(40, 2)
    height: int = _param(256, 32)  # px
    width: int = _param(256, 32)  # px
    background: float = _param(100.0, 0.0)  # counts
    intensity: float = _param(600.0, 1.0)  # median cell brightness above background, counts
    read_noise: float = _param(6.0, 0.0)  # Gaussian noise sd on top of Poisson shot noise, counts
    blur_sigma: float = _param(1.0, 0.0)  # optical blur, px
    stage_jitter: float = _param(0.0, 0.0)  # sd of the per-frame stage offset, px
    appearance_drift: float = _param(0.01, 0.0)  # per-frame log-sd of size, intensity, texture
    appearance_inheritance: float = _param(0.06, 0.0)  # log-sd between mother and daughter

    def validate(self) -> None:
        """Raise ConfigError when parameters contradict each other."""
        if self.n_val + self.n_test >= self.n_sequences:
            raise ConfigError(
                f"n_val={self.n_val} + n_test={self.n_test} must leave at least one of "
                f"n_sequences={self.n_sequences} for training"
            )

    def split(self) -> dict[str, list[str]]:
        """Sequence names per split: "01".."NN", train first, then val, then test."""
        names = [f"{i + 1:02d}" for i in range(self.n_sequences)]
        n_train = self.n_sequences - self.n_val - self.n_test
        return {
            "train": names[:n_train],
            "val": names[n_train : n_train + self.n_val],
            "test": names[n_train + self.n_val :],
        }


@dataclass(frozen=True)
class BacteriaConfig(SyntheticConfig):
    """``synth-bacteria``: rod cells growing into dense colonies from a few founders."""

    n_sequences: int = _param(8, 1)
    n_val: int = _param(1, 0)
    n_test: int = _param(2, 0)
    n_frames: int = _param(30, 2)
    height: int = _param(192, 32)
    width: int = _param(192, 32)
    stage_jitter: float = _param(1.0, 0.0)
    n_founders: int = _param(4, 1)
    cell_width: float = _param(7.0, 2.0)  # mean rod width, px
    division_length: float = _param(26.0, 4.0)  # mean tip-to-tip length at division, px
    doubling_frames: float = _param(8.0, 1.0)  # mean length-doubling time, frames
    motion_noise: float = _param(3.25, 0.0)  # sd of each cell's own random step, px per frame
    rotation_noise: float = _param(0.08, 0.0)  # sd of each cell's own random turn, rad per frame
    division_angle_noise: float = _param(0.15, 0.0)  # sd of a daughter's turn at birth, rad
    relax_iterations: int = _param(12, 0)  # soft-body relaxation sweeps per frame

    def validate(self) -> None:
        super().validate()
        if self.division_length <= 2 * self.cell_width:
            raise ConfigError(
                f"division_length={self.division_length} must exceed twice cell_width={self.cell_width} "
                "(daughters must be rods, not disks)"
            )


@dataclass(frozen=True)
class HelaConfig(SyntheticConfig):
    """``synth-hela``: fluorescent nuclei on a persistent random walk, compact and bright before mitosis."""

    n_frames: int = _param(60, 2)
    height: int = _param(400, 32)
    width: int = _param(400, 32)
    intensity: float = _param(900.0, 1.0)
    stage_jitter: float = _param(0.5, 0.0)
    n_cells: int = _param(40, 1)  # nuclei in the first frame
    nucleus_radius: float = _param(9.0, 2.0)  # mean radius, px
    speed: float = _param(7.0, 0.0)  # sd of the velocity per axis, px per frame
    persistence: float = _param(0.8, 0.0, 0.99)  # correlation of the velocity between frames
    cycle_frames: float = _param(70.0, 2.0)  # mean cell-cycle length, frames
    mitosis_frames: int = _param(3, 0)  # frames a nucleus is compact and bright before dividing
    mitotic_scale: float = _param(0.7, 0.1, 1.0)  # radius factor of a mitotic nucleus
    mitotic_brightness: float = _param(2.0, 1.0)  # brightness factor of a mitotic nucleus
    daughter_separation: float = _param(30.0, 0.0)  # distance between sister nuclei at birth, px

    def validate(self) -> None:
        super().validate()
        if self.mitosis_frames >= self.cycle_frames:
            raise ConfigError(
                f"mitosis_frames={self.mitosis_frames} must be shorter than cycle_frames={self.cycle_frames}"
            )


#: ``synth-hela-large``: synth-hela's simulator at the size of the real Fluo-N2DL-HeLa sequence 02
#: (92 frames of 700 x 1100 px, about 25,600 detections per sequence, growing from 160 nuclei to
#: 400-450 in the last frames), for measuring cost at the paper's scale. Three sequences, so that
#: every entry point applies: train 01, validation 02 (``tune``), evaluation 03; the real HeLa has
#: two (train 01, evaluate 02) and no validation sequence.
HELA_LARGE = HelaConfig(
    n_sequences=3, n_val=1, n_test=1, n_frames=92, height=700, width=1100, n_cells=160, cycle_frames=65.0
)

#: Preset name -> its default configuration.
PRESETS: dict[str, SyntheticConfig] = {
    "synth-bacteria": BacteriaConfig(),
    "synth-hela": HelaConfig(),
    "synth-hela-large": HELA_LARGE,
}


def _checked(name: str, value: Any, default: int | float, low: float, high: float) -> int | float:
    """``value`` as the type of ``default``, or ConfigError naming ``name``."""
    numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if isinstance(default, int) and not (numeric and float(value).is_integer()):
        raise ConfigError(f"synthetic parameter {name}={value!r}: must be an integer")
    if not numeric or not math.isfinite(value):
        raise ConfigError(f"synthetic parameter {name}={value!r}: must be a finite number")
    if not low <= value <= high:
        bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ConfigError(f"synthetic parameter {name}={value!r}: must be {bounds}")
    return int(value) if isinstance(default, int) else float(value)


def resolve_config(preset: str, **overrides: Any) -> SyntheticConfig:
    """The preset's defaults with ``overrides`` applied and validated."""
    if preset not in PRESETS:
        raise ConfigError(f"synthetic preset {preset!r}: must be one of {', '.join(PRESETS)}")
    base = PRESETS[preset]
    known = {f.name: f for f in fields(base)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigError(
            f"synthetic parameter {unknown[0]!r} is not a parameter of {preset}; known: {', '.join(known)}"
        )
    values = {
        name: _checked(name, value, getattr(base, name), known[name].metadata["low"], known[name].metadata["high"])
        for name, value in overrides.items()
    }
    config = replace(base, **values)
    config.validate()
    return config


def config_dict(preset: str, seed: int, config: SyntheticConfig) -> dict[str, Any]:
    """The resolved generator configuration as plain data (for dataset.yaml and run params)."""
    return {"preset": preset, "seed": seed, **asdict(config)}
