"""The search-space protocol without torch: a space's choices, its architectures, and the registry of spaces.

Every differentiable NAS method chooses among *options* for a set of *rows*
(DARTS: a cell's edges x candidate ops, per cell type; FBNet: a chain's layers
x blocks; OSNet-AIN: blocks x norm placements; DNIS: feature fields x
dimensions). A :class:`ChoiceGroup` names one such (rows x options) matrix.
A :class:`SearchSpace` provides, for a task (:class:`~workbench.tasks.TaskInfo`):

* ``choice_groups()`` -- its groups, with row and option labels and which
  options each row allows;
* ``supernet_config(value, **overrides)`` / ``build_supernet(task, config)`` --
  the weight-sharing network (a :class:`~workbench.spaces.base.ChoiceSupernet`) at a given size;
* ``decode(probs, masks, rule)`` -- relaxed probabilities -> an architecture,
  by one of ``rules`` (``default_rule`` when ``rule`` is None);
* ``compile(arch, task, **options)`` -- the architecture as a standalone
  trainable ``nn.Module``;
* ``parse(text)`` / ``label(arch)`` / ``to_dot(arch)`` -- text and graphviz
  forms (``to_dot`` returns DOT text; rendering it is the UI's job);
* ``fingerprint()`` -- a stable hash of everything that defines the space, so a
  run folder can check that a user-defined space passed again is the same.

:class:`Choices` is the generic architecture: one option name per row per
group, with JSON and text forms; spaces with richer architectures (the DARTS
cell genotype) return their own type with the same methods
(``to_json``/``__str__``).

This module imports no torch (a space's supernet and compiled network need it; the space builds them, importing
what it needs): a space defined here without torch at import can be named, checked and priced by the commands
that only read and print. :mod:`workbench.spaces.base` adds the torch part (:class:`ChoiceSupernet`) and
re-exports these names.
"""
from __future__ import annotations

import hashlib
import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.registry import Registry
from workbench.spaces.builtin_settings import TORCH_FREE_FAMILIES
from workbench.spaces.settings import no_supernet_settings

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from workbench.spaces.base import ChoiceSupernet
    from workbench.tasks.task import TaskInfo


class ArchitectureError(ValueError):
    """An architecture (text, JSON or object) that does not fit its space."""


@dataclass(frozen=True)
class ChoiceGroup:
    """One (rows x options) choice matrix: its name, labels and the options each row allows."""

    name: str
    rows: tuple[str, ...]
    options: tuple[str, ...]
    allowed: tuple[tuple[bool, ...], ...] | None = field(default=None, compare=True)  # None = all allowed

    def __post_init__(self) -> None:
        if not self.rows or not self.options:
            raise ValueError(f"choice group {self.name!r} needs at least one row and one option")
        if len(set(self.options)) != len(self.options):
            raise ValueError(f"choice group {self.name!r} lists an option twice: {self.options}")
        if self.allowed is not None:
            if len(self.allowed) != len(self.rows) or any(len(r) != len(self.options) for r in self.allowed):
                raise ValueError(f"choice group {self.name!r}: allowed must be {len(self.rows)} x "
                                 f"{len(self.options)}")
            empty = [self.rows[i] for i, r in enumerate(self.allowed) if not any(r)]
            if empty:
                raise ValueError(f"choice group {self.name!r}: rows {empty} allow no option")

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.options)

    def allowed_matrix(self) -> np.ndarray:
        if self.allowed is None:
            return np.ones(self.shape, dtype=bool)
        return np.array(self.allowed, dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rows": list(self.rows), "options": list(self.options),
                "allowed": None if self.allowed is None else [list(r) for r in self.allowed]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChoiceGroup:
        allowed = d.get("allowed")
        return cls(str(d["name"]), tuple(d["rows"]), tuple(d["options"]),
                   None if allowed is None else tuple(tuple(bool(v) for v in r) for r in allowed))


@dataclass(frozen=True)
class Choices:
    """A generic architecture: the chosen option of every row, per choice group."""

    space: str
    picks: Mapping[str, tuple[str, ...]]

    def __str__(self) -> str:
        return "; ".join(f"{g}: {', '.join(p)}" for g, p in self.picks.items())

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "picks": {g: list(p) for g, p in self.picks.items()}}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Choices:
        try:
            return cls(str(d["space"]), {str(g): tuple(str(o) for o in p) for g, p in dict(d["picks"]).items()})
        except (KeyError, TypeError, AttributeError) as exc:
            raise ArchitectureError(f"not a Choices architecture ({exc!r}); expected "
                                    "{'space': NAME, 'picks': {GROUP: [OPTION, ...]}}") from None


