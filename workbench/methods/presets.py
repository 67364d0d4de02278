"""Search methods as compositions of named slots, never copies of the step loop.

A :class:`Method` fills the slots of the one step skeleton in
:mod:`workbench.search` (``Searcher._step``): the relaxation (alphas -> mixing
weights, :mod:`workbench.methods.relax`), the architecture-gradient estimator
(:mod:`workbench.methods.arch_grad`; ``None`` = alphas fixed), a perturbation of the
weight step (:mod:`workbench.methods.perturb`), the order of the two updates, the
epoch at which arch updates start, the lr schedule
(:mod:`workbench.methods.schedules`), an optional weight-decay override, the genotype
rule (:mod:`workbench.spaces.cell.select`), supernet options (PC-DARTS, GDAS) and, for
methods that are a loop *over* the loop (DARTS-ADA's rollbacks), a driver.
Presets are compositions of a base method with other slot values
(``sdarts_rs = darts_v1 + RandomSmoothing``), registered by name; their
keyword arguments are the options ``SearchConfig.method_options`` may set.

Presets (ALGORITHMS.md section in brackets). Where reference code and paper
disagree, we follow the reference code unless an option says otherwise.

* ``darts-v1`` / ``darts-v2`` (Liu et al., ICLR 2019; §1): first order /
  second order (finite-difference HVP, eps = r/||v||, r = 0.01), arch step first. At r = 0.01 the
  finite-difference estimate can be far from the exact hypergradient on small supernets
  (:func:`workbench.methods.arch_grad.hypergradient_error` measures it); ``hypergradient="exact"``
  differentiates through the unrolled step instead (small supernets only).
* ``pc-darts`` (Xu et al., ICLR 2020; `yuhuixu1993/PC-DARTS` §2): partial
  channels K = 4 with channel shuffle, edge normalisation (betas; the genotype
  uses softmax(alpha) * edge weights, see ``Searcher.softmax_weights``), arch
  updates from epoch 15 (``if epoch >= 15`` in train_search.py). The paper
  speaks of *random* channel sampling; the code takes the first C/K channels
  and shuffles (its "random" variant is a no-op): we follow the code.
* ``gdas`` (Dong & Yang, CVPR 2019; AutoDL §7.1): hard Gumbel-softmax,
  straight-through gradient, only the sampled op computed; tau 10 -> 0.1
  linear over the epochs (AutoDL's formula; ``tau_variant="naslib"`` gives
  NASLib's shifted one); **weight step first**, a fresh sample for each
  step; genotype: argmax incl. ``none`` on NB201, top-2 (op, edge) pairs on
  DARTS-style spaces. The paper's fixed reduction cell is not implemented.
* ``snas`` (Xie et al., ICLR 2019; §7.2): soft Gumbel sample, temperature
  (1 - e/150)(1 - 0.03) + 0.03 from scheduler epoch 1 (the reference hard-codes
  150 whatever the run length: ``anneal_epochs`` changes it, ``None`` = the
  run's length); single level: the alpha gradient comes from the *training*
  batch (:func:`single_level`), clipped to norm 10; alpha init std 0.01;
  genotype rule ``snas`` (``none`` may win). Deviations: the reference takes
  one joint step from one forward pass; here the arch step (on the training
  batch) precedes the weight step on the same batch with a fresh sample. On
  NB201-style spaces (every edge kept) the rule is the space's argmax incl. ``none``. The
  arch optimizer is the searcher's Adam (the reference's distributed
  configuration; its single-GPU one is SGD 3e-4). The resource penalty is not
  implemented. Set ``train_portion=1.0`` to let the weights see all the data
  as in the reference (then the reported "val" metrics are on training data).
* ``sdarts-rs`` / ``sdarts-adv`` (Chen & Hsieh, ICML 2020; §5): DARTS (first
  order by default) whose weight step sees softmax(alpha) perturbed by
  uniform noise / a 7-step PGD attack of radius eps 0.03 -> 0.3.
* ``sharpdarts`` (Hundt et al. 2019; §6): Cosine Power Annealing (p = 2,
  5 warm-up epochs) and Max-W weighting; use it with SharpSepConv ops
  (``sharp_sep_conv_3x3`` ... in :mod:`workbench.spaces.cell.ops`). Paper config: lr_min 1e-4.
* ``darts-l2`` (Zela et al., ICLR 2020; §4.4): DARTS-V2 with the weight decay
  multiplied by ``factor`` (RobustDARTS grid 3e-4 x 3^k; default 81 =
  args.py's max_weight_decay 2.43e-2).
* ``darts-ada`` (§4.4): DARTS-V2 driven by
  :func:`workbench.analysis.sharpness.run_with_early_stopping` in ``ada``
  mode (dominant alpha-Hessian eigenvalue every ``ev_freq`` epochs; on a
  trigger roll back and multiply the weight decay by ``mul_factor`` up to
  ``max_weight_decay``). The controller is attached to the searcher when it
  is built, so stepping by hand, the CLI, the dashboard and ``compare`` all
  honour it.
* ``blank`` (Wang et al., ICLR 2021, DARTS-PT ``--method blank``; §3.2): the
  alphas are never updated (no arch step), the supernet is trained with
  uniform-ish softmax(alpha); architecture selection is left to
  perturbation-based projection (:mod:`workbench.analysis.projection`).

``paper_defaults`` records the SearchConfig values each paper uses (batch
size, lrs, epochs, ...). They are *not* applied automatically (a teaching run
on digits needs other budgets); :func:`paper_config` applies them on request.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import torch

from workbench import validate as V
from workbench.errors import ConfigError, ConfigTypeError
from workbench.methods import arch_grad
from workbench.methods import preset_options as O
from workbench.methods.context import ArchGradResult, StepContext
from workbench.methods.perturb import AdversarialPGD, Epsilon, RandomSmoothing
from workbench.methods.relax import GumbelHard, GumbelSoft, MaxW, Relaxation, Softmax
from workbench.methods.schedules import CosinePowerAnnealing, GdasTau, SnasTau, cosine_lr
from workbench.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from workbench.search import SearchConfig, Searcher
    from workbench.spaces import SearchSpace
    from workbench.spaces.base import ChoiceSupernet

ArchParams = Callable[["ChoiceSupernet"], list[torch.nn.Parameter]]

log = logging.getLogger(__name__)
ORDERS = ("arch_first", "weight_first")


def adam(params: list[torch.nn.Parameter], config: SearchConfig) -> torch.optim.Optimizer:
    """DARTS's architecture optimizer: Adam(arch_lr, arch_betas, L2 weight decay arch_weight_decay)."""
    return torch.optim.Adam(params, lr=config.arch_lr, betas=config.arch_betas, weight_decay=config.arch_weight_decay)


