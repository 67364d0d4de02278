"""Latency lookup tables from files, and the cost models of a chain space built from them.

**Formats** (:func:`load_table` reads all three; a shipped table is named, any other is a path):

* ProxylessNAS YAML (Cai et al., ICLR 2019; ``mit-han-lab/proxylessnas``'s
  ``LatencyEstimator``): two levels, ``KEY:`` then indented ``field: number``
  lines, keys like
  ``expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:5-stride:2-idskip:0``
  (``expand`` is the expansion *ratio*) plus ``Conv``, ``Conv_1``, ``Logits``;
  the latency is the field ``mean`` (ms).
* Once-for-All YAML (Cai et al., ICLR 2020): the same layout, keys with an
  *absolute* ``expand`` channel count (ratio x input channels) and ``-se:{0,1}-hs:{0,1}``
  flags (squeeze-excite, hard-swish).
* The workbench's own JSON (``workbench-latency-table/1``), a table measured on
  this machine for one chain space by
  :func:`workbench.spaces.chain.costs.measure_latency`.

The YAML files are read by a small strict reader (no pyyaml needed): blank
lines and ``#`` comments are skipped, every other line is a top-level
``KEY:`` or an indented ``field: number`` under one, and anything else is an
error naming the file and the line.

**Shipped tables** (package data in ``workbench/data/latency/``, with
``ATTRIBUTION.md``): ``proxylessnas_pixel1`` (ProxylessNAS, Google Pixel 1,
``proxylessnas_mobile_trim.yaml``) and ``ofa_note10`` (Once-for-All, Samsung
Note10 at 224x224, ``ofa_note10_224_lookup_table.yaml``).

**Virtual resolution** (SEEDS_2.md §4.4). The chain is searched on tiny images
(8x8 digits), whose shapes are in no phone's table. Each chain layer is
therefore priced as the layer *in the same stage and with the same role* of the
table's ImageNet macro-architecture, with the same candidate (kernel,
expansion): "search on small data, pay real mobile cost". Chain stage ``s``
(0-based; stage ``s`` is the ``s``-th entry of ``space.widths``) is the
table's ``s``-th searchable stage; a chain layer that keeps its shape (stride
1, C_in = C_out: it has the identity shortcut and may ``skip``) is that stage's
shape-keeping layer (``idskip:1``); a layer that changes shape is the stage's
first layer (its transition), and the two strides must agree. ``skip`` costs 0
(ProxylessNAS's "Zero": the block is not run). The mapping goes by stage
and role, not by the maps the chain's layers see, so it is the same whatever
the chain's stem stride (8x8 digits and 28x28 Fashion-MNIST alike; a table
*measured* here is keyed by those maps instead, see :func:`cost_model`). For the default ``chain``
space and the ProxylessNAS table (macro-architecture of ``super_proxyless.py``:
first conv 224 -> 112x112x32, a fixed MBConv1 32 -> 16, then stages of width
24, 40, 80, 96, 192, 320 with strides 2, 2, 2, 1, 2, 1) the mapping is:

========================  ==============================================  ==========
chain layer               ProxylessNAS (Pixel 1) layer                    role
========================  ==============================================  ==========
L0 16→16 s1 (stage 0)     56x56x24 → 56x56x24, stride 1, idskip:1         keeps shape
L1 16→16 s1 (stage 0)     56x56x24 → 56x56x24, stride 1, idskip:1         keeps shape
L2 16→24 s2 (stage 1)     56x56x24 → 28x28x40, stride 2, idskip:0         transition
L3 24→24 s1 (stage 1)     28x28x40 → 28x28x40, stride 1, idskip:1         keeps shape
L4 24→32 s2 (stage 2)     28x28x40 → 14x14x80, stride 2, idskip:0         transition
L5 32→32 s1 (stage 2)     14x14x80 → 14x14x80, stride 1, idskip:1         keeps shape
========================  ==============================================  ==========

(:data:`PROXYLESS_MACRO` and :data:`OFA_MACRO` hold the full macro-architectures;
:func:`virtual_layers` computes the mapping of any chain space, and a caller
may pass an explicit ``mapping``, one :class:`LutLayer` per chain layer.)

**Expansion-1 blocks** (``k3_e1``, ``k5_e1``): the ProxylessNAS table has
expansion-1 MBConv entries only for its *fixed* first block
(112x112x32 → 112x112x16); no searchable shape has them. Inventing a price
(scaling e3's, or borrowing the first block's) would teach a number nobody
measured, so :func:`virtual_resolution` **refuses** such a space with an error
that names every missing (layer, block) key and the table, and says what is
supported: the space without e1 blocks, ``space.with_ops(remove=["k3_e1",
"k5_e1"])`` (:func:`without_e1`). The same holds for any candidate or shape
the table lacks (OFA: expansion ratios 3, 4, 6 only).

The cost model covers the searchable layers only: the table's fixed layers
(first conv, first block, final 1x1 conv, classifier) are a constant that no
architecture changes, so a budget is a budget on the searchable layers'
latency. Cost models are :class:`~workbench.spaces.chain.costs.MaskedCostModel`
(they know where ``skip`` is illegal), so
:class:`~workbench.methods.costs.ArchCostTerm` refuses a budget below the
cheapest legal architecture and says what that minimum is.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover  (reading and showing a table needs no torch: these are imported where used)
    from workbench.methods.costs import CostModel
    from workbench.spaces.chain.space import ChainSpace

__all__ = ["OFA_MACRO", "PROXYLESS_MACRO", "SHIPPED", "LatencyTable", "LatencyTableError", "LutLayer", "Macro",
           "cost_model", "load_table", "read_lut_yaml", "table_names", "virtual_layers", "virtual_resolution",
           "without_e1"]


class LatencyTableError(ValueError):
    """A latency table that cannot be read, or that lacks what a space needs (the message names both)."""


# ---------------------------------------------------------------------------------------------- shipped tables
@dataclass(frozen=True)
class Shipped:
    file: str
    device: str
    description: str


SHIPPED: Mapping[str, Shipped] = MappingProxyType({
    "proxylessnas_pixel1": Shipped("proxylessnas_mobile_trim.yaml", "Google Pixel 1",
                                   "ProxylessNAS mobile lookup table (Cai et al., ICLR 2019)"),
    "ofa_note10": Shipped("ofa_note10_224_lookup_table.yaml", "Samsung Note10",
                          "Once-for-All lookup table at 224x224 (Cai et al., ICLR 2020)"),
})
DATA_PACKAGE = "workbench"
DATA_DIR = ("data", "latency")


def table_names() -> list[str]:
    """Names of the tables shipped with the workbench (``load_table(name)``)."""
    return list(SHIPPED)


def shipped_path(name: str) -> Path:
    """The path of a shipped table's file (package data)."""
    if name not in SHIPPED:
        raise LatencyTableError(f"no shipped latency table {name!r}; shipped: {', '.join(SHIPPED)}")
    res = resources.files(DATA_PACKAGE).joinpath(*DATA_DIR, SHIPPED[name].file)
    return Path(str(res))


