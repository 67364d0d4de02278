"""Interaction data for DNIS (Cheng, Shen, Huang, arXiv 2006.04466; SEEDS_2 §8.2, §8.5, §0.1): integer
feature ids per field, re-indexed by descending frequency, with a rating (MSE) or a click (log-loss) target.

An example is one row of feature ids, ``x`` int64 of shape (N, n_fields): (user, item) for ratings,
(user, item, context) for click-through. All fields share **one id space** (AutoSrh pools the user and item
counts), **re-indexed by descending training frequency**: id 0 is the most frequent feature, ties are broken
stably (by the raw pooled id, field by field), and ids never seen in training come last. The frequency blocks
of the DNIS mask (``feature_split``) are then contiguous id ranges.

Registered datasets (nothing is downloaded):

* ``interactions`` -- synthetic ratings (SEEDS_2 §8.5): 600 users and 600 items with Zipf(1.1) popularity,
  40,000 ratings r = <u, v> + N(0, 0.3^2) with true rank 8 (so <u, v> has unit variance); default objective
  ``mse``;
* ``ctr`` -- synthetic click-through: 500 users, 500 items (Zipf 1.1) and 24 uniform "context" values; the
  true vectors have a **known per-field dimensionality** (8, 8, 2: the context needs only 2 dimensions); the
  click is Bernoulli(sigmoid(-0.5 + sum_{i<j} <v_i, v_j>)); default objective ``log_loss``;
* ``ml100k`` -- MovieLens-100k's 100,000 (user, item, rating) rows, read **only** from a ``recbole`` wheel or
  package already on disk (``pip download --no-deps recbole==1.2.1 -d DIR``, then ``root=DIR``; or ``pip
  install --no-deps recbole``), straight from the zip or from the folder ``importlib.util.find_spec`` finds,
  without importing recbole. GroupLens' terms restrict redistribution: the workbench never ships the file.

Splits (AutoSrh: 70/20/10): rows are shuffled with ``seed``; ``x_train`` holds the training 70% followed by
the validation 20%, ``x_test`` the last 10%, so the searcher's ``train_portion`` = :data:`TRAIN_PORTION` (7/9)
gives the weights the 70% and the mask the 20%. Frequencies are counted on ``x_train`` (train + validation),
never on the test rows. ``limit`` keeps at most that many ``x_train`` rows (a seeded subset of all rows,
split the same way).
"""
from __future__ import annotations

import glob
import importlib.util
import io
import logging
import math
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from workbench.tasks.data.datasets import DatasetNotFoundError, register_dataset

log = logging.getLogger(__name__)

__all__ = ["InteractionDataset", "KNOWN_VOCABULARY", "ML100K_MEMBER", "TRAIN_PORTION", "find_ml100k",
           "load_ml100k", "make_ctr", "make_interactions", "make_ratings", "reindex_by_frequency"]

#: share of ``x_train`` that trains the weights (70 of the 90 train + validation rows)
TRAIN_PORTION = 7 / 9
#: where MovieLens-100k's interactions sit inside the recbole 1.2.1 wheel / package
ML100K_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
ML100K_FIELDS = ("user", "item")
ML100K_SIZES = (943, 1682)