def sgd(params: list[torch.nn.Parameter], config: SearchConfig) -> torch.optim.Optimizer:
    """DARTS's weight optimizer: momentum SGD (lr, momentum, weight decay of the config; the lr follows the
    method's schedule). The second-order estimator's virtual step assumes this optimizer."""
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                           foreach=True)


class Controller(Protocol):
    """A loop over the loop: consulted by the searcher after every step (may roll back, adapt, or stop it)."""

    def after_step(self, searcher: Searcher, event: Any) -> None: ...


@dataclass(frozen=True)
class Method:
    """The slots of one search step; see the module docstring."""

    name: str
    arch_gradient: Callable[[StepContext], ArchGradResult] | None = arch_grad.first_order  # None: fixed arch
    relaxation: Relaxation = field(default_factory=Softmax)
    perturbation: Any = None  # (ctx, weights, active) -> weights for the weight step (SDARTS); None = off
    order: str = "arch_first"  # or "weight_first" (GDAS)
    arch_start_epoch: int = 0  # PC-DARTS warm-up: weights only before this epoch
    lr_schedule: Callable[[int, int, float, float], float] = cosine_lr
    weight_decay: Callable[[int, int, float], float] | None = None  # (epoch, epochs, config wd) -> wd; None = leave
    genotype_rule: str | Mapping[str, str] | None = None  # None = the space's; a mapping: space rule -> rule
    #: the decoding rule built from the supernet once it exists (a budget decode needs its cost table); wins over
    #: genotype_rule; None = genotype_rule
    model_rule: Callable[[ChoiceSupernet], str] | None = None
    supernet_settings: Mapping[str, Any] = field(default_factory=dict)  # space settings, e.g. partial_channels=4
    arch_loss_terms: tuple[Any, ...] = ()  # (ctx) -> Tensor, added to the architecture loss (costs)
    weight_loss_terms: tuple[Any, ...] = ()  # (ctx, output, batch) -> Tensor, added to the weight loss
    #: False: the method has no weights to train (GTN's learners are new every step, Guidance's denoiser is
    #: frozen): the weight step only evaluates its batch for the curves (no backward, no optimizer step)
    trains_weights: bool = True
    arch_optimizer: Callable[[list[torch.nn.Parameter], SearchConfig], torch.optim.Optimizer] = adam
    weight_optimizer: Callable[[list[torch.nn.Parameter], SearchConfig], torch.optim.Optimizer] = sgd  # DNIS: Adam
    arch_parameters: ArchParams | None = None  # which tensors are the architecture; None = model.arch_parameters()
    driver: Callable[[Searcher], Controller] | None = None  # builds the controller (DARTS-ADA); None = plain loop
    paper_defaults: Mapping[str, Any] = field(default_factory=dict)  # SearchConfig fields as the paper sets them
    #: SearchConfig fields the command line uses where the user names none: the CPU-scale size the preset is tuned
    #: for (e.g. fbnet: 5 epochs); SearchConfig(...) in Python keeps its own defaults
    search_defaults: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # the preset's effective options
    spaces: tuple[str, ...] = ()  # the registered spaces it is built for (empty: any space its slots accept)

    def __post_init__(self) -> None:
        w: dict[str, Any] = {"where": "Method."}
        V.string(self.name, "name", **w)
        V.choice(self.order, "order", ORDERS, **w)
        object.__setattr__(self, "arch_start_epoch", V.integer(self.arch_start_epoch, "arch_start_epoch", low=0, **w))
        object.__setattr__(self, "trains_weights", V.boolean(self.trains_weights, "trains_weights", **w))
        for slot in ("arch_gradient", "perturbation", "weight_decay", "driver", "arch_parameters", "model_rule"):
            if getattr(self, slot) is not None and not callable(getattr(self, slot)):
                raise V.fail("Method.", slot, getattr(self, slot), "a callable or None", type_error=True)
        for slot in ("relaxation", "lr_schedule", "arch_optimizer", "weight_optimizer"):
            if not callable(getattr(self, slot)):
                raise V.fail("Method.", slot, getattr(self, slot), "a callable", type_error=True)
        for slot in ("arch_loss_terms", "weight_loss_terms"):
            for term in getattr(self, slot):
                if not callable(term) or not isinstance(getattr(term, "name", None), str):
                    raise TypeError(f"{slot} must hold callables with a 'name' attribute, got {term!r}")

    def with_options(self, **kw: Any) -> Method:
        """A copy with some slots replaced (``dataclasses.replace``)."""
        return replace(self, **kw)

    def rule_for(self, space: SearchSpace) -> str | None:
        """The decoding rule name to use on ``space`` (None = the space's own rule)."""
        if isinstance(self.genotype_rule, Mapping):
            return self.genotype_rule.get(space.default_rule)
        return self.genotype_rule

    def for_space(self, space: SearchSpace) -> Method:
        """This method with its decoding rule resolved for ``space`` (a plain name or None)."""
        return replace(self, genotype_rule=self.rule_for(space))

    def for_model(self, model: ChoiceSupernet) -> Method:
        """This method with ``model_rule`` resolved for the built supernet (the searcher calls it once)."""
        return self if self.model_rule is None else replace(self, genotype_rule=self.model_rule(model), model_rule=None)


