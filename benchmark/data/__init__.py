"""The data layer: CTC and point-CSV readers (validated), features, caching, writers and datasets.

Entry point for the rest of the suite: ``benchmark.data.datasets.resolve_dataset(spec, data_dir=...)``;
see ``benchmark.data.sequence`` for the data model and its conventions. (Nothing is imported here, so
that importing the data model does not load the readers' dependencies.)
"""
