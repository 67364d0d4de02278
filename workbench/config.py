"""The search configuration: everything that defines a search, validated field by field at construction.

:class:`SearchConfig` is frozen; every field is checked by type and range when it
is built (:mod:`workbench.validate`), with a :class:`~workbench.errors.ConfigError`
naming the field, the value and what is accepted. A registered method's options
and the space's removed options are checked too; ``supernet`` is resolved by the
space (its config object, a mapping of its fields, or None for its defaults).

Importing this module imports neither torch nor the registries (building a config does, to check it): a
command that only reads a run folder's ``config.json`` can name the fields without them. Nor does building a
config of a built-in space (its settings are resolved by :mod:`workbench.spaces.builtin_settings`), a built-in
method without options or with them (checked by the presets' torch-free specs, :mod:`workbench.methods.preset_options`),
the device ``cpu`` and no removed ops (``python -m workbench search --print-config``).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from workbench import validate as V
from workbench.errors import ConfigError, ConfigTypeError
from workbench.spaces.builtin_settings import builtin_supernet_config, has_builtin_settings

if TYPE_CHECKING:  # pragma: no cover
    from workbench.spaces import SearchSpace

log = logging.getLogger(__name__)

#: the built-in presets (``workbench.methods.method_names()`` once the methods are imported; registered names cannot
#: be registered again): their default options need no check, so a config naming one without options is built
#: without importing the presets (tests/test_startup.py checks the list against the registry)
BUILTIN_METHODS = frozenset((
    "darts-v1", "darts-v2", "pc-darts", "gdas", "snas", "sdarts-rs", "sdarts-adv", "sharpdarts", "darts-l2",
    "darts-ada", "blank", "covidnet3d", "darts-gt", "dass", "sd-darts", "dnis", "gtn", "guidance", "proxylessnas",
    "fbnet", "single-path", "osnet-ain", "rarts"))


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search. Defaults are DARTS's (`cnn/train_search.py`), scaled-down supernet.

    ``space``, ``method``, ``dataset`` and ``objective`` are registered names
    (objects passed to :class:`Searcher` directly are recorded by their own
    name and fingerprint in a run folder). ``supernet`` is the space's size
    settings: its config object (``SupernetConfig`` for cell spaces), a mapping
    of its fields, or None for the space's defaults. ``objective`` None means
    the dataset's default (cross-entropy for image classification).

    Every field is checked by type and range when the config is built (so are
    a registered space's supernet settings, ``removed_ops`` against its ops,
    and a registered method's options, by its preset): a rejected value raises
    :class:`~workbench.errors.ConfigError` (a ``ValueError``) or
    :class:`~workbench.errors.ConfigTypeError` (also a ``TypeError``) naming the
    field, the value and what is accepted. Accepted values are normalised (a
    numpy integer becomes an ``int``, a list a tuple).
    """

    space: str = "nb201"
    method: str = "darts-v1"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    data_root: str | None = None
    data_limit: int | None = None
    objective: str | None = None
    removed_ops: tuple[str, ...] = ()
    supernet: Any = None
    epochs: int = 50
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    train_portion: float = 0.5
    seed: int = 2
    device: str = "cpu"
    eval_each_epoch: bool = True
    cuda_graphs: bool = True  # on CUDA: capture each step as a CUDA graph and replay it (workbench.cuda_graphs)
    deterministic: bool = False  # on CUDA: deterministic kernels (process-wide switches; see Searcher)

    def __post_init__(self) -> None:
        for name, value in _validated_fields(self).items():
            object.__setattr__(self, name, value)
        # a built-in space's settings are resolved without importing it (workbench.spaces.builtin_settings)
        if has_builtin_settings(self.space) or self.space in _space_names():  # else: a space object's name
            object.__setattr__(self, "supernet", _resolve_supernet(self.space, self.supernet))
            if self.removed_ops:
                _check_removed_ops(self.space, self.removed_ops)
        if self.method in BUILTIN_METHODS and not self.method_options:
            return  # a built-in preset's defaults: always accepted (no need to import the presets, and torch)
        from workbench.methods.preset_options import PRESETS, check_preset_options

        if self.method in PRESETS:  # a built-in preset's options: checked by its torch-free spec
            check: Any = partial(check_preset_options, self.method)
        else:
            from workbench.methods import METHODS, get_method

            check = partial(get_method, self.method) if self.method in METHODS else None
        if check is not None:  # options of a registered preset: checked now, by the preset itself
            try:
                check(self.method_options)
            except ConfigError as exc:
                raise type(exc)(f"{_WHERE}method_options={V.show(self.method_options)} is not accepted for method "
                                f"{self.method!r}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        sn = self.supernet
        d["supernet"] = dataclasses.asdict(sn) if dataclasses.is_dataclass(sn) and not isinstance(sn, type) else (
            dict(sn) if isinstance(sn, Mapping) else sn)
        d["removed_ops"] = list(self.removed_ops)
        d["arch_betas"] = list(self.arch_betas)
        d["method_options"] = dict(self.method_options)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchConfig:
        """The inverse of :meth:`to_dict`; unknown fields and invalid values raise :class:`ConfigError`."""
        d = V.mapping(d, "SearchConfig.from_dict(d)")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown search config field(s) {sorted(unknown)}; accepted: {sorted(known)}")
        return cls(**d)

    def replace(self, **kw: Any) -> SearchConfig:
        if "space" in kw and "supernet" not in kw and kw["space"] != self.space:
            kw["supernet"] = None  # another space: its own default size
        return dataclasses.replace(self, **kw)


_WHERE = "SearchConfig."


def _validated_fields(c: SearchConfig) -> dict[str, Any]:
    """Every field but ``supernet``, checked by type and range and normalised (see :mod:`workbench.validate`)."""
    w: dict[str, Any] = {"where": _WHERE}
    out: dict[str, Any] = {
        "space": V.string(c.space, "space", **w),
        "method": V.string(c.method, "method", **w),
        "method_options": V.mapping(c.method_options, "method_options", **w),
        "dataset": V.string(c.dataset, "dataset", **w),
        "data_root": V.optional(V.path, c.data_root, "data_root", **w),
        "data_limit": V.optional(V.integer, c.data_limit, "data_limit", low=1, **w),
        "objective": V.optional(V.string, c.objective, "objective", **w),
        "removed_ops": V.strings(c.removed_ops, "removed_ops", **w),
        "epochs": V.integer(c.epochs, "epochs", low=1, **w),
        "batch_size": V.integer(c.batch_size, "batch_size", low=1, **w),
        "lr": V.real(c.lr, "lr", low=0, **w),
        "lr_min": V.real(c.lr_min, "lr_min", low=0, **w),
        "momentum": V.real(c.momentum, "momentum", low=0, high=1, high_open=True, **w),
        "weight_decay": V.real(c.weight_decay, "weight_decay", low=0, **w),
        "grad_clip": V.real(c.grad_clip, "grad_clip", low=0, **w),
        "arch_lr": V.real(c.arch_lr, "arch_lr", low=0, **w),
        "arch_weight_decay": V.real(c.arch_weight_decay, "arch_weight_decay", low=0, **w),
        "train_portion": V.real(c.train_portion, "train_portion", low=0, high=1, low_open=True, **w),
        "seed": V.seed(c.seed, "seed", **w),
        "device": _device(c.device),
        "eval_each_epoch": V.boolean(c.eval_each_epoch, "eval_each_epoch", **w),
        "cuda_graphs": V.boolean(c.cuda_graphs, "cuda_graphs", **w),
        "deterministic": V.boolean(c.deterministic, "deterministic", **w),
    }
    betas = c.arch_betas
    if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
        raise V.fail(_WHERE, "arch_betas", betas, "a pair (beta1, beta2) of numbers in [0, 1)",
                     type_error=not isinstance(betas, Sequence) or isinstance(betas, (str, bytes)))
    out["arch_betas"] = tuple(V.real(b, f"arch_betas[{i}]", low=0, high=1, high_open=True, **w)
                              for i, b in enumerate(betas))
    return out


def _device(value: Any) -> str:
    text = V.string(value, "device", where=_WHERE)
    if text == "cpu":
        return text  # what torch.device accepts, without importing torch
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise V.fail(_WHERE, "device", value, "a torch device such as 'cpu', 'cuda' or 'cuda:0'") from None
    if dev.type not in ("cpu", "cuda", "mps", "xpu"):
        raise V.fail(_WHERE, "device", value, "a 'cpu', 'cuda', 'mps' or 'xpu' device")
    return text


def _check_removed_ops(space_name: str, removed: tuple[str, ...]) -> None:
    """``removed`` must name options of the registered space and leave every row a real option ('none' is not)."""
    from workbench.spaces import get_space

    space = get_space(space_name)
    if not hasattr(space, "with_ops"):
        raise V.fail(_WHERE, "removed_ops", removed, f"() for space {space_name!r}, which has no options to remove")
    known = list(dict.fromkeys(o for g in space.choice_groups() for o in g.options))
    unknown = [op for op in removed if op not in known]
    if unknown:
        raise V.fail(_WHERE, "removed_ops", removed, f"options of space {space_name!r} ({', '.join(known)}); "
                     f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not among them")
    try:
        groups = space.with_ops(remove=removed).choice_groups()
    except (ValueError, KeyError, TypeError) as exc:
        groups, reason = (), str(exc)
    else:
        reason = ""
        for g in groups:
            real = [i for i, o in enumerate(g.options) if o != "none"]
            allowed = g.allowed_matrix()
            if empty := [g.rows[r] for r in range(len(g.rows)) if not allowed[r, real].any()]:
                reason = f"group {g.name!r} row(s) {empty} would have no option other than 'none'"
                break
    if reason:
        raise V.fail(_WHERE, "removed_ops", removed, f"options of space {space_name!r} whose removal leaves every "
                     f"row at least one option other than 'none' ({reason})")


def _resolve_supernet(space: str, value: Any) -> Any:
    """The registered space's supernet settings from ``value``; its errors become ConfigErrors naming the field."""
    try:
        if has_builtin_settings(space):
            return builtin_supernet_config(space, value)
        from workbench.spaces import get_space

        return get_space(space).supernet_config(value)
    except (TypeError, ValueError) as exc:
        cls = type(exc) if isinstance(exc, ConfigError) else ConfigTypeError if isinstance(exc, TypeError) \
            else ConfigError
        raise cls(f"{_WHERE}supernet={V.show(value)} is not accepted for space {space!r}: {exc}") from None


def _check_device_available(device: str) -> None:
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{_WHERE}device={device!r} is not available: torch sees no CUDA device here; use 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"{_WHERE}device={device!r} is not available: torch sees {torch.cuda.device_count()} "
                          f"CUDA device(s), cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"{_WHERE}device={device!r} is not available on this machine; use 'cpu'")


def _space_names() -> list[str]:
    from workbench.spaces import space_names
    return space_names()


def _space_provenance(config: SearchConfig, space: SearchSpace) -> str:
    """"registered" when ``config.space`` (minus ``removed_ops``) rebuilds exactly ``space``."""
    from workbench.spaces import get_space

    if config.space not in _space_names():
        return "object"
    registered = get_space(config.space)
    if config.removed_ops:
        registered = registered.with_ops(remove=config.removed_ops)  # type: ignore[attr-defined]
    return "registered" if registered.fingerprint() == space.fingerprint() else "object"


