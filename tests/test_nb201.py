"""Tests for workbench.spaces.cell.nb201 against the NAS-Bench-201 table shipped in workbench/data/nb201/."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest

from workbench.spaces.cell import zoo
from workbench.spaces.cell.genotype import Genotype, GenotypeError, nb201_genotype
from workbench.spaces.cell.nb201 import NB201Table, canonical_str, output_reachable

TABLE = Path(__file__).resolve().parents[1] / "workbench" / "data" / "nb201" / "nb201_merged.csv.gz"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
DRNAS = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


@pytest.fixture(scope="module")
def table() -> NB201Table:
    assert TABLE.is_file(), f"the shipped NAS-Bench-201 table is missing: {TABLE}"
    return NB201Table.load(TABLE)


def test_load_and_facts(table: NB201Table) -> None:
    assert len(table) == 15625
    assert "c10_test_200ep" in table.metrics() and "lat_ms_pixel3" in table.metrics()
    best = table.best()
    assert round(best.c10, 2) == 94.37
    assert table.rank(best.arch_str) == 1
    assert round(table.best("c100_test_200ep").c100, 2) == 73.51
    assert round(table.best("in16_test_200ep").in16, 2) == 47.31
    skip = table.lookup(ALL_SKIP)
    assert skip.index == 1835
    assert (round(skip.c10, 2), round(skip.c100, 2), round(skip.in16, 2)) == (54.30, 15.61, 16.32)
    drnas = table.lookup(Genotype.from_nb201_str(DRNAS))
    assert drnas.index == 9930
    assert (round(drnas.c10, 2), round(drnas.c100, 2), round(drnas.in16, 2)) == (94.36, 73.51, 46.34)
    # two cells (6111, 13714) tie at 94.3733: both rank 1, so 9930 ranks 3 (competition ranking)
    assert best.index == 6111 and table.rank(table.record(13714).arch_str) == 1
    assert table.rank(DRNAS) == 3
    assert skip.latency("pixel3") > 0 and skip.latency("1080ti_1") > 0
    with pytest.raises(ValueError, match="known devices: .*pixel3"):
        skip.latency("tpu_v9")
    fastest = table.best("lat_ms_pixel3")  # latencies rank low-first
    assert table.rank(fastest.arch_str, "lat_ms_pixel3") == 1
    with pytest.raises(ValueError, match="unknown metric"):
        table.rank(DRNAS, "accuracy")


def test_all_strings_round_trip(table: NB201Table) -> None:
    for row in range(len(table)):
        s = table.record(row).arch_str
        g = Genotype.from_nb201_str(s)
        assert g.to_nb201_str() == s
        assert Genotype.from_json(g.to_json()) == g
    assert table.record(1835).arch_str == ALL_SKIP


def test_isomorphism_classes(table: NB201Table) -> None:
    assert table.n_isomorphism_classes() == 6466  # data README oracle (NAS-Bench-201 paper)
    merged = {canonical_str(table.record(r).arch_str, merge_unreachable=True) for r in range(len(table))}
    assert len(merged) == 6462
    # node 1 only feeds `none` edges, so its op does not matter
    variants = [nb201_genotype([op, "nor_conv_3x3", "none", "skip_connect", "none", "nor_conv_3x3"]) for op in OPS]
    assert len({canonical_str(v) for v in variants}) == 1
    cls = table.isomorphic(variants[0])
    members = {r.arch_str for r in cls}
    assert {v.to_nb201_str() for v in variants} <= members
    assert len({canonical_str(s) for s in members}) == 1
    # a differing live edge changes the class
    other = nb201_genotype(["skip_connect", "nor_conv_1x1", "none", "skip_connect", "none", "nor_conv_3x3"])
    assert canonical_str(other) != canonical_str(variants[0])
    assert [r.arch_str for r in table.isomorphic(ALL_SKIP)] == [ALL_SKIP]
    dead = nb201_genotype(["nor_conv_3x3"] * 3 + ["none"] * 3)
    assert not output_reachable(dead) and output_reachable(ALL_SKIP)
    assert canonical_str(dead, merge_unreachable=True) == "#"


def test_lookup_errors(table: NB201Table) -> None:
    with pytest.raises(GenotypeError, match="DARTS-space genotype"):
        table.lookup(zoo.published("DARTS_V2"))
    with pytest.raises(GenotypeError, match="unknown op"):
        table.lookup(nb201_genotype(["sep_conv_3x3"] * 6))
    with pytest.raises(GenotypeError, match="expected 3"):
        table.lookup("|nor_conv_3x3~0|")


def test_cache_is_fast(table: NB201Table) -> None:
    t0 = time.perf_counter()
    again = NB201Table.load(str(TABLE))
    assert again is table
    assert time.perf_counter() - t0 < 0.1


def test_load_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError) as info:
        NB201Table.load(missing)
    assert str(missing) in str(info.value) and "nb201-convert" in str(info.value)
    bad = tmp_path / "bad.csv.gz"
    with gzip.open(bad, "wt") as f:
        f.write("nb201_index,arch_str,c10_test_200ep\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,10.0\n")
    with pytest.raises(ValueError, match="c100_test_200ep, in16_test_200ep"):
        NB201Table.load(bad)


def test_small_plain_csv(tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    rows = ["nb201_index,arch_str,c10_test_200ep,c100_test_200ep,in16_test_200ep,lat_ms_fpga"]
    for k, op in enumerate(OPS):
        rows.append(f"{k},{nb201_genotype([op] * 6).to_nb201_str()},{90 + k % 3},{50},{20},{k}")
    path.write_text("\n".join(rows) + "\n")
    t = NB201Table.load(path)
    assert len(t) == 5 and t.metrics() == ["c10_test_200ep", "c100_test_200ep", "in16_test_200ep", "lat_ms_fpga"]
    assert t.best().index == 2 and t.rank(nb201_genotype(["none"] * 6)) == 4  # ties share a rank
    assert t.rank(nb201_genotype(["nor_conv_1x1"] * 6)) == 1
    assert t.lookup(nb201_genotype(["avg_pool_3x3"] * 6)).latency("fpga") == 4.0