@dataclass(frozen=True, eq=False)
class InteractionDataset:
    """Feature-id rows and their targets, with the frequency of every id (the ``Dataset`` protocol).

    ``x_*``: int64 (N, n_fields), ids in ``range(n_ids)`` sorted by descending ``counts``; ``y_*``: float32 (N,)
    (ratings, or clicks in {0, 1}). ``counts[i]``: how often id i occurs in ``x_train``; ``field_of[i]``: the
    index in ``fields`` of the field id i belongs to; ``raw_ids[i]``: its id before re-indexing (pooled: field
    offset + the field's own id).
    """

    name: str
    x_train: Tensor = field(repr=False)
    y_train: Tensor = field(repr=False)
    x_test: Tensor = field(repr=False)
    y_test: Tensor = field(repr=False)
    fields: tuple[str, ...]
    counts: Tensor = field(repr=False)
    field_of: Tensor = field(repr=False)
    raw_ids: Tensor = field(repr=False)
    default_objective: str = "mse"
    n_outputs: int = 1

    def __post_init__(self) -> None:
        n = len(self.counts)
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 2 or x.shape[1] != len(self.fields) or x.dtype != torch.int64:
                raise ValueError(f"{self.name}: x_{split} must be int64 (N, {len(self.fields)}), got "
                                 f"{x.dtype} {tuple(x.shape)}")
            if len(x) != len(y) or len(x) == 0:
                raise ValueError(f"{self.name}: x_{split} has {len(x)} rows and y_{split} {len(y)}; they must "
                                 "match and be > 0")
            if int(x.min()) < 0 or int(x.max()) >= n:
                raise ValueError(f"{self.name}: x_{split} holds ids outside [0, {n - 1}] (n_ids = {n})")
        if len(self.field_of) != n or len(self.raw_ids) != n:
            raise ValueError(f"{self.name}: counts, field_of and raw_ids must all have n_ids = {n} entries")

    @property
    def input_shape(self) -> tuple[int]:
        return (len(self.fields),)

    @property
    def n_ids(self) -> int:
        return len(self.counts)

    @property
    def n_train(self) -> int:
        return len(self.y_train)


def reindex_by_frequency(ids: np.ndarray, n_ids: int, count_rows: int) -> tuple[np.ndarray, np.ndarray,
                                                                                np.ndarray]:
    """Pooled raw ids (N, F) -> (new ids, raw id of each new id, counts per new id).

    Counts are taken over the first ``count_rows`` rows; new id 0 is the most frequent, ties keep the raw
    order (a stable sort), ids never counted come last.
    """
    counts = np.bincount(ids[:count_rows].ravel(), minlength=n_ids)
    order = np.argsort(-counts, kind="stable")  # new id -> raw id
    new_of_raw = np.empty(n_ids, dtype=np.int64)
    new_of_raw[order] = np.arange(n_ids)
    return new_of_raw[ids], order.astype(np.int64), counts[order].astype(np.int64)


def _split_and_index(name: str, ids: np.ndarray, y: np.ndarray, fields: Sequence[str], sizes: Sequence[int],
                     rng: np.random.Generator, limit: int | None, objective: str) -> InteractionDataset:
    """Shuffle, cut 70/20/10 (optionally fewer rows), re-index by train+val frequency, wrap."""
    n = len(y)
    perm = rng.permutation(n)
    if limit is not None:
        perm = perm[: min(n, math.ceil(limit / 0.9))]
    ids, y = ids[perm], y[perm]
    n = len(y)
    n_fit = min(int(round(0.9 * n)), n - 1)  # train + validation rows; the rest is the test set
    if limit is not None:
        n_fit = min(n_fit, limit)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    pooled = ids + offsets[None, :]
    n_ids = int(sum(sizes))
    new, raw_of_new, counts = reindex_by_frequency(pooled, n_ids, n_fit)
    field_of_raw = np.repeat(np.arange(len(sizes)), sizes)
    x = torch.from_numpy(np.ascontiguousarray(new))
    t = torch.from_numpy(np.ascontiguousarray(y.astype(np.float32)))
    return InteractionDataset(name, x[:n_fit], t[:n_fit], x[n_fit:], t[n_fit:], tuple(fields),
                              torch.from_numpy(counts), torch.from_numpy(field_of_raw[raw_of_new]),
                              torch.from_numpy(raw_of_new), default_objective=objective)


def _zipf_ids(rng: np.random.Generator, n: int, size: int, exponent: float) -> np.ndarray:
    """``size`` draws from ``n`` ids with P(popularity rank k) ~ k^-exponent; ranks shuffled onto raw ids."""
    p = np.arange(1, n + 1, dtype=np.float64) ** -float(exponent)
    ranks = rng.choice(n, size=size, p=p / p.sum())
    return rng.permutation(n)[ranks]


