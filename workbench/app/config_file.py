"""Config files: the settings of a command as a TOML or JSON document, read with the standard library.

A file holds one table of ``key = value`` settings, named as the command's
flags with underscores (``arch_lr``, ``data_root``) or as the
:class:`~workbench.search.SearchConfig` fields they set (``removed_ops``,
``method_options``, ``supernet``)::

    # sweep.toml: python -m workbench sweep --config sweep.toml --out sw
    space = "nb201"
    method = "darts-v1"
    epochs = 1
    data_limit = 200
    seeds = [0, 1]
    [grid]
    arch_lr = [3e-4, 1e-3]
    [method_options]      # compare: one table per method, [method_options.darts-ada]
    [supernet]
    C = 4

Precedence: the defaults < the file < the flags given on the command line. A
key the command does not know is an error naming it and listing the valid
ones. TOML is read by :mod:`tomllib` (Python 3.11), JSON by :mod:`json`; a
``null`` (JSON) leaves a setting at its default.
"""
from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: file suffix -> format
FORMATS = {".toml": "TOML", ".json": "JSON"}


class ConfigFileError(ValueError):
    """A config file that cannot be read or holds a key or value the command does not accept."""


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings of a ``.toml`` or ``.json`` file as a dict (its top level must be a table)."""
    p = Path(path)
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ConfigFileError(f"config file {p}: expected a .toml or .json file, got {p.suffix or 'no suffix'!r}")
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"config file {p} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"config file {p} cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text) if fmt == "TOML" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigFileError(f"config file {p} is not valid {fmt}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"config file {p}: expected a table of settings at the top level, got "
                              f"{type(data).__name__}")
    return data


def check_keys(data: Mapping[str, Any], accepted: Iterable[str], where: str) -> None:
    """Refuse keys not in ``accepted``, naming each (with the closest valid key) and listing the valid ones."""
    valid = sorted(set(accepted))
    unknown = [k for k in data if k not in valid]
    if not unknown:
        return
    hints = []
    for k in unknown:
        close = difflib.get_close_matches(str(k), valid, n=1)
        hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ConfigFileError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
                          f"valid keys: {', '.join(valid)}")
