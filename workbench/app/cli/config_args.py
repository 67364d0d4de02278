"""``--config FILE``: a config file's settings become a command's defaults (defaults < file < flags).

:func:`workbench.app.config_file.read_config_file` reads the file; here each
key is matched to the command's flag of the same name (``arch_lr`` ->
``--arch-lr``; the SearchConfig names ``removed_ops`` and ``method_options``
-> ``--remove-op``, ``--method-option``), its value is checked as the flag
checks its text, and the result is set as the subcommand's default, so a flag
given on the command line still wins. List flags (``--remove-op``,
``--method-option``, ``--supernet``, ``--grid``) add the command line's items
to the file's (a later ``KEY=VALUE`` wins).
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from workbench.app.config_file import ConfigFileError, check_keys, read_config_file

#: SearchConfig field names accepted in a file for the flag (dest) that sets them
ALIASES = {"removed_ops": "remove_op", "method_options": "method_option"}
#: flags that are not settings
SKIP = ("help", "config", "print_config", "func")


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest not in SKIP}


def accepted_keys(parser: argparse.ArgumentParser) -> list[str]:
    """The keys a config file may hold for the command of ``parser``."""
    dests = _actions(parser)
    return sorted(set(dests) | {k for k, d in ALIASES.items() if d in dests})


def _items(value: Any, key: str, where: str, command: str) -> list[str]:
    """A table (or list) in the file -> the ``KEY=VALUE`` items of a repeatable flag."""
    if isinstance(value, Mapping):
        out = []
        for k, v in value.items():
            if command == "compare" and key == "method_options" and isinstance(v, Mapping):
                out += [f"{k}:{ik}={json.dumps(iv)}" for ik, iv in v.items()]  # [method_options.<method>]
            elif key == "grid" and isinstance(v, str):
                out.append(f"{k}={v}")  # "3e-4,1e-3"
            else:
                out.append(f"{k}={json.dumps(v)}")
        return out
    if key in ("method_options", "method_option", "supernet", "grid"):
        raise ConfigFileError(f"{where}: {key} must be a table of KEY = VALUE settings, got {value!r}")
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in values):
        raise ConfigFileError(f"{where}: {key} must be a list of names, got {value!r}")
    return list(values)


def _text(value: Any, key: str, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigFileError(f"{where}: {key} must be a number or a text, got {value!r}")
    return str(value)


def _typed(action: argparse.Action, value: Any, key: str, where: str) -> Any:
    """One value checked and converted as the flag converts its text."""
    text = _text(value, key, where)
    parse = action.type
    if not callable(parse):  # a text flag (argparse's type names are not used here)
        if not isinstance(value, str):
            raise ConfigFileError(f"{where}: {key} must be a text, got {value!r}")
        result: Any = value
    else:
        try:
            result = parse(text)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise ConfigFileError(f"{where}: {key}: {exc}") from None
    if action.choices is not None and result not in action.choices:
        raise ConfigFileError(f"{where}: {key}: {result!r} is not one of {', '.join(map(str, action.choices))}")
    return result


def convert(action: argparse.Action, key: str, value: Any, where: str, command: str) -> Any:
    """A file value -> the flag's default (what argparse would store for the same setting)."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ConfigFileError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):
        return _items(value, key, where, command)
    if action.nargs == "?":  # --ray [ADDRESS]: true = the flag alone
        if isinstance(value, bool):
            return action.const if value else None
        return _typed(action, value, key, where)
    if action.nargs in ("+", "*") or isinstance(action.nargs, int):
        values = value if isinstance(value, list) else [value]
        if isinstance(action.nargs, int) and len(values) != action.nargs:
            raise ConfigFileError(f"{where}: {key} takes {action.nargs} values, got {value!r}")
        return [_typed(action, v, key, where) if action.type is not None else _text(v, key, where) for v in values]
    if isinstance(value, list) and action.type is None:  # a comma-separated flag (--methods): a list in the file
        return ",".join(_text(v, key, where) for v in value)
    return _typed(action, value, key, where)


def apply_config_file(parser: argparse.ArgumentParser, path: str, command: str) -> None:
    """Set the settings of the config file ``path`` as the defaults of the subcommand ``parser``."""
    data = read_config_file(path)
    where = f"config file {path}"
    check_keys(data, accepted_keys(parser), where)
    actions = _actions(parser)
    defaults: dict[str, Any] = {}
    for key, value in data.items():
        dest = ALIASES.get(key, key)
        if dest in defaults:
            raise ConfigFileError(f"{where}: {key} and {dest} set the same thing; keep one")
        if value is None:  # JSON null: the default
            continue
        defaults[dest] = convert(actions[dest], key, value, where, command)
    parser.set_defaults(**defaults)
