"""A reference-style DARTS search step: the baseline our speed ratios are measured against.

Liu et al., "DARTS: Differentiable Architecture Search" (ICLR 2019), Eq. 2 (the mixed op), Eqs. 6-8 (the
first- and second-order architecture gradients, the finite-difference Hessian-vector product). The
reference code (`quark0/darts`: ``cnn/operations.py``, ``cnn/model_search.py``, ``cnn/architect.py``,
``cnn/train_search.py``) cannot be downloaded here, so this module is an independent implementation of its
*execution structure* -- written from the paper and the description of that code, not copied from it:

* every candidate op of every edge is its own ``nn.Module`` (ReLU / conv / BN modules in an
  ``nn.Sequential``); ``none`` is computed, as ``x.mul(0.)``; pools are followed by BatchNorm(affine=False);
  a ``MixedOp`` per edge sums ``w * op(x)`` over *all* ops; BN ``affine=False`` inside the ops;
* a ``Cell`` (preprocess0 / preprocess1, ``steps`` = 4 nodes, each the sum of its mixed edges over all
  previous states, output the concatenation of the nodes) and a ``Network`` (stem conv 3x3 -> 3C + BN,
  reductions at layers//3 and 2*layers//3, global average pooling, linear) that recomputes
  ``softmax(alpha)`` in every cell; the alphas are plain tensors, not registered parameters;
* the search step of ``train_search.py``: the architecture step (:class:`Architect`: Adam(3e-4, betas
  (0.5, 0.999), wd 1e-3) on ``loss.backward()`` of the validation loss), then the weight step (momentum SGD
  with weight decay, gradient-norm clipping at 5). Second order builds the unrolled model as the reference
  does -- a brand-new ``Network`` (``new()``) loaded with w - xi * (momentum * buf + grad + wd * w) --
  backpropagates the validation loss through it, and subtracts xi times the finite-difference Hessian-vector
  product (R = 0.01 / ||dw'||, the live weights perturbed in place, two forward/backward passes on the
  training batch).

Shapes follow our supernet (:class:`workbench.spaces.cell.supernet.Supernet`) so both compute the same
function: ``in_channels`` is a parameter (the reference hard-codes 3), and the op order is our space's.
:func:`from_supernet` builds a network with our supernet's parameters, buffers and alphas
(:func:`tensor_pairs` lists which slice of ours is which tensor here); ``tests/test_reference_baseline.py``
checks the logits and one search step agree, and ``benchmarks/bench_vs_reference.py`` times the two.

DARTS-PT's perturbation sweep (`ruocwang/darts-pt:sota/cnn/projection.py::project_op` on every edge, its
``infer(_eval=False, weights_dict=...)`` and its MixedOp that skips ops whose weight is 0) runs on the same
structure: :func:`darts_pt_network`, :func:`project_op_sweep`; ``benchmarks/bench_pt_sweep.py`` times it
against ours and ``tests/test_reference_baseline.py`` checks the probes agree.

Known differences from the reference code, none of which changes the work a step does: PyTorch 2 idioms
(no ``Variable``, ``add_(t, alpha=a)``), the device follows the supernet it is built from (the
reference calls ``.cuda()``; ``new()`` builds on the alphas' device), the data loader is not timed (both sides
get ready-made batches), and :meth:`Network.new` keeps ``steps``/``multiplier`` (the reference drops them,
which only matters for non-default values).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.spaces.cell.ops import EdgeOp
from workbench.spaces.cell.supernet import SearchCell, Supernet

#: the DARTS op order (genotypes.PRIMITIVES), which is also our ``darts`` space's
PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
              "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


# ---------------------------------------------------------------------------------------------- operations
class ReLUConvBN(nn.Module):
    """ReLU, k x k convolution, BatchNorm."""

    def __init__(self, C_in: int, C_out: int, k: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(C_in, C_out, k, stride, padding, bias=False),
                                nn.BatchNorm2d(C_out, affine=affine))

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU, depthwise (dilated) k x k convolution, pointwise 1x1 convolution, BatchNorm."""

    def __init__(self, C_in: int, C_out: int, k: int, stride: int, padding: int, dilation: int,
                 affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, k, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine))

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two ReLU / depthwise / pointwise / BN stacks; the stride acts in the first depthwise convolution."""

    def __init__(self, C_in: int, C_out: int, k: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, k, stride, padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, k, 1, padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine))

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class Identity(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class Zero(nn.Module):
    """``none``: zeros, computed as the reference does (a multiply by 0 of the strided input)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """ReLU, two stride-2 1x1 convolutions (on x and on x shifted by one pixel), concatenated, BatchNorm."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True) -> None:
        super().__init__()
        if C_out % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got C_out={C_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def _skip(C: int, stride: int, affine: bool) -> nn.Module:
    return Identity() if stride == 1 else FactorizedReduce(C, C, affine=affine)


OPS: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "none": lambda C, stride, affine: Zero(stride),
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "skip_connect": _skip,
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine=affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine=affine),
    "sep_conv_7x7": lambda C, stride, affine: SepConv(C, C, 7, stride, 3, affine=affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine=affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine=affine),
}


# ---------------------------------------------------------------------------------------------- search model
class MixedOp(nn.Module):
    """One edge: every candidate op, summed with its mixing weight (Eq. 2)."""

    def __init__(self, C: int, stride: int, primitives: Sequence[str]) -> None:
        super().__init__()
        self._ops = nn.ModuleList()
        for name in primitives:
            op = OPS[name](C, stride, False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            self._ops.append(op)

    #: DARTS-PT's MixedOp (`ruocwang/darts-pt:sota/cnn/model_search.py`) skips ops whose weight is 0
    skip_zero = False

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        if self.skip_zero:
            return cast(Tensor, sum(w * op(x) for w, op in zip(weights, self._ops, strict=True) if w != 0))
        return cast(Tensor, sum(w * op(x) for w, op in zip(weights, self._ops, strict=True)))


class Cell(nn.Module):
    """Two preprocessed inputs, ``steps`` nodes, each the sum of mixed edges from all earlier states."""

    def __init__(self, steps: int, multiplier: int, C_pp: int, C_p: int, C: int, reduction: bool,
                 reduction_prev: bool, primitives: Sequence[str]) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0: nn.Module = (FactorizedReduce(C_pp, C, affine=False) if reduction_prev
                                       else ReLUConvBN(C_pp, C, 1, 1, 0, affine=False))
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0, affine=False)
        self._steps, self._multiplier = steps, multiplier
        self._ops = nn.ModuleList()
        for i in range(steps):
            for j in range(2 + i):
                self._ops.append(MixedOp(C, 2 if reduction and j < 2 else 1, primitives))

    def forward(self, s0: Tensor, s1: Tensor, weights: Tensor) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self._steps):
            s = sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(cast(Tensor, s))
        return torch.cat(states[-self._multiplier:], dim=1)


class Network(nn.Module):
    """Stem, ``layers`` cells (reductions at layers//3 and 2*layers//3), global pooling, linear classifier."""

    def __init__(self, C: int, num_classes: int, layers: int, criterion: nn.Module, steps: int = 4,
                 multiplier: int = 4, stem_multiplier: int = 3, in_channels: int = 3,
                 primitives: Sequence[str] = PRIMITIVES, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self._C, self._num_classes, self._layers, self._criterion = C, num_classes, layers, criterion
        self._steps, self._multiplier, self._stem_multiplier = steps, multiplier, stem_multiplier
        self._in_channels, self._primitives = in_channels, tuple(primitives)
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
        C_pp, C_p, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            self.cells.append(Cell(steps, multiplier, C_pp, C_p, C_curr, reduction, reduction_prev, primitives))
            reduction_prev = reduction
            C_pp, C_p = C_p, multiplier * C_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)
        self.to(dtype=dtype, device=device)
        k = sum(2 + i for i in range(steps))
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        # the reference: ``Variable(1e-3 * torch.randn(k, num_ops).cuda(), requires_grad=True)``
        self.alphas_normal = (1e-3 * torch.randn(k, len(primitives), dtype=dtype).to(device)).requires_grad_(True)
        self.alphas_reduce = (1e-3 * torch.randn(k, len(primitives), dtype=dtype).to(device)).requires_grad_(True)

    def arch_parameters(self) -> list[Tensor]:
        return [self.alphas_normal, self.alphas_reduce]

    def new(self) -> Network:
        """A freshly built network (new random weights) with this one's alphas (what the unrolled model starts as)."""
        model_new = Network(self._C, self._num_classes, self._layers, self._criterion, self._steps,
                            self._multiplier, self._stem_multiplier, self._in_channels, self._primitives,
                            dtype=self.alphas_normal.dtype, device=self.alphas_normal.device)  # ref: .cuda()
        for x, y in zip(model_new.arch_parameters(), self.arch_parameters(), strict=True):
            x.data.copy_(y.data)
        return model_new

    def forward(self, x: Tensor, weights_dict: Mapping[str, Tensor] | None = None) -> Tensor:
        """Logits; ``weights_dict`` (DARTS-PT's argument): mixing weights replacing softmax(alpha) per cell type."""
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            kind = "reduce" if cell.reduction else "normal"
            if weights_dict is not None and kind in weights_dict:
                weights = weights_dict[kind]
            else:
                weights = F.softmax(self.alphas_reduce if cell.reduction else self.alphas_normal, dim=-1)
            s0, s1 = s1, cell(s0, s1, weights)
        out = self.global_pooling(s1)
        return self.classifier(out.view(out.size(0), -1))

    def _loss(self, x: Tensor, target: Tensor) -> Tensor:
        return self._criterion(self(x), target)


# ---------------------------------------------------------------------------------------------- the step
def _concat(ts: Iterator[Tensor] | Sequence[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in ts])


class Architect:
    """The architecture step: first order (Eq. 6 with xi = 0) or the unrolled second order (Eqs. 7-8)."""

    def __init__(self, model: Network, momentum: float = 0.9, weight_decay: float = 3e-4, arch_lr: float = 3e-4,
                 arch_weight_decay: float = 1e-3) -> None:
        self.network_momentum, self.network_weight_decay = momentum, weight_decay
        self.model = model
        self.optimizer = torch.optim.Adam(model.arch_parameters(), lr=arch_lr, betas=(0.5, 0.999),
                                          weight_decay=arch_weight_decay)

    def step(self, input_train: Tensor, target_train: Tensor, input_valid: Tensor, target_valid: Tensor,
             eta: float, network_optimizer: torch.optim.Optimizer, unrolled: bool) -> None:
        self.optimizer.zero_grad()
        if unrolled:
            self._backward_step_unrolled(input_train, target_train, input_valid, target_valid, eta,
                                         network_optimizer)
        else:
            self._backward_step(input_valid, target_valid)
        self.optimizer.step()

    def _backward_step(self, input_valid: Tensor, target_valid: Tensor) -> None:
        self.model._loss(input_valid, target_valid).backward()  # weights get gradients too (cleared later)

    def _compute_unrolled_model(self, x: Tensor, target: Tensor, eta: float,
                                network_optimizer: torch.optim.Optimizer) -> Network:
        loss = self.model._loss(x, target)
        theta = _concat(list(self.model.parameters())).data
        try:
            moment = _concat([network_optimizer.state[v]["momentum_buffer"] for v in self.model.parameters()])
            moment = moment.mul(self.network_momentum)
        except KeyError:  # before the first weight step there is no momentum buffer
            moment = torch.zeros_like(theta)
        dtheta = _concat(torch.autograd.grad(loss, list(self.model.parameters()))).data
        dtheta = dtheta + self.network_weight_decay * theta
        return self._construct_model_from_theta(theta.sub(eta * (moment + dtheta)))

    def _construct_model_from_theta(self, theta: Tensor) -> Network:
        model_new = self.model.new()
        model_dict = self.model.state_dict()
        params, offset = {}, 0
        for k, v in self.model.named_parameters():
            n = v.numel()
            params[k] = theta[offset: offset + n].view(v.size())
            offset += n
        assert offset == len(theta)
        model_dict.update(params)
        model_new.load_state_dict(model_dict)
        return model_new

    def _backward_step_unrolled(self, input_train: Tensor, target_train: Tensor, input_valid: Tensor,
                                target_valid: Tensor, eta: float, network_optimizer: torch.optim.Optimizer) -> None:
        unrolled_model = self._compute_unrolled_model(input_train, target_train, eta, network_optimizer)
        unrolled_model._loss(input_valid, target_valid).backward()
        dalpha = [a.grad for a in unrolled_model.arch_parameters()]
        vector = [cast(Tensor, p.grad).data for p in unrolled_model.parameters()]
        implicit_grads = self._hessian_vector_product(vector, input_train, target_train)
        for g, ig in zip(dalpha, implicit_grads, strict=True):
            assert g is not None
            g.data.sub_(ig.data, alpha=eta)
        for a, g in zip(self.model.arch_parameters(), dalpha, strict=True):
            assert g is not None
            if a.grad is None:
                a.grad = g.data.clone()
            else:
                a.grad.data.copy_(g.data)

    def _hessian_vector_product(self, vector: list[Tensor], x: Tensor, target: Tensor,
                                r: float = 1e-2) -> list[Tensor]:
        R = r / _concat(vector).norm()
        for p, v in zip(self.model.parameters(), vector, strict=True):
            p.data.add_(R * v)
        grads_p = torch.autograd.grad(self.model._loss(x, target), self.model.arch_parameters())
        for p, v in zip(self.model.parameters(), vector, strict=True):
            p.data.sub_(2 * R * v)
        grads_n = torch.autograd.grad(self.model._loss(x, target), self.model.arch_parameters())
        for p, v in zip(self.model.parameters(), vector, strict=True):
            p.data.add_(R * v)
        return [(gp - gn).div_(2 * R) for gp, gn in zip(grads_p, grads_n, strict=True)]


class ReferenceSearch:
    """A network, its :class:`Architect` and momentum SGD: one ``step`` = one iteration of the reference's
    ``train_search.train`` loop (architecture step, then weight step, then the batch's loss and accuracy)."""

    def __init__(self, model: Network, lr: float = 0.025, momentum: float = 0.9, weight_decay: float = 3e-4,
                 grad_clip: float = 5.0, unrolled: bool = False) -> None:
        self.model, self.lr, self.grad_clip, self.unrolled = model, lr, grad_clip, unrolled
        self.optimizer = torch.optim.SGD(model.parameters(), lr, momentum=momentum, weight_decay=weight_decay)
        self.architect = Architect(model, momentum, weight_decay)

    def step(self, batch_t: tuple[Tensor, Tensor], batch_v: tuple[Tensor, Tensor]) -> tuple[float, float]:
        """One search step; returns the training batch's loss and top-1 accuracy."""
        (x, y), (xv, yv) = batch_t, batch_v
        self.model.train()
        self.architect.step(x, y, xv, yv, self.lr, self.optimizer, unrolled=self.unrolled)
        self.optimizer.zero_grad()
        logits = self.model(x)
        loss = self.model._criterion(logits, y)
        loss.backward()  # the alphas get gradients too; the next architecture step clears them
        nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        accuracy = (logits.argmax(1) == y).double().mean()
        return loss.item(), accuracy.item()


# ---------------------------------------------------------------------------------------------- DARTS-PT's sweep
def darts_pt_network(supernet: Supernet) -> Network:
    """:func:`from_supernet` with DARTS-PT's MixedOp, which skips the ops whose weight is 0."""
    net = from_supernet(supernet)
    for m in net.modules():
        if isinstance(m, MixedOp):
            m.skip_zero = True
    return net


def infer(model: Network, batches: Sequence[tuple[Tensor, Tensor]], weights_dict: Mapping[str, Tensor]
          ) -> tuple[float, float]:
    """DARTS-PT's ``infer(..., _eval=False, weights_dict=...)``: train mode (batch statistics), no_grad,
    (example-weighted mean loss, accuracy as a fraction) over the batches."""
    model.train()
    loss_sum, correct, n = 0.0, 0.0, 0
    with torch.no_grad():
        for x, y in batches:
            logits = model(x, weights_dict=weights_dict)
            loss_sum += float(model._criterion(logits, y)) * len(y)
            correct += float((logits.argmax(1) == y).sum())
            n += len(y)
    return loss_sum / n, correct / n


def project_op_sweep(model: Network, batches: Sequence[tuple[Tensor, Tensor]],
                     ops: Sequence[int] | None = None) -> dict[tuple[str, int], list[tuple[float, float]]]:
    """DARTS-PT's operation probe (`sota/cnn/projection.py::project_op`) on every edge of both cell types, on a
    supernet where nothing is projected yet: for each op, the edge's softmax(alpha) row times a mask that is 0 at
    that op (no renormalisation), the whole network evaluated by :func:`infer`. (loss, accuracy) per op of
    ``ops`` (default: every op, ``none`` included), keyed by (cell type, edge)."""
    out: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for kind, alphas in (("normal", model.alphas_normal), ("reduce", model.alphas_reduce)):
        for eid in range(alphas.shape[0]):
            stats = []
            for opid in range(alphas.shape[1]) if ops is None else ops:
                weights = F.softmax(alphas.detach(), dim=-1)  # get_projected_weights: nothing decided yet
                proj_mask = torch.ones_like(weights[eid])
                proj_mask[opid] = 0
                weights[eid] = weights[eid] * proj_mask
                stats.append(infer(model, batches, {kind: weights}))
            out[(kind, eid)] = stats
    return out


# ---------------------------------------------------------------------------------------------- our supernet
#: per op type of ours: our sub-module name -> the module here holding the same tensors
_MODULE_MAP: dict[str, dict[str, str]] = {
    "Pool": {"bn": "1"},  # ours: pool then optional BN; here Sequential(pool, BN)
    "FactorizedReduce": {"conv1": "conv_1", "conv2": "conv_2", "bn": "bn"},
    "ReLUConvBN": {"conv": "op.1", "bn": "op.2"},
    "DilConv": {"dw": "op.1", "pw": "op.2", "bn": "op.3"},
    "SepConv": {"a.dw": "op.1", "a.pw": "op.2", "a.bn": "op.3", "b.dw": "op.5", "b.pw": "op.6", "b.bn": "op.7"},
    "Identity": {},
    "Zero": {},
}


def _op_tensors(ours: nn.Module) -> list[tuple[str, Tensor]]:
    """Parameters and BN running statistics of one of our ops (BN's ``num_batches_tracked`` is not used)."""
    named = list(ours.named_parameters()) + [(n, b) for n, b in ours.named_buffers() if "running" in n]
    return named


def _edge_op_pairs(ours: nn.Module, E: int, slot: int, ref: nn.Module, where: str
                   ) -> list[tuple[str, Tensor, Tensor]]:
    """Edge ``slot`` of our ``E``-edge op ``ours`` against the single-edge module ``ref``."""
    kind = type(ours).__name__
    if kind not in _MODULE_MAP:
        raise TypeError(f"{where}: no reference mapping for our op type {kind!r}; known: {', '.join(_MODULE_MAP)}")
    out = []
    for name, t in _op_tensors(ours):
        prefix, _, leaf = name.rpartition(".")
        if prefix not in _MODULE_MAP[kind]:
            raise KeyError(f"{where}: our {kind} holds {name!r}, which the reference mapping does not know "
                           f"(it maps {sorted(_MODULE_MAP[kind])}); update benchmarks/reference_darts.py")
        target = ref.get_submodule(_MODULE_MAP[kind][prefix])
        theirs = getattr(target, leaf)
        n = t.shape[0] // E
        mine = t[slot * n: (slot + 1) * n]
        if mine.shape != theirs.shape:
            raise ValueError(f"{where}.{name}: our edge slice has shape {tuple(mine.shape)}, the reference "
                             f"tensor {tuple(theirs.shape)}")
        out.append((f"{where}.{name}", mine, theirs))
    return out


def tensor_pairs(supernet: Supernet, ref: Network) -> list[tuple[str, Tensor, Tensor]]:
    """(name, our tensor or per-edge slice of it, the reference tensor holding the same values) for every
    parameter, BN running statistic and alpha matrix. Every tensor of ``ref`` appears exactly once."""
    pairs: list[tuple[str, Tensor, Tensor]] = []
    for name in ("stem", "classifier"):
        mine_m, ref_m = supernet.get_submodule(name), ref.get_submodule(name)
        mine_t = dict(mine_m.named_parameters()) | dict(mine_m.named_buffers())
        for n, t in list(ref_m.named_parameters()) + list(ref_m.named_buffers()):
            pairs.append((f"{name}.{n}", mine_t[n], t))
    pairs.append(("alphas.normal", supernet.alphas["normal"], ref.alphas_normal))
    pairs.append(("alphas.reduce", supernet.alphas["reduce"], ref.alphas_reduce))
    space = supernet.space
    for c, (cell, rcell) in enumerate(zip(supernet.cells, ref.cells, strict=True)):
        assert isinstance(cell, SearchCell) and isinstance(rcell, Cell)
        if cell.reduction != rcell.reduction:
            raise ValueError(f"cell {c}: reduction {cell.reduction} in ours, {rcell.reduction} in the reference")
        pairs += _edge_op_pairs(cell.pre0, 1, 0, rcell.preprocess0, f"cells.{c}.pre0")
        pairs += _edge_op_pairs(cell.pre1, 1, 0, rcell.preprocess1, f"cells.{c}.pre1")
        for k, (_, src) in enumerate(space.edges):
            slot = cell.waves[src].index(k)
            for name, op in cast("Mapping[str, EdgeOp]", cell.wave_ops[src]).items():
                o = space.ops.index(name)
                mixed = cast(MixedOp, rcell._ops[k])
                pairs += _edge_op_pairs(op, op.E, slot, mixed._ops[o], f"cells.{c}.edge{k}.{name}")
    seen = {id(t) for _, _, t in pairs}
    missing = [n for n, t in list(ref.named_parameters()) + list(ref.named_buffers())
               if id(t) not in seen and "num_batches_tracked" not in n]
    if missing or len(seen) != len(pairs):
        raise ValueError(f"the mapping leaves reference tensors unset ({missing[:5]}...) or sets one twice")
    return pairs


def from_supernet(supernet: Supernet, criterion: nn.Module | None = None) -> Network:
    """A reference-style network computing the same function as our DARTS-macro ``supernet``
    (same parameters, BN running statistics and alphas; same dtype and device)."""
    space, cfg = supernet.space, supernet.cfg
    if space.macro != "darts" or space.n_inputs != 2 or space.cell_types != ("normal", "reduce"):
        raise ValueError(f"the reference-style network is DARTS's macro structure; space {space.name!r} is not")
    if cfg.layers < 3 or cfg.partial_channels != 1 or cfg.edge_normalization or cfg.affine or cfg.inactive_bias:
        raise ValueError(f"the reference-style network needs layers >= 3 and the plain DARTS supernet, got {cfg}")
    if space.edge_ops is not None or not set(space.ops) <= set(OPS):
        raise ValueError(f"space {space.name!r}: per-edge op subsets or ops {space.ops} the reference does not have")
    dtype = supernet.classifier.weight.dtype
    ref = Network(cfg.C, supernet.n_classes, cfg.layers, criterion or nn.CrossEntropyLoss(),
                  in_channels=supernet.in_channels, primitives=space.ops, dtype=dtype,
                  device=supernet.classifier.weight.device)
    with torch.no_grad():
        for _, mine, theirs in tensor_pairs(supernet, ref):
            theirs.copy_(mine)
    return ref
