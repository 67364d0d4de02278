"""widgets.graph: the DOT text of a genotype has exactly its edges (oracle: counting the genotype)."""
from __future__ import annotations

import re
import shutil
from collections import Counter

import numpy as np
import pytest

from widgets.graph import export, genotype_diff_dot, genotype_dot, genotype_weights, render_svg
from workbench.spaces.cell import zoo
from workbench.spaces.cell.genotype import Genotype, nb201_genotype

EDGE = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[(.*)\];$')
ATTR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")


def parse_edges(dot: str) -> list[tuple[str, str, dict[str, str]]]:
    out = []
    for line in dot.splitlines():
        m = EDGE.match(line)
        if m and not m.group(1).startswith("legend_"):
            attrs = dict(ATTR.findall(m.group(3)))
            if attrs.get("style") != "invis" and "style=invis" not in m.group(3):  # layout hints
                out.append((m.group(1), m.group(2), attrs))
    return out


def op_edges(dot: str, cell: str) -> Counter:
    """(node, src, op) of labelled edges within ``cell``, read back from the DOT node ids."""
    got = Counter()
    for a, b, attrs in parse_edges(dot):
        if "label" in attrs and a.startswith(f"{cell}_s"):
            src, dst = int(a.rsplit("_s", 1)[1]), int(b.rsplit("_s", 1)[1])
            op = attrs["label"].split("\\n")[0].removeprefix("+ ").removeprefix("− ")
            got[(dst, src, op)] += 1
    return got


@pytest.mark.parametrize("name", zoo.published_names())
def test_published_genotype_dot_has_exactly_its_edges_and_concat(name):
    g = zoo.published(name)
    dot = genotype_dot(g, title=name)
    edges = parse_edges(dot)
    assert sum("label" in a for _, _, a in edges) == sum(len(c.edges()) for _, c in g.cells)
    for cname, cell in g.cells:
        oracle = Counter((cell.n_inputs + n, src, op) for n, op, src in cell.edges())
        assert op_edges(dot, cname) == oracle
        feeding = {a for a, b, attrs in edges if b == f"{cname}_out"}
        assert feeding == {f"{cname}_s{s}" for s in cell.concat}
        assert all("label" not in attrs for a, b, attrs in edges if b == f"{cname}_out")
        assert f'subgraph "cluster_{cname}"' in dot
    assert dot.count("{") == dot.count("}")


def test_partial_concat_excludes_unused_nodes():
    g = zoo.published("NASNet")  # reduce_concat = [4, 5, 6]: states 2 and 3 stay internal
    dot = genotype_dot(g, cell="reduce")
    feeding = {a for a, b, _ in parse_edges(dot) if b == "reduce_out"}
    assert feeding == {"reduce_s4", "reduce_s5", "reduce_s6"}
    assert "normal_" not in dot and "cluster" not in dot


def test_nb201_cell_with_none_and_last_node_as_output():
    ops = ["none", "skip_connect", "nor_conv_3x3", "none", "avg_pool_3x3", "nor_conv_1x1"]
    g = nb201_genotype(ops)
    dot = genotype_dot(g)
    edges = parse_edges(dot)
    assert [a["label"] for _, _, a in edges] == ops
    assert all(a.get("style") == "dashed" for _, _, a in edges if a["label"] == "none")
    assert all(a.get("style") != "dashed" for _, _, a in edges if a["label"] != "none")
    assert "cell_out" not in dot and '"cell_s3" [label="3 (out)"' in dot
    hidden = parse_edges(genotype_dot(g, show_none=False))
    assert [a["label"] for _, _, a in hidden] == [o for o in ops if o != "none"]


def test_weights_go_on_the_right_edges():
    g = Genotype.parse("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    from workbench.spaces import NB201_OPS
    w = np.arange(6 * 5, dtype=float).reshape(6, 5) / 100
    ws = genotype_weights(g, {"cell": w}, NB201_OPS)
    oracle = {(i, src, op): w[e, NB201_OPS.index(op)]
              for e, (i, op, src) in enumerate(g.cell("cell").edges())}  # edges are in space order
    assert ws == {"cell": oracle}
    labels = [a["label"] for _, _, a in parse_edges(genotype_dot(g, weights=ws))]
    assert labels == [f"{op}\\n{oracle[(i, s, op)]:.2f}" for i, op, s in g.cell("cell").edges()]
    with pytest.raises(ValueError, match="shape"):
        genotype_weights(g, {"cell": w[:5]}, NB201_OPS)


def test_highlight_marks_only_the_given_edges():
    g = zoo.published("DARTS_V2")
    dot = genotype_dot(g, highlight={("normal", 3, 2, "dil_conv_3x3")})
    bold = [(a, b) for a, b, attrs in parse_edges(dot) if attrs.get("penwidth") == "3.2"]
    assert bold == [("normal_s2", "normal_s5")]


@pytest.mark.parametrize("a,b", [("DARTS_V1", "DARTS_V2"), ("PC_DARTS_cifar", "GDAS_V1"), ("DARTS_V2", "DARTS_V2")])
def test_diff_highlights_exactly_the_changed_edges(a, b):
    ga, gb = zoo.published(a), zoo.published(b)
    dot = genotype_diff_dot(ga, gb)
    for cell in ("normal", "reduce"):
        ea = Counter((c.n_inputs + n, s, op) for c in [ga.cell(cell)] for n, op, s in c.edges())
        eb = Counter((c.n_inputs + n, s, op) for c in [gb.cell(cell)] for n, op, s in c.edges())
        added, removed = Counter(), Counter()
        for x, y, attrs in parse_edges(dot):
            if "label" not in attrs or not x.startswith(cell):
                continue
            key = (int(y.rsplit("_s", 1)[1]), int(x.rsplit("_s", 1)[1]), attrs["label"][2:])
            if attrs["label"].startswith("+ "):
                added[key] += 1
            elif attrs["label"].startswith("− "):
                removed[key] += 1
                assert attrs["style"] == "dashed"
        assert added == eb - ea and removed == ea - eb
        assert op_edges(dot, cell) == eb + (ea - eb)
    assert "cluster_legend" in dot


def test_bad_cell_name_is_reported():
    with pytest.raises(ValueError, match="normal"):
        genotype_dot(zoo.published("DARTS_V2"), cell="cell")


@needs_dot
def test_render_svg_and_export(tmp_path):
    svg = render_svg(genotype_dot(zoo.published("AmoebaNet")))
    assert svg.startswith("<svg") and "<?xml" not in svg and "sep_conv_7x7" in svg
    g = nb201_genotype(["nor_conv_3x3"] * 6)
    for suffix, magic in ((".svg", b"<svg"), (".dot", b"digraph"), (".png", b"\x89PNG"), (".pdf", b"%PDF")):
        p = export(g, tmp_path / f"g{suffix}")
        assert p.read_bytes().startswith(magic), suffix
    with pytest.raises(ValueError, match=r"\.svg"):
        export(g, tmp_path / "g.jpg")


def test_render_svg_without_dot_says_how_to_install(monkeypatch):
    import widgets.graph as graph
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    with pytest.raises(graph.GraphvizNotFoundError, match="apt-get install graphviz"):
        graph.render_svg("digraph { a -> b }")
