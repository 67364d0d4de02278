"""Type and range checks for configuration values, with messages that say what is accepted.

Frozen dataclasses (``SearchConfig``, ``SupernetConfig``, ``Method`` ...) call
these from ``__post_init__`` and store the normalised value they return (a
numpy integer becomes an ``int``, an int given for a float field a ``float``, a
list given for a tuple field a tuple). Each check raises
:class:`~workbench.errors.ConfigTypeError` for a value of the wrong type and
:class:`~workbench.errors.ConfigError` for one outside the accepted range; the
message reads ``<where><name>=<value> is not accepted: expected <what>``.

No third-party validation library is used: the engine depends on torch and
numpy only (``tests/test_layering.py``), and these few checks are all it needs.

>>> integer(3, "epochs", low=1, where="SearchConfig.")
3
>>> integer("3", "epochs", low=1, where="SearchConfig.")
Traceback (most recent call last):
...
workbench.errors.ConfigTypeError: SearchConfig.epochs='3' is not accepted: expected an int >= 1 (got str)
"""
from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from workbench.errors import ConfigError, ConfigTypeError

__all__ = ["SEED_MAX", "boolean", "choice", "fail", "integer", "mapping", "optional", "path", "real", "seed", "show",
           "string", "strings"]

T = TypeVar("T")

#: The largest accepted seed: derived seeds (``seed * 1000 + k``) must still fit torch's 64-bit generator seeds.
SEED_MAX = 2**53 - 1


def show(value: Any) -> str:
    """``repr(value)``, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail(where: str, name: str, value: Any, expected: str, *, type_error: bool = False) -> ConfigError:
    """The error for ``value`` of field ``name`` (prefixed by ``where``, e.g. ``"SearchConfig."``)."""
    got = f" (got {type(value).__name__})" if type_error else ""
    cls = ConfigTypeError if type_error else ConfigError
    return cls(f"{where}{name}={show(value)} is not accepted: expected {expected}{got}")


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _range_text(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def integer(value: Any, name: str, *, low: int | None = None, high: int | None = None, where: str = "") -> int:
    """An int (not a bool, not a float) in [low, high]."""
    expected = "an int" + _range_text(low, high)
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise fail(where, name, value, expected, type_error=True)
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise fail(where, name, value, expected)
    return v


def real(value: Any, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
         high_open: bool = False, where: str = "") -> float:
    """A finite real number (int or float, not a bool) in the given (half-)open or closed range."""
    expected = "a finite number" + _range_text(low, high, low_open, high_open)
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise fail(where, name, value, expected, type_error=True)
    try:
        v = float(value)
    except (OverflowError, ValueError):
        raise fail(where, name, value, expected) from None
    if not math.isfinite(v):
        raise fail(where, name, value, expected)
    if low is not None and (v <= low if low_open else v < low):
        raise fail(where, name, value, expected)
    if high is not None and (v >= high if high_open else v > high):
        raise fail(where, name, value, expected)
    return v


def boolean(value: Any, name: str, *, where: str = "") -> bool:
    """True or False (a numpy bool too); no truthy strings or numbers."""
    if not _is_bool(value):
        raise fail(where, name, value, "True or False", type_error=True)
    return bool(value)


def string(value: Any, name: str, *, where: str = "", empty: bool = False) -> str:
    """A str (non-empty unless ``empty``) without control characters."""
    if not isinstance(value, str):
        raise fail(where, name, value, "a string", type_error=True)
    if (not empty and not value.strip()) or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise fail(where, name, value, "a non-empty string without control characters")
    return value


def choice(value: Any, name: str, choices: Sequence[str], *, where: str = "") -> str:
    """One of ``choices`` (strings)."""
    expected = "one of " + ", ".join(map(repr, choices))
    if not isinstance(value, str):
        raise fail(where, name, value, expected, type_error=True)
    if value not in choices:
        raise fail(where, name, value, expected)
    return value


def strings(value: Any, name: str, *, where: str = "", distinct: bool = True) -> tuple[str, ...]:
    """A sequence of non-empty strings (a list or a tuple, not one str), as a tuple."""
    expected = "a list or tuple of non-empty strings" + (" without repeats" if distinct else "")
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise fail(where, name, value, expected, type_error=True)
    items = tuple(value)
    for v in items:
        if not isinstance(v, str):
            raise fail(where, name, value, expected, type_error=True)
        if not v.strip():
            raise fail(where, name, value, expected)
    if distinct and len(set(items)) != len(items):
        raise fail(where, name, value, expected)
    return items


def mapping(value: Any, name: str, *, where: str = "") -> dict[str, Any]:
    """A mapping with string keys, as a dict."""
    if not isinstance(value, Mapping):
        raise fail(where, name, value, "a mapping (dict) with string keys", type_error=True)
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise fail(where, name, value, f"a mapping with string keys (key {show(bad[0])} is not a string)",
                   type_error=True)
    return dict(value)


def path(value: Any, name: str, *, where: str = "") -> str:
    """A folder or file name (str or os.PathLike), as a str."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise fail(where, name, value, "a path (str or os.PathLike)", type_error=True)
    if not value.strip() or "\x00" in value:
        raise fail(where, name, value, "a non-empty path without NUL characters")
    return value


def seed(value: Any, name: str = "seed", *, where: str = "") -> int:
    """A seed: an int in [0, SEED_MAX]."""
    return integer(value, name, low=0, high=SEED_MAX, where=where)


def optional(check: Callable[..., T], value: Any, name: str, **kw: Any) -> T | None:
    """None, or ``check(value, name, **kw)``."""
    return None if value is None else check(value, name, **kw)
