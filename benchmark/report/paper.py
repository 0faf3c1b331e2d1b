"""The paper's reference numbers (SPEC section 8), keyed by the suite's names of the real datasets."""

from __future__ import annotations

#: Table 1, mean of 10 runs: dataset -> method -> metric (the suite's metric names) -> value.
TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "bacteria": {
        "position": {"AOGM": 712.7, "MBC": 0.470, "Division F1": 0.585, "TRA": 0.972},
        "reid": {"AOGM": 332.9, "MBC": 0.582, "Division F1": 0.688, "TRA": 0.986},
        "autoencoder": {"AOGM": 285.4, "MBC": 0.628, "Division F1": 0.724, "TRA": 0.988},
        "attrackt": {"AOGM": 175.0, "MBC": 0.752, "Division F1": 0.831, "TRA": 0.993},
        "supervised": {"AOGM": 34.6, "MBC": 0.962, "Division F1": 0.975, "TRA": 0.999},
    },
    "hela": {
        "position": {"AOGM": 352.5, "MBC": 0.647, "Division F1": 0.781, "TRA": 0.999},
        "reid": {"AOGM": 309.1, "MBC": 0.675, "Division F1": 0.795, "TRA": 0.999},
        "autoencoder": {"AOGM": 642.8, "MBC": 0.675, "Division F1": 0.800, "TRA": 0.998},
        "attrackt": {"AOGM": 231.4, "MBC": 0.767, "Division F1": 0.859, "TRA": 0.999},
        "supervised": {"AOGM": 179.3, "MBC": 0.845, "Division F1": 0.906, "TRA": 0.999},
    },
}

#: Figure 2, AOGM read off the plot (±3 %), fine-tuned Attrackt, interpolation:
#: dataset -> sampling -> k ("10", ..., "all") -> AOGM.
FIGURE2_INTERPOLATION: dict[str, dict[str, dict[str, float]]] = {
    "bacteria": {
        "confidence": {"10": 170, "100": 111, "1000": 54, "10000": 5.8, "all": 1.5},
        "random": {"10": 170, "100": 154, "1000": 128, "10000": 22, "all": 1.5},
    },
    "hela": {
        "confidence": {"10": 232, "100": 194, "1000": 77, "10000": 24, "all": 16.5},
        "random": {"10": 231, "100": 221, "1000": 189, "10000": 106, "all": 16.6},
    },
}

#: Figure 2, extrapolation with all annotations (AOGM, approaches the supervised row).
EXTRAPOLATION_ALL: dict[str, float] = {"bacteria": 37, "hela": 185}


def paper_key(dataset: str) -> str | None:
    """The key of the paper's numbers for a run's ``dataset`` tag (``hela``, ``bacteria``), else None."""
    key = dataset.strip().lower()
    return key if key in TABLE1 else None
