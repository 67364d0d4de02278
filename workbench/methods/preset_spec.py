"""What a built-in preset is without torch (issue 17 item 3): its option check and its paper's settings.

A :class:`PresetSpec` is the torch-free half of a preset of :mod:`workbench.methods.presets` or of a family module
(:mod:`~workbench.methods.hardware`, :mod:`~workbench.methods.rarts`, ...): ``check`` takes the preset's options
(its keyword arguments, with their defaults) and returns them checked and normalised, raising the preset's own
errors; ``paper_defaults`` holds the SearchConfig values of its paper (a mapping, or a function of the checked
options where they depend on one, as DNIS's epochs do); ``search_defaults`` its CPU-scale size. The specs live in
torch-free modules (:mod:`~workbench.methods.preset_options`, :mod:`~workbench.methods.hardware_options`,
:mod:`~workbench.methods.family_options`) and the presets are built from them
(:func:`workbench.methods.presets.preset`), so neither the options nor the settings are written twice.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DARTS_PAPER", "PresetSpec", "where"]

#: SearchConfig values as DARTS sets them (``cnn/train_search.py``): its variants' and the presets built on it
DARTS_PAPER = {"epochs": 50, "batch_size": 64, "lr": 0.025, "lr_min": 0.001, "arch_lr": 3e-4, "weight_decay": 3e-4,
               "train_portion": 0.5}


@dataclass(frozen=True)
class PresetSpec:
    """What a preset is without its slots: its option check (keyword arguments -> the checked options), the
    SearchConfig values of its paper (``Method.paper_defaults``; a mapping or a function of the checked options)
    and its CPU-scale size (``Method.search_defaults``)."""

    check: Callable[..., dict[str, Any]]
    paper_defaults: Mapping[str, Any] | Callable[[Mapping[str, Any]], Mapping[str, Any]]
    search_defaults: Mapping[str, Any] = field(default_factory=dict)

    def paper(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The paper's SearchConfig values for the checked ``options``."""
        paper = self.paper_defaults
        return dict(paper(options) if callable(paper) else paper)


def where(method: str) -> dict[str, Any]:
    """The ``where`` keyword of :mod:`workbench.validate` naming an option of ``method``."""
    return {"where": f"method {method!r} option "}