def decode_argmax(space_name: str, groups: Sequence[ChoiceGroup], probs: Mapping[str, np.ndarray],
                  masks: Mapping[str, np.ndarray] | None = None) -> Choices:
    """The most probable enabled option of every row (ties: the first), per group."""
    picks = {}
    for g in groups:
        p = np.asarray(probs[g.name], dtype=np.float64)
        m = g.allowed_matrix() if masks is None else np.asarray(masks[g.name], dtype=bool)
        p = np.where(m, p, -np.inf)
        picks[g.name] = tuple(g.options[int(np.argmax(row))] for row in p)
    return Choices(space_name, picks)


class SearchSpace(ABC):
    """The protocol every search space implements (see the module docstring)."""

    name: str
    rules: tuple[str, ...] = ("argmax",)
    default_rule: str = "argmax"
    #: the registered dataset a search of this space uses when none is named (the CLI's ``--dataset`` default)
    default_dataset: str = "digits"

    # -- choices -------------------------------------------------------------------------------
    @abstractmethod
    def choice_groups(self) -> tuple[ChoiceGroup, ...]:
        """The (rows x options) matrices this space chooses over."""

    def group(self, name: str) -> ChoiceGroup:
        for g in self.choice_groups():
            if g.name == name:
                return g
        raise ValueError(f"space {self.name!r} has no choice group {name!r}; its groups are "
                         f"{', '.join(g.name for g in self.choice_groups())}")

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.choice_groups())

    # -- supernet ------------------------------------------------------------------------------
    def supernet_config(self, value: Any = None, **overrides: Any) -> Any:
        """The space's supernet settings from ``value`` (its config object, a mapping or None) plus overrides."""
        return no_supernet_settings(self.name, value, **overrides)

    @abstractmethod
    def build_supernet(self, task: TaskInfo, config: Any = None) -> ChoiceSupernet:
        """The weight-sharing network for ``task`` at size ``config``."""

    # -- architectures -------------------------------------------------------------------------
    def decode(self, probs: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray] | None = None,
               rule: str | None = None) -> Any:
        """Relaxed probabilities (per group) -> an architecture, by ``rule`` (default: ``default_rule``)."""
        rule = self.default_rule if rule is None else rule
        if rule != "argmax":
            raise ValueError(f"space {self.name!r} has no decoding rule {rule!r}; accepted: {', '.join(self.rules)}")
        return decode_argmax(self.name, self.choice_groups(), probs, masks)

    def check(self, arch: Any) -> None:
        """Raise :class:`ArchitectureError` if ``arch`` does not fit this space."""
        if not isinstance(arch, Choices):
            raise ArchitectureError(f"space {self.name!r} expects a Choices architecture, got {type(arch).__name__}")
        groups = {g.name: g for g in self.choice_groups()}
        if set(arch.picks) != set(groups):
            raise ArchitectureError(f"architecture has groups {sorted(arch.picks)}; space {self.name!r} has "
                                    f"{sorted(groups)}")
        for name, picks in arch.picks.items():
            g = groups[name]
            if len(picks) != len(g.rows):
                raise ArchitectureError(f"group {name!r} needs {len(g.rows)} picks (one per row), got {len(picks)}")
            allowed = g.allowed_matrix()
            for i, op in enumerate(picks):
                if op not in g.options:
                    raise ArchitectureError(f"group {name!r} row {g.rows[i]!r}: unknown option {op!r}; accepted: "
                                            f"{', '.join(g.options)}")
                if not allowed[i, g.options.index(op)]:
                    ok = [o for o, a in zip(g.options, allowed[i], strict=True) if a]
                    raise ArchitectureError(f"group {name!r} row {g.rows[i]!r} does not allow {op!r}; allowed "
                                            f"there: {', '.join(ok)}")

    def parse(self, text: str) -> Any:
        """An architecture from its JSON text (``to_json`` of :class:`Choices`)."""
        try:
            arch = self.arch_from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ArchitectureError(f"not an architecture of space {self.name!r}: {exc}") from None
        self.check(arch)
        return arch

    def arch_from_dict(self, d: Mapping[str, Any]) -> Any:
        """The inverse of ``arch.to_dict()`` (run folders store architectures this way)."""
        if not isinstance(d, Mapping):
            raise ArchitectureError(f"an architecture of space {self.name!r} is a JSON object, got {type(d).__name__}")
        return Choices.from_dict(d)

    def label(self, arch: Any) -> str:
        """One line of text for ``arch``."""
        return str(arch)

    def to_dot(self, arch: Any, title: str | None = None) -> str:
        """A graphviz DOT drawing: one box per row, in order, labelled with its pick (groups side by side)."""
        self.check(arch)
        lines = ["digraph G {", '  rankdir=LR; node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
                 'fontname="Helvetica"];']
        if title:
            lines.append(f'  label="{_esc(title)}"; labelloc=t;')
        for g in self.choice_groups():
            prev = None
            for i, (row, op) in enumerate(zip(g.rows, arch.picks[g.name], strict=True)):
                node = f'"{_esc(g.name)}_{i}"'
                lines.append(f'  {node} [label="{_esc(row)}\\n{_esc(op)}"];')
                if prev is not None:
                    lines.append(f"  {prev} -> {node};")
                prev = node
        lines.append("}")
        return "\n".join(lines)

    @abstractmethod
    def compile(self, arch: Any, task: TaskInfo, **options: Any) -> nn.Module:
        """``arch`` as a standalone trainable network for ``task``."""

    # -- identity ------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """A stable hash of the space's name and choices (override to add what else defines it)."""
        payload = {"name": self.name, "type": type(self).__qualname__,
                   "groups": [g.to_dict() for g in self.choice_groups()]}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        return f"{self.name}: " + "; ".join(f"{g.name} {len(g.rows)} x {len(g.options)} ({', '.join(g.options)})"
                                            for g in self.choice_groups())


