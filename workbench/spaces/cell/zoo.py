"""Published DARTS-space genotypes, stored as data (their DARTS text).

Sources (ALGORITHMS.md section 1.8):

- ``DARTS_V1`` / ``DARTS_V2``: DARTS (Liu et al., ICLR 2019), ``quark0/darts:cnn/genotypes.py``;
  V1 is the first-order search result, V2 (= ``DARTS``) the second-order one.
- ``NASNet``: NASNet-A (Zoph et al., CVPR 2018), as transcribed in ``quark0/darts:cnn/genotypes.py``.
- ``AmoebaNet``: AmoebaNet-A (Real et al., AAAI 2019), as transcribed in ``quark0/darts:cnn/genotypes.py``.
- ``PC_DARTS_cifar`` / ``PC_DARTS_image``: PC-DARTS (Xu et al., ICLR 2020),
  ``yuhuixu1993/PC-DARTS:genotypes.py`` (``PCDARTS = PC_DARTS_cifar``).
- ``GDAS_V1``: GDAS (Dong & Yang, CVPR 2019),
  ``D-X-Y/AutoDL-Projects:xautodl/nas_infer_model/DXYs/genotypes.py`` (per-node tuple form).

NASNet and AmoebaNet have 5 intermediate nodes and concatenate only some states.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from workbench.spaces.cell.genotype import Genotype, GenotypeError

__all__ = ["ALIASES", "PUBLISHED", "SOURCES", "published", "published_names"]

_DARTS_V1 = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"
)

_DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)

_NASNET = """Genotype(
  normal = [
    ('sep_conv_5x5', 1), ('sep_conv_3x3', 0),
    ('sep_conv_5x5', 0), ('sep_conv_3x3', 0),
    ('avg_pool_3x3', 1), ('skip_connect', 0),
    ('avg_pool_3x3', 0), ('avg_pool_3x3', 0),
    ('sep_conv_3x3', 1), ('skip_connect', 1),
  ],
  normal_concat = [2, 3, 4, 5, 6],
  reduce = [
    ('sep_conv_5x5', 1), ('sep_conv_7x7', 0),
    ('max_pool_3x3', 1), ('sep_conv_7x7', 0),
    ('avg_pool_3x3', 1), ('sep_conv_5x5', 0),
    ('skip_connect', 3), ('avg_pool_3x3', 2),
    ('sep_conv_3x3', 2), ('max_pool_3x3', 1),
  ],
  reduce_concat = [4, 5, 6],
)"""

_AMOEBANET = """Genotype(
  normal = [
    ('avg_pool_3x3', 0), ('max_pool_3x3', 1),
    ('sep_conv_3x3', 0), ('sep_conv_5x5', 2),
    ('sep_conv_3x3', 0), ('avg_pool_3x3', 3),
    ('sep_conv_3x3', 1), ('skip_connect', 1),
    ('skip_connect', 0), ('avg_pool_3x3', 1),
  ],
  normal_concat = [4, 5, 6],
  reduce = [
    ('avg_pool_3x3', 0), ('sep_conv_3x3', 1),
    ('max_pool_3x3', 0), ('sep_conv_7x7', 2),
    ('sep_conv_7x7', 0), ('avg_pool_3x3', 1),
    ('max_pool_3x3', 0), ('max_pool_3x3', 1),
    ('conv_7x1_1x7', 0), ('sep_conv_3x3', 5),
  ],
  reduce_concat = [3, 4, 6],
)"""

_PC_DARTS_CIFAR = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
    "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], normal_concat=range(2, 6), "
    "reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), "
    "('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))"
)

_PC_DARTS_IMAGE = (
    "Genotype(normal=[('skip_connect', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('skip_connect', 1), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('dil_conv_5x5', 4)], normal_concat=range(2, 6), "
    "reduce=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 2), ('max_pool_3x3', 1), "
    "('sep_conv_3x3', 2), ('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 3)], reduce_concat=range(2, 6))"
)

_GDAS_V1 = """Genotype(
  normal=[
    (('skip_connect', 0), ('skip_connect', 1)),
    (('skip_connect', 0), ('sep_conv_5x5', 2)),
    (('sep_conv_3x3', 3), ('skip_connect', 0)),
    (('sep_conv_5x5', 4), ('sep_conv_3x3', 3))],
  normal_concat=[2, 3, 4, 5],
  reduce=[
    (('sep_conv_5x5', 0), ('sep_conv_3x3', 1)),
    (('sep_conv_5x5', 2), ('sep_conv_5x5', 1)),
    (('dil_conv_5x5', 2), ('sep_conv_3x3', 1)),
    (('sep_conv_5x5', 0), ('sep_conv_5x5', 1))],
  reduce_concat=[2, 3, 4, 5],
  connectN=None, connects=None
)"""

#: Published genotypes as DARTS text, keyed by their name in the source repository.
PUBLISHED: Mapping[str, str] = MappingProxyType({
    "DARTS_V1": _DARTS_V1,
    "DARTS_V2": _DARTS_V2,
    "NASNet": _NASNET,
    "AmoebaNet": _AMOEBANET,
    "PC_DARTS_cifar": _PC_DARTS_CIFAR,
    "PC_DARTS_image": _PC_DARTS_IMAGE,
    "GDAS_V1": _GDAS_V1,
})

#: Where each entry comes from (repository:path).
SOURCES: Mapping[str, str] = MappingProxyType({
    "DARTS_V1": "quark0/darts:cnn/genotypes.py (first-order DARTS)",
    "DARTS_V2": "quark0/darts:cnn/genotypes.py (second-order DARTS, = DARTS)",
    "NASNet": "quark0/darts:cnn/genotypes.py (NASNet-A, Zoph et al. 2018)",
    "AmoebaNet": "quark0/darts:cnn/genotypes.py (AmoebaNet-A, Real et al. 2019)",
    "PC_DARTS_cifar": "yuhuixu1993/PC-DARTS:genotypes.py (PCDARTS, searched on CIFAR-10)",
    "PC_DARTS_image": "yuhuixu1993/PC-DARTS:genotypes.py (searched on ImageNet)",
    "GDAS_V1": "D-X-Y/AutoDL-Projects:xautodl/nas_infer_model/DXYs/genotypes.py (GDAS)",
})

#: Alternative names used by the source repositories.
ALIASES: Mapping[str, str] = MappingProxyType({"DARTS": "DARTS_V2", "PCDARTS": "PC_DARTS_cifar"})

_CACHE: dict[str, Genotype] = {}


def published_names() -> list[str]:
    """Names of the published genotypes, in storage order."""
    return list(PUBLISHED)


def published(name: str) -> Genotype:
    """The published genotype ``name`` (case-insensitive), e.g. ``published("darts_v2")``."""
    names = {k.lower(): k for k in PUBLISHED} | {a.lower(): k for a, k in ALIASES.items()}
    key = names.get(str(name).strip().lower())
    if key is None:
        raise GenotypeError(f"unknown published genotype {name!r}; valid names: {', '.join(PUBLISHED)} "
                            f"(aliases: {', '.join(f'{a}={k}' for a, k in ALIASES.items())})")
    if key not in _CACHE:
        _CACHE[key] = Genotype.from_darts_str(PUBLISHED[key])
    return _CACHE[key]
