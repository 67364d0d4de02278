"""The ``embedding_dims`` space: how many embedding dimensions each feature block keeps (DNIS, Cheng, Shen, Huang,
arXiv 2006.04466; AutoSrh; SEEDS_2 §8.2, §8.5).

One choice group, ``dims``: rows = feature blocks (frequency-ordered id ranges, most frequent first), options =
dimension blocks. Unlike every other space here, a row does not pick *one* option: the relaxed matrix is a soft
selection mask W in [0, 1]^{B_f x B_d} that scales the embeddings (:mod:`workbench.spaces.embedding.model`),
and an architecture keeps a *set* of dimension blocks per row (:class:`EmbeddingDims`). ``probabilities`` is
W itself: the clamped alphas, zero where an option is switched off (the op swapper switches dimensions off).

Decoding rules (pruning the mask):

* ``"top_half"`` (default) -- keep the mask entries at least as large as the ceil(n/2)-th largest enabled
  entry, globally over the matrix: half of them, more when entries tie at that value (a saturated mask, all 1,
  keeps everything; the tie is reported, not broken arbitrarily);
* ``"threshold"`` -- keep entries > 0.5.

AutoSrh's own pruning is finer (per embedding entry, after merging W into the table):
:mod:`workbench.spaces.embedding.prune`.

Supernet settings (:class:`EmbeddingConfig`): the model (``"fm"`` or ``"mlp"``, NCF-MLP), its hidden widths,
``normalize``, ``init_alpha`` (AutoSrh: 1) and ``n_ids``. The table size comes from ``n_ids``, else the
space's, else the registered dataset of that name (:data:`~workbench.tasks.data.interactions.KNOWN_VOCABULARY`);
for a dataset object of your own build the space with :meth:`EmbeddingDimsSpace.for_dataset`.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from workbench.spaces.base import (
    ArchitectureError,
    ChoiceGroup,
    ChoiceSupernet,
    SearchSpace,
    _esc,
)
from workbench.spaces.embedding.model import LatentFactorModel, block_sizes
from workbench.spaces.settings.embedding import EmbeddingConfig, embedding_supernet_config
from workbench.tasks.data.interactions import KNOWN_VOCABULARY
from workbench.tasks.task import TaskInfo

__all__ = ["GROUP", "EmbeddingConfig", "EmbeddingDims", "EmbeddingDimsSpace", "EmbeddingSupernet", "FixedDimsModel",
           "prune_mask"]

GROUP = "dims"
DEFAULT_SPLIT = (0.1, 0.2, 0.2, 0.2, 0.3)


@dataclass(frozen=True)
class EmbeddingDims:
    """An architecture of an ``embedding_dims`` space: the dimension blocks each feature block keeps."""

    space: str
    kept: tuple[tuple[int, ...], ...]  # per feature block, the kept dimension-block indices (sorted)
    block_dim: int = 1  # dimensions per dimension block

    @property
    def dims(self) -> tuple[int, ...]:
        """Embedding dimensions kept per feature block."""
        return tuple(len(k) * self.block_dim for k in self.kept)

    def mask(self, n_dim_blocks: int) -> np.ndarray:
        """The kept blocks as a 0/1 float matrix (feature blocks x dimension blocks)."""
        m = np.zeros((len(self.kept), n_dim_blocks), dtype=np.float32)
        for i, k in enumerate(self.kept):
            m[i, list(k)] = 1.0
        return m

    def __str__(self) -> str:
        return "dims per block: " + ", ".join(str(d) for d in self.dims)

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "kept": [list(k) for k in self.kept], "block_dim": self.block_dim}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EmbeddingDims:
        try:
            kept = tuple(tuple(sorted(int(j) for j in k)) for k in d["kept"])
            return cls(str(d["space"]), kept, int(d.get("block_dim", 1)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArchitectureError(f"not an embedding-dims architecture ({exc!r}); expected "
                                    "{'space': NAME, 'kept': [[DIM_BLOCK, ...] per feature block], "
                                    "'block_dim': N}") from None


def prune_mask(mask: np.ndarray, keep: float = 0.5, enabled: np.ndarray | None = None) -> np.ndarray:
    """Keep the entries of ``mask`` at least as large as the ceil(keep * n)-th largest enabled one (ties kept)."""
    w = np.asarray(mask, dtype=np.float64)
    on = np.ones(w.shape, bool) if enabled is None else np.asarray(enabled, bool)
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    values = np.sort(w[on])[::-1]
    if values.size == 0:
        return np.zeros(w.shape, bool)
    cut = values[int(np.ceil(keep * values.size)) - 1]
    return on & (w >= cut)


@dataclass(frozen=True)
class EmbeddingDimsSpace(SearchSpace):
    """Feature blocks x dimension blocks of one shared embedding table (see the module docstring)."""

    default_dataset = "interactions"

    name: str = "embedding_dims"
    dim: int = 16
    dim_blocks: int = 16
    feature_split: tuple[float, ...] = DEFAULT_SPLIT
    n_ids: int | None = None
    rules: tuple[str, ...] = field(default=("top_half", "threshold"), repr=False)
    default_rule: str = field(default="top_half", repr=False)

    def __post_init__(self) -> None:
        for what in ("dim", "dim_blocks"):
            v = getattr(self, what)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{what} must be an integer >= 1, got {v!r}")
        if self.dim % self.dim_blocks:
            raise ValueError(f"dim {self.dim} must be a multiple of dim_blocks {self.dim_blocks}")
        object.__setattr__(self, "feature_split", tuple(float(s) for s in self.feature_split))
        block_sizes(self.n_ids or 10 ** 6, self.feature_split)  # validates the split

    @classmethod
    def for_dataset(cls, dataset: Any, name: str | None = None, **kw: Any) -> EmbeddingDimsSpace:
        """A space sized for ``dataset`` (anything with ``n_ids``, e.g. an InteractionDataset)."""
        return cls(name=name or f"embedding_dims-{dataset.name}", n_ids=int(dataset.n_ids), **kw)

    @property
    def block_dim(self) -> int:
        return self.dim // self.dim_blocks

    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        counts = self.feature_split[0] > 1
        rows = []
        for i, s in enumerate(self.feature_split):
            last = i == len(self.feature_split) - 1
            share = "rest" if last and counts else (f"{int(s)} ids" if counts else f"{s:.0%}")
            rows.append(f"block {i + 1} ({share})")
        b = self.block_dim
        options = tuple(f"d{j * b + 1}" if b == 1 else f"d{j * b + 1}-{(j + 1) * b}" for j in range(self.dim_blocks))
        return (ChoiceGroup(GROUP, tuple(rows), options),)

    def supernet_config(self, value: Any = None, **overrides: Any) -> EmbeddingConfig:
        return embedding_supernet_config(self.name, value, **overrides)

    def resolve_n_ids(self, task: TaskInfo, config: EmbeddingConfig) -> int:
        """The embedding table's size: the config's, the space's, else the registered dataset's (by name)."""
        n = config.n_ids or self.n_ids or KNOWN_VOCABULARY.get(task.name)
        if n is None:
            raise ValueError(f"space {self.name!r} does not know how many feature ids task {task.name!r} has: build "
                             f"the space with EmbeddingDimsSpace.for_dataset(dataset) (or n_ids=N), or pass "
                             f"supernet={{'n_ids': N}}; registered datasets known by name: "
                             f"{', '.join(KNOWN_VOCABULARY)}")
        return int(n)

    def _model(self, task: TaskInfo, config: EmbeddingConfig) -> LatentFactorModel:
        if len(task.input_shape) != 1 or task.n_outputs != 1:
            raise ValueError(f"space {self.name!r} needs examples of feature ids (n_fields,) and one output; task "
                             f"{task.name!r} has examples of shape {task.input_shape} and {task.n_outputs} outputs")
        n_ids = self.resolve_n_ids(task, config)
        return LatentFactorModel(n_ids, task.input_shape[0], self.dim, block_sizes(n_ids, self.feature_split),
                                 self.dim_blocks, config.model, config.hidden, config.normalize)

    def build_supernet(self, task: TaskInfo, config: Any = None) -> EmbeddingSupernet:
        cfg = self.supernet_config(config)
        return EmbeddingSupernet(self.choice_groups(), self._model(task, cfg), cfg.init_alpha)

    # -- architectures -----------------------------------------------------------------------------
    def decode(self, probs: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray] | None = None,
               rule: str | None = None) -> EmbeddingDims:
        rule = self.default_rule if rule is None else rule
        if rule not in self.rules:
            raise ValueError(f"space {self.name!r} has no decoding rule {rule!r}; accepted: {', '.join(self.rules)}")
        w = np.asarray(probs[GROUP], dtype=np.float64)
        on = np.ones(w.shape, bool) if masks is None else np.asarray(masks[GROUP], bool)
        keep = prune_mask(w, 0.5, on) if rule == "top_half" else on & (w > 0.5)
        return EmbeddingDims(self.name, tuple(tuple(int(j) for j in np.flatnonzero(r)) for r in keep),
                             self.block_dim)

    def check(self, arch: Any) -> None:
        if not isinstance(arch, EmbeddingDims):
            raise ArchitectureError(f"space {self.name!r} expects an EmbeddingDims architecture, got "
                                    f"{type(arch).__name__}")
        g = self.choice_groups()[0]
        if len(arch.kept) != len(g.rows):
            raise ArchitectureError(f"architecture has {len(arch.kept)} feature blocks; space {self.name!r} has "
                                    f"{len(g.rows)}")
        if arch.block_dim != self.block_dim:
            raise ArchitectureError(f"architecture has {arch.block_dim} dims per block; space {self.name!r} has "
                                    f"{self.block_dim}")
        bad = [j for k in arch.kept for j in k if not 0 <= j < self.dim_blocks]
        if bad:
            raise ArchitectureError(f"dimension block(s) {bad} out of range; space {self.name!r} has "
                                    f"0..{self.dim_blocks - 1}")

    def arch_from_dict(self, d: Mapping[str, Any]) -> EmbeddingDims:
        if not isinstance(d, Mapping):
            raise ArchitectureError(f"an architecture of space {self.name!r} is a JSON object, got {type(d).__name__}")
        return EmbeddingDims.from_dict(d)

    def label(self, arch: Any) -> str:
        self.check(arch)
        return f"{self.name}: " + ", ".join(f"b{i + 1} {d}" for i, d in enumerate(arch.dims)) + \
            f" of {self.dim} dims"

    def to_dot(self, arch: Any, title: str | None = None) -> str:
        """One box per feature block (most frequent first) with the dimensions it keeps."""
        self.check(arch)
        rows = self.choice_groups()[0].rows
        lines = ["digraph G {", '  rankdir=LR; node [shape=box, style="rounded,filled", fontname="Helvetica"];']
        if title:
            lines.append(f'  label="{_esc(title)}"; labelloc=t;')
        prev = None
        for i, (row, d) in enumerate(zip(rows, arch.dims, strict=True)):
            shade = int(235 - 120 * d / self.dim)
            lines.append(f'  b{i} [label="{_esc(row)}\\n{d} of {self.dim} dims", '
                         f'fillcolor="#{shade:02x}{shade:02x}ff"];')
            if prev is not None:
                lines.append(f"  {prev} -> b{i} [style=invis];")
            prev = f"b{i}"
        lines.append("}")
        return "\n".join(lines)

    def compile(self, arch: Any, task: TaskInfo, **options: Any) -> FixedDimsModel:
        """``arch`` as a standalone model: the same table, its unkept dimensions fixed at zero."""
        self.check(arch)
        cfg = self.supernet_config(options or None)
        return FixedDimsModel(self._model(task, cfg), torch.from_numpy(arch.mask(self.dim_blocks)))

    def fingerprint(self) -> str:
        payload = {"name": self.name, "type": type(self).__qualname__, "dim": self.dim, "dim_blocks": self.dim_blocks,
                   "feature_split": list(self.feature_split), "n_ids": self.n_ids}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class EmbeddingSupernet(ChoiceSupernet):
    """The latent-factor model with a soft mask: ``weights["dims"]`` is the relaxed (B_f x B_d) mask W."""

    dense_frozen: Tensor

    def __init__(self, groups: Sequence[ChoiceGroup], net: LatentFactorModel, init_alpha: float = 1.0) -> None:
        super().__init__(groups)
        with torch.no_grad():
            self.alphas[GROUP].fill_(float(init_alpha))
        self.net = net
        #: AutoSrh's frozen dense layers during the search (set by the dnis method's controller); a buffer so it is
        #: saved and resumed, mirrored on the host so the forward reads no device value
        self.register_buffer("dense_frozen", torch.zeros((), dtype=torch.bool))
        self._frozen = False
        self.register_load_state_dict_post_hook(lambda module, keys: module._sync_frozen())

    def _sync_frozen(self) -> None:
        self._frozen = bool(self.dense_frozen)

    def set_dense_frozen(self, frozen: bool) -> None:
        """Freeze (True) or train (False) the dense parameters in the weight step."""
        if frozen != self._frozen:
            self.dense_frozen.fill_(bool(frozen))
            self._frozen = bool(frozen)

    @property
    def frozen(self) -> bool:
        return self._frozen

    def probabilities(self, group: str) -> Tensor:
        """The mask W: alphas clamped to [0, 1], zero where a dimension is switched off (no softmax)."""
        return self.alphas[group].clamp(0.0, 1.0) * self.op_mask(group).to(self.alphas[group].dtype)

    def forward(self, x: Tensor, weights: Mapping[str, Tensor] | None = None, active: Any = None) -> Tensor:
        mask = None if weights is None else weights[GROUP]
        return self.net(x, mask, frozen=self._frozen and self.training)


class FixedDimsModel(nn.Module):
    """A compiled architecture: the latent-factor model with a fixed 0/1 mask (kept dimension blocks)."""

    mask: Tensor

    def __init__(self, net: LatentFactorModel, mask: Tensor) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mask", mask.float())

    def n_embedding_parameters(self) -> int:
        """Embedding entries that are not fixed at zero (the parameter count DNIS reduces)."""
        kept = self.net.effective_mask(self.mask)[self.net.block_of_id] != 0
        return int(kept.sum())

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x, self.mask)
