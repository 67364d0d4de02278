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
#: the CPU wheel on this machine's disk: the installer and environment.yml install exactly this one
CPU_TORCH = "2.13.0"
#: what the engine imports (tests/test_package_data.py checks the imports against this list)
CORE = {"torch", "numpy", "safetensors", "tqdm"}
EXTRAS = {"widgets", "lab", "datasets", "export", "ray", "dev"}


# ----------------------------------------------------------------- helpers
def _pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def _env() -> dict:
    return yaml.safe_load(ENV_YML.read_text(encoding="utf-8"))


def _normalise(req_strings: list[str], where: str, repeats: bool = False) -> dict[str, str]:
    """Map canonical name -> normalised requirement text ('name[extras]spec; marker'). With ``repeats`` a name
    may appear more than once (in several extras) if every occurrence is the same requirement."""
    out: dict[str, str] = {}
    for raw in req_strings:
        req = Requirement(str(raw))
        name = canonicalize_name(req.name)
        assert repeats or name not in out, f"{where}: {name!r} is listed twice"
        text = name
        if req.extras:
            text += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
        text += str(req.specifier)  # SpecifierSet's str is sorted, so order-independent
        if req.url:
            text += f" @ {req.url}"
        if req.marker:
            text += f"; {req.marker}"
        assert out.setdefault(name, text) == text, f"{where}: {name!r} listed as {out[name]!r} and {text!r}"
    return out


def _project_requirements() -> dict[str, str]:
    """[project].dependencies plus every extra (a package in two extras must have the same spec in both)."""
    project = _pyproject()["project"]
    deps = list(project.get("dependencies", []))
    extras = project.get("optional-dependencies", {})
    assert set(extras) == EXTRAS, f"pyproject.toml extras: {sorted(extras)}, expected {sorted(EXTRAS)}"
    everything = deps + [r for group in extras.values() for r in group]
    return _normalise(everything, "pyproject.toml dependencies + extras", repeats=True)


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
    # the one allowed difference: environment.yml pins torch to the CPU wheel inside pyproject's range
    assert actual.get("torch") == f"torch=={CPU_TORCH}", f"environment.yml must pin torch=={CPU_TORCH}"
    assert Requirement(expected["torch"]).specifier.contains(CPU_TORCH)
    expected = {**expected, "torch": actual["torch"]}
    assert actual == expected, (
        "environment.yml `pip:` section differs from pyproject.toml "
        "[project].dependencies + every extra (same names AND specifiers required):\n"
        + _diff(expected, actual, "pyproject.toml", "environment.yml")
    )


def test_core_dependencies_are_what_the_engine_imports():
    core = _normalise(_pyproject()["project"]["dependencies"], "[project].dependencies")
    assert set(core) == CORE, f"core dependencies {sorted(core)}; expected {sorted(CORE)} (UI, lab and test " \
                              "packages belong in the extras)"
    extras = _pyproject()["project"]["optional-dependencies"]
    names = {g: {canonicalize_name(Requirement(r).name) for r in reqs} for g, reqs in extras.items()}
    assert names["widgets"] == {"ipywidgets", "anywidget", "plotly", "graphviz"}
    assert {"jupyterlab", "ipykernel"} | names["widgets"] <= names["lab"]  # the lessons need the views too
    assert {"pytest", "ruff", "playwright", "nbclient", "nbformat", "scipy", "pyyaml"} <= names["dev"]
    for never in ("jupyterlab", "nbclient", "nbformat", "pyyaml", "scipy", "scikit-learn", "ipywidgets", "plotly"):
        assert never not in core, f"{never} is not imported by the engine: keep it out of the core dependencies"


def test_licence_is_declared_and_shipped():
    project = _pyproject()["project"]
    assert project["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
    assert "LICENSE" in project["license-files"]
    assert re.search(r"MIT licen[cs]e", (ROOT / "README.md").read_text(encoding="utf-8"), re.I), \
        "README.md should say which licence the project has"
    build = _pyproject()["build-system"]["requires"]
    assert any(Requirement(r).name == "setuptools" and Requirement(r).specifier.contains("77") for r in build)


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


def test_torch_is_a_range_that_the_cpu_wheel_satisfies():
    spec = Requirement(_project_requirements()["torch"]).specifier
    assert spec.contains(CPU_TORCH) and not any(s.operator in ("==", "===") for s in spec), (
        f"the package metadata takes a torch range that {CPU_TORCH} satisfies, not a pin; got {spec}")


def test_installer_installs_the_cpu_wheel_first_then_every_extra():
    text = (ROOT / "scripts/install.sh").read_text(encoding="utf-8")
    assert f'TORCH_SPEC="torch=={CPU_TORCH}"' in text
    extras = re.search(r'^EXTRAS="([^"]+)"', text, re.M)
    assert extras and set(extras.group(1).split(",")) == EXTRAS, "install.sh must install every extra"
    first, second = text.index('install --disable-pip-version-check "$TORCH_SPEC"'), text.index('-e ".[$EXTRAS]"')
    assert first < second, "the exact CPU wheel must be installed before the package's torch range"
    assert "scripts/test.sh" in (ROOT / ".ci/run").read_text() and "install.sh" in (ROOT / "scripts/test.sh").read_text()


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
