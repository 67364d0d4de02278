"""Issue 9: genotype parsing is bounded (no RecursionError), NB201 strings are strict ASCII, and a cell whose
intermediate nodes never reach the output does not compile silently."""
from __future__ import annotations

import pytest

from workbench.spaces.cell import zoo
from workbench.spaces.cell.discrete import DiscreteNetwork
from workbench.spaces.cell.genotype import (
    MAX_NESTING,
    NB201_EXAMPLE,
    CellGenotype,
    Genotype,
    GenotypeError,
)

PAIRS = "[('sep_conv_3x3', 0), ('skip_connect', 1)]"


def _darts(index_expr: str) -> str:
    return (f"Genotype(normal=[('sep_conv_3x3', {index_expr}), ('skip_connect', 1)], normal_concat=[2], "
            f"reduce={PAIRS}, reduce_concat=[2])")


@pytest.mark.parametrize("text, message", [
    (_darts("+".join(["1"] * 20_000)), r"unexpected '\+' at line 1, column 36"),
    (_darts("-" * 5_000 + "1"), r"unexpected '-'"),
    (_darts("(" * 5_000 + "1" + ")" * 5_000), rf"brackets nested more than {MAX_NESTING} deep"),
    ("Genotype" + "()" * 20_000, r"unexpected '\(' after '\)'"),
    (_darts("1 if 1 else " * 3_000 + "1"), r"unexpected keyword 'if'"),
    (_darts("9" * 5_000), r"unexpected number '99999"),
    ("x" * 200_000, r"200000 characters long; at most 100000"),
])
def test_darts_text_is_bounded_before_parsing(text, message):
    with pytest.raises(GenotypeError, match=message):
        Genotype.parse(text)


@pytest.mark.parametrize("depth", [50_000 // 2, 40_000])
def test_json_nesting_is_bounded_before_parsing(depth):
    text = '{"format": "workbench-genotype/1", "cells": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(GenotypeError, match=rf"nested {depth + 1} deep; at most {MAX_NESTING}"):
        Genotype.from_json(text)


def test_json_with_huge_numbers_or_wrong_shapes_is_a_genotype_error():
    with pytest.raises(GenotypeError, match="invalid genotype JSON"):
        Genotype.parse('{"format": "workbench-genotype/1", "cells": [' + "9" * 5_000 + "]}")
    with pytest.raises(GenotypeError, match='"nodes" and "concat" must be lists'):
        Genotype.parse('{"format": "workbench-genotype/1", "cells": [{"name": "c", "nodes": [], "concat": 3}]}')
    with pytest.raises(GenotypeError, match='"name" must be a string'):
        Genotype.parse('{"format": "workbench-genotype/1", "cells": [{"name": [], "nodes": [], "concat": []}]}')


@pytest.mark.parametrize("text", [
    "\xa0" + NB201_EXAMPLE,
    NB201_EXAMPLE.replace("|+|", "|+\xa0|", 1),
    NB201_EXAMPLE.replace("nor_conv_3x3~0", "nor_conv_3x3\u00a0~0", 1),
    NB201_EXAMPLE + "\x00",
    NB201_EXAMPLE.replace("~1", "~\x1b1", 1),
    NB201_EXAMPLE.replace("~1", "~\u00b9", 1),  # superscript one: str.isdigit() is True, int() fails
    NB201_EXAMPLE.replace("~2", "~\u0662", 1),  # Arabic-Indic two: int() would read 2
    "\t" + NB201_EXAMPLE,
])
def test_nb201_strings_reject_non_breaking_spaces_and_control_characters(text):
    with pytest.raises(GenotypeError):
        Genotype.from_nb201_str(text)
    with pytest.raises(GenotypeError):
        Genotype.parse(text)


def test_nb201_strings_still_accept_surrounding_newlines_and_spaces():
    assert Genotype.parse(f"  {NB201_EXAMPLE}\n") == Genotype.from_nb201_str(NB201_EXAMPLE)


def test_cells_with_nodes_that_never_reach_the_output_do_not_compile():
    c = CellGenotype(((("sep_conv_3x3", 0), ("skip_connect", 1)), (("sep_conv_3x3", 0), ("skip_connect", 1))), (3,))
    assert c.unconnected_nodes() == (0,)
    g = Genotype((("normal", c), ("reduce", c)))
    with pytest.raises(GenotypeError, match=r"cell 'normal': intermediate node\(s\) \[0\] \(state\(s\) \[2\]\) are "
                                            r"not connected to the cell output"):
        DiscreteNetwork(g, "darts", C=4, layers=3)
    chained = CellGenotype(((("sep_conv_3x3", 0),), (("skip_connect", 2),)), (3,))  # node 0 feeds node 1
    assert chained.unconnected_nodes() == ()
    for name in zoo.published_names():  # NASNet / AmoebaNet concatenate only the states no node reads
        zoo.published(name).check_connected()


def test_size_limits_name_what_is_accepted():
    with pytest.raises(GenotypeError, match=r"nodes has 65 entries; at most 64"):
        CellGenotype(((("skip_connect", 0),),) * 65, (1,), 1)
    with pytest.raises(GenotypeError, match=r"n_inputs must be an int in \[1, 32\]"):
        CellGenotype(((("skip_connect", 0),),), (1,), 10**6)
