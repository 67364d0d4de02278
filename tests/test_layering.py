"""The engine never loads a UI module; widgets and notebooks sit on top of it."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI = ("ipywidgets", "plotly", "graphviz", "IPython", "anywidget", "widgets")


def test_importing_every_engine_module_loads_no_ui_module():
    code = (
        "import importlib, pkgutil, sys, workbench\n"
        "for m in pkgutil.walk_packages(workbench.__path__, 'workbench.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        f"bad = sorted(k for k in sys.modules if k.split('.')[0] in {UI!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine import loaded UI modules: {out.stdout.strip()}"


def test_engine_sources_import_ui_only_lazily_in_the_cli():
    """Only workbench/cli.py may import widgets, and only inside functions (the static report)."""
    offenders = []
    for path in (ROOT / "workbench").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(n.split(".")[0] in UI for n in names):
                    top_level = node in tree.body
                    if path.name != "cli.py" or top_level:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_engine_never_prints():
    offenders = []
    for path in (ROOT / "workbench").rglob("*.py"):
        if path.name in ("cli.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_no_pickle_in_what_we_save():
    """pickle appears only in the restricted CIFAR reader (a format we read, never write)."""
    users = [p.relative_to(ROOT).as_posix() for p in (ROOT / "workbench").rglob("*.py")
             if "import pickle" in p.read_text()]
    assert users in ([], ["workbench/tasks/data/formats.py"]), users
