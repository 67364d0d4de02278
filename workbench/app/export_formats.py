"""A compiled network written in a standard format, read back, and checked against the eager network.

Formats (``FORMATS``):

* ``safetensors`` -- ``model.safetensors``: the ``state_dict`` (no code; rebuild the network from
  ``architecture.json`` with the workbench, then load it). No pickle.
* ``torchscript`` -- ``model.pt``: ``torch.jit.trace`` of the network in eval mode; runs without the workbench
  (``torch.jit.load``).
* ``onnx`` -- ``model.onnx``: PyTorch's TorchScript-based ONNX exporter (it needs only the ``onnx`` package,
  the ``export`` extra) with the batch axis dynamic, and for images the height and width too.

Every network the workbench compiles is free of shape-dependent Python branches while it is traced or
exported (the kernel-cropping speed trick of the cell ops is skipped then: ``conv_kernels.tracing``), so
an export made at 8x8 runs at 32x32. :func:`check_export` reads the file back and compares its output with
the eager network's at any input shape (ONNX with ``onnxruntime`` when it is installed).
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["FORMATS", "FILES", "ExportCheck", "export_network", "check_export"]

FORMATS = ("safetensors", "torchscript", "onnx")
FILES = {"safetensors": "model.safetensors", "torchscript": "model.pt", "onnx": "model.onnx"}


def _dynamic_axes(example: Tensor) -> dict[int, str]:
    axes = {0: "batch"}
    if example.ndim == 4:  # images: any resolution
        axes.update({2: "height", 3: "width"})
    elif example.ndim == 5:  # volumes
        axes.update({2: "depth", 3: "height", 4: "width"})
    return axes


def export_network(net: nn.Module, out_dir: str | os.PathLike[str], fmt: str, example: Tensor) -> Path:
    """Write ``net`` (put in eval mode) to ``out_dir`` in format ``fmt``, traced on ``example``; returns the path."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; accepted: {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILES[fmt]
    net.eval()
    if fmt == "safetensors":
        from safetensors.torch import save_model
        save_model(net, str(path))
        return path
    if fmt == "onnx" and importlib.util.find_spec("onnx") is None:
        raise RuntimeError("ONNX export needs the 'onnx' package: pip install 'dnas-workbench[export]' "
                           "(or pip install onnx)")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python values: none is shape-dependent here
        if fmt == "torchscript":
            torch.jit.trace(net, example, check_trace=False).save(str(path))
        else:
            torch.onnx.export(net, (example,), str(path), dynamo=False, input_names=["input"],
                              output_names=["output"], dynamic_axes={"input": _dynamic_axes(example)})
    return path


@dataclass(frozen=True)
class ExportCheck:
    """How an exported file's output compares with the eager network's on one input."""

    fmt: str
    input_shape: tuple[int, ...]
    max_abs_diff: float | None  # None: not checked (``note`` says why)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.max_abs_diff is not None and self.max_abs_diff <= 1e-4


def check_export(net: nn.Module, path: str | os.PathLike[str], fmt: str, x: Tensor) -> ExportCheck:
    """Run the exported file at ``x`` (any batch size; any resolution for traced formats) against ``net(x)``."""
    net.eval()
    with torch.no_grad():
        want = net(x)
        if fmt == "safetensors":
            import copy

            from safetensors.torch import load_model
            other = copy.deepcopy(net)
            for p in other.parameters():
                p.data.zero_()
            load_model(other, str(path))
            got = other.eval()(x)
        elif fmt == "torchscript":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript; it works
                got = torch.jit.load(str(path))(x)
        elif fmt == "onnx":
            if importlib.util.find_spec("onnxruntime") is None:
                return ExportCheck(fmt, tuple(x.shape), None, "not run: onnxruntime is not installed")
            import onnxruntime
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
        else:
            raise ValueError(f"unknown export format {fmt!r}; accepted: {', '.join(FORMATS)}")
    return ExportCheck(fmt, tuple(x.shape), float((got - want).abs().max()))


def parse_shape(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"3,32,32"`` (or a sequence) -> (3, 32, 32); every size a positive int."""
    parts = text.replace("x", ",").split(",") if isinstance(text, str) else list(text)
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"input shape {text!r}: expected comma-separated positive ints such as 3,32,32") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"input shape {text!r}: expected comma-separated positive ints such as 3,32,32")
    return shape
