"""The native CPU kernels (workbench.native) against ATen: values, gradients, second derivatives, fallbacks."""
from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from workbench import native

pytestmark = pytest.mark.skipif(not native.available(), reason="no C compiler: the kernels fall back to ATen")


def _cl(*shape: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    x = torch.randn(*shape) * scale + shift
    return x.contiguous(memory_format=torch.channels_last).requires_grad_(True)


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 2e-6) -> None:
    a, b = a.detach(), b.detach()
    err = float((a - b).abs().max()) / max(1.0, float(b.abs().max()))
    assert err <= rel, err


@pytest.mark.parametrize("B,E,Ci,Co,H,W", [(64, 4, 8, 8, 8, 8), (3, 1, 24, 8, 5, 7), (2, 2, 16, 32, 4, 3),
                                           (5, 3, 13, 64, 2, 2), (2, 1, 72, 16, 3, 3)])
def test_pointwise_matches_aten(B: int, E: int, Ci: int, Co: int, H: int, W: int) -> None:
    torch.manual_seed(0)
    x, w = _cl(B, E * Ci, H, W), torch.randn(E * Co, Ci, 1, 1, requires_grad=True)
    assert native.pointwise_applies(x, w, E)
    y = native.pointwise_conv2d(x, w, E)
    assert type(y.grad_fn).__name__ == "_PointwiseBackward"  # the native path, not the fallback
    y_ref = F.conv2d(x, w, None, 1, 0, 1, E)
    g = torch.randn_like(y_ref)
    _close(y, y_ref)
    for a, b in zip(torch.autograd.grad(y, (x, w), g), torch.autograd.grad(y_ref, (x, w), g), strict=True):
        _close(a, b)


GEOMETRIES = [  # (B, C, H, W, k, stride, padding, dilation)
    (64, 32, 8, 8, 3, 1, 1, 1), (5, 16, 4, 4, 5, 1, 2, 1), (3, 24, 2, 2, 3, 1, 1, 1),  # "same", incl. past the map
    (4, 16, 8, 9, 3, 1, 2, 2), (3, 8, 6, 7, 5, 1, 4, 2), (2, 8, 4, 5, 5, 1, 4, 2),  # dilated (DARTS's dil_conv)
    (64, 64, 8, 8, 3, 2, 1, 1), (2, 8, 7, 6, 5, 2, 2, 1), (2, 16, 5, 5, 3, 2, 2, 2),  # strided (reduction cells)
    (3, 16, 7, 6, 3, 1, 0, 1), (2, 8, 9, 10, 3, 3, 1, 3),  # no padding; stride and dilation 3
]


@pytest.mark.parametrize("B,C,H,W,k,stride,padding,dilation", GEOMETRIES)
def test_depthwise_matches_aten(B: int, C: int, H: int, W: int, k: int, stride: int, padding: int,
                                dilation: int) -> None:
    torch.manual_seed(0)
    x, w = _cl(B, C, H, W), torch.randn(C, 1, k, k, requires_grad=True)
    assert native.depthwise_applies(x, w, stride, padding, dilation)
    y = native.depthwise_conv2d(x, w, stride, padding, dilation)
    y_ref = F.conv2d(x, w, None, stride, padding, dilation, C)
    assert y.shape == y_ref.shape and y.is_contiguous(memory_format=torch.channels_last)
    g = torch.randn_like(y_ref)
    _close(y, y_ref)
    for a, b in zip(torch.autograd.grad(y, (x, w), g), torch.autograd.grad(y_ref, (x, w), g), strict=True):
        _close(a, b, 5e-6)


@pytest.mark.parametrize("B,C,H,affine", [(64, 32, 8, True), (4, 8, 2, False), (3, 16, 5, True), (64, 128, 2, False)])
def test_batch_norm_matches_aten(B: int, C: int, H: int, affine: bool) -> None:
    torch.manual_seed(0)
    x = _cl(B, C, H, H, scale=3.0, shift=1.0)
    w = torch.rand(C, requires_grad=True) if affine else None
    b = torch.randn(C, requires_grad=True) if affine else None
    stats, stats_ref = (torch.randn(C), torch.rand(C) + 0.5), None
    stats_ref = (stats[0].clone(), stats[1].clone())
    assert native.batch_norm_applies(x, w, b, True, *stats)
    y = native.batch_norm(x, *stats, w, b, 0.1, 1e-5)
    y_ref = F.batch_norm(x, *stats_ref, w, b, True, 0.1, 1e-5)
    _close(y, y_ref, 1e-5)
    _close(stats[0], stats_ref[0]), _close(stats[1], stats_ref[1])  # the running mean and (unbiased) variance
    ins = [t for t in (x, w, b) if t is not None]
    g = torch.randn_like(y_ref)
    for a, r in zip(torch.autograd.grad(y, ins, g), torch.autograd.grad(y_ref, ins, g), strict=True):
        _close(a, r, 1e-5)


