"""Single-Path NAS superkernels on the chain space (Stamoulis et al., "Single-Path NAS", arXiv 1904.02877,
Sec. 3: the superkernel and its indicator functions; code ``dstamoulis/single-path-nas``,
``nas-search/superkernel.py``; ALGORITHMS.md §8.1).

One MBConv per layer whose depthwise kernel is the *superkernel*: the largest
kernel (5x5) at the largest expansion (6), holding every candidate of the layer
as a subset of its weights. With the small kernel's weights the centre
``k_small x k_small`` of it and the small expansion's channels its first
``C_in * e_small`` channels (the "50%" group), three indicators decide the
block:

* kernel size (Eq. 2): ``w_k = w_3x3 + d5 * w_out`` with ``w_out`` the outer
  ring (the superkernel minus its centre) and ``d5 = 1[||w_out||_2 - t5x5 >= 0]``;
* expansion (Eq. 3): ``d100 = 1[||w_k[second group]||_2 - t100c >= 0]``;
* skip (Eq. 4): ``d50 = 1[||w_k[first group]||_2 - t50c >= 0]`` where the layer
  may skip (stride 1, C_in = C_out), else 1;

and the kernel is ``d50 * (w_50 + d100 * w_100)`` (:func:`superkernel_weight`).
The norms are L2 (Frobenius), **not** squared (SEEDS_2.md §4.3). The
thresholds are trainable scalars initialised to 0 (so the search starts from the
largest block). Each indicator is ``1[x >= 0]`` in the forward pass and has the
sigmoid's gradient in the backward pass (the code's
``stop_grad(1[x >= 0] - sigmoid(x)) + sigmoid(x)``), here an autograd function
so the forward value is exactly 0 or 1 (:func:`indicator`).

Where the decisions act (a choice of this implementation; the spec's kernel
form is :func:`superkernel_weight` and the tests check both are the same map):

* ``d5`` multiplies the kernel's outer ring, as in the paper;
* ``d100`` multiplies the second channel group's activations after the
  depthwise stage's BN and ReLU6, and ``d50`` multiplies the block's output
  (``layer = shortcut + d50 * block``). For a depthwise conv, multiplying a
  channel's kernel by ``d`` and multiplying its output by ``d`` are the same
  linear map; moving the factor past the BatchNorm makes a dropped group
  *exactly* zero, so the supernet at a decision computes the discrete chain's
  block (``k3_e3`` = 3x3 kernel on the first half of the channels) with
  inherited weights (:func:`child_state_dict`; tested in train and eval mode).
  With the factor on the kernel only, train-mode BN maps an all-zero channel
  to its shift beta (a constant leak) and its gradient to the indicator is
  scaled by 1/sqrt(eps).

The supernet's :meth:`SuperkernelSupernet.probabilities` is the block
distribution if each indicator were an independent Bernoulli with the
sigmoid surrogate's probability sigma(||w|| - t): skip ``1 - s50``,
``k3_e3`` ``s50 (1 - s100)(1 - s5)``, ... (0 for blocks the superkernel does
not encode: expansion 1). The architecture is the hard indicators, i.e. the
mode of each indicator, which the chain space's decoding rule
``"indicators"`` (:func:`decode_indicators`) reads back from those marginals;
it can differ from the joint argmax (``"argmax"``). An ``active`` matrix with one
option per row (a discrete architecture) runs that subset of every
superkernel instead (one-shot scoring of sampled architectures).

Not implemented: the code's indicator dropout (TF1 ``dropout(indicator,
keep_prob=0.6)`` during warm-up; its intent is unverified, ALGORITHMS.md
§8.1). The option masks are honoured where they remove a whole kernel size, a
whole expansion or ``skip`` from a layer (the indicator is then fixed); a mask
that the three indicators cannot express is refused, naming the layer.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from workbench.conv_kernels import depthwise_conv2d
from workbench.spaces.base import Choices, ChoiceSupernet
from workbench.spaces.chain.blocks import MBConv, parse_block
from workbench.tasks.task import TaskInfo

#: the columns of ``SuperkernelSupernet.thresholds`` (and of the indicator matrix), paper names
THRESHOLDS = ("t5x5", "t50c", "t100c")
KERNEL, SKIP, EXPAND = 0, 1, 2


class _Indicator(torch.autograd.Function):
    """1[x >= 0] forward; d sigmoid(x) / dx backward (the straight-through sigmoid surrogate)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        x, = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * s * (1 - s)


def indicator(margin: Tensor) -> Tensor:
    """Single-Path's indicator ``1[margin >= 0]`` with the sigmoid's gradient (exactly 0 or 1 forward)."""
    return _Indicator.apply(margin)


