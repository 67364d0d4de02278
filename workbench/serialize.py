"""Pickle-free checkpoints: a nested state tree as JSON + safetensors.

A search state (``Searcher.state_dict()``: module weights, torch optimizer
state dicts with int keys and tuple hyper-parameters, ``torch.Generator``
states, ints, strings, bools, None) is split into

* a JSON tree in which every tensor is replaced by a placeholder
  ``{"__tensor__": "t/<n>"}`` and the types JSON lacks are tagged
  (``{"__tuple__": [...]}``, ``{"__dict__": [[key, value], ...]}`` for dicts
  whose keys are not plain strings, ``{"__float__": "nan"}`` for non-finite
  floats), and
* a flat ``{key: tensor}`` dict stored with safetensors (the Hugging Face
  format: a JSON header + raw little-endian buffers; no code is ever executed
  on load, unlike pickle).

``save(path, obj)`` writes ``<stem>.safetensors`` then ``<stem>.json`` (tree, a
format tag, the size and sha256 of the tensor file, and the sha256 of the
header itself -- tree and meta included -- over its canonical JSON, so that
editing one digit anywhere in either file is detected), each atomically: written
to a temporary file in the same folder, fsync'ed, then ``os.replace``d, so a
process killed mid-write leaves either the old checkpoint or the new one,
never a torn file under the final name. The JSON file is written last and acts
as the commit record. ``load(path)`` verifies format, both hashes and the size
before it decodes anything (checkpoints of format ``workbench-checkpoint/1``,
which hashed the tensor file only, are still read); any problem raises :class:`CheckpointError` naming the file
and what is wrong; loading never modifies, moves or deletes a file.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "flatten", "unflatten", "save", "load", "read_meta",
           "verify", "checkpoint_paths", "atomic_write_bytes", "atomic_write_text", "fsync_dir"]

CHECKPOINT_FORMAT = "workbench-checkpoint/2"
_LEGACY_FORMATS = ("workbench-checkpoint/1",)  # no header hash
_TAGS = ("__tensor__", "__ndarray__", "__tuple__", "__dict__", "__float__")


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt or of another format; the message names the file."""


# ---------------------------------------------------------------------- tree <-> (JSON, tensors)
def flatten(obj: Any) -> tuple[Any, dict[str, Tensor]]:
    """Split ``obj`` into a JSON-able tree with placeholders and a flat ``{key: tensor}`` dict.

    Tensors are detached, moved to the CPU and cloned (safetensors refuses
    shared storage). Raises ``TypeError`` naming the path of an unsupported value.
    """
    tensors: dict[str, Tensor] = {}

    def enc(o: Any, path: str) -> Any:
        if isinstance(o, Tensor):
            key = f"t/{len(tensors)}"
            tensors[key] = o.detach().cpu().contiguous().clone()
            return {"__tensor__": key}
        if isinstance(o, np.ndarray):
            if o.dtype == object:
                raise TypeError(f"{path}: numpy object arrays cannot be saved; convert to numbers or lists")
            key = f"t/{len(tensors)}"
            tensors[key] = torch.from_numpy(np.ascontiguousarray(o).copy())
            return {"__ndarray__": key}
        if o is None or isinstance(o, (bool, str)):
            return o
        if isinstance(o, (int, np.integer)) and not isinstance(o, np.bool_):
            return int(o)
        if isinstance(o, (float, np.floating)):
            f = float(o)
            return f if math.isfinite(f) else {"__float__": repr(f)}
        if isinstance(o, np.bool_):
            return bool(o)
        if isinstance(o, tuple):
            return {"__tuple__": [enc(v, f"{path}[{i}]") for i, v in enumerate(o)]}
        if isinstance(o, list):
            return [enc(v, f"{path}[{i}]") for i, v in enumerate(o)]
        if isinstance(o, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in o):
                return {k: enc(v, f"{path}.{k}") for k, v in o.items()}
            return {"__dict__": [[enc_key(k, path), enc(v, f"{path}[{k!r}]")] for k, v in o.items()]}
        raise TypeError(f"{path or 'root'}: cannot save a value of type {type(o).__name__}; supported: tensors, "
                        "numpy arrays, dicts, lists, tuples, str, int, float, bool, None")

    def enc_key(k: Any, path: str) -> Any:
        if isinstance(k, (str, bool, int, float, tuple)) or k is None:
            return enc(k, f"{path}<key>")
        raise TypeError(f"{path}: dict key {k!r} of type {type(k).__name__} cannot be saved")

    return enc(obj, ""), tensors


def unflatten(tree: Any, tensors: dict[str, Tensor]) -> Any:
    """Inverse of :func:`flatten`; raises :class:`CheckpointError` on a dangling placeholder or unknown tag."""

    def dec(o: Any) -> Any:
        if isinstance(o, list):
            return [dec(v) for v in o]
        if not isinstance(o, dict):
            return o
        if len(o) == 1:
            (tag, val), = o.items()
            if tag in ("__tensor__", "__ndarray__"):
                if val not in tensors:
                    raise CheckpointError(f"tensor {val!r} is referenced by the tree but missing from the tensor file")
                return tensors[val] if tag == "__tensor__" else tensors[val].numpy()
            if tag == "__tuple__":
                return tuple(dec(v) for v in val)
            if tag == "__dict__":
                return {_hashable(dec(k)): dec(v) for k, v in val}
            if tag == "__float__":
                return float(val)
        bad = [k for k in o if k.startswith("__")]
        if bad:
            raise CheckpointError(f"unknown tag {bad[0]!r} in checkpoint tree; known tags: {', '.join(_TAGS)}")
        return {k: dec(v) for k, v in o.items()}

    return dec(tree)