def _load_families() -> bool:
    """Import every family module of presets (they register on import; :func:`workbench.methods.load_families`)."""
    from workbench.methods import load_families
    return load_families()


METHODS: Registry[Callable[..., Method]] = Registry("method", loader=_load_families)


@dataclass(frozen=True)
class ScaledWeightDecay:
    """Weight decay = ``factor`` x the config's (RobustDARTS L2 regularisation)."""

    factor: float

    def __call__(self, epoch: int, epochs: int, weight_decay: float) -> float:
        return self.factor * weight_decay


@dataclass(frozen=True)
class AdaDriver:
    """DARTS-ADA: run the search under RobustDARTS early stopping with weight-decay adaptation (§4.4)."""

    mul_factor: float = 10.0
    max_weight_decay: float = 0.03
    ev_freq: int = 2
    window: int = 5
    delta: int = 4
    factor: float = 1.3
    start: int = 10

    def __call__(self, searcher: Searcher) -> Controller:
        """The controller for ``searcher``: a sharpness tracker with RobustDARTS early stopping, in ``ada`` mode."""
        from workbench.analysis.sharpness import (
            EarlyStopController,
            EarlyStopping,
            SharpnessTracker,
        )
        es = EarlyStopping(window=self.window, delta=self.delta, factor=self.factor, ev_freq=self.ev_freq,
                           start=self.start, epochs=searcher.config.epochs)
        tracker = SharpnessTracker(searcher, every=self.ev_freq, unit="epoch", early_stopping=es)
        return EarlyStopController(tracker, mode="ada", mul_factor=self.mul_factor,
                                   max_weight_decay=self.max_weight_decay)


