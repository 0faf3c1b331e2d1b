"""``synth-bacteria``: rod cells growing exponentially into dense colonies from a few founders.

Each frame every rod lengthens by its own growth rate; a rod longer than its division length
splits across the middle into two daughters along its axis (orientation inherited with a small
turn); every cell takes a small random step and turn; soft-body relaxation pushes overlapping
cells apart, which expands the colony outward. The stage jitters around a fixed position. A cell
whose centre leaves the field of view ends its track there and never comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.data.synthetic.cells import Appearance, Bodies, Columns, Frame, Lineage
from benchmark.data.synthetic.physics import axis_of, relax
from benchmark.data.synthetic.presets import BacteriaConfig

#: Relaxation sweeps that settle the founders before the first frame.
_SETTLE_SWEEPS = 50


@dataclass
class Rods(Columns):
    """Live rods: label, centre (N, 2) px in stage coordinates, angle, tip-to-tip length (px),
    per-frame log growth rate, length at which to divide (px)."""

    label: np.ndarray
    yx: np.ndarray
    angle: np.ndarray
    length: np.ndarray
    growth: np.ndarray
    division_length: np.ndarray


def _half_segment(length: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Half length of a capsule's axis segment (px): tip-to-tip length minus the round caps."""
    return np.maximum(length - width, 0.0) / 2


def _cycle(rng: np.random.Generator, config: BacteriaConfig, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Growth rates (log per frame) and division lengths (px) of ``n`` newborn cells."""
    growth = np.log(2) / config.doubling_frames * np.exp(rng.normal(0.0, 0.15, n))
    division_length = config.division_length * np.exp(rng.normal(0.0, 0.08, n))
    return growth, division_length


def _founders(rng: np.random.Generator, config: BacteriaConfig, lineage: Lineage) -> tuple[Rods, Appearance]:
    """``n_founders`` rods scattered around the middle of the field, at random cycle stages."""
    n = config.n_founders
    spread = 0.12 * min(config.height, config.width) * np.sqrt(n)
    centre = np.array([config.height, config.width]) / 2
    growth, division_length = _cycle(rng, config, n)
    rods = Rods(
        label=lineage.new(np.zeros(n, dtype=np.int64)),
        yx=centre + rng.uniform(-spread, spread, (n, 2)),
        angle=rng.uniform(0.0, np.pi, n),
        length=division_length * rng.uniform(0.5, 0.95, n),
        growth=growth,
        division_length=division_length,
    )
    return rods, Appearance.sample(rng, n, config.cell_width, config.intensity)


def _divide(
    rng: np.random.Generator, config: BacteriaConfig, lineage: Lineage, rods: Rods, look: Appearance
) -> tuple[Rods, Appearance]:
    """Split every rod that reached its division length into two half-length daughters."""
    ready = rods.length >= rods.division_length
    if not ready.any():
        return rods, look
    mothers, mother_look = rods.take(ready), look.take(ready)
    n = len(mothers)
    sides = np.concatenate([-np.ones(n), np.ones(n)])
    both = np.concatenate([np.arange(n), np.arange(n)])
    axis = axis_of(mothers.angle)[both]
    growth, division_length = _cycle(rng, config, 2 * n)
    daughters = Rods(
        label=lineage.new(mothers.label[both]),
        yx=mothers.yx[both] + (sides * mothers.length[both] / 4)[:, None] * axis,
        angle=mothers.angle[both] + rng.normal(0.0, config.division_angle_noise, 2 * n),
        length=mothers.length[both] / 2,
        growth=growth,
        division_length=division_length,
    )
    daughter_look = mother_look.take(both).varied(rng, config.appearance_inheritance)
    keep = ~ready
    return Rods.concat([rods.take(keep), daughters]), Appearance.concat([look.take(keep), daughter_look])


def _bodies(rods: Rods, look: Appearance, offset: np.ndarray) -> Bodies:
    """Rendered rods: capsules of width ``look.size`` seen through the stage ``offset``."""
    radius = look.size / 2
    return Bodies(
        label=rods.label,
        y=rods.yx[:, 0] + offset[0],
        x=rods.yx[:, 1] + offset[1],
        angle=rods.angle,
        h=_half_segment(rods.length, look.size),
        a=radius,
        b=radius,
        brightness=look.intensity,
        texture_frequency=look.texture_frequency,
        texture_contrast=look.texture_contrast,
        texture_angle=look.texture_angle,
        texture_phase=look.texture_phase,
    )


def simulate_colony(config: BacteriaConfig, rng: np.random.Generator) -> tuple[list[Frame], Lineage]:
    """Frames 0..n_frames-1 of one colony sequence, and its lineage."""
    lineage = Lineage()
    rods, look = _founders(rng, config, lineage)
    frames: list[Frame] = []
    for t in range(config.n_frames):
        if t > 0:
            rods.length = rods.length * np.exp(rods.growth)
            rods, look = _divide(rng, config, lineage, rods, look)
            look = look.varied(rng, config.appearance_drift)
            n = len(rods)
            rods.yx = rods.yx + rng.normal(0.0, config.motion_noise, (n, 2))
            rods.angle = rods.angle + rng.normal(0.0, config.rotation_noise, n)
        sweeps = _SETTLE_SWEEPS if t == 0 else config.relax_iterations
        rods.yx, rods.angle = relax(rods.yx, rods.angle, _half_segment(rods.length, look.size), look.size / 2, sweeps)
        offset = rng.normal(0.0, config.stage_jitter, 2)
        seen = rods.yx + offset
        inside = (seen >= 0).all(axis=1) & (seen <= [config.height - 1, config.width - 1]).all(axis=1)
        rods, look = rods.take(inside), look.take(inside)
        frames.append(Frame(_bodies(rods, look, offset), look))
    return frames, lineage
