"""Genotype text, read safely: input bounds checked before any parsing, and the DARTS-text parser.

Genotype text comes from users, files and the command line, so every form is
bounded before it is parsed: at most ``MAX_TEXT_CHARS`` characters and
``MAX_NESTING`` levels of brackets, NB201 strings in printable ASCII only, and
DARTS text pre-scanned token by token (only names, numbers and the punctuation
of a ``Genotype(...)`` literal pass) before :mod:`ast` reads it as a literal --
never ``eval``. Errors are :class:`~workbench.spaces.cell.genotype.GenotypeError`
naming the offending token and position.
"""
from __future__ import annotations

import ast
import io
import keyword
import tokenize
from typing import Any, cast

# ---------------------------------------------------------------------- input bounds
_ASCII_SPACE = " \t\r\n"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_length(s: str, what: str) -> None:
    if len(s) > MAX_TEXT_CHARS:
        raise GenotypeError(f"{what} is {len(s)} characters long; at most {MAX_TEXT_CHARS} are accepted "
                            "(a genotype takes a few hundred)")


def _first_bad_char(s: str, printable_ascii_only: bool) -> tuple[int, str] | None:
    """The first control character (tab, CR, LF allowed unless ``printable_ascii_only``), or with
    ``printable_ascii_only`` the first character outside '!'..'~' and the space."""
    for i, ch in enumerate(s):
        o = ord(ch)
        if printable_ascii_only:
            if not 32 <= o <= 126:
                return i, ch
        elif (o < 32 and ch not in "\t\r\n") or 127 <= o <= 159:
            return i, ch
    return None


