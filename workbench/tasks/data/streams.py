"""The DARTS search split and deterministic, resumable mini-batch streams.

Everything is indexing into in-memory tensors: no DataLoader, no workers. A
batch costs one ``index_select`` per tensor (microseconds at our sizes).

DARTS's reference loop (ALGORITHMS.md §1.5) draws the architecture batch with
``next(iter(valid_queue))`` every step: a fresh iterator over a
``SubsetRandomSampler``, i.e. a uniformly random batch, independently per
step. We instead keep one persistent shuffled :class:`BatchStream` for the
architecture half, exactly like the weight half. Each arch batch has the same
distribution (a uniform random subset), but within a pass the batches are
drawn *without* replacement, so every arch example is used once per pass; and
the stream is cheap, seeded and resumable.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from workbench.tasks.data.datasets import ImageDataset

TensorPair = tuple[Tensor, Tensor]

_STATE_VERSION = 1


def derive_seed(seed: int, tag: str) -> int:
    """A stable 63-bit seed for the sub-stream ``tag`` of ``seed`` (same on every run/machine)."""
    digest = hashlib.sha256(f"{int(seed)}/{tag}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def search_split(ds: ImageDataset, train_portion: float = 0.5) -> tuple[TensorPair, TensorPair]:
    """Split the training set by index into (weight half, arch half), the DARTS rule.

    The first ``floor(train_portion * N)`` examples of the training set (already
    shuffled by ``load_dataset``) feed the weights, the rest the architecture
    (§1.5). ``train_portion`` must be in (0, 1]. ``train_portion == 1.0`` means
    single-level search: both halves are the *whole* training set (weights and
    alphas see the same data, as in DARTS's "single-level" ablation).
    The halves are views, not copies.
    """
    if not 0.0 < train_portion <= 1.0:
        raise ValueError(f"train_portion must be in (0, 1], got {train_portion}")
    x, y = ds.x_train, ds.y_train
    n = len(y)
    if train_portion == 1.0:
        return (x, y), (x, y)
    split = int(math.floor(train_portion * n))
    if split < 1 or split >= n:
        raise ValueError(f"train_portion={train_portion} leaves an empty half of {n} examples")
    return (x[:split], y[:split]), (x[split:], y[split:])


class BatchStream:
    """Epoch-wise shuffled mini-batches over in-memory tensors; deterministic and resumable.

    Every pass ("epoch") visits each example exactly once (the last batch is
    smaller unless ``drop_last``), in an order drawn at the start of the pass
    from the stream's own ``torch.Generator`` (seeded by ``seed``, independent
    of torch's global RNG). :meth:`next` wraps around forever.

    ``epoch`` counts completed passes and ``position`` the batches consumed in
    the current pass; after the last batch of a pass, ``epoch`` has already
    advanced and ``position`` is 0.

    :meth:`state_dict` holds only ints, bools and tensors, so it can be written
    with ``torch.save(weights_only=True)`` or safetensors. After
    :meth:`load_state_dict` the stream yields bit-identical batches to the
    stream it was saved from.

    See the module docstring for how this differs from DARTS's
    ``next(iter(valid_queue))``.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        *,
        seed: int,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n = len(y)
        if n == 0 or (drop_last and n < batch_size):
            raise ValueError(f"{n} examples give no batch of size {batch_size} (drop_last={drop_last})")
        self.device = torch.device(device)
        self.x = x.to(self.device)  # moved once; batches are index_selects on device
        self.y = y.to(self.device)
        self.n = n
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.batches_per_epoch = n // batch_size if drop_last else math.ceil(n / batch_size)
        self.epoch = 0
        self.position = 0
        self._gen = torch.Generator(device="cpu").manual_seed(self.seed)
        self._perm = torch.empty(0, dtype=torch.int64)  # CPU; empty between passes
        self._perm_dev = self._perm

    def _set_perm(self, perm: Tensor) -> None:
        self._perm = perm
        self._perm_dev = perm.to(self.device)

    def next(self) -> TensorPair:
        """The next ``(x, y)`` batch; draws a fresh permutation at the start of each pass."""
        if self.position == 0:
            self._set_perm(torch.randperm(self.n, generator=self._gen))
        start = self.position * self.batch_size
        idx = self._perm_dev[start : start + self.batch_size]
        batch = (self.x.index_select(0, idx), self.y.index_select(0, idx))
        self.position += 1
        if self.position == self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
            self._set_perm(torch.empty(0, dtype=torch.int64))
        return batch

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> TensorPair:
        return self.next()

    def mark(self) -> tuple[Any, ...]:
        """A cheap in-memory bookmark of the stream's position (for undoing a failed step); see :meth:`reset`."""
        return self.epoch, self.position, self._perm, self._perm_dev, self._gen.get_state()

    def reset(self, mark: tuple[Any, ...]) -> None:
        """Go back to a :meth:`mark` of this stream: the same batches come next."""
        self.epoch, self.position, self._perm, self._perm_dev, gen_state = mark
        self._gen.set_state(gen_state)

    def state_dict(self) -> dict[str, Any]:
        """Plain values and tensors only: no pickle needed to store it."""
        return {
            "version": _STATE_VERSION,
            "n": self.n,
            "batch_size": self.batch_size,
            "drop_last": self.drop_last,
            "epoch": self.epoch,
            "position": self.position,
            "perm": self._perm.clone(),
            "generator_state": self._gen.get_state(),
        }

    def check_state(self, sd: Any) -> None:
        """Raise ``ValueError`` if ``sd`` is not a :meth:`state_dict` this stream can load (nothing is changed)."""
        if not isinstance(sd, dict):
            raise ValueError(f"a BatchStream state must be a dict, got {type(sd).__name__}")
        if missing := [k for k in ("version", "n", "batch_size", "drop_last", "epoch", "position", "perm",
                                   "generator_state") if k not in sd]:
            raise ValueError(f"BatchStream state lacks {missing}")
        if sd["version"] != _STATE_VERSION:
            raise ValueError(f"unsupported BatchStream state version {sd.get('version')!r}")
        for key in ("n", "batch_size", "drop_last"):
            if sd[key] != getattr(self, key):
                raise ValueError(f"state was saved with {key}={sd[key]!r}, this stream has {getattr(self, key)}")
        epoch, position, perm, gen = sd["epoch"], sd["position"], sd["perm"], sd["generator_state"]
        for key, v in (("epoch", epoch), ("position", position)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"BatchStream state {key}={v!r} is not an int >= 0")
        if not isinstance(perm, Tensor) or perm.dtype != torch.int64 or perm.ndim != 1:
            raise ValueError(f"BatchStream state perm must be a 1-d int64 tensor, got {_describe(perm)}")
        if not 0 <= position < self.batches_per_epoch or (position > 0 and len(perm) != self.n):
            raise ValueError(f"inconsistent BatchStream state: position {position}, perm of {len(perm)}")
        if len(perm) and (int(perm.min()) < 0 or int(perm.max()) >= self.n
                          or not torch.equal(perm.sort().values, torch.arange(self.n))):
            raise ValueError(f"BatchStream state perm is not a permutation of range({self.n})")
        want = self._gen.get_state()
        if not isinstance(gen, Tensor) or gen.dtype != torch.uint8 or gen.shape != want.shape:
            raise ValueError(f"BatchStream state generator_state must be a uint8 tensor of shape "
                             f"{tuple(want.shape)}, got {_describe(gen)}")

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the data and batch size must match the saved stream.

        Everything is checked (:meth:`check_state`) before anything is changed.
        """
        self.check_state(sd)
        self.epoch = int(sd["epoch"])
        self.position = int(sd["position"])
        self._gen.set_state(sd["generator_state"].cpu().clone())
        self._set_perm(sd["perm"].cpu().clone())


def _describe(v: Any) -> str:
    if isinstance(v, Tensor):
        return f"a {v.dtype} tensor of shape {tuple(v.shape)}"
    return type(v).__name__


def make_streams(
    ds: ImageDataset,
    batch_size: int,
    seed: int,
    train_portion: float = 0.5,
    device: torch.device | str = "cpu",
) -> tuple[BatchStream, BatchStream]:
    """(weight stream, arch stream) over :func:`search_split`, with seeds derived from ``seed``."""
    (xw, yw), (xa, ya) = search_split(ds, train_portion)
    weights = BatchStream(xw, yw, batch_size, seed=derive_seed(seed, "weights"), device=device)
    arch = BatchStream(xa, ya, batch_size, seed=derive_seed(seed, "arch"), device=device)
    return weights, arch


def eval_batches(
    x: Tensor, y: Tensor, batch_size: int, *, device: torch.device | str | None = None
) -> Iterator[TensorPair]:
    """Consecutive, unshuffled ``(x, y)`` slices covering every example once (last may be short)."""
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(y), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        if device is not None:
            xb, yb = xb.to(device), yb.to(device)
        yield xb, yb