def _latent_signal(rng: np.random.Generator, ids: np.ndarray, sizes: Sequence[int], ranks: Sequence[int],
                   signal: float) -> np.ndarray:
    """sum_{i<j} <v_i, v_j> with field f's true vectors nonzero in their first ranks[f] dimensions.

    The per-component variance s^2 makes the sum's variance signal^2: s^4 * sum_{i<j} min(r_i, r_j) = signal^2.
    """
    pairs = [(i, j) for i in range(len(sizes)) for j in range(i + 1, len(sizes))]
    s2 = signal / math.sqrt(sum(min(ranks[i], ranks[j]) for i, j in pairs))
    k = max(ranks)
    vecs = []
    for n_f, r in zip(sizes, ranks, strict=True):
        v = np.zeros((n_f, k))
        v[:, :r] = rng.normal(0.0, math.sqrt(s2), (n_f, r))
        vecs.append(v)
    out = np.zeros(len(ids))
    for i, j in pairs:
        out += (vecs[i][ids[:, i]] * vecs[j][ids[:, j]]).sum(1)
    return out


def _check_sizes(sizes: Sequence[int], ranks: Sequence[int], zipf: Sequence[float], n_rows: int) -> None:
    if not len(sizes) == len(ranks) == len(zipf) >= 2:
        raise ValueError(f"need one size, rank and Zipf exponent per field (>= 2 fields), got sizes={sizes}, "
                         f"ranks={ranks}, zipf={zipf}")
    if any(int(s) < 1 for s in sizes) or any(int(r) < 1 for r in ranks) or any(z < 0 for z in zipf):
        raise ValueError(f"sizes and ranks must be >= 1 and Zipf exponents >= 0, got {sizes}, {ranks}, {zipf}")
    if n_rows < 10:
        raise ValueError(f"need at least 10 rows (a 70/20/10 split), got {n_rows}")


def make_ratings(name: str = "interactions", *, fields: Sequence[str] = ("user", "item"),
                 sizes: Sequence[int] = (600, 600), ranks: Sequence[int] = (8, 8), zipf: Sequence[float] = (1.1, 1.1),
                 n_rows: int = 40_000, noise: float = 0.3, seed: int = 0, limit: int | None = None
                 ) -> InteractionDataset:
    """Synthetic ratings r = sum_{i<j} <v_i, v_j> + N(0, noise^2) (two fields: r = <u, v> + noise; §8.5)."""
    _check_sizes(sizes, ranks, zipf, n_rows)
    rng = np.random.default_rng(seed)
    ids = np.stack([_zipf_ids(rng, int(n), n_rows, z) for n, z in zip(sizes, zipf, strict=True)], 1)
    r = _latent_signal(rng, ids, sizes, ranks, 1.0) + rng.normal(0.0, noise, n_rows)
    return _split_and_index(name, ids, r, fields, sizes, rng, limit, "mse")


def make_ctr(name: str = "ctr", *, fields: Sequence[str] = ("user", "item", "context"),
             sizes: Sequence[int] = (500, 500, 24), ranks: Sequence[int] = (8, 8, 2),
             zipf: Sequence[float] = (1.1, 1.1, 0.0), n_rows: int = 40_000, bias: float = -0.5, signal: float = 1.5,
             seed: int = 0, limit: int | None = None) -> InteractionDataset:
    """Synthetic clicks ~ Bernoulli(sigmoid(bias + sum_{i<j} <v_i, v_j>)), signal std ``signal``."""
    _check_sizes(sizes, ranks, zipf, n_rows)
    rng = np.random.default_rng(seed)
    ids = np.stack([_zipf_ids(rng, int(n), n_rows, z) for n, z in zip(sizes, zipf, strict=True)], 1)
    logit = bias + _latent_signal(rng, ids, sizes, ranks, signal)
    clicks = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
    return _split_and_index(name, ids, clicks, fields, sizes, rng, limit, "log_loss")


#: alias: the default synthetic ratings (the registered ``interactions`` dataset)
make_interactions = make_ratings


# ------------------------------------------------------------------------------ MovieLens-100k (optional)
def _wheel_dirs(root: Path | None) -> list[Path]:
    dirs = [root] if root is not None else []
    if os.environ.get("WORKBENCH_WHEELS"):
        dirs.append(Path(os.environ["WORKBENCH_WHEELS"]).expanduser())
    pip_cache = Path(os.environ.get("PIP_CACHE_DIR", Path.home() / ".cache" / "pip")).expanduser()
    dirs.append(pip_cache / "wheels")  # wheels pip built or was given; downloads are opaque http-cache blobs
    return dirs


