"""What the package ships and where it reads it from: the NAS-Bench-201 table (default everywhere, one
environment variable), its converter, the latency tables, attribution, the lessons, the engine's imports,
and the wheel's contents (built here without network or build isolation)."""

from __future__ import annotations

import ast
import csv
import gzip
import io
import logging
import subprocess
import sys
import tomllib
import zipfile
from fnmatch import fnmatch
from pathlib import Path

import pytest

from workbench import data
from workbench.data import nb201_convert as nc
from workbench.spaces.cell.nb201 import NB201Table

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "workbench" / "data"
SHIPPED = DATA / "nb201" / "nb201_merged.csv.gz"
DRNAS = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))


@pytest.fixture(scope="module")
def shipped_rows() -> list[dict[str, str]]:
    return _rows(SHIPPED)


@pytest.fixture
def no_table_env(monkeypatch):
    for var in (data.NB201_ENV, data.DEPRECATED_NB201_ENV):
        monkeypatch.delenv(var, raising=False)
    data._warned.clear()


# ----------------------------------------------------------------------------------------- the shipped table
def test_the_shipped_table_is_package_data_with_the_benchmark_facts():
    assert data.shipped_nb201_path() == SHIPPED and SHIPPED.stat().st_size > 800_000
    table = NB201Table.load(SHIPPED)
    assert len(table) == 15625 and table.n_isomorphism_classes() == 6466
    assert round(table.best().c10, 2) == 94.37
    rec = table.lookup(DRNAS)
    assert rec.index == 9930 and (round(rec.c10, 2), round(rec.c100, 2), round(rec.in16, 2)) == (94.36, 73.51, 46.34)
    assert {"lat_ms_pixel3", "c10_valid_12ep"} <= set(table.metrics())


def test_the_shipped_tables_equal_the_reference_data_when_it_is_there():
    shared = ROOT.parent / "shared" / "data"
    pairs = [(SHIPPED, shared / "nb201" / "nb201_merged.csv.gz")] + [
        (DATA / "latency" / n, shared / "latency" / n)
        for n in ("proxylessnas_mobile_trim.yaml", "ofa_note10_224_lookup_table.yaml")]
    present = [(a, b) for a, b in pairs if b.is_file()]
    if not present:
        pytest.skip("../shared/data is absent (nothing to compare the shipped copies with)")
    for ours, ref in present:
        assert ours.read_bytes() == ref.read_bytes(), f"{ours} differs from {ref}"


def test_every_shipped_table_has_attribution_and_its_licence_files():
    folders = [d for d in DATA.iterdir() if d.is_dir() and d.name != "__pycache__"]
    assert {d.name for d in folders} >= {"nb201", "latency"}
    for d in folders:
        attribution = d / "ATTRIBUTION.md"
        assert attribution.is_file(), f"{d} ships tables without ATTRIBUTION.md"
        text = attribution.read_text(encoding="utf-8")
        for table in [*d.glob("*.csv.gz"), *d.glob("*.yaml")]:
            assert table.name in text, f"{attribution} does not describe {table.name}"
        for lic in d.glob("LICENSE_*.txt"):
            assert lic.name in text, f"{attribution} does not mention {lic.name}"
        assert "licen" in text.lower() and "source" in text.lower()
    nb = (DATA / "nb201" / "ATTRIBUTION.md").read_text()
    assert "MIT" in nb and "NATS-Bench" in nb and "HELP" in nb and "HW-NAS-Bench" in nb


