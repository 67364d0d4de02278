"""TensorBoard event files from a search's events, with no TensorFlow, tensorboard or protobuf package.

An event file is a TFRecord stream: each record is ``uint64 length, uint32 masked_crc32c(length), data,
uint32 masked_crc32c(data)`` (little-endian; CRC-32C, Castagnoli polynomial, masked as
``((crc >> 15 | crc << 17) + 0xa282ead8) mod 2^32``), and each ``data`` an ``Event`` protocol buffer
(``tensorboard/compat/proto/event.proto``): ``wall_time`` (1, double), ``step`` (2, int64),
``file_version`` (3, string) or ``summary`` (5) holding ``Summary.Value``s (``summary.proto``): a scalar
(``simple_value``, 2), a histogram (``HistogramProto``, 5), an image (PNG bytes, 4) or a text (a string
``TensorProto``, 8, with the ``text`` plugin named in its metadata, 9). The handful of fields needed are
encoded here by hand (:class:`_Proto`); ``tests/test_tensorboard.py`` reads the files back with
tensorboard's own ``EventAccumulator`` where that package is installed.

:class:`TensorBoardLogger` observes a searcher's bus (one line: ``TensorBoardLogger(log_dir).attach(searcher)``;
the CLI's ``--tensorboard DIR``) and writes, per step, every loss, metric, learning rate and extra as a
scalar; per epoch end the validation metrics, every choice group's architecture parameters as a histogram
and its mixing weights as an image (rows x options, white = 1), and the decoded architecture as text; at
the start the run's configuration as text.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from workbench.events import EpochEnded, RunFailed, RunFinished, RunStarted, StepEnded

__all__ = ["EventFileWriter", "TensorBoardLogger", "crc32c", "png_gray"]


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``; ``crc32c(b"123456789") == 0xE3069283``."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class _Proto:
    """A protocol-buffer message written field by field (wire types 0, 1, 2 and 5)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    @staticmethod
    def _varint(n: int) -> bytes:
        n &= (1 << 64) - 1  # negative int64s are ten-byte varints
        out = bytearray()
        while True:
            b, n = n & 0x7F, n >> 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def varint(self, field: int, n: int) -> _Proto:
        self.buf += self._varint(field << 3) + self._varint(int(n))
        return self

    def double(self, field: int, x: float) -> _Proto:
        self.buf += self._varint(field << 3 | 1) + struct.pack("<d", float(x))
        return self

    def float(self, field: int, x: float) -> _Proto:
        self.buf += self._varint(field << 3 | 5) + struct.pack("<f", float(x))
        return self

    def bytes(self, field: int, data: bytes | _Proto) -> _Proto:
        raw = bytes(data.buf) if isinstance(data, _Proto) else bytes(data)
        self.buf += self._varint(field << 3 | 2) + self._varint(len(raw)) + raw
        return self

    def packed_doubles(self, field: int, xs: np.ndarray) -> _Proto:
        return self.bytes(field, np.asarray(xs, dtype="<f8").tobytes())


