"""Native CPU kernels for the small calls of a search step: grouped pointwise and depthwise convolutions and
training-mode BatchNorm (issue 17).

A DARTS supernet at CPU scale (Liu et al. 2019) runs hundreds of small convolutions per step -- grouped 1x1
convolutions of 8-64 channels per group and depthwise k x k ones (Howard et al. 2017, Sec. 3.1), each followed
by a BatchNorm (Ioffe & Szegedy 2015, Alg. 1; running statistics with the unbiased variance, as PyTorch) -- on
2x2 to 8x8 maps. oneDNN spends most of each call on fixed costs there (its grouped 1x1 forward reaches
~5 GFLOP/s at batch 64 on an 8x8 map); the plain loops of ``kernels.c``, vectorised over the channels of a
channels-last tensor, do the same arithmetic in less time at most of those shapes, forward and backward
(``benchmarks/bench_native.py``: per call, and the whole step with the kernels on and off).

``kernels.c`` ships with the package and is compiled on first use with the machine's C compiler (``cc``,
``-O3 -march=native``: the library is built where it runs) into ``~/.cache/dnas-workbench/native`` (or
``$XDG_CACHE_HOME``), named by a hash of the source, flags, compiler and CPU, in about a second; later
processes load it. Where no compiler is found, or it fails, or ``DNAS_WORKBENCH_NATIVE=0`` is set, every
call falls back to ``F.conv2d`` / ``F.batch_norm`` (oneDNN, ATen) -- the same functions, equal to float32
rounding (a seeded search's trajectory does depend on its rounding, so the two paths' runs differ slowly).

Applies only to eager CPU float32 tensors in channels-last memory with 8k channels (pointwise: 8-64 output
channels per group; depthwise: any stride, dilation and padding), at most ``MAX_THREADS`` = 2 torch threads
(the kernels are single-threaded; with 2 threads on a 2-core machine they still made a DARTS step 1.02-1.19x
faster than oneDNN's parallel convolutions, and fastest of all at 1 thread; more threads were not measured,
and keep oneDNN), outside traces, exports and functorch
transforms (``torch.func.vmap``). Their results are not bit-identical to oneDNN's (another summation order;
float32 rounding, ~1e-7 relative). Gradients: every kernel's backward is native too; under
``create_graph=True`` (Hessian-vector products) the backward runs ATen's differentiable
``convolution_backward`` / ``native_batch_norm_backward`` instead, so second derivatives are exact.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("kernels.c")
FLAGS = ("-O3", "-march=native", "-std=gnu11", "-shared", "-fPIC")
ENV = "DNAS_WORKBENCH_NATIVE"
#: the kernels are single-threaded: above this many torch threads, oneDNN's parallel convolutions are kept
MAX_THREADS = 2

_lib: Any = None  # ctypes.CDLL once loaded; False once it failed
_enabled = os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _cpu_id() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine() + platform.processor()
    keep = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags", "Features", "CPU part"))]
    return "\n".join(sorted(set(keep)))


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dnas-workbench" / "native"


def _compile(cc: str) -> Path:
    src = SOURCE.read_bytes()
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256(b"\0".join([src, " ".join(FLAGS).encode(), version.encode(), _cpu_id().encode()]))
    name = f"kernels-{key.hexdigest()[:16]}.so"
    for folder in (_cache_dir(), Path(tempfile.gettempdir()) / "dnas-workbench-native"):
        target = folder / name
        if target.exists():
            return target
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
            os.close(fd)
        except OSError:
            continue  # not writable: the next folder
        try:
            res = subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE)], capture_output=True, text=True, timeout=120)
            if res.returncode:
                raise RuntimeError(f"{cc} failed: {res.stderr.strip()[:500]}")
            os.replace(tmp, target)  # atomic: concurrent processes each build, one file wins
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target
    raise RuntimeError("no writable cache folder for the compiled kernels")


def _load() -> Any:
    global _lib
    if _lib is None:
        _lib = False
        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
        try:
            if cc is None:
                raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
            lib = ctypes.CDLL(str(_compile(cc)))
            ptr, i64 = ctypes.c_void_p, ctypes.c_int64
            for name, n_int in (("pw_forward", 5), ("pw_weight_grad", 4), ("dw_forward", 15), ("dw_input_grad", 14),
                                ("dw_weight_grad", 14)):
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = ctypes.c_int, [ptr, ptr, ptr] + [i64] * n_int
            lib.bn_forward.restype, lib.bn_backward.restype = ctypes.c_int, ctypes.c_int
            lib.bn_forward.argtypes = [ptr] * 8 + [i64, i64, ctypes.c_double, ctypes.c_double]
            lib.bn_backward.argtypes = [ptr] * 8 + [i64, i64]
            _lib = lib
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            log.warning("native CPU kernels unavailable (%s); using oneDNN's convolutions", e)
    return _lib or None


def available() -> bool:
    """Whether the native kernels are enabled and compiled (compiles them on the first call)."""
    return _enabled and _load() is not None


@contextmanager
def disabled() -> Iterator[None]:
    """Run a block with the native kernels off (every convolution through ``F.conv2d``): tests, benchmarks."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def _plain_cpu(x: Tensor, weight: Tensor) -> bool:
    """Eager, CPU, float32, channels-last, few threads: where the kernels apply (see the module docstring)."""
    if (not _enabled or x.dtype != torch.float32 or weight.dtype != torch.float32 or x.device.type != "cpu"
            or weight.device.type != "cpu"):
        return False
    if torch._C._functorch.peek_interpreter_stack() is not None:
        return False  # inside vmap, grad, jvp (traces and exports: the callers, conv_kernels and the cell ops, check)
    if torch.get_num_threads() > MAX_THREADS or not x.is_contiguous(memory_format=torch.channels_last):
        return False
    return _load() is not None


