"""The ``gtn`` space: a *teacher* (generator + learned curriculum + learned inner lr and momentum) as a supernet.

Generative teaching networks (Such, Rawal, Lehman, Stanley, Clune; ICML 2020; arXiv 1912.07768; SEEDS_2 §9)
learn *training data*, not an architecture. This module expresses the teacher in the engine's space protocol
so that the :class:`~workbench.search.Searcher` drives GTN's meta-training (the ``gtn`` method,
:mod:`workbench.methods.gtn`) with its events, History, run folders, CLI and dashboard. What maps to what:

* **architecture parameters** (``arch_parameters()``, updated by the architecture optimizer): the
  generator's weights, the curriculum's noise z (steps x batch x z_dim), the learned log inner lrs and log
  momenta (one per inner step) and, with ``learn_labels``, the label logits;
* **the choice group** ``labels``: one row per synthetic example (``"t3 #7"``: inner step 3, example 7), one
  option per class; its logits (``alphas["labels"]``) are the examples' label logits and the relaxation's
  softmax of them is the *soft label* each example teaches (§9.2). With fixed labels (the default, as in the
  CPU pilot §9.4) the logits are log(one-hot + 1e-6) and are not trained: the heatmap shows the curriculum's
  label pattern (t * B + b) mod C; with ``learn_labels`` they start label-smoothed (0.9 on the class) and learn;
* **weights**: the *taught learner* (``64 -> learner_width -> C``, :class:`~workbench.gtn.learner.LearnerModule`):
  the learner this teacher trained from a fresh initialisation at the last step (the ``gtn`` method's
  arch-gradient slot teaches it, in place, without meta-gradients). ``forward(x, weights, active)`` is that
  learner's output, so ``Searcher.evaluate()`` reports the accuracy a fresh learner reaches after T steps of
  teaching -- GTN's validation protocol. Nothing is trained by the searcher's weight step (the method's lr
  is 0; see :mod:`workbench.methods.gtn`).

``decode`` gives the generic :class:`~workbench.spaces.base.Choices` (each example's most probable label);
``compile(arch, task)`` the learner this teacher is for, freshly initialised (``hidden``/``activation``
options choose another learner). The curriculum length T (``steps``) and batch B (``batch``) define the space
(they are its rows); the generator's sizes and initial lr/momentum are supernet settings (:class:`GtnConfig`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from workbench.gtn import data as _data  # noqa: F401  (registers the digits_std dataset)
from workbench.gtn.generator import Curriculum, Generator, curriculum_labels, soft_cross_entropy
from workbench.gtn.inner import unroll
from workbench.gtn.learner import LearnerArch, LearnerModule, init_learner, learner_forward
from workbench.gtn.train import train_on_batches
from workbench.spaces.base import (
    SPACES,
    ChoiceGroup,
    ChoiceSupernet,
    SearchSpace,
    masked_softmax,
)
from workbench.spaces.settings.gtn import GtnConfig, gtn_supernet_config
from workbench.tasks.task import TaskInfo

__all__ = ["GROUP", "GtnConfig", "TeacherNet", "TeacherSpace"]

GROUP = "labels"
FIXED_LABEL_FLOOR = 1e-6  # fixed labels: logits log(onehot + floor) -> softmax one-hot to ~1e-5
LEARNED_LABEL_SMOOTHING = 0.1  # learn_labels: the logits start at log(0.9 onehot + 0.1 / C)


@dataclass(frozen=True)
class TeacherSpace(SearchSpace):
    """A GTN teacher of ``steps`` inner steps of ``batch`` synthetic examples for ``n_classes`` classes."""

    default_dataset = "digits_std"

    name: str = "gtn"
    steps: int = 10
    batch: int = 20
    n_classes: int = 10

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "n_classes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TeacherSpace.{name}={v!r} is not accepted: expected an int >= 1")
        if self.n_classes < 2:
            raise ValueError(f"TeacherSpace.n_classes={self.n_classes} is not accepted: a classifier needs >= 2")

    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        rows = tuple(f"t{t} #{b}" for t in range(self.steps) for b in range(self.batch))
        return (ChoiceGroup(GROUP, rows, tuple(str(c) for c in range(self.n_classes))),)

    def supernet_config(self, value: Any = None, **overrides: Any) -> GtnConfig:
        return gtn_supernet_config(self.name, value, **overrides)

    def build_supernet(self, task: TaskInfo, config: Any = None) -> TeacherNet:
        if task.n_outputs != self.n_classes:
            raise ValueError(f"space {self.name!r} teaches {self.n_classes} classes; task {task.name!r} has "
                             f"{task.n_outputs} outputs (build a TeacherSpace(n_classes={task.n_outputs}))")
        return TeacherNet(self, task, self.supernet_config(config))

    def compile(self, arch: Any, task: TaskInfo, **options: Any) -> LearnerModule:
        """A fresh learner of the kind this teacher teaches (``hidden``: widths, default (64,); ``activation``)."""
        self.check(arch)
        learner = LearnerArch(tuple(options.get("hidden", (64,))), options.get("activation", "leaky_relu"))
        return LearnerModule(learner, math.prod(task.input_shape), task.n_outputs)

    def label(self, arch: Any) -> str:
        """One line: whether each synthetic example still teaches its curriculum label (t * B + b) mod C."""
        picks = arch.picks[GROUP]
        fixed = [str(c) for c in curriculum_labels(self.steps, self.batch, self.n_classes).reshape(-1).tolist()]
        changed = sum(p != f for p, f in zip(picks, fixed, strict=True))
        where = f"{self.steps} steps x {self.batch} examples"
        if not changed:
            return f"curriculum labels (t*{self.batch} + b) mod {self.n_classes}, {where}"
        return f"{changed} of {len(picks)} labels moved off the curriculum's (t*{self.batch} + b) mod {self.n_classes}"

    def to_dot(self, arch: Any, title: str | None = None) -> str:
        """One box per inner step, listing the labels its synthetic batch teaches."""
        self.check(arch)
        picks = arch.picks[GROUP]
        lines = ["digraph G {", '  rankdir=LR; node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
                 'fontname="Helvetica"];']
        if title:
            lines.append(f'  label="{title}"; labelloc=t;')
        for t in range(self.steps):
            labels = "".join(picks[t * self.batch:(t + 1) * self.batch])
            lines.append(f'  s{t} [label="step {t}\\n{labels}"];')
            if t:
                lines.append(f"  s{t - 1} -> s{t};")
        lines.append("}")
        return "\n".join(lines)


class TeacherNet(ChoiceSupernet):
    """Generator + curriculum + learned inner lr/momentum (the architecture), and the taught learner (the weights)."""

    def __init__(self, space: TeacherSpace, task: TaskInfo, cfg: GtnConfig) -> None:
        super().__init__(space.choice_groups())
        self.space, self.cfg = space, cfg
        self.input_shape, self.n_in, self.n_out = tuple(task.input_shape), math.prod(task.input_shape), task.n_outputs
        T, B, C = space.steps, space.batch, space.n_classes
        self.generator = Generator(cfg.z_dim, C, self.input_shape, cfg.hidden, cfg.out_scale)
        self.curriculum = Curriculum(T, B, cfg.z_dim, C, cfg.reverse)
        self.log_lr = nn.Parameter(torch.full((T,), math.log(cfg.lr_init)))
        self.log_momentum = nn.Parameter(torch.full((T,), math.log(cfg.momentum_init)))
        self.learner = LearnerModule(LearnerArch((cfg.learner_width,)), self.n_in, self.n_out)
        smoothing = LEARNED_LABEL_SMOOTHING if cfg.learn_labels else 0.0
        onehot = torch.nn.functional.one_hot(self.curriculum.labels.reshape(-1), C).float()
        target = (1 - smoothing) * onehot + smoothing / C
        with torch.no_grad():
            self.alphas[GROUP].copy_(torch.log(target + (0.0 if cfg.learn_labels else FIXED_LABEL_FLOOR)))

    # -- the architecture ------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        params = [*self.generator.parameters(), self.curriculum.z, self.log_lr, self.log_momentum]
        return params + ([self.alphas[GROUP]] if self.cfg.learn_labels else [])

    @property
    def steps(self) -> int:
        return self.curriculum.steps

    def inner_lrs(self) -> Tensor:
        """eta_t = exp(log_eta_t), one per inner step (with the graph to the log-parameters)."""
        return self.log_lr.exp()

    def inner_momenta(self) -> Tensor:
        """mu_t = exp(log_mu_t), one per inner step."""
        return self.log_momentum.exp()

    def soft_labels(self) -> Tensor:
        """The label of every synthetic example, (T * B, C): softmax of the label logits over enabled classes."""
        return masked_softmax(self.alphas[GROUP], self.op_mask(GROUP))

    def synthetic_batch(self, t: int, soft_labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(x, y) of inner step ``t``: generated examples (B, *input_shape) and their soft labels (B, C)."""
        y_all = self.soft_labels() if soft_labels is None else soft_labels
        z, labels = self.curriculum[t]
        i = self.curriculum.index(t)
        B = self.curriculum.batch
        return self.generator(z, labels), y_all[i * B:(i + 1) * B]

    @torch.no_grad()
    def samples(self) -> tuple[Tensor, Tensor]:
        """Every synthetic example in the order a learner sees them: x (T, B, *input_shape), labels (T, B)."""
        xs, ys = [], []
        for t in range(self.steps):
            x, y = self.synthetic_batch(t)
            xs.append(x)
            ys.append(y.argmax(1))
        return torch.stack(xs), torch.stack(ys)

    # -- teaching ----------------------------------------------------------------------------------
    def teach(self, params: Mapping[str, Tensor], arch: LearnerArch, soft_labels: Tensor | None = None, *,
              create_graph: bool = True, steps: int | None = None) -> list[dict[str, Tensor]]:
        """Train the learner ``params`` (of shape ``arch``) on the curriculum: the trajectory theta_0..theta_T.

        With ``create_graph`` the trajectory is differentiable in every architecture parameter (the meta-
        gradient); ``steps`` < T teaches only the first steps (more than T is out of distribution: refused).
        """
        T = self.steps if steps is None else int(steps)
        if not 0 <= T <= self.steps:
            raise ValueError(f"teach(steps={steps}) is not accepted: this teacher's curriculum has {self.steps} "
                             "steps (a learner trained longer than it was meta-trained is out of distribution)")
        y_all = self.soft_labels() if soft_labels is None else soft_labels

        def loss(t: int, theta: dict[str, Tensor]) -> Tensor:
            x, y = self.synthetic_batch(t, y_all)
            return soft_cross_entropy(learner_forward(arch, theta, x), y)

        lrs, momenta = self.inner_lrs()[:T], self.inner_momenta()[:T]
        if not create_graph:
            lrs, momenta = lrs.detach(), momenta.detach()
        return unroll(params, loss, lrs, momenta, create_graph=create_graph)

    def fresh_learner(self, arch: LearnerArch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """A freshly initialised learner of shape ``arch`` for this task (this teacher's dtype and device)."""
        p = self.log_lr
        return init_learner(arch, self.n_in, self.n_out, generator, dtype=p.dtype, device=p.device)

    @torch.no_grad()
    def curriculum_data(self, steps: int | None = None) -> list[tuple[Tensor, Tensor]]:
        """The synthetic batches (x_t, y_t) of inner steps 0..steps-1, in reading order, without a graph."""
        T = self.steps if steps is None else int(steps)
        y = self.soft_labels()
        return [(x.detach(), yt.detach()) for x, yt in (self.synthetic_batch(t, y) for t in range(T))]

    def teach_fresh(self, arch: LearnerArch, generator: torch.Generator | None = None, steps: int | None = None,
                    data: list[tuple[Tensor, Tensor]] | None = None) -> dict[str, Tensor]:
        """A fresh learner trained on the curriculum without meta-gradients (GTN's validation learner);
        ``data``: the batches of :meth:`curriculum_data`, to generate them once for many learners."""
        T = self.steps if steps is None else int(steps)
        if not 0 <= T <= self.steps:
            raise ValueError(f"teach_fresh(steps={steps}) is not accepted: this teacher's curriculum has "
                             f"{self.steps} steps")
        data = self.curriculum_data(T) if data is None else data
        return train_on_batches(arch, self.fresh_learner(arch, generator), data, self.inner_lrs()[:T],
                                self.inner_momenta()[:T])

    def teach_learner_(self, generator: torch.Generator | None = None) -> None:
        """Re-initialise the taught learner (the supernet's weights) and teach it the whole curriculum, in place."""
        self.learner.load_(self.teach_fresh(self.learner.arch, generator))

    def forward(self, x: Tensor, weights: Mapping[str, Tensor] | None = None, active: Any = None) -> Tensor:
        """The taught learner's logits on ``x`` (the mixing weights -- the soft labels -- shape teaching, not this)."""
        return self.learner(x)


SPACES.register("gtn", TeacherSpace())
