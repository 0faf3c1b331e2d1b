"""The data layer: CTC and point-CSV readers (validated), features, caching, writers and datasets.

Entry point for the rest of the suite: ``resolve_dataset(spec, data_dir=...)``; see
``benchmark.data.sequence`` for the data model and its conventions.
"""

from benchmark.data.ctc import list_ctc_sequences, read_ctc_sequence, write_ctc_prediction
from benchmark.data.datasets import resolve_dataset
from benchmark.data.geff_io import read_geff, write_geff
from benchmark.data.points import read_points_csv
from benchmark.data.sequence import Dataset, Sequence, Split

__all__ = [
    "Dataset",
    "Sequence",
    "Split",
    "list_ctc_sequences",
    "read_ctc_sequence",
    "read_geff",
    "read_points_csv",
    "resolve_dataset",
    "write_ctc_prediction",
    "write_geff",
]
