"""Bad command-line input gives a clean ``workbench: error: ...`` (exit 2, or 1 for unreadable files), never a
traceback; tampered run folders stay usable through the CLI."""
from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.app import cli as cli_mod
from workbench.app.cli import main
from workbench.runs import list_checkpoints, load_run
from workbench.spaces.cell.zoo import published

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--space", "toy", "--epochs", "1", "--C", "4", "--data-limit", "160", "--batch-size", "16", "--seed", "0",
        "--threads", "1", "--quiet", "--no-report"]


def run(argv: list[str]) -> tuple[int, str, str]:
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        code = main(argv)
    return code, so.getvalue(), se.getvalue()


def clean_error(err: str, *names: str) -> str:
    """``err`` is one or two lines starting ``workbench: error:`` that name every one of ``names``."""
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 2, err
    assert lines[0].startswith("workbench: error: "), err
    assert "Traceback" not in err
    for name in names:
        assert name in lines[0], (name, err)
    return lines[0]


@pytest.fixture
def no_search(monkeypatch):
    """Fail the test if the `search` command gets as far as building a Searcher."""
    class Refused:
        def __init__(self, *a, **k):
            pytest.fail("a search was started")

    monkeypatch.setattr(cli_mod.search, "Searcher", Refused)


# ---------------------------------------------------------------------- 1. long genotype text is text
def test_long_darts_text_is_parsed_not_opened_as_a_file(capsys):
    darts = str(published("DARTS_V2"))
    assert len(darts) > 255  # longer than a file name may be (ENAMETOOLONG when tried as a path)
    code, out, err = run(["genotype", darts, "--to", "darts"])
    assert code == 0, err
    assert out.strip() == published("DARTS_V2").to_darts_str()
    code, out, err = run(["evaluate", darts, "--device", "gpu"])  # parsed, then the device is refused
    assert code == 2
    clean_error(err, "--device", "'gpu'", "cpu, cuda")


def test_long_garbage_argument_is_a_clean_genotype_error():
    for text in ("x" * 5000, "a/" * 2500, "\x00bad", "é" * 3000):
        code, out, err = run(["genotype", text])
        assert code == 2 and out == ""
        line = clean_error(err, "genotype")
        assert len(line) < 1500  # the input is quoted cut short, not echoed whole
    code, _, err = run(["evaluate", "x" * 5000, "--epochs", "1"])
    assert code == 2
    clean_error(err, "genotype")


def test_subprocess_long_genotype_text():
    darts = str(published("DARTS_V2"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "workbench", "genotype", darts, "--to", "nb201"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert "Traceback" not in res.stderr and "File name too long" not in res.stderr
    assert res.returncode in (0, 2)  # a DARTS cell has no NB201 form: a clean error is fine
    res = subprocess.run([sys.executable, "-m", "workbench", "genotype", darts], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "Traceback" not in res.stderr and res.stdout.startswith("darts ")


# ---------------------------------------------------------------------- 2. --out is a file
def test_search_out_is_a_file(tmp_path, no_search):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    code, _, err = run(["search", *TINY, "--out", str(f)])
    assert code == 2
    clean_error(err, "--out", str(f))
    assert f.read_text() == "keep me"
    code, _, err = run(["search", *TINY, "--out", str(f / "run")])  # a file as a parent folder
    assert code in (1, 2)
    clean_error(err)


# ---------------------------------------------------------------------- 3. refused pickle, bad devices
class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_malicious_cifar_pickle_is_refused_cleanly(tmp_path, monkeypatch):
    root = tmp_path / "cifar"
    root.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (root / name).write_bytes(pickle.dumps(_Evil()))
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["search", *TINY, "--dataset", "cifar10", "--data-root", str(root),
                        "--out", str(tmp_path / "run")])
    assert code in (1, 2)
    clean_error(err, "data_batch_1", ".system", "refusing")
    assert not (tmp_path / "pwned.txt").exists()


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "", "tpu"])
def test_evaluate_and_search_refuse_unknown_devices(device, no_search):
    code, _, err = run(["evaluate", "DARTS_V2", "--device", device, "--epochs", "1"])
    assert code == 2
    clean_error(err, "--device", "cpu, cuda")
    code, _, err = run(["search", *TINY, "--device", device])
    assert code == 2
    clean_error(err, "--device", "cpu, cuda")


def test_cuda_without_a_gpu_is_a_clean_error(no_search):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is available")
    for argv in (["evaluate", "DARTS_V2", "--device", "cuda", "--epochs", "1"], ["search", *TINY, "--device", "cuda"]):
        code, _, err = run(argv)
        assert code == 2
        clean_error(err, "--device cuda", "use cpu or auto")