def takes(x: Tensor) -> bool:
    """Whether the kernels could take ``x`` (eager CPU float32, channels-last, <= MAX_THREADS threads, enabled and compiled)."""
    return _plain_cpu(x, x)


def pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    """A convolution size argument (an int, or (height, width)) as (height, width)."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def pointwise_channels_ok(n: int) -> bool:
    """Whether the pointwise kernel can produce ``n`` channels per group (8, 16, ..., 64: ``pw_forward``'s cases)."""
    return n % 8 == 0 and 0 < n <= 64


def _cl(t: Tensor) -> Tensor:
    """``t`` in channels-last memory (a no-op when it is): its data pointer then addresses (B, H, W, C) rows."""
    return t if t.is_contiguous(memory_format=torch.channels_last) else t.contiguous(memory_format=torch.channels_last)


def _new(B: int, C: int, H: int, W: int) -> Tensor:
    return torch.empty((B, C, H, W), memory_format=torch.channels_last)


def _call(name: str, *args: Any) -> None:
    lib = _load()
    if lib is None:
        raise RuntimeError(f"native kernel {name}: the kernels are unavailable (check available() first)")
    rc = getattr(lib, name)(*[a.data_ptr() if isinstance(a, Tensor) else a for a in args])  # None: NULL
    if rc:  # the callers checked the shapes; a refusal here is a bug (or, -2, out of memory)
        raise RuntimeError(f"native kernel {name} refused its arguments (code {rc})")


class _Pointwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, E: int) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.E = E
        B, _, H, W = x.shape
        Co, Ci = weight.shape[0] // E, weight.shape[1]
        y = _new(B, E * Co, H, W)
        _call("pw_forward", x, weight.detach().contiguous(), y, B * H * W, E, Ci, Co, 0)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        E = ctx.E
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if torch.is_grad_enabled():  # create_graph: a differentiable backward
            gx, gw, _ = torch.ops.aten.convolution_backward(grad, x, weight, None, [1, 1], [0, 0], [1, 1], False,
                                                           [0, 0], E, [need_x, need_w, False])
            return gx, gw, None
        B, _, H, W = x.shape
        Co, Ci = weight.shape[0] // E, weight.shape[1]
        g, w = _cl(grad), weight.detach().contiguous()
        gx = gw = None
        if need_x and pointwise_channels_ok(Ci):  # the forward of the transposed problem: Ci' = Co, Co' = Ci
            gx = _new(B, E * Ci, H, W)
            _call("pw_forward", g, w, gx, B * H * W, E, Co, Ci, 1)
        elif need_x:
            gx = torch.ops.aten.convolution_backward(grad, x, weight, None, [1, 1], [0, 0], [1, 1], False, [0, 0], E,
                                                     [True, False, False])[0]
        if need_w:
            gw = torch.empty_like(w)
            _call("pw_weight_grad", x, g, gw, B * H * W, E, Ci, Co)
        return gx, gw, None


