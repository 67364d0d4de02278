"""Lazy package exports (PEP 562): a package's public names are imported from their modules on first use.

Packages whose modules need torch export them this way, so that ``import workbench`` and the commands that only
read and print (``genotype``, ``nb201``, ``latency show``, ``--help``) start without importing torch.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


class LazyExports:
    """The module-level ``__getattr__``/``__dir__`` of package ``package``: ``exports`` maps a name to its module.

    Made in the package's namespace (``globals()``), it installs its :meth:`get` and :meth:`dir` there as the
    module's ``__getattr__`` and ``__dir__`` (PEP 562 looks them up in the module's dict; any callable serves).
    Static checkers see the names through the package's ``if TYPE_CHECKING:`` imports."""

    def __init__(self, package: str, exports: Mapping[str, str], namespace: dict[str, Any]) -> None:
        self.package, self.exports, self.namespace = package, exports, namespace
        namespace["__getattr__"], namespace["__dir__"] = self.get, self.dir

    def get(self, name: str) -> Any:
        """Import ``name``'s module, cache the name in the package's namespace and return it."""
        module = self.exports.get(name)
        if module is None:
            raise AttributeError(f"module {self.package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        self.namespace[name] = value
        return value

    def dir(self) -> list[str]:
        return sorted(set(self.namespace) | set(self.exports))