def test_package_data_patterns_cover_every_shipped_file():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["workbench"]
    files = [p.relative_to(ROOT / "workbench").as_posix() for p in (ROOT / "workbench").rglob("*")
             if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert "py.typed" in files and "data/nb201/nb201_merged.csv.gz" in files
    missing = [f for f in files if not any(fnmatch(f, pat) for pat in patterns)]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
    assert (ROOT / "workbench" / "py.typed").is_file()


# ----------------------------------------------------------------------------------------- one variable
def test_table_resolution_explicit_then_variable_then_deprecated_then_shipped(no_table_env, monkeypatch, tmp_path,
                                                                               caplog):
    assert data.nb201_table_path() == SHIPPED
    assert data.load_nb201_table() is NB201Table.load(SHIPPED)
    other = tmp_path / "other.csv.gz"
    other.write_bytes(SHIPPED.read_bytes())
    with caplog.at_level(logging.WARNING, logger="workbench.data"):
        monkeypatch.setenv("DNAS_NB201_TABLE", str(other))
        assert data.nb201_table_path() == other  # the old name still works ...
        assert data.nb201_table_path() == other
    deprecations = [r for r in caplog.records if "DNAS_NB201_TABLE is deprecated" in r.getMessage()]
    assert len(deprecations) == 1 and "WORKBENCH_NB201_TABLE" in deprecations[0].getMessage()  # ... said once
    monkeypatch.setenv("WORKBENCH_NB201_TABLE", str(SHIPPED))
    assert data.nb201_table_path() == SHIPPED  # the documented name wins
    assert data.nb201_table_path(other) == other  # an explicit path wins over both
    monkeypatch.setenv("WORKBENCH_NB201_TABLE", str(tmp_path / "nope.csv"))
    with pytest.raises(FileNotFoundError, match=r"nope\.csv \(from \$WORKBENCH_NB201_TABLE\)"):
        data.load_nb201_table()


def test_no_code_reads_the_old_variable_name_directly():
    hits = [p for p in [*ROOT.joinpath("workbench").rglob("*.py"), *ROOT.joinpath("widgets").rglob("*.py"),
                        *ROOT.joinpath("notebooks").glob("*.ipynb"), *ROOT.joinpath("notebooks").glob("*.py")]
            if "DNAS_NB201_TABLE" in p.read_text(encoding="utf-8") and p != ROOT / "workbench/data/__init__.py"]
    assert not hits, f"read the table through workbench.data (one variable, WORKBENCH_NB201_TABLE): {hits}"
    readme = (ROOT / "README.md").read_text()
    assert "WORKBENCH_NB201_TABLE" in readme


def test_search_summary_has_ground_truth_without_any_setting(no_table_env, tmp_path, capsys):
    from workbench.app.cli import main
    out = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--epochs", "1", "--C", "4", "--data-limit", "64", "--batch-size",
                 "32", "--threads", "1", "--out", str(out), "--quiet", "--no-report"]) == 0
    stdout = capsys.readouterr().out
    import json
    summary = json.loads((out / "summary.json").read_text())
    truth = summary["nb201_truth"]
    rec = NB201Table.load(SHIPPED).lookup(summary["nb201"])
    assert truth["c10"] == rec.c10 and truth["index"] == rec.index and truth["n"] == 15625
    assert f"CIFAR-10 {rec.c10:.2f}%" in stdout and "NB201 truth" in stdout


# ----------------------------------------------------------------------------------------- the converter
def _nats_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """An API export in the layout of nats_bench.csv (row order = index), with an extra column to be ignored."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs", "ImageNetTestAccuracy200Epochs",
                    "ArchitectureString", "Unused"])
        for r in rows:
            w.writerow([r["c10_test_200ep"], r["c100_test_200ep"], r["in16_test_200ep"], r["arch_str"], "x"])


class FakeNatsApi:
    """The NATS-Bench topology API's surface (len, arch, get_more_info) over rows of the shipped table."""

    def __init__(self, rows: list[dict[str, str]]) -> None:
        self.rows, self.calls = rows, 0

    def __len__(self) -> int:
        return len(self.rows)

    def arch(self, index: int) -> str:
        return self.rows[index]["arch_str"]

    def get_more_info(self, index: int, dataset: str, iepoch=None, hp: str = "12", is_random: bool = True) -> dict:
        assert is_random is False and hp in ("12", "200")
        self.calls += 1
        col = {("cifar10", "200"): "c10_test_200ep", ("cifar100", "200"): "c100_test_200ep",
               ("ImageNet16-120", "200"): "in16_test_200ep", ("cifar10-valid", "12"): "c10_valid_12ep",
               ("cifar10", "12"): "c10_test_12ep", ("cifar100", "12"): "c100_test_12ep",
               ("ImageNet16-120", "12"): "in16_test_12ep"}[(dataset, hp)]
        key = "valid-accuracy" if dataset == "cifar10-valid" else "test-accuracy"
        return {key: float(self.rows[index][col]), "train-accuracy": 100.0, "test-loss": 0.1}