# ---------------------------------------------------------------------- 4. bad numeric flags
@pytest.mark.parametrize("argv, names", [
    (["--lr", "inf"], ["--lr", "finite"]),
    (["--momentum", "nan"], ["--momentum", "finite"]),
    (["--momentum", "2"], ["--momentum", "[0, 1)"]),
    (["--momentum=-1"], ["--momentum", "[0, 1)"]),
    (["--weight-decay", "nan"], ["--weight-decay", "finite"]),
    (["--seed", "99999999999999999999999"], ["--seed"]),
    (["--seed=-1"], ["--seed"]),
    (["--epochs", "1.5"], ["--epochs", "integer"]),
    (["--batch-size", "0"], ["--batch-size", ">= 1"]),
    (["--method", "pc-darts", "--method-option", "edge_normalization=yes"],
     ["--method-option", "edge_normalization", "True or False"]),
    (["--keep", "0"], ["--keep", ">= 1"]),
    (["--checkpoint-every=-1"], ["--checkpoint-every", ">= 0"]),
    (["--threads", "0"], ["--threads", ">= 1"]),
])
def test_bad_numeric_flags_exit_2_naming_the_flag(argv, names, tmp_path, no_search):
    code, _, err = run(["search", *TINY, *argv, "--out", str(tmp_path / "x")])
    assert code == 2
    clean_error(err, *names)
    assert not (tmp_path / "x").exists()


def test_evaluate_bad_numbers_name_the_flag():
    code, _, err = run(["evaluate", "DARTS_V2", "--epochs", "0"])
    assert code == 2
    clean_error(err, "--epochs")
    code, _, err = run(["evaluate", "DARTS_V2", "--drop-path-prob", "nan"])
    assert code == 2
    clean_error(err, "--drop-path-prob")


# ---------------------------------------------------------------------- 5. fuzz
INT_FLAGS = ["--epochs", "--batch-size", "--seed", "--C", "--layers", "--cells-per-stage", "--data-limit",
             "--checkpoint-every", "--keep", "--threads"]
FLOAT_FLAGS = ["--lr", "--arch-lr", "--arch-weight-decay", "--weight-decay", "--momentum", "--grad-clip",
               "--train-portion"]
BAD_ANY = st.one_of(
    st.sampled_from(["inf", "-inf", "+inf", "Infinity", "nan", "NaN", "-nan", "1e400", "-1e400", "", " ", "1_0",
                     "0x10", "1,5", "--", "１", "٣", "½", "1e", "e5", "Ⅻ", "1 2", "3\u00a0", "True", "none"]),
    st.integers(min_value=-10**30, max_value=-1).map(str),                     # negatives
    st.floats(max_value=-1e-3, allow_nan=False, allow_infinity=False).map(repr),  # negative reals
    st.text(st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="."), min_size=1, max_size=8),
)
HUGE = st.integers(min_value=10**19, max_value=10**40).map(str)  # bad for int flags (a huge --lr is legal)
NON_INT = st.one_of(st.floats(min_value=0.1, max_value=1e6, allow_nan=False).filter(lambda x: x != int(x)).map(repr),
                    st.sampled_from(["1.0", "2e0", "1e3", ".5", "3."]))
EXAMPLES = {"n": 0}


@settings(max_examples=150, derandomize=True, deadline=None)
@given(data=st.data())
def test_fuzz_bad_numeric_flags_are_refused_before_any_search(data):
    flag = data.draw(st.sampled_from(INT_FLAGS + FLOAT_FLAGS), label="flag")
    strategy = st.one_of(BAD_ANY, NON_INT, HUGE) if flag in INT_FLAGS else BAD_ANY
    value = data.draw(strategy, label="value")
    EXAMPLES["n"] += 1
    original = cli_mod.search.Searcher

    class Refused:
        def __init__(self, *a, **k):
            raise AssertionError(f"a search was started with {flag}={value!r}")

    cli_mod.search.Searcher = Refused
    try:
        code, out, err = run(["search", *TINY, f"{flag}={value}", "--out", "/nonexistent-workbench-fuzz/run"])
    finally:
        cli_mod.search.Searcher = original
    assert code != 0, (flag, value)
    assert code == 2, (flag, value, err)
    assert "Traceback" not in out + err
    field = flag[2:].replace("-", "_")
    line = clean_error(err)
    assert flag in line or field in line, (flag, value, err)


def test_fuzz_ran_its_examples():
    """Runs after the fuzz test (file order) and reports how many examples it drew (0 when deselected)."""
    print(f"fuzz examples: {EXAMPLES['n']}")
    assert EXAMPLES["n"] == 0 or EXAMPLES["n"] >= 100


