"""The engine's configuration errors.

Every value a user sets -- a :class:`~workbench.search.SearchConfig` or
:class:`~workbench.spaces.cell.supernet.SupernetConfig` field, a method option,
a data-loading argument -- is checked when the object is built (see
:mod:`workbench.validate`). A rejection raises :class:`ConfigError` (a
``ValueError``) for a value of the right type outside its accepted range, or
:class:`ConfigTypeError` (both a ``ConfigError`` and a ``TypeError``) for a value
of the wrong type; the message names the field, the value and what is accepted.
Other modules keep their own error types (``GenotypeError``, ``CheckpointError``,
``RunError``, ``UnknownNameError``), all subclasses of ``ValueError``.
"""
from __future__ import annotations

__all__ = ["ConfigError", "ConfigTypeError"]


class ConfigError(ValueError):
    """A configuration value is not accepted; the message names the field, the value and what is accepted."""


class ConfigTypeError(ConfigError, TypeError):
    """A configuration value has the wrong type (also a ``TypeError``)."""