# ---------------------------------------------------------------------------------------------- YAML reader
_KEY_LINE = re.compile(r"(?P<key>\S(?:.*\S)?)\s*:\s*\Z")
_FIELD_LINE = re.compile(r"(?P<indent>[ ]+)(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?P<value>\S.*?)\s*\Z")


def read_lut_yaml(text: str, source: str = "<string>") -> dict[str, dict[str, float]]:
    """Parse a two-level lookup-table YAML (``KEY:`` / ``  field: number``) into {key: {field: value}}.

    Strict: every non-blank, non-comment line must be one of the two forms, a
    key may appear once, a field once per key, values are finite numbers, and
    every key has at least one field. Errors read ``SOURCE:LINE: what``.
    """
    out: dict[str, dict[str, float]] = {}
    first_line: dict[str, int] = {}
    key: str | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or (n == 1 and stripped == "---"):
            continue
        where = f"{source}:{n}"
        if "\t" in line[: len(line) - len(line.lstrip())]:
            raise LatencyTableError(f"{where}: indentation uses a tab; indent fields with spaces")
        if not line[0].isspace():
            m = _KEY_LINE.match(line)
            if m is None:
                raise LatencyTableError(f"{where}: expected a table key ending in ':' (e.g. "
                                        f"'expanded_conv-input:56x56x24-...:'), got {stripped!r}")
            if key is not None and not out[key]:
                raise LatencyTableError(f"{source}:{first_line[key]}: key {key!r} has no fields (expected indented "
                                        "'mean: NUMBER' lines under it)")
            key = _unquote(m.group("key"))
            if key in out:
                raise LatencyTableError(f"{where}: key {key!r} appears twice (first on line {first_line[key]})")
            out[key], first_line[key] = {}, n
            continue
        m = _FIELD_LINE.match(line)
        if m is None:
            raise LatencyTableError(f"{where}: expected an indented 'field: number' line, got {stripped!r}")
        if key is None:
            raise LatencyTableError(f"{where}: field {stripped!r} comes before any table key")
        name, value = m.group("name"), m.group("value")
        try:
            number = float(value)
        except ValueError:
            raise LatencyTableError(f"{where}: field {name!r} of {key!r} is {value!r}, not a number") from None
        if not math.isfinite(number):
            raise LatencyTableError(f"{where}: field {name!r} of {key!r} is {value!r}; values must be finite")
        if name in out[key]:
            raise LatencyTableError(f"{where}: field {name!r} appears twice under {key!r}")
        out[key][name] = number
    if key is not None and not out[key]:
        raise LatencyTableError(f"{source}:{first_line[key]}: key {key!r} has no fields (expected indented "
                                "'mean: NUMBER' lines under it)")
    if not out:
        raise LatencyTableError(f"{source}: no table entries (expected 'KEY:' lines, each followed by indented "
                                "'mean: NUMBER' lines)")
    return out


