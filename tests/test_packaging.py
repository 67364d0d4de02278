"""Packaging consistency: pyproject.toml, environment.yml and the shell scripts.

These tests read files only (no network, no installs) and run in well under a second.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
ENV_YML = ROOT / "environment.yml"
SCRIPTS = ["scripts/install.sh", "scripts/demo.sh", "scripts/test.sh", ".ci/run"]
FORBIDDEN = ("torchvision", "torchaudio")


# ----------------------------------------------------------------- helpers
def _pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def _env() -> dict:
    return yaml.safe_load(ENV_YML.read_text(encoding="utf-8"))


def _normalise(req_strings: list[str], where: str) -> dict[str, str]:
    """Map canonical name -> normalised requirement text ('name[extras]spec; marker')."""
    out: dict[str, str] = {}
    for raw in req_strings:
        req = Requirement(str(raw))
        name = canonicalize_name(req.name)
        assert name not in out, f"{where}: {name!r} is listed twice"
        text = name
        if req.extras:
            text += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
        text += str(req.specifier)  # SpecifierSet's str is sorted, so order-independent
        if req.url:
            text += f" @ {req.url}"
        if req.marker:
            text += f"; {req.marker}"
        out[name] = text
    return out


def _project_requirements() -> dict[str, str]:
    project = _pyproject()["project"]
    deps = list(project.get("dependencies", []))
    dev = list(project.get("optional-dependencies", {}).get("dev", []))
    assert dev, "pyproject.toml has no [project.optional-dependencies].dev"
    return _normalise(deps + dev, "pyproject.toml dependencies + dev")


def _env_pip_and_conda() -> tuple[list[str], list[str]]:
    deps = _env().get("dependencies") or []
    conda = [d for d in deps if isinstance(d, str)]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one `- pip:` section"
    return conda, [str(x) for x in pip_sections[0]]


def _diff(expected: dict[str, str], actual: dict[str, str], a: str, b: str) -> str:
    lines = difflib.unified_diff(
        [expected[k] for k in sorted(expected)],
        [actual[k] for k in sorted(actual)],
        fromfile=a,
        tofile=b,
        lineterm="",
    )
    return "\n".join(lines)


# ----------------------------------------------------------------- tests
def test_environment_yml_pip_section_matches_pyproject():
    expected = _project_requirements()
    _, pip_list = _env_pip_and_conda()
    options = [p for p in pip_list if p.lstrip().startswith("-")]
    assert not options, f"environment.yml pip section should list only packages, got {options}"
    actual = _normalise(pip_list, "environment.yml pip section")
    assert actual == expected, (
        "environment.yml `pip:` section differs from pyproject.toml "
        "[project].dependencies + dev extra (same names AND specifiers required):\n"
        + _diff(expected, actual, "pyproject.toml", "environment.yml")
    )


def test_environment_yml_conda_part():
    env = _env()
    conda, _ = _env_pip_and_conda()
    names = {re.split(r"[=<>!~ ]", c, maxsplit=1)[0].strip(): c for c in conda}
    assert "python" in names, f"no python in environment.yml conda deps: {conda}"
    assert re.fullmatch(r"python\s*=?=\s*3\.11(\.\*)?", names["python"]), (
        f"environment.yml must pin python to 3.11, got {names['python']!r}"
    )
    assert "pip" in names, "environment.yml must list pip among the conda deps"
    assert "graphviz" in names, "environment.yml must install graphviz (dot) from conda"
    assert "conda-forge" in (env.get("channels") or []), "graphviz should come from conda-forge"


def test_pyproject_basics():
    data = _pyproject()
    project = data["project"]
    assert project["scripts"]["dnas-workbench"] == "workbench.app.cli:main"
    assert project["requires-python"].startswith(">=3.11")
    find = data["tool"]["setuptools"]["packages"]["find"]
    tops = {p.split(".")[0] for p in find["include"]}
    assert tops == {"workbench", "widgets"}, f"package discovery should cover only these: {tops}"
    ini = data["tool"]["pytest"]["ini_options"]
    assert ini["testpaths"] == ["tests"]
    marker_names = {m.split(":")[0].strip() for m in ini["markers"]}
    assert {"slow", "browser", "notebook"} <= marker_names


def test_torch_pinned_exactly():
    reqs = _project_requirements()
    assert reqs.get("torch") == "torch==2.13.0", (
        f"torch must be pinned exactly torch==2.13.0 (the on-disk CPU wheel), got {reqs.get('torch')!r}"
    )


def _strings(obj):
    """Every string (keys and values) in a parsed TOML/YAML document; comments are gone."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif obj is not None:
        yield str(obj)


@pytest.mark.parametrize("path", ["pyproject.toml", "environment.yml"])
def test_no_torchvision_or_torchaudio_in_config(path):
    data = _pyproject() if path == "pyproject.toml" else _env()
    hits = [s for s in _strings(data) if any(w in s.lower() for w in FORBIDDEN)]
    assert not hits, f"{path} mentions {hits}: these pull a CUDA torch; never depend on them"


_INSTALL_CMD = re.compile(r"\b(pip3?|apt-get|apt|conda|mamba|uv)\b.*\binstall\b")


@pytest.mark.parametrize("path", SCRIPTS)
def test_scripts_never_install_torchvision(path):
    for lineno, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#", 1)[0]
        if _INSTALL_CMD.search(code):
            assert not any(w in code.lower() for w in FORBIDDEN), f"{path}:{lineno}: {line.strip()}"


def test_no_torchvision_in_any_extra():
    project = _pyproject()["project"]
    groups = {"dependencies": project.get("dependencies", [])}
    groups.update(project.get("optional-dependencies", {}))
    for group, reqs in groups.items():
        names = {canonicalize_name(Requirement(r).name) for r in reqs}
        assert not names & set(FORBIDDEN), f"{group} contains {names & set(FORBIDDEN)}"


def test_no_torchvision_installed():
    installed = {
        canonicalize_name(d.metadata["Name"] or "") for d in importlib.metadata.distributions()
    }
    assert not installed & set(FORBIDDEN), f"installed in this env: {installed & set(FORBIDDEN)}"


@pytest.mark.parametrize("path", SCRIPTS)
def test_scripts_exist_and_parse(path):
    script = ROOT / path
    assert script.is_file(), f"{path} is missing"
    assert os.access(script, os.X_OK), f"{path} is not executable (chmod +x {path})"
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, f"bash -n {path} failed:\n{proc.stderr}"


def test_all_shell_scripts_parse():
    scripts = sorted((ROOT / "scripts").glob("*.sh"))
    assert scripts, "no scripts/*.sh found"
    for script in scripts:
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"bash -n {script.relative_to(ROOT)} failed:\n{proc.stderr}"