def test_convert_an_api_export_csv_plus_extra_columns(tmp_path, shipped_rows):
    some = shipped_rows[:40]
    src = tmp_path / "nats_bench.csv"
    _nats_csv(src, some)
    lat = tmp_path / "latency.csv"
    with lat.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch_str", "lat_ms_pixel3", "ignored"])
        for r in reversed(some):  # keyed by arch_str, any order
            w.writerow([r["arch_str"], r["lat_ms_pixel3"], "?"])
    out = nc.convert(tmp_path / "t.csv", nats_csv=src, extra=[lat], expect_all=False)
    table = NB201Table.load(out)
    assert len(table) == 40 and table.metrics() == ["c10_test_200ep", "c100_test_200ep", "in16_test_200ep",
                                                    "lat_ms_pixel3"]
    for r in some:
        rec = table.lookup(r["arch_str"])
        assert rec.index == int(r["nb201_index"]) and rec.c10 == float(r["c10_test_200ep"])
        assert rec.latency("pixel3") == float(r["lat_ms_pixel3"])
    with pytest.raises(nc.ConvertError, match="expected all 15625 cells"):
        nc.convert(tmp_path / "t2.csv", nats_csv=src)  # an incomplete table is refused by default


def test_convert_refuses_files_without_the_documented_structure(tmp_path, shipped_rows):
    bad = tmp_path / "bad.csv"
    bad.write_text("arch,acc\n|x|,1\n")
    with pytest.raises(nc.ConvertError, match="no column.*ArchitectureString"):
        nc.rows_from_nats_csv(bad)
    src = tmp_path / "nats_bench.csv"
    _nats_csv(src, shipped_rows[:3])
    src.write_text(src.read_text().replace(shipped_rows[1]["arch_str"], "|conv_9x9~0|+|none~0|none~1|+|a~0|b~1|c~2|"))
    with pytest.raises(nc.ConvertError, match="row 3"):
        nc.rows_from_nats_csv(src)
    with pytest.raises(nc.ConvertError, match="exactly one source"):
        nc.convert(tmp_path / "x.csv")


def test_convert_from_the_api_rebuilds_the_shipped_table_byte_for_byte(tmp_path, shipped_rows):
    api = FakeNatsApi(shipped_rows)
    lat = tmp_path / "lat.csv.gz"
    lat_cols = [c for c in shipped_rows[0] if c.startswith("lat_ms_")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["arch_str", *lat_cols])
    for r in shipped_rows:
        w.writerow([r["arch_str"], *(r[c] for c in lat_cols)])
    lat.write_bytes(gzip.compress(buf.getvalue().encode()))
    out = nc.convert(tmp_path / "rebuilt.csv.gz", api=api, extra=[lat])
    assert api.calls == 15625 * 7
    assert gzip.decompress(out.read_bytes()) == gzip.decompress(SHIPPED.read_bytes())


def test_cli_nb201_convert_with_an_export_and_with_the_official_api(tmp_path, shipped_rows, monkeypatch, capsys):
    from workbench.app.cli import main
    src = tmp_path / "nats_bench.csv"
    _nats_csv(src, shipped_rows[:25])
    out = tmp_path / "mine.csv.gz"
    assert main(["nb201-convert", "--nats-csv", str(src), "--out", str(out), "--partial", "--quiet"]) == 0
    assert "25 cells" in capsys.readouterr().out and len(NB201Table.load(out)) == 25
    assert main(["nb201-convert", "--nats-csv", str(src), "--out", str(out)]) == 2  # not all 15625 cells
    assert "expected all 15625 cells" in capsys.readouterr().err
    # --nats-dir goes through the official package: a stand-in module with nats_bench's create()
    pkg = tmp_path / "fake_site"
    pkg.mkdir()
    (pkg / "nats_bench.py").write_text(
        "import csv, gzip, io\n"
        "from test_package_data import FakeNatsApi\n"
        "def create(path, space, fast_mode=False, verbose=True):\n"
        "    assert space == 'tss' and fast_mode\n"
        "    rows = list(csv.DictReader(io.StringIO(gzip.decompress(open(path + '/rows.csv.gz', 'rb').read())"
        ".decode())))\n"
        "    return FakeNatsApi(rows)\n")
    official = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    official.mkdir()
    header = list(shipped_rows[0])
    buf = io.StringIO()
    w = csv.DictWriter(buf, header, lineterminator="\n")
    w.writeheader()
    w.writerows(shipped_rows[:10])
    (official / "rows.csv.gz").write_bytes(gzip.compress(buf.getvalue().encode()))
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    out2 = tmp_path / "official.csv"
    assert main(["nb201-convert", "--nats-dir", str(official), "--out", str(out2), "--partial", "--quiet"]) == 0
    table = NB201Table.load(out2)
    assert len(table) == 10 and table.lookup(shipped_rows[7]["arch_str"]).metrics["c10_valid_12ep"] == \
        float(shipped_rows[7]["c10_valid_12ep"])
    assert main(["nb201", "convert"]) == 2 and "nb201-convert" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- lessons