@dataclass(frozen=True)
class SuperkernelPlan:
    """The four blocks one superkernel encodes: kernels ``k_small < k_large``, expansions ``e_small < e_large``."""

    k_small: int
    k_large: int
    e_small: int
    e_large: int

    def block(self, large_kernel: bool, large_expansion: bool) -> str:
        return f"k{self.k_large if large_kernel else self.k_small}_e{self.e_large if large_expansion else self.e_small}"

    @property
    def blocks(self) -> tuple[str, str, str, str]:
        """(k_s e_s, k_s e_l, k_l e_s, k_l e_l)."""
        return (self.block(False, False), self.block(False, True), self.block(True, False), self.block(True, True))


def superkernel_plan(blocks: tuple[str, ...]) -> SuperkernelPlan:
    """The superkernel of a chain space's blocks: its two kernel sizes x its two expansions above 1 (all four
    blocks must be present); expansion-1 blocks are not encoded (Single-Path searches {3, 6})."""
    parsed = [parse_block(b) for b in blocks if b != "skip"]
    kernels = sorted({k for k, _ in parsed})
    exps = sorted({e for _, e in parsed if e > 1})
    if len(kernels) != 2 or len(exps) != 2:
        raise ValueError(f"a Single-Path superkernel encodes two kernel sizes x two expansions (> 1); the space's "
                         f"blocks {list(blocks)} have kernels {kernels} and expansions {exps} (the default chain "
                         "space's k3/k5 x e3/e6 works)")
    plan = SuperkernelPlan(kernels[0], kernels[1], exps[0], exps[1])
    missing = [b for b in plan.blocks if b not in blocks]
    if missing:
        raise ValueError(f"a Single-Path superkernel needs all four blocks {list(plan.blocks)}; the space lacks "
                         f"{missing}")
    return plan


def center_mask(k_small: int, k_large: int, like: Tensor | None = None) -> Tensor:
    """A (k_large x k_large) mask with ones on the central (k_small x k_small) square."""
    m = torch.zeros(k_large, k_large) if like is None else torch.zeros(k_large, k_large, dtype=like.dtype,
                                                                       device=like.device)
    o = (k_large - k_small) // 2
    m[o:o + k_small, o:o + k_small] = 1
    return m


def superkernel_weight(w: Tensor, k_small: int, n_small: int, d5: Tensor | float, d50: Tensor | float,
                       d100: Tensor | float) -> Tensor:
    """The paper's masked depthwise kernel ``d50 * (w_50 + d100 * w_100)`` with ``w_k = w_3x3 + d5 * w_out``.

    ``w`` is (channels, 1, K, K); ``n_small`` the first group's channel count.
    """
    inner = center_mask(k_small, w.shape[-1], w)
    wk = w * inner + d5 * (w * (1 - inner))
    return d50 * torch.cat([wk[:n_small], d100 * wk[n_small:]], 0)


class SuperkernelMBConv(MBConv):
    """MBConv(k_large, e_large) whose depthwise kernel is a superkernel; same modules (and parameter names) as
    the discrete block, so a child block's weights are slices of these (:func:`child_state_dict`)."""

    inner: Tensor
    groups: Tensor

    def __init__(self, C_in: int, C_out: int, stride: int, plan: SuperkernelPlan) -> None:
        super().__init__(C_in, C_out, plan.k_large, plan.e_large, stride)
        self.plan, self.n_small = plan, C_in * plan.e_small
        self.register_buffer("inner", center_mask(plan.k_small, plan.k_large), persistent=False)
        hidden = C_in * plan.e_large
        groups = torch.zeros(hidden, 2)
        groups[:self.n_small, 0], groups[self.n_small:, 1] = 1, 1
        self.register_buffer("groups", groups, persistent=False)  # channel -> group (first, second)

    @property
    def dw(self) -> nn.Conv2d:
        return cast(nn.Conv2d, self[3])

    def norms(self) -> Tensor:
        """Squared norms of the kernel's parts, (2 x 2): rows centre and outer ring, columns the first and the
        second channel group."""
        sq = self.dw.weight.square().sum(1)  # (channels, K, K)
        parts = torch.stack([(sq * self.inner).sum((1, 2)), (sq * (1 - self.inner)).sum((1, 2))])  # (2, channels)
        return parts @ self.groups

    def forward(self, x: Tensor, d5: Tensor | float = 1.0, d100: Tensor | float = 1.0) -> Tensor:
        h = self[2](self[1](self[0](x)))
        w = self.dw.weight
        kernel = w * self.inner + d5 * (w * (1 - self.inner))
        h = depthwise_conv2d(h, kernel, self.dw.stride, cast("tuple[int, int]", self.dw.padding))
        h = self[5](self[4](h))
        if not (isinstance(d100, float) and d100 == 1.0):
            n = h.shape[1]
            gate = torch.ones(n, dtype=h.dtype, device=h.device)
            gate = torch.cat([gate[:self.n_small], torch.as_tensor(d100, dtype=h.dtype, device=h.device)
                              .expand(n - self.n_small)])
            h = h * gate.view(1, n, 1, 1)
        return self[7](self[6](h))