def png_gray(image: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of ``image`` (2-D, values in [0, 1]; NaN shows black)."""
    a = np.nan_to_num(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0))
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"png_gray: need a non-empty 2-D array, got shape {a.shape}")
    pixels = np.round(a * 255).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    h, w = pixels.shape
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


class EventFileWriter:
    """One TensorBoard event file in ``log_dir`` (created), written record by record and flushed per call."""

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(log_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise NotADirectoryError(f"TensorBoard log dir {str(self.dir)!r} is a file; give a folder (created "
                                     "if missing)")
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.{os.getpid()}.workbench"
        self.path = self.dir / name
        self._f = open(self.path, "ab")  # noqa: SIM115 - kept open for the writer's lifetime
        self._event(_Proto().bytes(3, b"brain.Event:2"), step=0)

    def _event(self, body: _Proto, step: int) -> None:
        ev = _Proto().double(1, time.time()).varint(2, step)
        ev.buf += body.buf
        data = bytes(ev.buf)
        header = struct.pack("<Q", len(data))
        self._f.write(header + struct.pack("<I", _masked(crc32c(header))) + data
                      + struct.pack("<I", _masked(crc32c(data))))
        self._f.flush()

    def _summary(self, value: _Proto, step: int) -> None:
        self._event(_Proto().bytes(5, _Proto().bytes(1, value)), step)

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._summary(_Proto().bytes(1, tag.encode()).float(2, value), step)

    def histogram(self, tag: str, values: np.ndarray, step: int, bins: int = 30) -> None:
        v = np.asarray(values, dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        if not v.size:
            return
        lo, hi = float(v.min()), float(v.max())
        counts, edges = np.histogram(v, bins=bins if hi > lo else 1, range=(lo, hi) if hi > lo else (lo - 0.5, lo + 0.5))
        histo = (_Proto().double(1, lo).double(2, hi).double(3, v.size).double(4, v.sum()).double(5, (v * v).sum())
                 .packed_doubles(6, edges[1:]).packed_doubles(7, counts.astype(np.float64)))
        self._summary(_Proto().bytes(1, tag.encode()).bytes(5, histo), step)

    def image(self, tag: str, image: np.ndarray, step: int, scale: int = 1) -> None:
        """A greyscale image (values in [0, 1]), each value ``scale`` x ``scale`` pixels."""
        a: np.ndarray = np.asarray(image, dtype=np.float64)
        if scale > 1:
            a = np.kron(a, np.ones((scale, scale)))
        img = _Proto().varint(1, a.shape[0]).varint(2, a.shape[1]).varint(3, 1).bytes(4, png_gray(a))
        self._summary(_Proto().bytes(1, tag.encode()).bytes(4, img), step)

    def text(self, tag: str, text: str, step: int) -> None:
        plugin = _Proto().bytes(1, _Proto().bytes(1, b"text"))  # SummaryMetadata.plugin_data.plugin_name
        tensor = _Proto().varint(1, 7).bytes(2, b"").bytes(8, text.encode())  # DT_STRING, scalar shape, string_val
        self._summary(_Proto().bytes(1, tag.encode()).bytes(9, plugin).bytes(8, tensor), step)

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


class TensorBoardLogger:
    """A bus observer that writes a search to TensorBoard event files (see the module docstring).

    ``every``: write step scalars every ``every`` steps (epoch-end records are always written).
    """

    def __init__(self, log_dir: str | os.PathLike[str], *, every: int = 1) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1, got {every!r}")
        self.writer = EventFileWriter(log_dir)
        self.every = every
        self._groups: tuple[str, ...] = ()
        self._last: StepEnded | None = None
        self._unsubscribe: Any = None

    def attach(self, searcher: Any) -> TensorBoardLogger:
        """Observe ``searcher``'s bus from now on; returns ``self``."""
        self._unsubscribe = searcher.bus.subscribe(self)
        return self

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.writer.close()

    def _metrics(self, prefix: str, metrics: Mapping[str, float] | None, step: int) -> None:
        for name, value in (metrics or {}).items():
            if value is not None and np.isfinite(value):
                self.writer.scalar(f"{prefix}/{name}", float(value), step)

    def __call__(self, event: Any) -> None:
        w = self.writer
        if isinstance(event, RunStarted):
            self._groups = tuple(g.name for g in event.groups)
            w.text("run/config", "```\n" + json.dumps(dict(event.config), indent=1, default=str) + "\n```",
                   event.step)
            w.text("run/what", f"space `{event.space}`, method `{event.method}`, objective `{event.objective}`",
                   event.step)
        elif isinstance(event, StepEnded):
            self._last = event
            if event.step % self.every:
                return
            s = event.step
            for tag, value in (("train/loss", event.train_loss), ("val/loss", event.val_loss), ("lr/weights", event.lr),
                               ("lr/arch", event.arch_lr), ("time/step_seconds", event.seconds)):
                if value is not None and np.isfinite(value):
                    w.scalar(tag, float(value), s)
            self._metrics("train", event.train_metrics, s)
            self._metrics("val", event.val_metrics, s)
            self._metrics("extras", event.extras, s)
        elif isinstance(event, EpochEnded):
            s = event.step
            if event.val_loss is not None and np.isfinite(event.val_loss):
                w.scalar("epoch/val_loss", float(event.val_loss), s)
            self._metrics("epoch", event.val_metrics, s)
            last = self._last
            if last is not None:
                for group, alpha in last.alphas.items():
                    w.histogram(f"alphas/{group}", alpha, s)
                for group, weights in last.weights.items():
                    a = np.asarray(weights, dtype=np.float64)
                    if a.ndim == 2 and a.size:
                        w.image(f"weights/{group}", a, s, scale=max(1, 96 // max(a.shape)))
            w.text("architecture", "```\n" + str(event.genotype) + "\n```", s)
        elif isinstance(event, RunFinished):
            w.text("architecture/final", "```\n" + str(event.genotype) + "\n```", event.step)
            w._f.flush()
        elif isinstance(event, RunFailed):
            w.text("run/failed", f"{event.error_type}: {event.error}", event.step)