def test_lessons_are_the_course_notebooks_and_copy_into_a_folder(tmp_path, capsys):
    from workbench.app.cli import main
    from workbench.lessons import LessonsError, copy_lessons, lesson_files
    course = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    companions = sorted(p.name for p in (ROOT / "notebooks").glob("[a-z]*.py"))  # modules a lesson imports
    assert [p.name for p in lesson_files()] == course + companions and len(course) >= 10
    copies = copy_lessons(tmp_path / "course")
    assert [p.name for p in copies] == course + companions
    assert not list((tmp_path / "course").glob("_*"))  # no generator, no part
    assert (tmp_path / "course" / course[0]).read_bytes() == (ROOT / "notebooks" / course[0]).read_bytes()
    with pytest.raises(LessonsError, match="already in"):
        copy_lessons(tmp_path / "course")
    assert main(["lessons", str(tmp_path / "course")]) == 2
    assert main(["lessons", str(tmp_path / "course"), "--overwrite"]) == 0
    assert f"{len(course)} lessons in" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------- imports
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
CORE_MODULES = {"torch", "numpy", "safetensors", "tqdm"}
WIDGET_MODULES = {"ipywidgets", "anywidget", "plotly", "graphviz", "IPython", "traitlets"}


def _module_level_imports(path: Path) -> set[str]:
    """Top-level package names imported at module level (not inside functions or TYPE_CHECKING blocks)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return names


def test_the_package_imports_only_its_declared_dependencies_at_module_level():
    for package, allowed in (("workbench", CORE_MODULES), ("widgets", CORE_MODULES | WIDGET_MODULES)):
        for path in (ROOT / package).rglob("*.py"):
            extra = _module_level_imports(path) - STDLIB - allowed - {"workbench", "widgets"}
            assert not extra, f"{path.relative_to(ROOT)} imports {sorted(extra)} at module level: not a " \
                              f"{'core dependency' if package == 'workbench' else 'dependency of [widgets]'}"


def test_importing_the_engine_and_the_cli_loads_no_optional_package():
    code = ("import sys, workbench, workbench.app.cli, workbench.data, workbench.lessons\n"
            "bad = sorted(m for m in ('scipy', 'yaml', 'nbformat', 'nbclient', 'jupyterlab', 'plotly', 'ipywidgets',"
            " 'mlxtend', 'sklearn') if m in sys.modules)\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------------------- the wheel
@pytest.mark.slow
def test_the_wheel_carries_the_tables_the_lessons_the_licence_and_py_typed(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "-w", str(tmp_path), "--no-deps",
                           "--no-build-isolation", "--quiet", "--disable-pip-version-check"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = tmp_path.glob("dnas_workbench-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for f in ("workbench/data/nb201/nb201_merged.csv.gz", "workbench/data/nb201/ATTRIBUTION.md",
              "workbench/data/nb201/LICENSE_HELP_MIT.txt", "workbench/data/latency/proxylessnas_mobile_trim.yaml",
              "workbench/data/latency/ofa_note10_224_lookup_table.yaml", "workbench/data/latency/ATTRIBUTION.md",
              "workbench/py.typed", "workbench/lessons/__init__.py", "workbench/data/__init__.py"):
        assert f in names, f"{f} is not in {wheel.name}"
    lessons = {n.rsplit("/", 1)[1] for n in names if n.startswith("workbench/lessons/") and n.endswith(".ipynb")}
    assert lessons == {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert not [n for n in names if "_build" in n or n.startswith(("tests/", "notebooks/", "benchmarks/"))]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in meta
    requires = [ln.split(": ", 1)[1] for ln in meta.splitlines() if ln.startswith("Requires-Dist: ")]
    core = sorted(r.split(">")[0].split("=")[0].strip() for r in requires if "extra ==" not in r)
    assert core == ["numpy", "safetensors", "torch", "tqdm"], requires
    assert "torch>=2.4" in requires and not [r for r in requires if r.startswith("torch==")]