def _forced(options: tuple[str, ...], plan: SuperkernelPlan, rows: tuple[str, ...], shortcut: list[bool],
            mask: np.ndarray) -> np.ndarray:
    """(layers x 3) fixed indicator values from the option masks; NaN where the indicator is free."""
    out = np.full((len(rows), 3), np.nan)
    sk = {(lk, le): plan.block(lk, le) for lk in (False, True) for le in (False, True)}
    for i, row in enumerate(rows):
        on = {o for o, m in zip(options, mask[i], strict=True) if m}
        active = {key for key, name in sk.items() if name in on}
        can_skip = shortcut[i] and "skip" in on
        if not active:
            if not can_skip:
                raise ValueError(f"layer {row!r} has none of the superkernel's blocks {list(plan.blocks)} enabled "
                                 f"(enabled: {sorted(on)}); enable one of them")
            out[i] = 0.0
            continue
        ks, es = {k for k, _ in active}, {e for _, e in active}
        if active != {(k, e) for k in ks for e in es}:
            raise ValueError(f"layer {row!r}: Single-Path's indicators can remove a whole kernel size, a whole "
                             f"expansion or 'skip', not one block; enabled superkernel blocks there: "
                             f"{sorted(sk[a] for a in active)}")
        out[i, SKIP] = np.nan if can_skip else 1.0
        out[i, KERNEL] = np.nan if len(ks) == 2 else float(next(iter(ks)))
        out[i, EXPAND] = np.nan if len(es) == 2 else float(next(iter(es)))
    return out


