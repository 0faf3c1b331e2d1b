"""The suite's embedded default data: a deterministic simulator of cell time-lapses (DESIGN.md).

``generate_dataset("synth-bacteria" | "synth-hela" | "synth-hela-large", root, seed, **overrides)``
writes CTC sequences with lineage GT, the cells' true appearance parameters and a ``dataset.yaml``
describing the split.
"""

from benchmark.data.synthetic.cells import APPEARANCE_COLUMNS
from benchmark.data.synthetic.generate import COMPLETE_MARKER, DATASET_FILE, GENERATOR_VERSION, generate_dataset
from benchmark.data.synthetic.presets import PRESETS, BacteriaConfig, HelaConfig, SyntheticConfig, resolve_config

__all__ = [
    "APPEARANCE_COLUMNS",
    "COMPLETE_MARKER",
    "DATASET_FILE",
    "GENERATOR_VERSION",
    "PRESETS",
    "BacteriaConfig",
    "HelaConfig",
    "SyntheticConfig",
    "generate_dataset",
    "resolve_config",
]
