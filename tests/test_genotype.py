"""Tests for workbench.spaces.cell.genotype and workbench.spaces.cell.zoo (DARTS / NB201 genotype formats)."""

from __future__ import annotations

import json

import pytest

from workbench.spaces.cell import zoo
from workbench.spaces.cell.genotype import (
    PARAM_FREE_OPS,
    CellGenotype,
    Genotype,
    GenotypeError,
    count_param_free,
    nb201_genotype,
    nb201_ops,
)

NB201_EX = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.mark.parametrize("name", zoo.published_names())
def test_published_round_trips(name: str) -> None:
    g = zoo.published(name)
    text = g.to_darts_str()
    g2 = Genotype.from_darts_str(text)
    assert g2 == g
    assert g2.to_darts_str() == text
    assert Genotype.from_json(g.to_json()) == g
    assert Genotype.from_json(g.to_json(indent=2)).to_json() == g.to_json()
    assert Genotype.from_dict(g.to_dict()) == g
    assert Genotype.parse(text) == g and Genotype.parse(g.to_json()) == g and Genotype.parse(name) == g
    assert str(g) == text
    assert g.cell_names == ("normal", "reduce")
    assert all(len(node) == 2 for _, c in g.cells for node in c.nodes)
    # the stored source text parses to the same genotype
    assert Genotype.from_darts_str(zoo.PUBLISHED[name]) == g


def test_published_contents() -> None:
    v2 = zoo.published("darts_v2")  # case-insensitive
    assert v2 == zoo.published("DARTS") == Genotype.parse("DARTS_V2")
    assert v2.cell("normal").nodes[0] == (("sep_conv_3x3", 0), ("sep_conv_3x3", 1))
    assert v2.cell("normal").nodes[3] == (("skip_connect", 0), ("dil_conv_3x3", 2))
    assert v2.cell("normal").concat == (2, 3, 4, 5)
    v1 = zoo.published("DARTS_V1")
    assert v1.to_darts_str().startswith("Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ")
    nasnet, amoeba = zoo.published("NASNet"), zoo.published("AmoebaNet")
    assert nasnet.cell("normal").n_nodes == 5 and nasnet.cell("reduce").concat == (4, 5, 6)
    assert amoeba.cell("normal").concat == (4, 5, 6) and amoeba.cell("reduce").concat == (3, 4, 6)
    assert "conv_7x1_1x7" in amoeba.cell("reduce").ops_used()
    assert "sep_conv_7x7" in nasnet.cell("reduce").ops_used()
    assert zoo.published("PC_DARTS_cifar").cell("reduce").concat == (2, 3, 4, 5)  # from range(2, 6)
    gdas = zoo.published("GDAS_V1")  # stored in AutoDL per-node form
    assert gdas.cell("normal").nodes[3] == (("sep_conv_5x5", 4), ("sep_conv_3x3", 3))
    assert set(zoo.SOURCES) == set(zoo.PUBLISHED)


def test_darts_text_variants() -> None:
    ref = zoo.published("DARTS_V2")
    text = ref.to_darts_str()
    ranged = text.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    assert Genotype.from_darts_str(ranged) == ref
    assert Genotype.from_darts_str("genotypes." + text) == ref
    assert Genotype.from_darts_str("DARTS_V2 = " + text) == ref
    spaced = "\n\n  " + text.replace(", ", " ,\n    ").replace("=", " = ") + "\n"
    assert Genotype.from_darts_str(spaced) == ref
    assert Genotype.parse(spaced) == ref
    tuples = text.replace("normal=[", "normal=(").replace("], normal_concat", "), normal_concat")
    assert Genotype.from_darts_str(tuples) == ref
    sharp = text[:-1] + ", layout='cell')"
    assert Genotype.from_darts_str(sharp) == ref


def test_non_two_input_nodes_round_trip() -> None:
    normal = CellGenotype(((("sep_conv_3x3", 0),), (("skip_connect", 0), ("sep_conv_3x3", 1), ("max_pool_3x3", 2))),
                          (2, 3))
    g = Genotype((("normal", normal), ("reduce", normal)))
    text = g.to_darts_str()
    assert Genotype.from_darts_str(text) == g
    assert Genotype.from_json(g.to_json()) == g


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)", ["syntax error", "Genotype(normal=["]),
        ("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2], reduce=[], reduce_concat=[2])",
         ["2 pairs per node", "even"]),
        ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[2])",
         ["missing field(s) reduce, reduce_concat"]),
        ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 5)], normal_concat=[2], "
         "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])",
         ["normal cell", "input state 5 is out of range", "0..1"]),
        ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[9], "
         "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])",
         ["concat entry 9"]),
        ("Genotype(normal=[(sep_conv_3x3, 0), ('sep_conv_3x3', 1)], normal_concat=[2], "
         "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])",
         ["string literal"]),
        ("__import__('os').system('x')", ["expected a single Genotype(...) call"]),
        ("Genotype(normal=__import__('os').system('x'), normal_concat=[2], reduce=[], reduce_concat=[2])",
         ["normal must be a non-empty list"]),
        ("__import__('os').Genotype(normal=[], normal_concat=[], reduce=[], reduce_concat=[])",
         ["expected a single Genotype(...) call"]),
        ("Genotype(normal=[('a', 0), ('b', 1)], normal_concat=open('x'), reduce=[('a', 0), ('b', 1)], "
         "reduce_concat=[2])", ["normal_concat must be a list of ints or range(a, b)"]),
    ],
)
def test_darts_malformed(text: str, fragments: list[str]) -> None:
    with pytest.raises(GenotypeError) as info:
        Genotype.from_darts_str(text)
    for frag in fragments:
        assert frag in str(info.value)