def _unquote(key: str) -> str:
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "'\"":
        return key[1:-1]
    return key


def parse_key(key: str) -> tuple[str, dict[str, str]]:
    """``"expanded_conv-input:56x56x24-...-idskip:1"`` -> ("expanded_conv", {"input": "56x56x24", ...})."""
    op, *parts = key.split("-")
    fields = {}
    for part in parts:
        name, sep, value = part.partition(":")
        if not sep:
            raise LatencyTableError(f"table key {key!r}: part {part!r} is not 'name:value'")
        fields[name] = value
    return op, fields


# ---------------------------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class LatencyTable:
    """A latency table read from a file: YAML entries (``kind`` ``proxylessnas`` or ``ofa``) or a workbench JSON
    document (``kind`` ``workbench``). ``name`` is the shipped name or the file name."""

    name: str
    source: str
    kind: str
    entries: Mapping[str, Mapping[str, float]] = field(default_factory=dict, repr=False)
    document: Mapping[str, Any] | None = field(default=None, repr=False)
    device: str | None = None
    unit: str = "ms"

    def __len__(self) -> int:
        if self.kind == "workbench":
            return int(np.size(self.document.get("table", []))) if self.document else 0
        return len(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def keys(self) -> Iterator[str]:
        return iter(self.entries)

    def mean(self, key: str) -> float:
        """The ``mean`` latency (ms) of a YAML entry; a missing key names the table."""
        entry = self.entries.get(key)
        if entry is None:
            raise LatencyTableError(f"latency table {self.label} has no entry {key!r}")
        if "mean" not in entry:
            raise LatencyTableError(f"latency table {self.label}: entry {key!r} has no 'mean' field (it has "
                                    f"{', '.join(entry)})")
        return float(entry["mean"])

    @property
    def label(self) -> str:
        return f"{self.name!r} ({self.source})"

    def layers(self) -> list[tuple[str, dict[str, str], float]]:
        """Every YAML entry as (op, key fields, mean ms), in file order."""
        return [(*parse_key(k), float(v.get("mean", math.nan))) for k, v in self.entries.items()]


def load_table(name_or_path: str | Path) -> LatencyTable:
    """A shipped table by name (:func:`table_names`) or any table file: ``.yaml``/``.yml`` or workbench ``.json``."""
    name = str(name_or_path)
    if name in SHIPPED:
        path, shipped = shipped_path(name), SHIPPED[name]
    else:
        path, shipped = Path(name_or_path).expanduser(), None
        if not path.is_file():
            raise FileNotFoundError(f"latency table {name!r} is neither a shipped table ({', '.join(SHIPPED)}) nor "
                                    f"a file (resolved to {path.resolve()})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LatencyTableError(f"cannot read latency table {path}: {exc}") from None
    label = name if shipped else path.name
    if path.suffix.lower() == ".json" or (path.suffix.lower() not in (".yaml", ".yml") and text.lstrip()[:1] == "{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LatencyTableError(f"cannot read latency table {path}: {exc}") from None
        from workbench.spaces.chain.cost_model import LATENCY_FORMAT
        if not isinstance(doc, dict) or doc.get("format") != LATENCY_FORMAT:
            raise LatencyTableError(f"{path} is not a workbench latency table (format {LATENCY_FORMAT!r}); make one "
                                    "with `python -m workbench latency measure` or "
                                    "workbench.spaces.chain.costs.measure_latency")
        return LatencyTable(label, str(path), "workbench", document=MappingProxyType(doc),
                            device=_host_text(doc.get("host")), unit=str(doc.get("unit", "ms")))
    entries = read_lut_yaml(text, str(path))
    kind = "ofa" if any("se" in parse_key(k)[1] for k in entries) else "proxylessnas"
    return LatencyTable(label, str(path), kind, MappingProxyType(entries),
                        device=shipped.device if shipped else None)


def _host_text(host: Any) -> str | None:
    if not isinstance(host, Mapping):
        return None
    return ", ".join(str(host[k]) for k in ("processor", "machine", "system") if host.get(k)) or None


# ---------------------------------------------------------------------------------------------- macro-architectures
@dataclass(frozen=True)
class LutLayer:
    """One MBConv layer shape of a table's macro-architecture: everything in its key but kernel and expansion."""

    input: tuple[int, int, int]  # H, W, C
    output: tuple[int, int, int]
    stride: int
    idskip: int
    se: int | None = None  # Once-for-All only
    hs: int | None = None

    def key(self, kernel: int, expand: int) -> str:
        k = (f"expanded_conv-input:{_hwc(self.input)}-output:{_hwc(self.output)}-expand:{expand}-kernel:{kernel}-"
             f"stride:{self.stride}-idskip:{self.idskip}")
        return k if self.se is None else f"{k}-se:{self.se}-hs:{self.hs}"

    def __str__(self) -> str:
        extra = "" if self.se is None else f", se:{self.se} hs:{self.hs}"
        return f"{_hwc(self.input)} → {_hwc(self.output)}, stride {self.stride}, idskip:{self.idskip}{extra}"


def _hwc(t: tuple[int, int, int]) -> str:
    return "x".join(str(v) for v in t)


@dataclass(frozen=True)
class Macro:
    """A table's macro-architecture: per searchable stage, (first layer, shape-keeping layer or None).

    ``expand`` says how a key writes the expansion: ``"ratio"`` (ProxylessNAS:
    ``expand:3``) or ``"channels"`` (Once-for-All: ``expand:`` ratio x input channels).
    """

    name: str
    expand: str
    stages: tuple[tuple[LutLayer, LutLayer | None], ...]

    def expand_field(self, ratio: int, layer: LutLayer) -> int:
        return ratio if self.expand == "ratio" else ratio * layer.input[2]


def _stage(h_in: int, c_in: int, h_out: int, c_out: int, stride: int, repeat: bool = True, **flags: int
           ) -> tuple[LutLayer, LutLayer | None]:
    first = LutLayer((h_in, h_in, c_in), (h_out, h_out, c_out), stride, int(stride == 1 and c_in == c_out), **flags)
    keep = LutLayer((h_out, h_out, c_out), (h_out, h_out, c_out), 1, 1, **flags) if repeat else None
    return first, keep


#: ProxylessNAS mobile (``search/models/super_nets/super_proxyless.py``): after the first conv (224 -> 112x112x32)
#: and the fixed MBConv1 (32 -> 16), stages of width 24, 40, 80, 96, 192, 320, strides 2, 2, 2, 1, 2, 1; the last
#: stage has a single layer.
PROXYLESS_MACRO = Macro("ProxylessNAS mobile", "ratio", (
    _stage(112, 16, 56, 24, 2),
    _stage(56, 24, 28, 40, 2),
    _stage(28, 40, 14, 80, 2),
    _stage(14, 80, 14, 96, 1),
    _stage(14, 96, 7, 192, 2),
    _stage(7, 192, 7, 320, 1, repeat=False),
))

#: Once-for-All MobileNetV3 (``ofa_mbv3``): after the first conv (224 -> 112x112x24) and the fixed first block
#: (24 -> 24, expand 24), stages of width 32, 48, 96, 136, 192, strides 2, 2, 2, 1, 2, with squeeze-excite and
#: hard-swish flags per stage as in the Note10 table.
OFA_MACRO = Macro("Once-for-All MobileNetV3", "channels", (
    _stage(112, 24, 56, 32, 2, se=0, hs=0),
    _stage(56, 32, 28, 48, 2, se=1, hs=0),
    _stage(28, 48, 14, 96, 2, se=0, hs=1),
    _stage(14, 96, 14, 136, 1, se=1, hs=1),
    _stage(14, 136, 7, 192, 2, se=1, hs=1),
))

MACROS: Mapping[str, Macro] = MappingProxyType({"proxylessnas": PROXYLESS_MACRO, "ofa": OFA_MACRO})


def virtual_layers(space: ChainSpace, macro: Macro = PROXYLESS_MACRO) -> tuple[LutLayer, ...]:
    """The table layer each chain layer is priced as (see the module docstring), one per chain layer."""
    g, = space.choice_groups()
    out = []
    for i, p in enumerate(space.plan()):
        stage = i // space.layers_per_stage
        row = g.rows[i]
        if stage >= len(macro.stages):
            raise LatencyTableError(f"chain layer {row!r} is in stage {stage}, but the {macro.name} macro-architecture "
                                    f"has {len(macro.stages)} searchable stages; pass an explicit mapping")
        first, keep = macro.stages[stage]
        if p.shortcut:
            if keep is None:
                raise LatencyTableError(f"chain layer {row!r} keeps its shape, but stage {stage} of the {macro.name} "
                                        f"macro-architecture has only its first layer ({first}); pass an explicit "
                                        "mapping")
            out.append(keep)
        else:
            if p.stride != first.stride:
                raise LatencyTableError(f"chain layer {row!r} changes shape with stride {p.stride}, but stage {stage} "
                                        f"of the {macro.name} macro-architecture starts with stride {first.stride} "
                                        f"({first}); pass an explicit mapping")
            out.append(first)
    return tuple(out)


def without_e1(space: ChainSpace) -> ChainSpace:
    """``space`` without its expansion-1 blocks: the configuration the ProxylessNAS table supports."""
    from workbench.spaces.chain.block_names import parse_block
    e1 = [b for b in space.blocks if b != "skip" and parse_block(b)[1] == 1]
    return space.with_ops(remove=e1) if e1 else space


def virtual_resolution(table: LatencyTable | str | Path, space: ChainSpace,
                       mapping: Sequence[LutLayer] | None = None, macro: Macro | None = None) -> CostModel:
    """The cost model of ``space`` priced by a phone table through its macro-architecture (module docstring).

    ``mapping`` (one :class:`LutLayer` per chain layer) overrides :func:`virtual_layers`;
    ``macro`` overrides the table kind's macro-architecture. Refuses, naming every
    missing key and the table, when the table lacks a (layer, block) the space can choose.
    """
    from workbench.spaces.chain.block_names import parse_block
    from workbench.spaces.chain.cost_model import space_cost_model

    table = table if isinstance(table, LatencyTable) else load_table(table)
    if table.kind not in MACROS:
        raise LatencyTableError(f"latency table {table.label} is a {table.kind} table, not a phone lookup table; "
                                "use cost_model(table, space) for it")
    macro = macro or MACROS[table.kind]
    g, = space.choice_groups()
    layers = tuple(mapping) if mapping is not None else virtual_layers(space, macro)
    if len(layers) != len(g.rows):
        raise LatencyTableError(f"the mapping has {len(layers)} layers; space {space.name!r} has {len(g.rows)}")
    allowed = g.allowed_matrix()
    costs = np.zeros(g.shape)
    missing: list[tuple[str, str, str]] = []
    for i, layer in enumerate(layers):
        for o, block in enumerate(g.options):
            if block == "skip" or not allowed[i, o]:
                continue
            k, e = parse_block(block)
            key = layer.key(k, macro.expand_field(e, layer))
            if key in table:
                costs[i, o] = table.mean(key)
            else:
                missing.append((g.rows[i], block, key))
    if missing:
        raise LatencyTableError(_missing_message(table, space, missing, macro))
    name = f"latency ({table.name}, virtual resolution)"
    return space_cost_model(space, costs, table.unit, name)


def _missing_message(table: LatencyTable, space: ChainSpace, missing: list[tuple[str, str, str]], macro: Macro
                     ) -> str:
    from workbench.spaces.chain.block_names import parse_block

    shown = "; ".join(f"{row} / {block} -> {key}" for row, block, key in missing[:4])
    more = f" (and {len(missing) - 4} more)" if len(missing) > 4 else ""
    msg = (f"latency table {table.label} has no entry for {len(missing)} (layer, block) pair(s) of space "
           f"{space.name!r} under the {macro.name} virtual-resolution mapping: {shown}{more}.")
    g, = space.choice_groups()
    allowed = g.allowed_matrix()
    blocks = sorted({b for _, b, _ in missing}, key=g.options.index)
    everywhere = [b for b in blocks
                  if sum(r == b for _, r, _ in missing) == int(allowed[:, g.options.index(b)].sum())]
    if everywhere:
        e1 = all(parse_block(b)[1] == 1 for b in everywhere)
        why = (" (the table has expansion-1 entries only for its fixed first block, no searchable shape)"
               if e1 else "")
        msg += (f" Block(s) {', '.join(everywhere)} have no entry at any mapped layer{why}; the supported "
                f"configuration is the space without them: space.with_ops(remove={everywhere!r}).")
    else:
        msg += " The table lacks these layer shapes; use a table that has them or pass an explicit mapping."
    return msg


def cost_model(table: LatencyTable | str | Path, space: ChainSpace, *, input_shape: Sequence[int] | None = None,
               mapping: Sequence[LutLayer] | None = None) -> CostModel:
    """The latency cost model of ``space`` from any table: a workbench JSON measured for this space (its
    ``input_shape`` must match ``input_shape`` when given), or a phone YAML by :func:`virtual_resolution`."""
    from workbench.spaces.chain.cost_model import latency_cost_model
    from workbench.spaces.chain.space import ChainSpace

    if not isinstance(space, ChainSpace):
        raise LatencyTableError(f"latency tables price chain spaces (one block per layer); space "
                                f"{getattr(space, 'name', space)!r} is a {type(space).__name__}")
    table = table if isinstance(table, LatencyTable) else load_table(table)
    if table.kind != "workbench":
        return virtual_resolution(table, space, mapping=mapping)
    if mapping is not None:
        raise LatencyTableError(f"latency table {table.label} was measured for a chain space; it takes no mapping")
    doc = dict(table.document or {})
    measured = doc.get("input_shape")
    if input_shape is not None and measured is not None and list(measured) != list(input_shape):
        raise LatencyTableError(f"latency table {table.label} was measured at input shape {tuple(measured)}; the task "
                                f"needs {tuple(input_shape)}: measure again with `python -m workbench latency measure "
                                f"--input-shape {','.join(str(v) for v in input_shape)}`")
    if input_shape is not None:
        _check_layer_inputs(table, doc, space, tuple(int(v) for v in input_shape))
    return latency_cost_model(doc, space, table.source, label=table.name)


def _check_layer_inputs(table: LatencyTable, doc: dict[str, Any], space: ChainSpace, input_shape: tuple[int, ...]
                        ) -> None:
    """Refuse a measured table whose layers saw other (C, H, W) than ``space``'s layers see at ``input_shape``
    (a table without ``layer_inputs`` predates stem strides: it was measured with a stride-1 stem)."""
    from workbench.spaces.chain.cost_model import layer_inputs
    need = [list(v) for v in layer_inputs(space, input_shape)]
    if "layer_inputs" in doc:
        saw = [list(v) for v in doc["layer_inputs"]]
    else:
        measured = tuple(doc.get("input_shape") or input_shape)
        saw = [list(v) for v in layer_inputs(replace(space, stem_stride=1, _cache={}), measured)]
    if saw != need:
        raise LatencyTableError(f"latency table {table.label} was measured with layer input shapes (C, H, W) {saw}; "
                                f"space {space.name!r} at input {input_shape} (stem stride "
                                f"{space.stem_stride_for(input_shape)}) feeds its layers {need}: measure again with "
                                f"`python -m workbench latency measure --input-shape "
                                f"{','.join(str(v) for v in input_shape)}`")
