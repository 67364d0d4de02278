"""The candidates of a norm-placement block: where instance normalisation goes (Zhou et al., OSNet-AIN, TPAMI 2021,
arXiv 1910.06827; SEEDS_2 §5.2 and §5.6).

OSNet-AIN's search chooses, per OS block, one of four variants (`KaiyangZhou/deep-person-reid:
projects/OSNet_AIN/osnet_search.py`, ``OSBlock`` / ``OSBlockINv1`` / ``INv2`` / ``INv3``). At CPU scale the
OS block is simplified to two 3x3 convolutions and an identity residual (SEEDS_2 §5.6); the placements are the
official ones:

* ``plain``        (OSBlock):  relu(x + BN(conv2(h)))
* ``in_residual``  (INv1):     relu(x + IN(conv2(h)))   -- IN *replaces* the branch's last BN (§5.4: two changes)
* ``in_after_add`` (INv2):     relu(IN(x + BN(conv2(h))))
* ``in_both``      (INv3):     relu(IN(x + IN(conv2(h))))

with h = relu(BN(conv1(x))) in every variant. During the search every BN and IN is non-affine
(``NORM_AFFINE = False`` in the code); the final network uses affine ones (``torchreid/models/osnet_ain.py``),
which is what ``affine=True`` builds.

The stem is conv3x3 (no bias) -> norm -> ReLU; its norm is BN by default, IN with ``stem_in=True`` (the official
conv1 has a fixed IN that is not searched), or a searched mixture of both (:class:`MixedStem`). Inputs larger
than 16 pixels (Fashion-MNIST) get OSNet's stride-2 stem conv and 3x3/2 max pool.
"""
from __future__ import annotations

from torch import Tensor, nn

#: option names, in the official order v0..v3 (``OSBlock``, ``OSBlockINv1``, ``OSBlockINv2``, ``OSBlockINv3``)
PLACEMENTS = ("plain", "in_residual", "in_after_add", "in_both")
#: the stem's options when the stem is searched too (a different space, see ``NormPlacementSpace.search_stem``)
STEM_NORMS = ("bn", "in")


def norm(kind: str, C: int, affine: bool) -> nn.Module:
    """``"bn"``: BatchNorm2d; ``"in"``: InstanceNorm2d (no running statistics: it normalises each image alone)."""
    if kind == "bn":
        return nn.BatchNorm2d(C, affine=affine)
    if kind == "in":
        return nn.InstanceNorm2d(C, affine=affine)
    raise ValueError(f"unknown norm {kind!r}; accepted: bn, in")


def conv3x3(C_in: int, C_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(C_in, C_out, 3, stride, 1, bias=False)


class NormBlock(nn.Module):
    """One candidate: two 3x3 convs and a residual, IN where ``placement`` puts it (see the module docstring)."""

    def __init__(self, C: int, placement: str, affine: bool = False) -> None:
        super().__init__()
        if placement not in PLACEMENTS:
            raise ValueError(f"unknown placement {placement!r}; accepted: {', '.join(PLACEMENTS)}")
        self.placement = placement
        self.conv1, self.bn1 = conv3x3(C, C), norm("bn", C, affine)
        self.conv2 = conv3x3(C, C)
        self.norm2 = norm("in" if placement in ("in_residual", "in_both") else "bn", C, affine)
        self.out_norm = norm("in", C, affine) if placement in ("in_after_add", "in_both") else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        h = self.act(self.bn1(self.conv1(x)))
        return self.act(self.out_norm(x + self.norm2(self.conv2(h))))


def _downsample(H: int) -> bool:
    return H > 16


class Stem(nn.Module):
    """conv3x3 (no bias) -> BN or IN -> ReLU (+ OSNet's stride 2 and 3x3/2 max pool for inputs over 16 px)."""

    def __init__(self, C_in: int, C: int, H: int, kind: str = "bn", affine: bool = False) -> None:
        super().__init__()
        down = _downsample(H)
        self.conv = conv3x3(C_in, C, 2 if down else 1)
        self.norm = norm(kind, C, affine)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(3, 2, 1) if down else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.act(self.norm(self.conv(x))))


class MixedStem(nn.Module):
    """The searched stem: relu(w_bn * BN(conv(x)) + w_in * IN(conv(x))) with the relaxation's weights."""

    def __init__(self, C_in: int, C: int, H: int, affine: bool = False) -> None:
        super().__init__()
        down = _downsample(H)
        self.conv = conv3x3(C_in, C, 2 if down else 1)
        self.norms = nn.ModuleList(norm(k, C, affine) for k in STEM_NORMS)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(3, 2, 1) if down else nn.Identity()

    def forward(self, x: Tensor, w: Tensor, active: object) -> Tensor:
        c = self.conv(x)
        out = None
        for k, n in enumerate(self.norms):
            if active[k]:  # type: ignore[index]
                y = w[k] * n(c)
                out = y if out is None else out + y
        if out is None:
            raise ValueError("the searched stem has no active norm; enable bn or in")
        return self.pool(self.act(out))