# ---------------------------------------------------------------------- 6. tampered run folders
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("inputs") / "run"
    code, _, err = run(["search", "--space", "toy", "--dataset", "digits", "--data-limit", "160", "--batch-size", "16",
                        "--epochs", "2", "--seed", "0", "--C", "4", "--out", str(out), "--threads", "1", "--no-report",
                        "--quiet", "--keep", "5"])
    assert code == 0, err
    return out


def _copy(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst)
    return dst


def test_resume_falls_back_from_a_tampered_checkpoint(tiny_run, tmp_path):
    run_dir = _copy(tiny_run, tmp_path / "run")
    cks = list_checkpoints(run_dir)
    assert len(cks) >= 2
    newest, previous = cks[-1], cks[-2]
    text = newest.read_text()
    m = re.search(r'(?<=[:\[, ])(\d)(?=[\d.,\]e])', text[len(text) // 2:])
    assert m
    i = len(text) // 2 + m.start()
    newest.write_text(text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1:])  # one digit edited
    code, _, err = run(["resume", str(run_dir), "--epochs", "3", "--threads", "1", "--quiet", "--no-report"])
    assert code == 0, err
    assert "Traceback" not in err
    assert "workbench: warning:" in err and newest.name in err and previous.name in err
    assert load_run(run_dir).finished
    info = json.loads((run_dir / "config.json").read_text())
    assert info["resumes"][-1]["checkpoint"] == previous.name


def test_runs_show_reports_a_malformed_steps_line(tiny_run, tmp_path):
    run_dir = _copy(tiny_run, tmp_path / "run")
    steps = run_dir / "steps.jsonl"
    lines = steps.read_text().splitlines(keepends=True)
    mid = len(lines) // 2
    lines[mid] = '{"step": 5, "train_loss": oops\n'
    steps.write_text("".join(lines))
    code, out, err = run(["runs", "show", str(run_dir)])
    assert code == 0, err
    assert "Traceback" not in out + err
    assert "status       finished" in out and "  epoch " in out
    assert "skipped      1 corrupt log line:" in out and f"steps.jsonl line {mid + 1}" in out


def test_resume_falls_back_from_a_checkpoint_that_does_not_fit_the_model(tiny_run, tmp_path):
    """A checkpoint re-saved (validly hashed) with a bool weight: refused before anything is applied."""
    import torch

    from workbench import serialize
    run_dir = _copy(tiny_run, tmp_path / "run")
    cks = list_checkpoints(run_dir)
    newest, previous = cks[-1], cks[-2]
    sd = serialize.load(newest)
    key = next(k for k, v in sd["model"].items() if v.dtype == torch.float32 and v.ndim == 4)
    sd["model"][key] = sd["model"][key] > 0  # bool weights
    serialize.save(newest.with_suffix(""), sd, {"step": sd["step"]})
    code, _, err = run(["resume", str(run_dir), "--epochs", "3", "--threads", "1", "--quiet", "--no-report"])
    assert code == 0, err
    assert "Traceback" not in err and newest.name in err and previous.name in err
    info = json.loads((run_dir / "config.json").read_text())
    assert info["resumes"][-1]["checkpoint"] == previous.name


@pytest.mark.parametrize("edit", ["wrong_type", "missing_key"])
def test_resume_of_a_broken_config_json_names_the_key_and_loses_nothing(tiny_run, tmp_path, edit):
    run_dir = _copy(tiny_run, tmp_path / "run")
    info = json.loads((run_dir / "config.json").read_text())
    if edit == "wrong_type":
        info["config"]["epochs"] = "three"
    else:
        del info["space"]
    (run_dir / "config.json").write_text(json.dumps(info))
    before = {p.name: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    code, out, err = run(["resume", str(run_dir), "--threads", "1", "--quiet", "--no-report"])
    assert code != 0 and "Traceback" not in out + err
    assert "workbench: error:" in err and ("epochs" in err if edit == "wrong_type" else "space" in err)
    after = {p.name: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert after == before  # nothing was written, moved or deleted


def test_resume_removes_an_orphan_checkpoint_tmp_file(tiny_run, tmp_path):
    run_dir = _copy(tiny_run, tmp_path / "run")
    orphan = run_dir / "checkpoints" / ".step_00000010.json.999999.deadbeef.tmp"  # a writer (pid 999999) killed
    orphan.write_text('{"half": ')
    code, _, err = run(["resume", str(run_dir), "--epochs", "3", "--threads", "1", "--quiet", "--no-report"])
    assert code == 0, err
    assert not orphan.exists()
    assert load_run(run_dir).finished