def pointwise_applies(x: Tensor, weight: Tensor, groups: int) -> bool:
    """Whether :func:`pointwise_conv2d` runs natively: 8-64 output channels per group, a multiple of 8."""
    if not _enabled:
        return False
    return (weight.shape[-2:] == (1, 1) and weight.shape[0] % groups == 0
            and pointwise_channels_ok(weight.shape[0] // groups) and x.shape[1] == groups * weight.shape[1] and _plain_cpu(x, weight))


def pointwise_conv2d(x: Tensor, weight: Tensor, groups: int) -> Tensor:
    """``F.conv2d(x, weight, None, 1, 0, 1, groups)`` for a (groups * Co, Ci, 1, 1) weight; native where it applies."""
    if pointwise_applies(x, weight, groups):
        out: Tensor = _Pointwise.apply(x, weight, groups)
        return out
    return F.conv2d(x, weight, None, 1, 0, 1, groups)


Geometry = tuple[int, int, int, int, int, int]  # stride (sh, sw), padding (ph, pw), dilation (dh, dw)


class _Depthwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, geo: Geometry) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.geo = geo
        B, C, H, W = x.shape
        kh, kw = weight.shape[-2:]
        sh, sw, ph, pw, dh, dw = geo
        Ho, Wo = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        y = _new(B, C, Ho, Wo)
        _call("dw_forward", x, weight.detach().contiguous(), y, B, H, W, C, kh, kw, *geo, Ho, Wo, 0)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        geo = ctx.geo
        sh, sw, ph, pw, dh, dw = geo
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        B, C, H, W = x.shape
        kh, kw = weight.shape[-2:]
        if torch.is_grad_enabled():  # create_graph: a differentiable backward
            gx, gw, _ = torch.ops.aten.convolution_backward(grad, x, weight, None, [sh, sw], [ph, pw], [dh, dw], False,
                                                           [0, 0], C, [need_x, need_w, False])
            return gx, gw, None
        g, w = _cl(grad), weight.detach().contiguous()
        Ho, Wo = g.shape[-2:]
        gx = gw = None
        if need_x:
            gx = _new(B, C, H, W)
            if (sh, sw, 2 * ph, 2 * pw) == (1, 1, dh * (kh - 1), dw * (kw - 1)):  # "same": the flipped forward
                _call("dw_forward", g, w, gx, B, H, W, C, kh, kw, *geo, H, W, 1)
            else:
                _call("dw_input_grad", g, w, gx, B, H, W, C, kh, kw, *geo, Ho, Wo)
        if need_w:
            gw = torch.empty_like(w)
            _call("dw_weight_grad", x, g, gw, B, H, W, C, kh, kw, *geo, Ho, Wo)
        return gx, gw, None


def depthwise_applies(x: Tensor, weight: Tensor, stride: Any, padding: Any, dilation: Any) -> bool:
    """Whether :func:`depthwise_conv2d` runs natively: 8k channels, padding within the (dilated) kernel
    (see the module docstring)."""
    if not _enabled:
        return False
    kh, kw = weight.shape[-2:]
    (ph, pw), (dh, dw) = pair(padding), pair(dilation)
    return (ph <= dh * (kh - 1) and pw <= dw * (kw - 1) and x.shape[1] % 8 == 0 and weight.shape[0] == x.shape[1]
            and weight.shape[1] == 1 and _plain_cpu(x, weight))


def depthwise_conv2d(x: Tensor, weight: Tensor, stride: Any, padding: Any, dilation: Any = 1) -> Tensor:
    """``F.conv2d(x, weight, None, stride, padding, dilation, x.shape[1])``; check :func:`depthwise_applies` first."""
    out: Tensor = _Depthwise.apply(x, weight, (*pair(stride), *pair(padding), *pair(dilation)))
    return out


class _BatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,
                running_var: Tensor | None, momentum: float, eps: float) -> Tensor:
        B, C, H, W = x.shape
        y = _new(B, C, H, W)
        mean, invstd = torch.empty(C), torch.empty(C)
        w = None if weight is None else weight.detach().contiguous()
        b = None if bias is None else bias.detach().contiguous()
        _call("bn_forward", x, w, b, y, mean, invstd, running_mean, running_var, B * H * W, C, eps,
              momentum)  # the running statistics in place (see kernels.c)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, mean, invstd = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():  # create_graph: a differentiable backward
            gx, gw, gb = torch.ops.aten.native_batch_norm_backward(grad, x, weight, None, None, mean, invstd, True,
                                                                 ctx.eps, [need_x, need_w, need_b])
            return gx, gw, gb, None, None, None, None
        B, C, H, W = x.shape
        dx = _new(B, C, H, W) if need_x else None
        dw, db = torch.empty(C), torch.empty(C)
        w = None if weight is None else weight.detach().contiguous()
        _call("bn_backward", x, _cl(grad), w, mean, invstd, dx, dw, db, B * H * W, C)
        return dx, dw if need_w else None, db if need_b else None, None, None, None, None


def _channel_vector(t: Tensor | None, C: int) -> bool:
    """None, or a contiguous float32 CPU vector of C values."""
    return t is None or (t.dtype == torch.float32 and t.device.type == "cpu" and t.shape == (C,)
                         and t.is_contiguous())


def batch_norm_applies(x: Tensor, weight: Tensor | None, bias: Tensor | None, training: bool,
                       running_mean: Tensor | None = None, running_var: Tensor | None = None) -> bool:
    """Whether :func:`batch_norm` runs natively: training mode (batch statistics), 8k <= 4096 channels, > 1 value
    per channel, float32 parameters (see the module docstring)."""
    if not (_enabled and training):
        return False
    B, C, H, W = x.shape
    return (C % 8 == 0 and C <= 4096 and B * H * W > 1 and _channel_vector(weight, C) and _channel_vector(bias, C)
            and _channel_vector(running_mean, C) and _channel_vector(running_var, C) and _plain_cpu(x, x))


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None,
               bias: Tensor | None, momentum: float, eps: float) -> Tensor:
    """``F.batch_norm(x, running_mean, running_var, weight, bias, True, momentum, eps)`` (training mode: batch
    statistics; the running ones updated in place with the unbiased variance); check :func:`batch_norm_applies`."""
    out: Tensor = _BatchNorm.apply(x, weight, bias, running_mean, running_var, momentum, eps)
    return out