def _esc(s: str) -> str:
    return str(s).replace("\\", "\\\\").replace('"', '\\"')


def _load_families() -> bool:
    """Import every built-in family of spaces (they register on import; :func:`workbench.spaces.load_families`)."""
    from workbench.spaces import load_families
    return load_families()


SPACES: Registry[SearchSpace] = Registry("search space", loader=_load_families)


def get_space(name: str | SearchSpace) -> SearchSpace:
    """Look a space up by name (or pass a :class:`SearchSpace` through). A built-in space whose family imports no
    torch (:data:`~workbench.spaces.builtin_settings.TORCH_FREE_FAMILIES`: the cell spaces, ``chain``) is found
    by importing that family alone; any other name by the whole registry (every family, and torch)."""
    if isinstance(name, SearchSpace):
        return name
    family = TORCH_FREE_FAMILIES.get(name)
    if family is not None:
        importlib.import_module(family)  # registers the space (the registry refuses the name to anyone else)
    return SPACES.get(name)


def space_names() -> list[str]:
    return SPACES.names()


def register_space(space: SearchSpace, name: str | None = None) -> SearchSpace:
    """Register ``space`` under ``name`` (default: ``space.name``) so configs and run folders can name it."""
    SPACES.register(name or space.name, space)
    return space


def edited_options(options: tuple[str, ...], remove: Iterable[str], add: Iterable[str], where: str,
                   noun: str = "option") -> tuple[str, ...]:
    """``options`` without ``remove`` and with ``add`` appended (existing ones kept in place): the body of
    ``with_ops`` for spaces with one option list. Removing a name that is not there raises ValueError naming
    ``where`` and listing the options."""
    remove, add = list(remove), list(add)
    for o in remove:
        if o not in options:
            raise ValueError(f"cannot remove {o!r}: not a {noun} of {where}; its {noun}s are {', '.join(options)}")
    return tuple(o for o in options if o not in remove) + tuple(o for o in add if o not in options)