# ------------------------------------------------------------------------ presets
# Every option is checked by type and range by the preset's spec (workbench.methods.preset_options, torch-free):
# a rejected value raises ConfigError / ConfigTypeError naming the method, the option, the value and what is
# accepted. A preset function below gets the checked options; @preset gives it the check's signature (its
# options), sets the paper's values and registers it.
HYPERGRADIENTS = O.HYPERGRADIENTS


def preset(name: str) -> Callable[[Callable[[dict[str, Any]], Method]], Callable[..., Method]]:
    """Register the preset ``name`` built by ``build(options)`` from its spec (:data:`preset_options.PRESETS`):
    the returned factory takes the spec's options as keyword arguments, checks them, builds the Method and gives
    it the spec's ``paper_defaults`` and ``search_defaults``. The family modules build theirs with it too."""
    spec = O.PRESETS[name]

    def wrap(build: Callable[[dict[str, Any]], Method]) -> Callable[..., Method]:
        @functools.wraps(build)
        def factory(*args: Any, **kwargs: Any) -> Method:
            options = spec.check(*args, **kwargs)
            return replace(build(options), paper_defaults=spec.paper(options),
                           search_defaults=dict(spec.search_defaults))

        factory.__signature__ = inspect.signature(spec.check).replace(  # type: ignore[attr-defined]
            return_annotation=Method)
        factory.spec = spec  # type: ignore[attr-defined]
        return METHODS.register(name, factory)

    return wrap


@preset("darts-v1")
def darts_v1(o: dict[str, Any]) -> Method:
    return Method("darts-v1")


@preset("darts-v2")
def darts_v2(o: dict[str, Any]) -> Method:
    """Second-order DARTS. ``hypergradient``: ``"finite_difference"`` (DARTS: the Hessian-vector product by
    central differences with eps = r/||v||) or ``"exact"`` (autograd through the unrolled step: exact, but it
    keeps a double-backward graph of the whole supernet, so it is meant for small supernets)."""
    estimator = (partial(arch_grad.second_order, r=o["r"]) if o["hypergradient"] == "finite_difference"
                 else arch_grad.second_order_exact)
    return replace(darts_v1(), name="darts-v2", arch_gradient=estimator, options=o)


@preset("pc-darts")
def pc_darts(o: dict[str, Any]) -> Method:
    return replace(darts_v1(), name="pc-darts", arch_start_epoch=o["warmup_epochs"],
                   supernet_settings={"partial_channels": o["K"], "edge_normalization": o["edge_normalization"]},
                   options=o)


@preset("gdas")
def gdas(o: dict[str, Any]) -> Method:
    return replace(darts_v1(), name="gdas",
                   relaxation=GumbelHard(GdasTau(o["tau_max"], o["tau_min"], o["tau_variant"])),
                   order="weight_first", supernet_settings={"inactive_bias": True},
                   genotype_rule={"darts": "gdas_pairs"}, options=o)


@preset("snas")
def snas(o: dict[str, Any]) -> Method:
    return replace(darts_v1(), name="snas", relaxation=GumbelSoft(SnasTau(o["tau0"], o["tau_min"],
                                                                           o["anneal_epochs"])),
                   arch_gradient=partial(arch_grad.single_level, max_norm=o["arch_grad_clip"]),
                   genotype_rule={"darts": "snas"},
                   supernet_settings={"alpha_init_std": o["alpha_init_std"]}, options=o)


