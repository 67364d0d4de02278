"""Data for searches: offline in-memory datasets, the DARTS split, batch streams.

``load_dataset(name)`` returns an :class:`ImageDataset` of normalised tensors
(``datasets.py``); ``search_split`` / ``make_streams`` cut its training set into
the weight half and the architecture half and stream seeded, resumable
mini-batches over them (``streams.py``). File formats live in ``formats.py``,
generated tasks in ``synthetic.py``.

>>> ds = load_dataset("digits", seed=0)
>>> w, a = make_streams(ds, batch_size=64, seed=0)
>>> xb, yb = w.next()
"""
from __future__ import annotations

from workbench.tasks.data.datasets import (
    DatasetNotFoundError,
    ImageDataset,
    dataset_names,
    load_dataset,
    register_dataset,
)
from workbench.tasks.data.formats import RestrictedUnpickler, read_idx
from workbench.tasks.data.streams import (
    BatchStream,
    TensorPair,
    derive_seed,
    eval_batches,
    make_streams,
    search_split,
)

__all__ = [
    "BatchStream",
    "DatasetNotFoundError",
    "ImageDataset",
    "RestrictedUnpickler",
    "TensorPair",
    "dataset_names",
    "derive_seed",
    "eval_batches",
    "load_dataset",
    "make_streams",
    "read_idx",
    "register_dataset",
    "search_split",
]