def find_ml100k(root: Path | None = None) -> tuple[str, bytes] | None:
    """(where it was found, the bytes of ``ml-100k.inter``), or None when no recbole wheel/package is on disk.

    Looks in ``root`` (``ml-100k.inter`` itself, ``ml-100k/ml-100k.inter`` or a ``recbole-*.whl``),
    ``$WORKBENCH_WHEELS``, pip's wheel cache, then an installed ``recbole`` package (located with
    ``importlib.util.find_spec``, which does not run the package's ``__init__``).
    """
    if root is not None:
        for candidate in (root / "ml-100k.inter", root / "ml-100k" / "ml-100k.inter"):
            if candidate.is_file():
                return str(candidate), candidate.read_bytes()
    for d in _wheel_dirs(root):
        if not d.is_dir():
            continue
        for wheel in sorted(glob.glob(str(d / "**" / "recbole-*.whl"), recursive=True), reverse=True):
            try:
                with zipfile.ZipFile(wheel) as z:
                    return f"{wheel}!{ML100K_MEMBER}", z.read(ML100K_MEMBER)
            except (KeyError, zipfile.BadZipFile, OSError) as exc:
                log.warning("ml100k: %s has no readable %s (%s)", wheel, ML100K_MEMBER, exc)
    spec = importlib.util.find_spec("recbole")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "dataset_example" / "ml-100k" / "ml-100k.inter"
        if path.is_file():
            return str(path), path.read_bytes()
    return None


def _parse_inter(text: str, where: str) -> tuple[list[str], list[str], np.ndarray]:
    """RecBole's atomic file: a typed header (``user_id:token``...), then tab-separated rows."""
    lines = io.StringIO(text).read().splitlines()
    if not lines:
        raise DatasetNotFoundError(f"ml100k: {where} is empty")
    header = [h.split(":")[0] for h in lines[0].split("\t")]
    try:
        cu, ci, cr = header.index("user_id"), header.index("item_id"), header.index("rating")
    except ValueError:
        raise DatasetNotFoundError(f"ml100k: {where} has header {lines[0]!r}; expected user_id, item_id and "
                                   "rating columns") from None
    users, items, ratings = [], [], []
    for line in lines[1:]:
        if line.strip():
            cols = line.split("\t")
            users.append(cols[cu])
            items.append(cols[ci])
            ratings.append(float(cols[cr]))
    return users, items, np.asarray(ratings, dtype=np.float64)


def load_ml100k(root: Path | None = None, *, seed: int = 0, limit: int | None = None) -> InteractionDataset:
    """MovieLens-100k ratings from a recbole wheel or package already on disk (:func:`find_ml100k`)."""
    found = find_ml100k(root)
    if found is None:
        raise DatasetNotFoundError(
            "ml100k: no recbole wheel or package found (looked in "
            f"{', '.join(map(str, _wheel_dirs(root)))} and the installed packages). MovieLens-100k is read only "
            "from a copy you already have, never downloaded: `pip download --no-deps recbole==1.2.1 -d DIR` and "
            "pass --data-root DIR (root=DIR), or `pip install --no-deps recbole`. GroupLens' terms restrict "
            "redistribution; the synthetic `interactions` dataset needs nothing")
    where, data = found
    users, items, ratings = _parse_inter(data.decode("utf-8"), where)
    u_names, u = np.unique(np.asarray(users), return_inverse=True)
    i_names, i = np.unique(np.asarray(items), return_inverse=True)
    log.info("ml100k: %d ratings, %d users, %d items from %s", len(ratings), len(u_names), len(i_names), where)
    ids = np.stack([u, i], 1).astype(np.int64)
    return _split_and_index("ml100k", ids, ratings, ML100K_FIELDS, (len(u_names), len(i_names)),
                            np.random.default_rng(seed), limit, "mse")


#: n_ids of the registered datasets (what a space needs to size its embedding table from a dataset's name)
KNOWN_VOCABULARY = {"interactions": 1200, "ctr": 1024, "ml100k": sum(ML100K_SIZES)}


register_dataset("interactions", lambda root, seed=0, limit=None: make_ratings(seed=seed, limit=limit))
register_dataset("ctr", lambda root, seed=0, limit=None: make_ctr(seed=seed, limit=limit))
register_dataset("ml100k", lambda root, seed=0, limit=None: load_ml100k(root, seed=seed, limit=limit),
                 reads_files=True)