def _sdarts(name: str, perturbation: Any, options: dict[str, Any]) -> Method:
    base = darts_v2() if options["second_order"] else darts_v1()
    return replace(base, name=name, perturbation=perturbation, options=options)


@preset("sdarts-rs")
def sdarts_rs(o: dict[str, Any]) -> Method:
    return _sdarts("sdarts-rs", RandomSmoothing(Epsilon(o["epsilon"], o["eps_min"])), o)


@preset("sdarts-adv")
def sdarts_adv(o: dict[str, Any]) -> Method:
    return _sdarts("sdarts-adv", AdversarialPGD(Epsilon(o["epsilon"], o["eps_min"]), o["steps"]), o)


@preset("sharpdarts")
def sharpdarts(o: dict[str, Any]) -> Method:
    relax: dict[str, Callable[[], Relaxation]] = {"max_w": MaxW, "scalar": Softmax}  # preset_options.WEIGHTINGS
    return replace(darts_v1(), name="sharpdarts", relaxation=relax[o["weighting"]](),
                   lr_schedule=CosinePowerAnnealing(o["power"], o["warmup_epochs"]), options=o)


@preset("darts-l2")
def darts_l2(o: dict[str, Any]) -> Method:
    base = darts_v2() if o["second_order"] else darts_v1()
    return replace(base, name="darts-l2", weight_decay=ScaledWeightDecay(o["factor"]), options=o)


@preset("darts-ada")
def darts_ada(o: dict[str, Any]) -> Method:
    base = darts_v2() if o["second_order"] else darts_v1()
    return replace(base, name="darts-ada", options=o,
                   driver=AdaDriver(*(o[k] for k in ("mul_factor", "max_weight_decay", "ev_freq", "window", "delta",
                                                     "factor", "es_start_epoch"))))


@preset("blank")
def blank(o: dict[str, Any]) -> Method:
    return replace(darts_v1(), name="blank", arch_gradient=None)


def method_options(name: str) -> dict[str, Any]:
    """The options a registered method accepts, with their defaults."""
    return O.option_defaults(METHODS.get(name))


def register_method(name: str, factory: Callable[..., Method]) -> Callable[..., Method]:
    """Register a preset: ``factory(**options) -> Method``; its keyword arguments are the accepted options."""
    METHODS.register(name, factory)
    return factory


def get_method(name: str | Method, options: Mapping[str, Any] | None = None) -> Method:
    """A method by registered name; ``options`` are the preset's keyword arguments (unknown ones raise)."""
    if isinstance(name, Method):
        if options:
            raise ConfigError(f"options {sorted(options)} cannot be applied to a Method instance; pass its name")
        return name
    if not isinstance(name, str):
        raise ConfigTypeError(f"method={name!r} is not accepted: expected a registered method name "
                              f"({', '.join(METHODS.names())}) or a Method (got {type(name).__name__})")
    factory = METHODS.get(name)
    return factory(**O.accepted_options(name, method_options(name), options))


def method_names() -> list[str]:
    return METHODS.names()


def paper_config(config: SearchConfig, method: str | None = None) -> SearchConfig:
    """``config`` with the paper's SearchConfig values for ``method`` (default: ``config.method``); the command
    line's ``--paper-defaults``."""
    return _with_preset_values(config, method, "paper_defaults")


def cpu_scale_config(config: SearchConfig, method: str | None = None) -> SearchConfig:
    """``config`` at the preset's CPU-scale size for ``method`` (default: ``config.method``): its
    ``search_defaults``, what the command line uses where no flag names a value (fbnet: 5 epochs, arch lr 0.03,
    1436 training images). A preset without them leaves ``config`` as it is."""
    return _with_preset_values(config, method, "search_defaults")


def _with_preset_values(config: SearchConfig, method: str | None, slot: str) -> SearchConfig:
    if method is not None and method != config.method:
        config = config.replace(method=method, method_options={})
    m = get_method(config.method, config.method_options)
    known = {f.name for f in dataclasses.fields(type(config))}
    return config.replace(**{k: v for k, v in getattr(m, slot).items() if k in known})
