"""A tiny name -> object registry whose errors list the valid names.

Used for ops, search spaces, methods and datasets, so that a typo such as
``sep_conv_3x3x`` fails with ``unknown op 'sep_conv_3x3x'; known: ...`` instead
of a bare ``KeyError``.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """An ordered mapping from names to objects with helpful lookup errors.

    ``loader`` (optional) imports the modules that register the built-in entries; it runs before the registry
    is first read (``names()``, iteration, ``len``, or a name not registered yet), so modules can register on
    import without anyone importing them all up front. It runs again at the next read while it returns
    ``False`` (not complete yet: called again while it runs, or a module it needs was still being imported);
    it must return at once when called during its own run."""

    def __init__(self, kind: str, loader: Callable[[], bool] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._loader = loader

    def _complete(self) -> None:
        """Run the loader until it reports the registry complete (it returns at once, False, when called again
        while it runs, so a read during its imports sees what is registered so far)."""
        if self._loader is not None and self._loader():
            self._loader = None

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator. Duplicates raise."""

        def add(o: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = o
            return o

        return add(obj) if obj is not None else add

    def get(self, name: str) -> T:
        if name not in self._items:
            self._complete()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        self._complete()
        close = difflib.get_close_matches(str(name), list(self._items), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; known: {', '.join(self._items)}"

    def names(self) -> list[str]:
        self._complete()
        return list(self._items)

    def sort(self, key: Callable[[str, T], Any]) -> None:
        """Reorder the entries by ``key(name, obj)``, keeping the registration order among equal keys."""
        self._items = dict(sorted(self._items.items(), key=lambda item: key(*item)))

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            self._complete()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        self._complete()
        return iter(self._items)

    def __len__(self) -> int:
        self._complete()
        return len(self._items)