def _json_depth(s: str) -> int:
    """The deepest nesting of [ and { outside JSON strings (a scan, no recursion)."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in s:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


#: The tokens DARTS genotype text is made of. Anything else (operators, keywords, subscripts, call chains) is
#: rejected before ``ast.parse``, which with the bracket-depth bound keeps the syntax tree shallow: a
#: 20,000-term index expression would otherwise overflow the recursion limit while being parsed or printed.
_DARTS_OPS = frozenset("()[],=.-:")
_MAX_DOTS = 8


def _prescan_darts(s: str) -> None:
    if bad := _first_bad_char(s, printable_ascii_only=False):
        raise _fail(f"control character {bad[1]!r} at position {bad[0]}")
    depth = dots = 0
    prev: tokenize.TokenInfo | None = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(s).readline):
            kind, text = tok.type, tok.string
            where = f"line {tok.start[0]}, column {tok.start[1] + 1}"
            if kind in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENDMARKER, tokenize.INDENT,
                        tokenize.DEDENT):
                continue
            if kind == tokenize.NAME and keyword.iskeyword(text) and text not in ("None", "True", "False"):
                raise _fail(f"unexpected keyword {text!r} at {where}")
            if kind == tokenize.NUMBER and not _INDEX_RE.match(text):
                raise _fail(f"unexpected number {text[:20]!r} at {where}; indices are integers 0..9999")
            if kind == tokenize.OP:
                if text not in _DARTS_OPS:
                    raise _fail(f"unexpected {text!r} at {where}; genotype text holds only names, strings, "
                                "integers and ( ) [ ] , = . -")
                if text in "([":
                    depth += 1
                    if depth > MAX_NESTING:
                        raise _fail(f"brackets nested more than {MAX_NESTING} deep at {where}")
                    after = prev.string if prev is not None else ""
                    if after in (")", "]") or (text == "[" and prev is not None and prev.type == tokenize.NAME) \
                            or (prev is not None and prev.type in (tokenize.NUMBER, tokenize.STRING)):
                        raise _fail(f"unexpected {text!r} after {after!r} at {where}")
                elif text in ")]":
                    depth -= 1
                elif text == ".":
                    dots += 1
                    if dots > _MAX_DOTS or prev is None or not (prev.type == tokenize.NAME or prev.string == ")"):
                        raise _fail(f"unexpected '.' at {where}")
                elif text == "-" and prev is not None and prev.string == "-":
                    raise _fail(f"unexpected '-' at {where}")
            elif kind not in (tokenize.NAME, tokenize.NUMBER, tokenize.STRING):
                raise _fail(f"unexpected {text[:20]!r} at {where}")
            prev = tok
    except (tokenize.TokenError, SyntaxError) as exc:  # unterminated brackets or strings, bad indentation
        msg = exc.args[0] if exc.args else exc
        raise _fail(f"syntax error in genotype text ({msg})") from None


# ---------------------------------------------------------------------- DARTS parser
def _fail(what: str) -> GenotypeError:
    return GenotypeError(f"{what}. Expected DARTS genotype text like {DARTS_EXAMPLE}")


def _int_const(node: ast.AST, what: str) -> int:
    if isinstance(node, ast.Constant) and _is_int(node.value):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        raise _fail(f"{what}: negative state index -{node.operand.value!r}")
    raise _fail(f"{what}: expected an integer literal, got {ast.unparse(node)[:60]!r}")


def _pair(node: ast.AST, what: str) -> tuple[str, int]:
    if not isinstance(node, (ast.Tuple, ast.List)) or len(node.elts) != 2:
        raise _fail(f"{what}: expected an (op_name, input_index) pair, got {ast.unparse(node)[:60]!r}")
    op_node, src_node = node.elts
    if not (isinstance(op_node, ast.Constant) and isinstance(op_node.value, str)):
        raise _fail(f"{what}: op name must be a string literal, got {ast.unparse(op_node)[:60]!r}")
    return op_node.value, _int_const(src_node, what)


def _is_node(node: ast.AST) -> bool:
    seq = (ast.Tuple, ast.List)
    return isinstance(node, seq) and bool(node.elts) and all(isinstance(e, seq) for e in node.elts)


def _ops_list(node: ast.AST, name: str) -> tuple[tuple[tuple[str, int], ...], ...]:
    if not isinstance(node, (ast.List, ast.Tuple)) or not node.elts:
        raise _fail(f"{name} must be a non-empty list of (op, input) pairs, got {ast.unparse(node)[:60]!r}")
    if all(_is_node(e) for e in node.elts):  # AutoDL: one tuple of pairs per node
        return tuple(tuple(_pair(p, f"{name}[{k}]") for p in cast("ast.Tuple | ast.List", e).elts)
                     for k, e in enumerate(node.elts))
    pairs = [_pair(e, f"{name}[{k}]") for k, e in enumerate(node.elts)]  # DARTS: 2 consecutive pairs per node
    if len(pairs) % 2:
        raise _fail(f"{name} has {len(pairs)} pairs; DARTS text has 2 pairs per node, so the count must be even")
    return tuple((pairs[k], pairs[k + 1]) for k in range(0, len(pairs), 2))


def _concat(node: ast.AST, name: str) -> tuple[int, ...]:
    if isinstance(node, (ast.List, ast.Tuple)):
        return tuple(_int_const(e, name) for e in node.elts)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and 1 <= len(node.args) <= 3 and not node.keywords):
        return tuple(range(*(_int_const(a, name) for a in node.args)))
    raise _fail(f"{name} must be a list of ints or range(a, b), got {ast.unparse(node)[:60]!r}")


def _parse_darts(s: str) -> Genotype:
    if not isinstance(s, str):
        raise GenotypeError(f"DARTS genotype text must be a str, got {type(s).__name__}")
    _check_length(s, "DARTS genotype text")
    text = s.strip(_ASCII_SPACE)
    _prescan_darts(text)
    try:
        tree = ast.parse(text, mode="exec")
    except SyntaxError as exc:
        raise _fail(f"syntax error in genotype text ({exc.msg}, line {exc.lineno}, column {exc.offset})") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # not expected after the pre-scan
        raise _fail(f"genotype text cannot be parsed ({type(exc).__name__})") from None
    stmt = tree.body[0] if len(tree.body) == 1 else None
    call = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    func = call.func if isinstance(call, ast.Call) else None
    fname = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    while isinstance(func, ast.Attribute):  # allow a module prefix such as genotypes.Genotype
        func = func.value
    if fname != "Genotype" or not isinstance(func, ast.Name):
        raise _fail(f"expected a single Genotype(...) call (optionally 'NAME = ' or a module prefix), "
                    f"got {text[:80]!r}")
    assert isinstance(call, ast.Call)  # fname is only set for a call
    if len(call.args) > len(_DARTS_FIELDS) + 1:
        raise _fail(f"too many positional arguments ({len(call.args)})")
    fields: dict[str, ast.AST] = dict(zip(_DARTS_FIELDS + ("layout",), call.args, strict=False))
    for kw in call.keywords:
        if kw.arg is None or kw.arg not in _DARTS_FIELDS + _IGNORED_FIELDS:
            raise _fail(f"unexpected argument {kw.arg or '**'}; accepted: {', '.join(_DARTS_FIELDS + _IGNORED_FIELDS)}")
        if kw.arg in fields:
            raise _fail(f"argument {kw.arg} given twice")
        fields[kw.arg] = kw.value
    if missing := [f for f in _DARTS_FIELDS if f not in fields]:
        raise _fail(f"missing field(s) {', '.join(missing)}")
    cells = []
    for name in ("normal", "reduce"):
        nodes = _ops_list(fields[name], name)
        concat = _concat(fields[f"{name}_concat"], f"{name}_concat")
        try:
            cells.append((name, CellGenotype(nodes, concat, n_inputs=2)))
        except GenotypeError as exc:
            raise GenotypeError(f"{name} cell: {exc}") from None
    return Genotype(tuple(cells))


# genotype.py imports this module at its end, and this module uses its names only when called: importing them
# last lets either module be imported first
from workbench.spaces.cell.genotype import (  # noqa: E402
    _DARTS_FIELDS,
    _IGNORED_FIELDS,
    _INDEX_RE,
    DARTS_EXAMPLE,
    MAX_NESTING,
    MAX_TEXT_CHARS,
    CellGenotype,
    Genotype,
    GenotypeError,
    _is_int,
)