class SuperkernelSupernet(ChoiceSupernet):
    """The chain with one superkernel MBConv per layer; the architecture parameters are the thresholds.

    ``forward(x, weights, active)`` takes the protocol's mixing weights and
    ignores them: a superkernel's choice is made inside the forward pass by its
    indicators (the choice group's ``alphas`` exist for the protocol only and
    are never updated by Single-Path).
    """

    def __init__(self, space: Any, task: TaskInfo, cfg: Any) -> None:
        groups = space.choice_groups()
        super().__init__(groups, cfg.alpha_init_std)
        from workbench.spaces.chain.space import stem_for
        self.space, self.cfg, self.input_shape = space, cfg, tuple(task.input_shape)
        self.plan = space.plan()
        self.sk = superkernel_plan(space.blocks)
        self.stem = stem_for(space, task)
        self.layers = nn.ModuleList(SuperkernelMBConv(p.C_in, p.C_out, p.stride, self.sk) for p in self.plan)
        self.classifier = nn.Linear(space.widths[-1], task.n_outputs)
        self.thresholds = nn.Parameter(torch.zeros(len(self.plan), 3))
        self._forced_cache: tuple[int, np.ndarray] | None = None
        self.forced()  # refuses a mask the indicators cannot express now, not at the first step

    # -- architecture -------------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.thresholds]

    def forced(self) -> np.ndarray:
        """(layers x 3) indicator values fixed by the option masks or the layer's shape (NaN = free); host-side,
        recomputed only when the mask changes."""
        mask = self.op_mask(self.groups[0].name)
        if self._forced_cache is None or self._forced_cache[0] != mask._version:
            g = self.groups[0]
            f = _forced(g.options, self.sk, g.rows, [p.shortcut for p in self.plan], mask.detach().cpu().numpy())
            self._forced_cache = (mask._version, f)
        return self._forced_cache[1]

    def set_op_enabled(self, group: str, option: str, enabled: bool, rows: Any = None) -> tuple[int, ...]:
        before = self.op_mask(group).clone()
        changed = super().set_op_enabled(group, option, enabled, rows)
        try:
            self.forced()
        except ValueError:
            self.op_mask(group).copy_(before)
            raise
        return changed

    def margins_and_indicators(self) -> tuple[Tensor, Tensor]:
        """(layers x 3) margins ||w|| - t and hard indicators (straight-through), columns :data:`THRESHOLDS`.

        A fixed indicator's margin is reported as +-inf (its sigmoid is exactly 1 or 0). The centre and the ring
        have disjoint supports, so ||w_k||^2 = ||centre||^2 + d5^2 ||ring||^2 per group, with the value and the
        d5-gradient of the direct form ||w_3x3 + d5 w_out||.
        """
        free, fixed = self._forced_tensors()
        t = self.thresholds
        layers = cast("Iterable[SuperkernelMBConv]", self.layers)
        n = torch.stack([layer.norms() for layer in layers])  # (layers, 2 parts, 2 groups)
        m5 = n[:, 1].sum(-1).sqrt() - t[:, KERNEL]
        d5 = torch.where(free[:, KERNEL], indicator(m5), fixed[:, KERNEL])
        g = (n[:, 0] + (d5 * d5)[:, None] * n[:, 1]).sqrt()  # ||w_k|| of each group
        m = torch.stack([m5, g[:, 0] - t[:, SKIP], g[:, 1] - t[:, EXPAND]], 1)
        d = torch.where(free, indicator(m), fixed)
        d = torch.cat([d5[:, None], d[:, 1:]], 1)
        margins = torch.where(free, m, torch.where(fixed > 0, torch.inf, -torch.inf).to(m.dtype))
        return margins, d

    def _forced_tensors(self) -> tuple[Tensor, Tensor]:
        """:meth:`forced` as (free mask, fixed values) tensors on the thresholds' device (cached)."""
        f = self.forced()
        assert self._forced_cache is not None  # forced() filled it
        key = (self._forced_cache[0], self.thresholds.device, self.thresholds.dtype)
        if getattr(self, "_forced_t", (None,))[0] != key:
            free = torch.as_tensor(np.isnan(f), device=self.thresholds.device)
            fixed = torch.as_tensor(np.nan_to_num(f), dtype=self.thresholds.dtype, device=self.thresholds.device)
            self._forced_t = (key, free, fixed)
        return self._forced_t[1], self._forced_t[2]

    def indicators(self) -> Tensor:
        """(layers x 3) hard indicators d5, d50, d100 (sigmoid gradients to weights and thresholds)."""
        return self.margins_and_indicators()[1]

    def probabilities(self, group: str) -> Tensor:
        """Block probabilities if each indicator were Bernoulli(sigmoid(margin)); 0 for blocks not encoded."""
        g = self._group_index[group]
        m, _ = self.margins_and_indicators()
        s = torch.sigmoid(m)
        s5, s50, s100 = s[:, KERNEL], s[:, SKIP], s[:, EXPAND]
        cols = {self.sk.block(False, False): s50 * (1 - s100) * (1 - s5),
                self.sk.block(False, True): s50 * s100 * (1 - s5),
                self.sk.block(True, False): s50 * (1 - s100) * s5,
                self.sk.block(True, True): s50 * s100 * s5,
                "skip": 1 - s50}
        zero = torch.zeros_like(s5)
        return torch.stack([cols.get(o, zero) for o in g.options], 1)

    def architecture(self) -> Choices:
        """The architecture the hard indicators select now."""
        with torch.no_grad():
            d = self.indicators().cpu().numpy()
        return Choices(self.space.name, {self.groups[0].name: tuple(_pick(self.sk, row) for row in d)})

    # -- forward ------------------------------------------------------------------------------------
    def decision_of(self, picks: Any) -> Tensor:
        """(layers x 3) indicator values that select the blocks ``picks`` (names or option indices)."""
        g = self.groups[0]
        rows = []
        for i, b in enumerate(picks):
            name = g.options[int(b)] if not isinstance(b, str) else b
            if name == "skip":
                rows.append((0.0, 0.0, 0.0))
                continue
            if name not in self.sk.blocks:
                raise ValueError(f"layer {g.rows[i]!r}: block {name!r} is not one of the superkernel's "
                                 f"{list(self.sk.blocks)}")
            k, e = parse_block(name)
            rows.append((float(k == self.sk.k_large), 1.0, float(e == self.sk.e_large)))
        return torch.tensor(rows, dtype=self.thresholds.dtype, device=self.thresholds.device)

    def forward(self, x: Tensor, weights: Mapping[str, Tensor] | None = None,
                active: Mapping[str, np.ndarray] | None = None) -> Tensor:
        """The superkernel chain under its indicators; the protocol's ``weights`` are ignored, except that an
        ``active`` matrix with exactly one option per row is a discrete architecture, run as that subset of every
        superkernel (one-shot evaluation of a sampled architecture, e.g. for a latency-accuracy scatter)."""
        act = None if active is None else active.get(self.groups[0].name)
        if act is not None and (np.asarray(act).sum(1) == 1).all():
            d = self.decision_of(np.asarray(act).argmax(1))
        else:
            d = self.indicators()
        # channels-last activations: the depthwise convs' backward is several times faster on the CPU (oneDNN)
        h = self.stem(x).contiguous(memory_format=torch.channels_last)
        for i, (p, layer) in enumerate(zip(self.plan, self.layers, strict=True)):
            y = layer(h, d[i, KERNEL], d[i, EXPAND])
            h = h + d[i, SKIP] * y if p.shortcut else y
        return self.classifier(h.mean((2, 3)))


