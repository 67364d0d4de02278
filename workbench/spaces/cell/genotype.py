"""Cell genotypes: one representation with lossless text conversions.

Implements the genotype formats of DARTS (Liu et al., ICLR 2019;
``quark0/darts:cnn/genotypes.py``, the ``Genotype(normal=..., normal_concat=...,
reduce=..., reduce_concat=...)`` namedtuple text) and of NAS-Bench-201 (Dong &
Yang, ICLR 2020; ``D-X-Y/AutoDL-Projects:xautodl/models/cell_searchs/
genotypes.py::Structure.tostr``, strings like ``|nor_conv_3x3~0|+|...|``).
See ALGORITHMS.md sections 1.7, 1.8 and 9.4.

DARTS text is parsed with :mod:`ast` and never evaluated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

__all__ = ["GenotypeError", "CellGenotype", "Genotype", "PARAM_FREE_OPS", "NB201_OPS", "JSON_FORMAT",
           "nb201_genotype", "nb201_ops", "count_param_free"]

JSON_FORMAT = "workbench-genotype/1"
PARAM_FREE_OPS: frozenset[str] = frozenset({"skip_connect", "max_pool_3x3", "avg_pool_3x3"})
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

DARTS_EXAMPLE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5], "
                 "reduce=[('max_pool_3x3', 0), ...], reduce_concat=range(2, 6))")
NB201_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
JSON_EXAMPLE = ('{"format": "workbench-genotype/1", "cells": [{"name": "cell", "n_inputs": 1, '
                '"nodes": [[["nor_conv_3x3", 0]]], "concat": [1]}]}')
_OP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INDEX_RE = re.compile(r"[0-9]{1,4}\Z")

#: Input bounds, checked before anything is parsed (a genotype is a few hundred characters; these are generous).
MAX_TEXT_CHARS = 100_000  # any genotype text
MAX_NESTING = 32  # brackets in DARTS text / JSON
MAX_NODES = 64  # intermediate nodes per cell
MAX_INPUTS = 64  # (op, src) pairs per node
MAX_INPUTS_PER_CELL = 32  # input states per cell
MAX_CELLS = 16
_DARTS_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
_IGNORED_FIELDS = ("layout", "connectN", "connects")  # sharpDARTS / AutoDL extras


class GenotypeError(ValueError):
    """A genotype (or its text) is malformed; the message says what is accepted."""


def _is_int(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class CellGenotype:
    """A cell: ``nodes[i]`` lists the ``(op, src_state)`` inputs of intermediate node i.

    States ``0 .. n_inputs-1`` are the cell inputs; intermediate node i is state
    ``n_inputs + i``. ``concat`` lists the states whose outputs form the cell output.
    """

    nodes: tuple[tuple[tuple[str, int], ...], ...]
    concat: tuple[int, ...]
    n_inputs: int = 2

    def __post_init__(self) -> None:
        if not _is_int(self.n_inputs) or not 1 <= self.n_inputs <= MAX_INPUTS_PER_CELL:
            raise GenotypeError(f"n_inputs must be an int in [1, {MAX_INPUTS_PER_CELL}] (2 for DARTS, 1 for NB201), "
                                f"got {_short(self.n_inputs)}")
        for what, seq, limit in (("nodes", self.nodes, MAX_NODES), ("concat", self.concat, MAX_NODES + MAX_INPUTS)):
            if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__") or not hasattr(seq, "__iter__"):
                raise GenotypeError(f"{what} must be a sequence (list or tuple), got {type(seq).__name__}")
            if len(seq) > limit:
                raise GenotypeError(f"{what} has {len(seq)} entries; at most {limit} are accepted")
        for i, node in enumerate(self.nodes):
            if hasattr(node, "__len__") and len(node) > MAX_INPUTS:
                raise GenotypeError(f"node {i} has {len(node)} inputs; at most {MAX_INPUTS} are accepted")
        try:
            nodes = tuple(tuple((op, src) for op, src in node) for node in self.nodes)
            concat = tuple(self.concat)
        except (TypeError, ValueError) as exc:
            raise GenotypeError(
                "nodes must be a sequence of nodes, each a sequence of (op_name, src_state) pairs, "
                f"e.g. ((('sep_conv_3x3', 0), ('skip_connect', 1)),); concat a sequence of ints ({exc})") from None
        if not nodes:
            raise GenotypeError("a cell needs at least one intermediate node, e.g. ((('nor_conv_3x3', 0),),)")
        for i, node in enumerate(nodes):
            if not node:
                raise GenotypeError(f"node {i} has no inputs; each node needs at least one (op, src_state) pair")
            limit = self.n_inputs + i
            for op, src in node:
                if not isinstance(op, str) or not _OP_RE.match(op):
                    raise GenotypeError(f"node {i}: op name {op!r} must be an identifier string like 'sep_conv_3x3'")
                if not _is_int(src) or not 0 <= src < limit:
                    raise GenotypeError(
                        f"node {i} (state {limit}): input state {src!r} is out of range; node {i} may read "
                        f"states 0..{limit - 1} (0..{self.n_inputs - 1} are cell inputs, then earlier nodes)")
        n_states = self.n_inputs + len(nodes)
        for c in concat:
            if not _is_int(c) or not 0 <= c < n_states:
                raise GenotypeError(f"concat entry {c!r} is not a state index in 0..{n_states - 1}, "
                                    f"e.g. {list(range(self.n_inputs, n_states))}")
        if not concat or len(set(concat)) != len(concat):
            raise GenotypeError(f"concat must be a non-empty list of distinct state indices, got {list(concat)}")
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "concat", concat)

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    def edges(self) -> list[tuple[int, str, int]]:
        """All edges as ``(node_index, op, src_state)`` in stored order."""
        return [(i, op, src) for i, node in enumerate(self.nodes) for op, src in node]

    def ops_used(self) -> tuple[str, ...]:
        """Distinct op names, sorted."""
        return tuple(sorted({op for node in self.nodes for op, _ in node}))

    def unconnected_nodes(self) -> tuple[int, ...]:
        """Intermediate nodes (0-based) whose output reaches the cell output neither through ``concat`` nor
        through a later node: computed and then thrown away, so a network compiled from the cell silently
        differs from what the genotype seems to say."""
        used = set(self.concat)
        for i in reversed(range(self.n_nodes)):
            if self.n_inputs + i in used:
                used.update(src for _, src in self.nodes[i])
        return tuple(i for i in range(self.n_nodes) if self.n_inputs + i not in used)


@dataclass(frozen=True)
class Genotype:
    """An architecture: named cells, e.g. ``(("normal", c), ("reduce", c))`` or ``(("cell", c),)``."""

    cells: tuple[tuple[str, CellGenotype], ...]

    def __post_init__(self) -> None:
        if hasattr(self.cells, "__len__") and len(self.cells) > MAX_CELLS:
            raise GenotypeError(f"a genotype has at most {MAX_CELLS} cells, got {len(self.cells)}")
        try:
            cells = tuple((name, cell) for name, cell in self.cells)
        except (TypeError, ValueError):
            raise GenotypeError("cells must be a sequence of (name, CellGenotype) pairs, "
                                "e.g. (('normal', cell), ('reduce', cell))") from None
        if not cells:
            raise GenotypeError("a genotype needs at least one cell, e.g. (('normal', cell), ('reduce', cell))")
        for name, cell in cells:
            if not isinstance(name, str) or not name:
                raise GenotypeError(f"cell names must be non-empty strings, got {name!r}")
            if not isinstance(cell, CellGenotype):
                raise GenotypeError(f"cell {name!r} must be a CellGenotype, got {type(cell).__name__}")
        names = [n for n, _ in cells]
        if len(set(names)) != len(names):
            raise GenotypeError(f"cell names must be distinct, got {names}")
        object.__setattr__(self, "cells", cells)

    @property
    def cell_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.cells)

    def cell(self, name: str) -> CellGenotype:
        for n, c in self.cells:
            if n == name:
                return c
        raise GenotypeError(f"no cell named {name!r}; this genotype has cells {list(self.cell_names)}")

    # ------------------------------------------------------------------ DARTS text
    def is_darts(self) -> bool:
        """True when the genotype has exactly 2-input ``normal`` and ``reduce`` cells."""
        return sorted(self.cell_names) == ["normal", "reduce"] and all(c.n_inputs == 2 for _, c in self.cells)

    def to_darts_str(self) -> str:
        """DARTS namedtuple text; nodes with exactly 2 inputs are flattened as in DARTS."""
        if not self.is_darts():
            raise GenotypeError("to_darts_str needs exactly two cells 'normal' and 'reduce' with n_inputs=2; got "
                                f"{[(n, c.n_inputs) for n, c in self.cells]} (use to_nb201_str or to_json instead)")
        parts = []
        for name in ("normal", "reduce"):
            cell = self.cell(name)
            if all(len(node) == 2 for node in cell.nodes):
                pairs = ", ".join(f"({op!r}, {src})" for node in cell.nodes for op, src in node)
            else:  # per-node form (AutoDL style), keeps the round trip lossless
                pairs = ", ".join("(" + ", ".join(f"({op!r}, {src})" for op, src in node)
                                  + ("," if len(node) == 1 else "") + ")" for node in cell.nodes)
            parts.append(f"{name}=[{pairs}], {name}_concat={list(cell.concat)}")
        return "Genotype(" + ", ".join(parts) + ")"

    @classmethod
    def from_darts_str(cls, s: str) -> Genotype:
        """Parse DARTS ``Genotype(...)`` text (never evaluated)."""
        return _parse_darts(s)

    # ------------------------------------------------------------------ NB201 strings
    def is_nb201(self) -> bool:
        """True when this is a single NB201-style cell (node i reads states 0..i in order)."""
        c = self.cells[0][1]
        return (len(self.cells) == 1 and c.n_inputs == 1 and c.concat == (c.n_nodes,)
                and all([src for _, src in node] == list(range(i + 1)) for i, node in enumerate(c.nodes)))

    def to_nb201_str(self) -> str:
        """NAS-Bench-201 arch string ``|op~0|+|op~0|op~1|+...``."""
        if not self.is_nb201():
            raise GenotypeError(f"to_nb201_str needs one cell with n_inputs=1, node i reading states 0..i in order, "
                                f"concat=[last state], like {NB201_EXAMPLE}; use to_darts_str or to_json for "
                                f"cells {self.cell_names}")
        cell = self.cells[0][1]
        return "+".join("|" + "".join(f"{op}~{src}|" for op, src in node) for node in cell.nodes)

    @classmethod
    def from_nb201_str(cls, s: str, n_nodes: int | None = 3) -> Genotype:
        """Parse an NB201 arch string; ``n_nodes=None`` accepts any node count."""
        if not isinstance(s, str):
            raise GenotypeError(f"an NB201 arch string must be a str like {NB201_EXAMPLE}, got {type(s).__name__}")
        _check_length(s, "NB201 string")
        text = s.strip(" \r\n")
        if bad := _first_bad_char(text, printable_ascii_only=True):
            pos, ch = bad
            raise GenotypeError(f"NB201 string has the character {ch!r} (U+{ord(ch):04X}) at position {pos}; only "
                                f"printable ASCII is accepted (no control characters, non-breaking or other "
                                f"spaces); valid form: {NB201_EXAMPLE}")
        parts = text.split("+")
        if len(parts) > MAX_NODES:
            raise GenotypeError(f"NB201 string has {len(parts)} nodes; at most {MAX_NODES} are accepted")
        if n_nodes is not None and len(parts) != n_nodes:
            raise GenotypeError(f"NB201 string has {len(parts)} node(s) separated by '+', expected {n_nodes}: "
                                f"{text!r}; valid form: {NB201_EXAMPLE}")
        nodes = []
        for i, part in enumerate(parts):
            if len(part) < 2 or not part.startswith("|") or not part.endswith("|"):
                raise GenotypeError(f"NB201 node {i} {part!r} must be enclosed in '|', like '|nor_conv_3x3~0|'; "
                                    f"valid form: {NB201_EXAMPLE}")
            tokens = part[1:-1].split("|")
            if len(tokens) != i + 1:
                raise GenotypeError(f"NB201 node {i} {part!r} has {len(tokens)} input(s); node {i} needs exactly "
                                    f"{i + 1} (op~0 .. op~{i}); valid form: {NB201_EXAMPLE}")
            node = []
            for j, tok in enumerate(tokens):
                op, sep, src = tok.partition("~")
                if not sep or not _OP_RE.match(op) or not _INDEX_RE.match(src):
                    raise GenotypeError(f"NB201 node {i}: bad input {tok!r}; expected 'op~j' with an op name and "
                                        f"an int j, e.g. 'nor_conv_3x3~{j}'")
                if int(src) != j:
                    raise GenotypeError(f"NB201 node {i}: input {j} is {tok!r} but must read state {j} "
                                        f"(inputs are listed as op~0 .. op~{i} in order)")
                node.append((op, j))
            nodes.append(tuple(node))
        return cls((("cell", CellGenotype(tuple(nodes), (len(nodes),), n_inputs=1)),))

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {"format": JSON_FORMAT, "cells": [
            {"name": n, "n_inputs": c.n_inputs, "nodes": [[[op, src] for op, src in node] for node in c.nodes],
             "concat": list(c.concat)} for n, c in self.cells]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Genotype:
        if not isinstance(d, dict) or d.get("format") != JSON_FORMAT:
            got = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise GenotypeError(f"expected a dict with \"format\": \"{JSON_FORMAT}\", got {_short(got)}; e.g. "
                                f"{JSON_EXAMPLE}")
        cells = d.get("cells")
        if not isinstance(cells, list):
            raise GenotypeError(f"\"cells\" must be a list of cell objects, e.g. {JSON_EXAMPLE}")
        if len(cells) > MAX_CELLS:
            raise GenotypeError(f"a genotype has at most {MAX_CELLS} cells, got {len(cells)}")
        out = []
        for k, c in enumerate(cells):
            if missing := [key for key in ("name", "nodes", "concat") if not isinstance(c, dict) or key not in c]:
                raise GenotypeError(f"cell {k} lacks {missing}; expected a genotype like {JSON_EXAMPLE}")
            name = c["name"]
            if not isinstance(name, str):
                raise GenotypeError(f"cell {k}: \"name\" must be a string, got {_short(name)}")
            if not isinstance(c["nodes"], list) or not isinstance(c["concat"], list):
                raise GenotypeError(f"cell {name!r}: \"nodes\" and \"concat\" must be lists, e.g. {JSON_EXAMPLE}")
            if len(c["nodes"]) > MAX_NODES or any(isinstance(n, list) and len(n) > MAX_INPUTS for n in c["nodes"]):
                raise GenotypeError(f"cell {name!r}: at most {MAX_NODES} nodes of at most {MAX_INPUTS} inputs each "
                                    "are accepted")
            try:
                nodes = tuple(tuple((op, src) for op, src in node) for node in c["nodes"])
            except (TypeError, ValueError):
                raise GenotypeError(f"cell {name!r}: nodes must be lists of [op, src_state] pairs, "
                                    "e.g. [[[\"sep_conv_3x3\", 0], [\"skip_connect\", 1]]]") from None
            try:
                cell = CellGenotype(nodes, tuple(c["concat"]), c.get("n_inputs", 2))
            except GenotypeError as exc:
                raise GenotypeError(f"cell {name!r}: {exc}") from None
            out.append((name, cell))
        return cls(tuple(out))

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, s: str) -> Genotype:
        if not isinstance(s, str):
            raise GenotypeError(f"genotype JSON must be a str, got {type(s).__name__}")
        _check_length(s, "genotype JSON")
        depth = _json_depth(s)
        if depth > MAX_NESTING:
            raise GenotypeError(f"genotype JSON is nested {depth} deep; at most {MAX_NESTING} levels are accepted "
                                f"(a genotype needs 5); expected e.g. {JSON_EXAMPLE}")
        try:
            data = json.loads(s)
        except ValueError as exc:  # JSONDecodeError, and numbers with too many digits for int()
            raise GenotypeError(f"invalid genotype JSON ({exc}); expected e.g. {JSON_EXAMPLE}") from None
        return cls.from_dict(data)

    # ------------------------------------------------------------------ misc
    @classmethod
    def parse(cls, s: str | Genotype) -> Genotype:
        """Auto-detect JSON, NB201 string, DARTS text or a published name (see :mod:`workbench.spaces.cell.zoo`)."""
        if isinstance(s, Genotype):
            return s
        if not isinstance(s, str):
            raise GenotypeError(f"Genotype.parse takes a str, got {type(s).__name__}")
        _check_length(s, "genotype text")
        if bad := _first_bad_char(s, printable_ascii_only=False):
            pos, ch = bad
            raise GenotypeError(f"genotype text has the control character {ch!r} at position {pos}; "
                                "control characters are not accepted")
        text = s.strip(_ASCII_SPACE)
        if text.startswith("{"):
            return cls.from_json(text)
        if text.startswith("|"):  # any node count: str() writes NB201-style cells of every size this way
            return cls.from_nb201_str(s, n_nodes=None)  # the original: a tab or NBSP around it is rejected there
        if "Genotype(" in text or "normal=" in text:
            return cls.from_darts_str(text)
        from workbench.spaces.cell import zoo  # local import: zoo depends on this module

        if _OP_RE.match(text):
            try:
                return zoo.published(text)
            except GenotypeError:
                pass
        raise GenotypeError(
            f"cannot recognise genotype {text[:80]!r}. Accepted forms: JSON starting with '{{' ({JSON_EXAMPLE}); "
            f"an NB201 string starting with '|' ({NB201_EXAMPLE}); DARTS text ({DARTS_EXAMPLE}); "
            f"or a published name: {', '.join(zoo.published_names())}")

    def __str__(self) -> str:
        if self.is_darts():
            return self.to_darts_str()
        if self.is_nb201():
            return self.to_nb201_str()
        return self.to_json()

    def check_connected(self) -> None:
        """Raise GenotypeError if a cell has intermediate nodes that never reach its output (see
        :meth:`CellGenotype.unconnected_nodes`)."""
        for name, cell in self.cells:
            if dead := cell.unconnected_nodes():
                states = [cell.n_inputs + i for i in dead]
                raise GenotypeError(
                    f"cell {name!r}: intermediate node(s) {list(dead)} (state(s) {states}) are not connected to "
                    f"the cell output: no later node reads them and concat={list(cell.concat)} does not list them; "
                    "add them to concat or use them as inputs of a later node")

    def check_ops(self, known_ops: Iterable[str]) -> None:
        """Raise GenotypeError if any op is not in ``known_ops``."""
        known = list(known_ops)
        if bad := [(n, i, op) for n, c in self.cells for i, op, _ in c.edges() if op not in known]:
            where = "; ".join(f"{op!r} in cell {n!r} node {i}" for n, i, op in bad)
            raise GenotypeError(f"unknown op(s): {where}. Known ops: {', '.join(known)}")


# ---------------------------------------------------------------------- NB201 helpers
def nb201_genotype(ops: Sequence[str]) -> Genotype:
    """NB201 genotype from 6 ops in string order: edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2."""
    ops = list(ops)
    if len(ops) != 6 or not all(isinstance(o, str) for o in ops):
        raise GenotypeError(f"nb201_genotype needs 6 op names (edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2), "
                            f"got {ops!r}; e.g. ['nor_conv_3x3'] * 6")
    nodes = (((ops[0], 0),), ((ops[1], 0), (ops[2], 1)), ((ops[3], 0), (ops[4], 1), (ops[5], 2)))
    return Genotype((("cell", CellGenotype(nodes, (3,), n_inputs=1)),))


def nb201_ops(g: Genotype | str) -> tuple[str, ...]:
    """The 6 ops of an NB201 genotype (or string), in string order; inverse of :func:`nb201_genotype`."""
    g = Genotype.parse(g) if isinstance(g, str) else g
    if not g.is_nb201() or g.cells[0][1].n_nodes != 3:
        raise GenotypeError(f"nb201_ops needs a 3-node NB201 cell like {NB201_EXAMPLE}")
    return tuple(op for _, op, _ in g.cells[0][1].edges())


def state_name(n_inputs: int, state: int) -> str:
    """A cell state's name: DARTS inputs "c_{k-2}", "c_{k-1}" and nodes "0", "1", ...; NB201 states numbered from
    the input "0"; other inputs "in<i>". Edge labels, drawings and genotype diffs all use it."""
    if n_inputs == 1:
        return str(state)
    if n_inputs == 2 and state < 2:
        return ("c_{k-2}", "c_{k-1}")[state]
    if state < n_inputs:
        return f"in{state}"
    return str(state - n_inputs)


def count_param_free(cell: CellGenotype) -> int:
    """Number of edges whose op is parameter-free (skip_connect or a pool; ``none`` is not counted)."""
    return sum(op in PARAM_FREE_OPS for _, op, _ in cell.edges())


# the text readers need the classes above (imported last to break the cycle)
from workbench.spaces.cell.genotype_text import (  # noqa: E402
    _ASCII_SPACE,
    _check_length,
    _first_bad_char,
    _json_depth,
    _parse_darts,
    _short,
)
