"""Readers for the on-disk formats of the real datasets: idx, CIFAR pickles, CSV.

All readers return numpy arrays and know nothing about normalisation or
splits (that is ``datasets.py``'s job).

CIFAR-10's "python version" batches are Python pickles. Unpickling can run
arbitrary code (a pickle may name any importable callable, e.g. ``os.system``,
and the unpickler calls it), and these files come from a folder the user
points us at, so we never use plain ``pickle.load`` on them.
:class:`RestrictedUnpickler` resolves only the handful of numpy globals that an
array needs to be rebuilt and raises ``pickle.UnpicklingError`` for any other
global. Dicts, lists, ints and byte strings need no globals at all.
"""
from __future__ import annotations

import codecs
import gzip
import importlib
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

# idx type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/)
_IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _open_maybe_gzip(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
        return fh.read()


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (plain or gzip, detected by magic bytes) into an array.

    Layout: two zero bytes, a type byte, a rank byte, ``rank`` big-endian uint32
    dimensions, then the data in C order.
    """
    path = Path(path)
    raw = _open_maybe_gzip(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an idx file (bad magic {raw[:4]!r})")
    type_code, rank = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown idx type byte 0x{type_code:02x}")
    dtype = _IDX_DTYPES[type_code]
    header = 4 + 4 * rank
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=rank, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: idx header says {shape} ({expected} bytes) but file has {len(raw)}")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _numpy_private(module: str, name: str) -> Any:
    """A numpy array-reconstruction helper (``numpy.core`` became ``numpy._core`` in 2.0)."""
    for package in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{package}.{module}"), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no {module}.{name}")


def _latin1_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes; only latin-1 allowed."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(obj, "latin-1", errors)


#: what a refused pickle raises (catch this name: nothing outside this module needs to import pickle)
UnpicklingError = pickle.UnpicklingError


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and plain containers, nothing else.

    Allowed globals: ``numpy.ndarray``, ``numpy.dtype``, numpy's
    ``_reconstruct`` and ``_frombuffer`` (under both their numpy-1 and numpy-2
    module names) and ``_codecs.encode`` restricted to latin-1 (protocol 2
    encodes ``bytes`` that way). Everything else raises
    ``pickle.UnpicklingError`` before it is imported, let alone called.
    """

    _ALLOWED = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): lambda: _numpy_private("multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): lambda: _numpy_private("multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"): lambda: _numpy_private("numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"): lambda: _numpy_private("numeric", "_frombuffer"),
        ("_codecs", "encode"): lambda: _latin1_encode,
    }

    def find_class(self, module: str, name: str) -> Any:
        factory = self._ALLOWED.get((module, name))
        if factory is None:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: only numpy array globals are allowed "
                "in dataset pickles"
            )
        return factory()


def _str_keys(d: dict[Any, Any]) -> dict[str, Any]:
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in d.items()}


def load_cifar_pickle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load one CIFAR python batch with :class:`RestrictedUnpickler`; keys become ``str``.

    The original files were written by Python 2 (``str`` keys become ``bytes``
    with ``encoding="bytes"``); files written by Python 3 load the same way.
    """
    with open(path, "rb") as fh:
        try:
            obj = RestrictedUnpickler(fh, encoding="bytes").load()
        except pickle.UnpicklingError as err:
            raise pickle.UnpicklingError(f"{path}: {err}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict, got {type(obj).__name__}")
    return _str_keys(obj)


def read_cifar_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one CIFAR-10 batch file."""
    d = load_cifar_pickle(path)
    if "data" not in d or "labels" not in d:
        raise ValueError(f"{path}: not a CIFAR-10 batch (keys {sorted(d)})")
    x = np.asarray(d["data"], dtype=np.uint8)
    y = np.asarray(d["labels"], dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or len(x) != len(y):
        raise ValueError(f"{path}: data shape {x.shape}, {len(y)} labels; expected (N, 3072), N labels")
    return x.reshape(-1, 3, 32, 32), y


def read_label_csv(path: str | os.PathLike[str], *, label_column: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """A gzipped or plain integer CSV of flattened images with one label column."""
    raw = _open_maybe_gzip(Path(path)).decode("ascii")
    table = np.loadtxt(raw.splitlines(), delimiter=",", dtype=np.int64, ndmin=2)
    y = table[:, label_column]
    x = np.delete(table, label_column % table.shape[1], axis=1)
    return x, y