def _pick(plan: SuperkernelPlan, d: np.ndarray) -> str:
    if d[SKIP] < 0.5:
        return "skip"
    return plan.block(bool(d[KERNEL] >= 0.5), bool(d[EXPAND] >= 0.5))


def decode_indicators(space: Any, probs: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray] | None = None
                      ) -> Choices:
    """The chain space's rule ``"indicators"``: each indicator's mode, read from the superkernel's block
    probabilities (s50 = 1 - p(skip), s5 = p(large kernel) / s50, s100 = p(large expansion) / s50; an indicator
    is on when its marginal is >= 0.5, i.e. when its margin ||w|| - t >= 0)."""
    plan = superkernel_plan(space.blocks)
    picks = {}
    for g in space.choice_groups():
        p = np.asarray(probs[g.name], dtype=np.float64)
        col = {o: i for i, o in enumerate(g.options)}
        allowed = g.allowed_matrix() if masks is None else np.asarray(masks[g.name], dtype=bool)
        row_picks = []
        for i in range(len(g.rows)):
            skip = p[i, col["skip"]] if "skip" in col and allowed[i, col["skip"]] else 0.0
            s50 = 1.0 - skip
            if s50 < 0.5:
                row_picks.append("skip")
                continue
            large_k = sum(p[i, col[b]] for b in (plan.block(True, False), plan.block(True, True))) / s50
            large_e = sum(p[i, col[b]] for b in (plan.block(False, True), plan.block(True, True))) / s50
            row_picks.append(plan.block(bool(large_k >= 0.5), bool(large_e >= 0.5)))
        picks[g.name] = tuple(row_picks)
    return Choices(space.name, picks)


def child_state_dict(net: SuperkernelSupernet, arch: Choices) -> dict[str, Tensor]:
    """The weights of ``space.compile(arch)`` inherited from the supernet's superkernels (see
    :func:`child_state_from`)."""
    return child_state_from(net.space, arch, net.state_dict())


def is_superkernel_state(state: Mapping[str, Tensor]) -> bool:
    """Whether a supernet ``state_dict`` is a superkernel chain's (it has the thresholds)."""
    return "thresholds" in state


def child_state_from(space: Any, arch: Choices, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The compiled chain's ``state_dict`` from a superkernel supernet's ``state`` (e.g. a run's checkpoint):
    stem and classifier as they are; per layer, the first ``C_in * e`` channels of the expansion, the depthwise
    kernel (its centre for the small kernel), both BatchNorms and the projection's inputs; the final BN whole."""
    plan = superkernel_plan(space.blocks)
    sd: dict[str, Tensor] = {k: v.clone() for k, v in state.items() if k.startswith(("stem.", "classifier."))}
    picks = arch.picks[space.choice_groups()[0].name]
    for i, (name, lp) in enumerate(zip(picks, space.plan(), strict=True)):
        if name == "skip":
            continue
        if name not in plan.blocks:
            raise ValueError(f"layer {i}: block {name!r} is not one of the superkernel's {list(plan.blocks)}")
        k, e = parse_block(name)
        n, o, src = lp.C_in * e, (plan.k_large - k) // 2, f"layers.{i}."
        child = {"0.weight": state[src + "0.weight"][:n],
                 "3.weight": state[src + "3.weight"][:n, :, o:o + k, o:o + k],
                 "6.weight": state[src + "6.weight"][:, :n]}
        for bn in ("1", "4"):
            for key in ("weight", "bias", "running_mean", "running_var"):
                child[f"{bn}.{key}"] = state[f"{src}{bn}.{key}"][:n]
            child[f"{bn}.num_batches_tracked"] = state[f"{src}{bn}.num_batches_tracked"]
        child.update({key[len(src):]: v for key, v in state.items() if key.startswith(src + "7.")})
        sd.update({f"{src}{key}": v.clone() for key, v in child.items()})
    return sd
