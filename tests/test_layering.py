"""The engine never loads or imports a UI module and never prints; widgets and notebooks sit on top of it.

The engine is everything under ``workbench/`` except the application layer ``workbench/app/``. Only
``workbench/app/`` may import ``widgets`` (and UI libraries), and only lazily, inside functions; only the
CLI package ``workbench/app/cli/`` prints.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "workbench"
APP = PKG / "app"
CLI = APP / "cli"
UI = ("ipywidgets", "plotly", "graphviz", "IPython", "anywidget", "widgets")


def _sources() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def _imports(tree: ast.AST) -> list[tuple[ast.stmt, list[str]]]:
    """Every import statement (at any depth) with the top-level names it imports (relative imports skipped)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.append((node, [a.name.split(".")[0] for a in node.names]))
        elif isinstance(node, ast.ImportFrom) and not node.level:
            out.append((node, [(node.module or "").split(".")[0]]))
    return out


def _inside_function(tree: ast.AST) -> set[int]:
    """ids of the nodes that sit inside a function or method body."""
    inside: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            inside.update(id(n) for n in ast.walk(fn) if n is not fn)
    return inside


def test_importing_every_engine_module_loads_no_ui_module():
    code = (
        "import importlib, pkgutil, sys, workbench\n"
        "for m in pkgutil.walk_packages(workbench.__path__, 'workbench.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        f"bad = sorted(k for k in sys.modules if k.split('.')[0] in {UI!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing workbench (app layer included) loaded UI modules: {out.stdout}"


def test_engine_sources_never_import_ui_modules():
    """Not even lazily: an engine module (outside workbench/app/) has no import of a UI module anywhere."""
    offenders = []
    for path in _sources():
        if path.is_relative_to(APP):
            continue
        for node, names in _imports(ast.parse(path.read_text())):
            if any(n in UI for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {', '.join(names)}")
    assert not offenders, offenders


def test_only_the_app_layer_imports_ui_and_only_inside_functions():
    offenders = []
    for path in _sources():
        if not path.is_relative_to(APP):
            continue
        tree = ast.parse(path.read_text())
        inside = _inside_function(tree)
        for node, names in _imports(tree):
            if any(n in UI for n in names) and id(node) not in inside:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {', '.join(names)} at module level")
    assert not offenders, offenders


def test_the_layering_checks_catch_what_they_should():
    lazy = ast.parse("def f():\n    from widgets.report import write_report\n")
    eager = ast.parse("try:\n    import plotly.graph_objects as go\nexcept ImportError:\n    go = None\n")
    (node, names), = _imports(lazy)
    assert names == ["widgets"] and id(node) in _inside_function(lazy)
    (node, names), = _imports(eager)
    assert names == ["plotly"] and id(node) not in _inside_function(eager)


def test_only_the_cli_prints():
    """print() and sys.stdout/sys.stderr writes appear only in the CLI package (it prints by design)."""
    offenders = []
    for path in _sources():
        if path.is_relative_to(CLI):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if getattr(f, "id", None) == "print" or (
                    isinstance(f, ast.Attribute) and f.attr in ("write", "writelines")
                    and isinstance(f.value, ast.Attribute) and f.value.attr in ("stdout", "stderr")
                    and getattr(f.value.value, "id", None) == "sys"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_the_cli_is_a_package_with_one_module_per_command():
    assert not (APP / "cli.py").exists()
    modules = {p.stem for p in CLI.glob("*.py")}
    assert {"search", "resume", "genotype", "nb201", "evaluate", "compare", "runs"} <= modules
    for path in CLI.glob("*.py"):
        text = path.read_text()
        assert ast.get_docstring(ast.parse(text)), f"{path.name} has no module docstring"
        assert len(text.splitlines()) <= 400, f"{path.name} is over 400 lines"


def test_no_pickle_in_what_we_save():
    """pickle appears only in the restricted CIFAR reader (a format we read, never write)."""
    users = [p.relative_to(ROOT).as_posix() for p in _sources() if "import pickle" in p.read_text()]
    assert users in ([], ["workbench/tasks/data/formats.py"]), users
