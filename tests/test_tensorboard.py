"""TensorBoard event files written without TensorFlow: the framing checksum, the PNG encoder, and a search's
events read back by tensorboard's own EventAccumulator (the oracle, where tensorboard is installed)."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from workbench import SearchConfig, Searcher
from workbench.events import StepEnded
from workbench.runs.tensorboard import EventFileWriter, TensorBoardLogger, _masked, crc32c, png_gray


def test_crc32c_check_value_and_record_framing(tmp_path):
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720, B.4)
    assert crc32c(b"") == 0
    w = EventFileWriter(tmp_path)
    w.scalar("a", 1.5, 3)
    w.close()
    data = w.path.read_bytes()
    n_records = 0
    while data:
        (length,) = struct.unpack("<Q", data[:8])
        assert struct.unpack("<I", data[8:12])[0] == _masked(crc32c(data[:8]))
        body = data[12:12 + length]
        assert struct.unpack("<I", data[12 + length:16 + length])[0] == _masked(crc32c(body))
        data, n_records = data[16 + length:], n_records + 1
    assert n_records == 2  # the file-version event and the scalar


def test_png_is_a_valid_greyscale_image():
    img = np.array([[0.0, 0.5], [1.0, np.nan]])
    png = png_gray(img)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert (w, h, depth, colour) == (2, 2, 8, 0)
    idat = png.index(b"IDAT")
    (length,) = struct.unpack(">I", png[idat - 4:idat])
    raw = zlib.decompress(png[idat + 4: idat + 4 + length])
    assert raw == bytes([0, 0, 128, 0, 255, 0])  # per row: filter 0, then pixels (NaN -> 0)
    with pytest.raises(ValueError, match="2-D"):
        png_gray(np.zeros(3))


def test_a_search_read_back_by_tensorboard(tmp_path):
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                 reason="tensorboard (dev extra) is the oracle that reads the files")
    s = Searcher(SearchConfig(space="nb201", method="darts-v1", epochs=2, batch_size=32, data_limit=128, seed=0))
    logger = TensorBoardLogger(tmp_path / "tb").attach(s)
    losses: list[float] = []
    s.bus.subscribe(lambda e: losses.append(e.train_loss), (StepEnded,))
    s.run()
    logger.detach()
    acc = ea_mod.EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "histograms": 0,
                                                                       "images": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    steps = s.step_count
    train = acc.Scalars("train/loss")
    assert [e.step for e in train] == list(range(1, steps + 1))
    assert train[-1].value == pytest.approx(losses[-1], rel=1e-6)
    assert {"val/loss", "train/accuracy", "lr/weights", "epoch/accuracy"} <= set(tags["scalars"])
    hist = acc.Histograms("alphas/cell")
    assert len(hist) == 2 and hist[-1].histogram_value.num == s.model.alphas["cell"].numel()
    assert hist[-1].histogram_value.max == pytest.approx(float(s.model.alphas["cell"].max()), rel=1e-6)
    img = acc.Images("weights/cell")[-1]
    assert img.encoded_image_string.startswith(b"\x89PNG") and img.width >= 5
    texts = {t for t in tags["tensors"]}
    assert {"run/config", "architecture", "architecture/final"} <= texts
    final = acc.Tensors("architecture/final")[-1].tensor_proto.string_val[0].decode()
    assert str(s.genotype()) in final


def test_bad_log_dir_and_every(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        TensorBoardLogger(f)
    with pytest.raises(ValueError, match="every must be an int >= 1"):
        TensorBoardLogger(tmp_path / "tb", every=0)


def test_cli_search_writes_tensorboard_files(tmp_path):
    from workbench.app.cli import main
    tb = tmp_path / "tb"
    assert main(["search", "--space", "nb201", "--method", "darts-v1", "--epochs", "1", "--data-limit", "64",
                 "--batch-size", "32", "--out", str(tmp_path / "run"), "--tensorboard", str(tb), "--no-report",
                 "--quiet", "--threads", "1"]) == 0
    files = list(tb.glob("events.out.tfevents.*"))
    assert len(files) == 1 and files[0].stat().st_size > 200