def _hashable(k: Any) -> Any:
    if isinstance(k, list):  # a tuple key comes back from dec() as a tuple already; lists cannot be keys
        raise CheckpointError(f"a list cannot be a dict key (got {k!r})")
    return k


# ---------------------------------------------------------------------- atomic files
def fsync_dir(folder: Path) -> None:
    """fsync a folder so a rename inside it survives a power cut (no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies (mkstemp would give 0600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


# ---------------------------------------------------------------------- checkpoint files
def checkpoint_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(json, safetensors) paths for a stem, or for either file of the pair."""
    p = Path(path)
    if p.suffix in (".json", ".safetensors"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".json"), p.with_name(p.name + ".safetensors")


def save(path: str | os.PathLike[str], obj: Any, meta: dict[str, Any] | None = None) -> Path:
    """Save ``obj`` as ``<stem>.safetensors`` + ``<stem>.json``; returns the JSON path.

    ``meta`` is a small JSON-able dict stored next to the tree (read it back
    cheaply with :func:`read_meta`).
    """
    jpath, tpath = checkpoint_paths(path)
    tree, tensors = flatten(obj)
    blob = st_save(tensors, metadata={"format": CHECKPOINT_FORMAT})
    header = {"format": CHECKPOINT_FORMAT, "tensors": tpath.name, "size": len(blob),
              "sha256": hashlib.sha256(blob).hexdigest(), "meta": meta or {}, "tree": tree}
    header["header_sha256"] = _header_hash(header)
    text = json.dumps(header, allow_nan=False, separators=(",", ":"))
    atomic_write_bytes(tpath, blob)
    atomic_write_text(jpath, text)
    return jpath


def _header_hash(header: dict[str, Any]) -> str:
    """sha256 of the header without its own hash, as canonical JSON (sorted keys, no spaces, ASCII)."""
    body = {k: v for k, v in header.items() if k != "header_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _read_header(jpath: Path) -> dict[str, Any]:
    if not jpath.is_file():
        raise CheckpointError(f"{jpath}: checkpoint header not found")
    try:
        header = json.loads(jpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{jpath}: not valid JSON, the file is truncated or corrupt ({exc})") from None
    fmt = header.get("format") if isinstance(header, dict) else None
    if fmt != CHECKPOINT_FORMAT and fmt not in _LEGACY_FORMATS:
        got = fmt if isinstance(header, dict) else type(header).__name__
        raise CheckpointError(f"{jpath}: format is {got!r}, expected {CHECKPOINT_FORMAT!r} (not a workbench "
                              "checkpoint, or one written by an incompatible version)")
    need = ("tensors", "size", "sha256", "tree") + (("header_sha256",) if fmt == CHECKPOINT_FORMAT else ())
    missing = [k for k in need if k not in header]
    if missing:
        raise CheckpointError(f"{jpath}: header lacks {missing}")
    if fmt == CHECKPOINT_FORMAT:
        try:
            ok = _header_hash(header) == header["header_sha256"]
        except ValueError:  # a non-finite number edited in
            ok = False
        if not ok:
            raise CheckpointError(f"{jpath}: the header's sha256 does not match its contents (the JSON tree or "
                                  "metadata was edited or corrupted)")
    for key, kind in (("tensors", str), ("size", int), ("sha256", str)):
        if not isinstance(header[key], kind) or isinstance(header[key], bool):
            raise CheckpointError(f"{jpath}: header field {key!r} must be a {kind.__name__}, got "
                                  f"{type(header[key]).__name__}")
    if Path(header["tensors"]).name != header["tensors"]:
        raise CheckpointError(f"{jpath}: header field 'tensors' must be a file name in the same folder, got "
                              f"{header['tensors']!r}")
    return header


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``meta`` dict of a checkpoint (checks only the JSON header, not the tensors)."""
    return dict(_read_header(checkpoint_paths(path)[0]).get("meta") or {})


def _checked_blob(jpath: Path, header: dict[str, Any], check_hash: bool = True) -> bytes:
    tpath = jpath.with_name(str(header["tensors"]))
    if not tpath.is_file():
        raise CheckpointError(f"{tpath}: tensor file of checkpoint {jpath.name} not found")
    blob = tpath.read_bytes()
    if len(blob) != header["size"]:
        raise CheckpointError(f"{tpath}: {len(blob)} bytes, the header {jpath.name} says {header['size']} "
                              "(truncated or replaced)")
    if check_hash and hashlib.sha256(blob).hexdigest() != header["sha256"]:
        raise CheckpointError(f"{tpath}: sha256 does not match the one recorded in {jpath.name} (corrupt file)")
    return blob


def verify(path: str | os.PathLike[str]) -> None:
    """Check a checkpoint's header, size and sha256 without decoding it; raises :class:`CheckpointError`."""
    jpath, _ = checkpoint_paths(path)
    _checked_blob(jpath, _read_header(jpath))


def load(path: str | os.PathLike[str], check_hash: bool = True) -> Any:
    """Load a checkpoint written by :func:`save`, verifying format, size and sha256 first.

    Raises :class:`CheckpointError` naming the file for anything truncated,
    corrupt, missing or of another format. Never modifies any file.
    """
    jpath, _ = checkpoint_paths(path)
    header = _read_header(jpath)
    blob = _checked_blob(jpath, header, check_hash)
    try:
        tensors = st_load(blob)
    except Exception as exc:  # safetensors raises its own error types for a bad header/buffer
        raise CheckpointError(f"{jpath.with_name(str(header['tensors']))}: not a readable safetensors file "
                              f"({type(exc).__name__}: {exc})") from None
    try:
        return unflatten(header["tree"], tensors)
    except CheckpointError as exc:
        raise CheckpointError(f"{jpath}: {exc}") from None