def test_running_statistics_shared_with_an_earlier_batch_norm() -> None:
    """Running statistics that are views of one flat buffer (RARTS's second copy): the native update in place must
    leave the buffer's autograd version alone, as ATen's does, or an earlier BatchNorm's backward refuses."""
    torch.manual_seed(0)
    flat = torch.cat([torch.zeros(16), torch.ones(16), torch.zeros(16), torch.ones(16)])
    x = _cl(4, 16, 3, 3)
    h = F.batch_norm(x, flat[:16], flat[16:32], None, None, True, 0.1, 1e-5)  # ATen saves views of `flat`
    version = flat._version
    assert native.batch_norm_applies(h, None, None, True, flat[32:48], flat[48:])
    y = native.batch_norm(h, flat[32:48], flat[48:], None, None, 0.1, 1e-5)
    assert flat._version == version and float(flat[32:48].abs().sum()) > 0  # updated, version untouched
    (g,) = torch.autograd.grad(y.square().sum(), [x])  # raised "modified by an inplace operation" before
    assert torch.isfinite(g).all()


def test_second_derivatives_take_aten_backward() -> None:
    """Under create_graph (the analyses' Hessian-vector products) the backward is ATen's differentiable one."""
    torch.manual_seed(0)
    x, w_dw, w_pw = _cl(4, 16, 5, 5), torch.randn(16, 1, 3, 3, requires_grad=True), torch.randn(32, 8, 1, 1,
                                                                                                requires_grad=True)
    scale = torch.rand(16, requires_grad=True)

    def f(nat: bool) -> torch.Tensor:
        h = (native.depthwise_conv2d(x, w_dw, 1, 2, 2) if nat else F.conv2d(x, w_dw, None, 1, 2, 2, 16))
        h = native.batch_norm(h, None, None, scale, None, 0.1, 1e-5) if nat else F.batch_norm(
            h, None, None, scale, None, True, 0.1, 1e-5)
        h = native.pointwise_conv2d(h, w_pw, 2) if nat else F.conv2d(h, w_pw, None, 1, 0, 1, 2)
        (gs,) = torch.autograd.grad((h.sin()).sum(), [scale], create_graph=True)
        return torch.cat([t.reshape(-1) for t in torch.autograd.grad((gs ** 2).sum(), [x, w_dw, w_pw])])

    _close(f(True), f(False), 1e-5)


def test_deterministic_and_fallbacks() -> None:
    torch.manual_seed(0)
    x, w = _cl(8, 32, 4, 4), torch.randn(32, 1, 3, 3, requires_grad=True)
    a, b = native.depthwise_conv2d(x, w, 1, 1), native.depthwise_conv2d(x, w, 1, 1)
    assert torch.equal(a, b)  # a fixed summation order: bitwise repeatable
    assert not native.depthwise_applies(x.double(), w.double(), 1, 1, 1)  # float32 only
    assert not native.depthwise_applies(x.contiguous(), w, 1, 1, 1)  # channels-last only
    assert not native.depthwise_applies(x[:, :12], w[:12], 1, 1, 1)  # 8k channels only
    assert not native.pointwise_applies(x, torch.randn(72, 32, 1, 1), 1)  # <= 64 outputs per group
    assert not native.pointwise_applies(x, torch.randn(64, 32, 1, 1, device="meta"), 1)  # CPU weights only
    with native.disabled():
        assert not native.depthwise_applies(x, w, 1, 1, 1) and not native.takes(x)
    threads = torch.get_num_threads()
    torch.set_num_threads(native.MAX_THREADS + 1)
    try:
        assert not native.takes(x)  # oneDNN parallelises; the kernels do not
    finally:
        torch.set_num_threads(threads)
    seen = []
    torch.func.vmap(lambda t: seen.append(native.takes(x)) or t)(torch.ones(2))
    assert seen == [False]  # no functorch support: vmap (DARTS-PT's replays) takes ATen


def test_failed_compile_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path, caplog) -> None:
    """No working compiler: one warning, and every call is ATen's."""
    fake = tmp_path / "cc"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(native, "_lib", None)
    with caplog.at_level(logging.WARNING, logger="workbench.native"):
        assert not native.available()
    assert "native CPU kernels unavailable" in caplog.text and "failed" in caplog.text
    x, w = _cl(2, 8, 3, 3), torch.randn(8, 8, 1, 1)
    assert not native.pointwise_applies(x, w, 1)
    assert torch.equal(native.pointwise_conv2d(x, w, 1), F.conv2d(x, w))


def test_search_step_native_vs_aten() -> None:
    """A DARTS search step with the kernels and without: the same losses and alphas to float32 rounding."""
    from workbench import SearchConfig, Searcher, SupernetConfig

    def run() -> tuple[list[float], torch.Tensor]:
        s = Searcher(SearchConfig(space="darts", method="darts-v1", supernet=SupernetConfig(C=8, layers=3),
                                  batch_size=16, epochs=1, eval_each_epoch=False, seed=3))
        losses = [s.step().train_loss for _ in range(3)]
        return losses, torch.cat([a.detach().reshape(-1) for a in s.arch_params])

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fast = run()
        with native.disabled():
            slow = run()
    finally:
        torch.set_num_threads(threads)
    assert fast[0] == pytest.approx(slow[0], rel=1e-4)
    _close(fast[1], slow[1], 1e-4)
    assert not torch.equal(fast[1], slow[1])  # two paths were taken (their float32 roundings differ)
