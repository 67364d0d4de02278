"""The ``embedding_dims`` space's supernet settings (:class:`EmbeddingConfig`), torch-free; re-exported by
:mod:`workbench.spaces.embedding.space` (see :mod:`workbench.spaces.settings`)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workbench.spaces.settings import space_settings

__all__ = ["MODEL_KINDS", "EmbeddingConfig", "embedding_supernet_config"]

#: the latent-factor models (defined here, torch-free; :mod:`workbench.spaces.embedding.model` uses them)
MODEL_KINDS = ("fm", "mlp")


@dataclass(frozen=True)
class EmbeddingConfig:
    """Supernet settings of an ``embedding_dims`` space (its rows and options are the space's)."""

    model: str = "fm"
    hidden: tuple[int, ...] = (64, 32)
    normalize: bool = False
    init_alpha: float = 1.0
    n_ids: int | None = None

    def __post_init__(self) -> None:
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model must be one of {MODEL_KINDS}, got {self.model!r}")
        hidden = self.hidden
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) or not all(
                isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hidden):
            raise ValueError(f"hidden must be a sequence of layer widths >= 1, got {hidden!r}")
        object.__setattr__(self, "hidden", tuple(hidden))
        if not isinstance(self.normalize, bool):
            raise ValueError(f"normalize must be True or False, got {self.normalize!r}")
        if isinstance(self.init_alpha, bool) or not isinstance(self.init_alpha, (int, float)) or not (
                0 < self.init_alpha <= 1):
            raise ValueError(f"init_alpha must be a number in (0, 1] (the mask starts there), got {self.init_alpha!r}")
        if self.n_ids is not None and (isinstance(self.n_ids, bool) or not isinstance(self.n_ids, int)
                                       or self.n_ids < 1):
            raise ValueError(f"n_ids must be None or an integer >= 1, got {self.n_ids!r}")


def embedding_supernet_config(space: str, value: Any = None, **overrides: Any) -> EmbeddingConfig:
    """The settings of the embedding-dimensions space ``space`` (:func:`~workbench.spaces.settings.space_settings`)."""
    return space_settings(EmbeddingConfig, value, overrides, f"space {space!r}")
