"""``synth-hela``: fluorescent nuclei on a persistent random walk, dividing after their cell cycle.

Each frame every nucleus's velocity keeps ``persistence`` of its previous value plus fresh noise;
nuclei step, slowly turn, repel each other (relaxation on disks) and bounce off the borders of the
field, so none leaves it. During its last ``mitosis_frames`` frames a nucleus is compact (round,
``mitotic_scale`` smaller) and ``mitotic_brightness`` brighter; then it is replaced by two
daughters ``daughter_separation`` px apart along a random direction, moving apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.data.synthetic.cells import Appearance, Bodies, Columns, Frame, Lineage
from benchmark.data.synthetic.physics import relax
from benchmark.data.synthetic.presets import HelaConfig

#: Relaxation sweeps per frame; nuclei are sparse so few are needed.
_SWEEPS = 4
#: Free space kept between nuclei by the relaxation, as a fraction of the radius.
_GAP = 0.3


@dataclass
class Nuclei(Columns):
    """Live nuclei: label, centre and velocity (N, 2) in stage px, orientation (rad), aspect ratio
    (major/minor axis), age and cell-cycle length (frames)."""

    label: np.ndarray
    yx: np.ndarray
    velocity: np.ndarray
    angle: np.ndarray
    aspect: np.ndarray
    age: np.ndarray
    cycle: np.ndarray


def _cycles(rng: np.random.Generator, config: HelaConfig, n: int) -> np.ndarray:
    """Cell-cycle lengths (frames) of ``n`` newborn nuclei: 15 % spread, longer than mitosis."""
    return np.maximum(config.cycle_frames * np.exp(rng.normal(0.0, 0.15, n)), config.mitosis_frames + 1)


def _founders(rng: np.random.Generator, config: HelaConfig, lineage: Lineage) -> tuple[Nuclei, Appearance]:
    n = config.n_cells
    cycle = _cycles(rng, config, n)
    margin = 2 * config.nucleus_radius
    nuclei = Nuclei(
        label=lineage.new(np.zeros(n, dtype=np.int64)),
        yx=rng.uniform(margin, [config.height - margin, config.width - margin], (n, 2)),
        velocity=rng.normal(0.0, config.speed, (n, 2)),
        angle=rng.uniform(0.0, np.pi, n),
        aspect=np.exp(rng.uniform(0.0, 0.5, n)),
        age=np.floor(rng.uniform(0.0, 1.0, n) * cycle),
        cycle=cycle,
    )
    return nuclei, Appearance.sample(rng, n, config.nucleus_radius, config.intensity)


def _divide(
    rng: np.random.Generator, config: HelaConfig, lineage: Lineage, nuclei: Nuclei, look: Appearance
) -> tuple[Nuclei, Appearance]:
    """Replace every nucleus at the end of its cycle by two daughters moving apart."""
    ready = nuclei.age >= nuclei.cycle
    if not ready.any():
        return nuclei, look
    mothers, mother_look = nuclei.take(ready), look.take(ready)
    n = len(mothers)
    both = np.concatenate([np.arange(n), np.arange(n)])
    sides = np.concatenate([-np.ones(n), np.ones(n)])[:, None]
    theta = rng.uniform(0.0, np.pi, n)[both]
    direction = sides * np.stack([np.sin(theta), np.cos(theta)], axis=1)
    daughters = Nuclei(
        label=lineage.new(mothers.label[both]),
        yx=mothers.yx[both] + direction * config.daughter_separation / 2,
        velocity=direction * config.speed,
        angle=rng.uniform(0.0, np.pi, 2 * n),
        aspect=np.exp(rng.uniform(0.0, 0.5, 2 * n)),
        age=np.zeros(2 * n),
        cycle=_cycles(rng, config, 2 * n),
    )
    daughter_look = mother_look.take(both).varied(rng, config.appearance_inheritance)
    keep = ~ready
    return Nuclei.concat([nuclei.take(keep), daughters]), Appearance.concat([look.take(keep), daughter_look])


def _bounce(nuclei: Nuclei, low: np.ndarray, high: np.ndarray) -> None:
    """Reflect centres (and velocities) that crossed the borders [low, high] back inside, in place."""
    below, above = nuclei.yx < low, nuclei.yx > high
    nuclei.yx = np.where(below, 2 * low - nuclei.yx, np.where(above, 2 * high - nuclei.yx, nuclei.yx))
    nuclei.yx = np.clip(nuclei.yx, low, high)
    nuclei.velocity = np.where(below | above, -nuclei.velocity, nuclei.velocity)


def _bodies(config: HelaConfig, nuclei: Nuclei, look: Appearance, offset: np.ndarray) -> Bodies:
    """Rendered nuclei: ellipses of mean radius ``look.size``; round, small and bright in mitosis."""
    mitotic = nuclei.age >= nuclei.cycle - config.mitosis_frames
    aspect = np.where(mitotic, 1.0, nuclei.aspect)
    radius = look.size * np.where(mitotic, config.mitotic_scale, 1.0)
    return Bodies(
        label=nuclei.label,
        y=nuclei.yx[:, 0] + offset[0],
        x=nuclei.yx[:, 1] + offset[1],
        angle=nuclei.angle,
        h=np.zeros(len(nuclei)),
        a=radius * np.sqrt(aspect),
        b=radius / np.sqrt(aspect),
        brightness=look.intensity * np.where(mitotic, config.mitotic_brightness, 1.0),
        texture_frequency=look.texture_frequency,
        texture_contrast=look.texture_contrast,
        texture_angle=look.texture_angle,
        texture_phase=look.texture_phase,
    )


def simulate_nuclei(config: HelaConfig, rng: np.random.Generator) -> tuple[list[Frame], Lineage]:
    """Frames 0..n_frames-1 of one nuclei sequence, and its lineage."""
    lineage = Lineage()
    nuclei, look = _founders(rng, config, lineage)
    # Borders keep a whole nucleus (plus the stage jitter) inside the field of view.
    margin = 1.5 * config.nucleus_radius + 3 * config.stage_jitter
    low, high = np.array([margin, margin]), np.array([config.height - margin, config.width - margin])
    high = np.maximum(high, low)
    frames: list[Frame] = []
    for t in range(config.n_frames):
        if t > 0:
            nuclei.age = nuclei.age + 1
            nuclei, look = _divide(rng, config, lineage, nuclei, look)
            look = look.varied(rng, config.appearance_drift)
            n = len(nuclei)
            fresh = rng.normal(0.0, config.speed, (n, 2))
            nuclei.velocity = config.persistence * nuclei.velocity + np.sqrt(1 - config.persistence**2) * fresh
            nuclei.yx = nuclei.yx + nuclei.velocity
            nuclei.angle = nuclei.angle + rng.normal(0.0, 0.05, n)
        reach = look.size * np.sqrt(nuclei.aspect) * (1 + _GAP)
        nuclei.yx, _ = relax(nuclei.yx, nuclei.angle, np.zeros(len(nuclei)), reach, _SWEEPS)
        _bounce(nuclei, low, high)
        offset = rng.normal(0.0, config.stage_jitter, 2)
        frames.append(Frame(_bodies(config, nuclei, look, offset), look))
    return frames, lineage
