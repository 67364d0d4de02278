"""Search spaces: what a search chooses, and the protocol every space implements.

:mod:`workbench.spaces.base` defines the protocol (:class:`SearchSpace`,
:class:`ChoiceGroup`, :class:`ChoiceSupernet`, the generic :class:`Choices`
architecture) and the registry; each family of spaces lives in its own
subpackage: :mod:`workbench.spaces.cell` (DARTS, NAS-Bench-201, RobustDARTS
S1-S5, sharpDARTS, a toy cell) and :mod:`workbench.spaces.chain` (a chain of
MBConv layers, the hardware-aware methods' space).
"""
from __future__ import annotations

from workbench.spaces.base import (
    SPACES,
    ArchitectureError,
    ChoiceGroup,
    Choices,
    ChoiceSupernet,
    SearchSpace,
    decode_argmax,
    get_space,
    register_space,
    space_names,
)
from workbench.spaces.cell import sparse_space  # noqa: F401  (registers nb201-sparse, darts-sparse: DASS)
from workbench.spaces.cell.space import DARTS_OPS, NB201_OPS, CellSpace, cell_genotype
from workbench.spaces.chain.space import CHAIN_BLOCKS, ChainConfig, ChainSpace
from workbench.spaces.graph import space as _graph_space  # noqa: F401  (registers graph_transformer: DARTS-GT)
from workbench.spaces.gtn_teacher import TeacherSpace as _TeacherSpace  # noqa: F401  (registers gtn: GTN)
from workbench.spaces.norm import space as _norm_space  # noqa: F401  (registers norm_placement: OSNet-AIN)
from workbench.spaces.volume import space as _volume_space  # noqa: F401  (registers mbconv3d: CovidNet3D)
from workbench.spaces import embedding as _embedding  # noqa: F401  (registers embedding_dims: DNIS)
from workbench.diffusion import space as _guidance_space  # noqa: F401,E402  (registers guidance: Adaptive Guidance)

__all__ = [
    "CHAIN_BLOCKS", "ChainConfig", "ChainSpace", "DARTS_OPS", "NB201_OPS", "SPACES", "ArchitectureError", "CellSpace", "ChoiceGroup", "ChoiceSupernet", "Choices",
    "SearchSpace", "cell_genotype", "decode_argmax", "get_space", "register_space", "space_names",
]