def test_eval_injection_not_executed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr("os.system", lambda cmd: calls.append(cmd) or 0)
    for text in ["__import__('os').system('x')", "Genotype(normal=__import__('os').system('x'))",
                 "normal=__import__('os').system('x')"]:
        with pytest.raises(GenotypeError):
            Genotype.parse(text)
    assert calls == []


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", ["2 node(s)", "expected 3", "|nor_conv_3x3~0|+"]),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         ["node 1", "1 input(s)", "exactly 2"]),
        ("|nor_conv_3x3~x|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         ["'nor_conv_3x3~x'", "int j"]),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~2|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         ["must read state 1"]),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         ["enclosed in '|'"]),
        ("|nor_conv_3x3 0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         ["expected 'op~j'"]),
    ],
)
def test_nb201_malformed(text: str, fragments: list[str]) -> None:
    with pytest.raises(GenotypeError) as info:
        Genotype.from_nb201_str(text)
    for frag in fragments:
        assert frag in str(info.value)


def test_nb201_string_round_trip_and_ops() -> None:
    g = Genotype.from_nb201_str(NB201_EX)
    assert g.to_nb201_str() == NB201_EX == str(g)
    assert g.cell_names == ("cell",)
    cell = g.cell("cell")
    assert cell.n_inputs == 1 and cell.concat == (3,) and cell.n_nodes == 3
    assert cell.edges()[2] == (1, "avg_pool_3x3", 1)
    ops = nb201_ops(g)
    assert ops == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect")
    assert nb201_genotype(ops) == g
    assert Genotype.parse("  " + NB201_EX + "\n") == g
    assert Genotype.from_json(g.to_json()) == g
    assert json.loads(g.to_json())["cells"][0] == {
        "name": "cell", "n_inputs": 1, "concat": [3],
        "nodes": [[["nor_conv_3x3", 0]], [["nor_conv_3x3", 0], ["avg_pool_3x3", 1]],
                  [["skip_connect", 0], ["nor_conv_3x3", 1], ["skip_connect", 2]]]}
    assert count_param_free(cell) == 3
    with pytest.raises(GenotypeError, match="to_nb201_str"):
        g.to_darts_str()
    with pytest.raises(GenotypeError, match="to_darts_str"):
        zoo.published("DARTS_V1").to_nb201_str()


def test_json_format() -> None:
    d = zoo.published("DARTS_V2").to_dict()
    assert d["format"] == "workbench-genotype/1"
    assert d["cells"][0]["name"] == "normal" and d["cells"][0]["n_inputs"] == 2
    assert d["cells"][0]["nodes"][0] == [["sep_conv_3x3", 0], ["sep_conv_3x3", 1]]
    assert d["cells"][0]["concat"] == [2, 3, 4, 5]
    with pytest.raises(GenotypeError, match="workbench-genotype/1"):
        Genotype.from_dict({"cells": []})
    with pytest.raises(GenotypeError, match="invalid genotype JSON"):
        Genotype.from_json("{not json")


def test_cell_validation_and_helpers() -> None:
    with pytest.raises(GenotypeError, match=r"node 1 \(state 3\): input state 3 is out of range.*0\.\.2"):
        CellGenotype(((("sep_conv_3x3", 0), ("sep_conv_3x3", 1)), (("skip_connect", 3), ("skip_connect", 0))),
                     (2, 3))
    with pytest.raises(GenotypeError, match="input state -1"):
        CellGenotype(((("sep_conv_3x3", -1),),), (1,), n_inputs=1)
    with pytest.raises(GenotypeError, match="distinct"):
        Genotype((("cell", Genotype.from_nb201_str(NB201_EX).cell("cell")),) * 2)
    g = zoo.published("DARTS_V1")
    with pytest.raises(GenotypeError, match=r"no cell named 'cell'.*'normal', 'reduce'"):
        g.cell("cell")
    assert count_param_free(g.cell("reduce")) == 8
    assert count_param_free(nb201_genotype(["none"] * 6).cell("cell")) == 0
    assert PARAM_FREE_OPS == {"skip_connect", "max_pool_3x3", "avg_pool_3x3"}
    assert g.cell("normal").edges()[0] == (0, "sep_conv_3x3", 1)
    assert g.cell("reduce").ops_used() == ("avg_pool_3x3", "max_pool_3x3", "skip_connect")
    assert len({g, zoo.published("DARTS_V1")}) == 1  # hashable


def test_check_ops() -> None:
    g = zoo.published("AmoebaNet")
    darts_ops = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                 "dil_conv_3x3", "dil_conv_5x5"]
    with pytest.raises(GenotypeError) as info:
        g.check_ops(darts_ops)
    msg = str(info.value)
    assert "'conv_7x1_1x7' in cell 'reduce' node 4" in msg and "'sep_conv_7x7'" in msg
    assert "Known ops: none, max_pool_3x3" in msg
    zoo.published("DARTS_V2").check_ops(darts_ops)


def test_parse_unknown_and_published_name() -> None:
    with pytest.raises(GenotypeError) as info:
        zoo.published("DARTS_V3")
    assert "DARTS_V3" in str(info.value) and "DARTS_V1, DARTS_V2, NASNet" in str(info.value)
    with pytest.raises(GenotypeError) as info:
        Genotype.parse("resnet50")
    msg = str(info.value)
    for frag in ["Accepted forms", "JSON", "NB201", "DARTS text", "published name", "GDAS_V1"]:
        assert frag in msg
    assert Genotype.parse("pc_darts_image") == zoo.published("PC_DARTS_image")
