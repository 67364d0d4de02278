"""Config files (``--config FILE``, TOML or JSON): defaults < file < flags, unknown keys and bad values refused
with the key named, and ``--print-config`` output read back as a config file gives the same settings."""
from __future__ import annotations

import contextlib
import io
import json

import pytest

from workbench.app.cli import main
from workbench.app.config_file import ConfigFileError, check_keys, read_config_file


def _main(*argv: str) -> tuple[int, str, str]:
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        code = main(list(argv))
    return code, so.getvalue(), se.getvalue()


def _printed(*argv: str) -> dict:
    code, out, err = _main(*argv, "--print-config")
    assert code == 0, err
    return json.loads(out)


SEARCH_TOML = """
space = "toy"
method = "darts-v2"
epochs = 7
lr = 0.05
arch_betas = [0.6, 0.99]
removed_ops = ["avg_pool_3x3"]
data_limit = 300
deterministic = true
cuda_graphs = false
[method_options]
r = 0.05
[supernet]
C = 6
layers = 2
"""


def test_read_toml_and_json(tmp_path):
    (tmp_path / "a.toml").write_text('epochs = 3\n[supernet]\nC = 4\n')
    (tmp_path / "a.json").write_text('{"epochs": 3, "supernet": {"C": 4}, "objective": null}')
    assert read_config_file(tmp_path / "a.toml") == {"epochs": 3, "supernet": {"C": 4}}
    assert read_config_file(tmp_path / "a.json") == {"epochs": 3, "supernet": {"C": 4}, "objective": None}
    (tmp_path / "bad.toml").write_text("epochs = \n")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "a.yaml").write_text("epochs: 3")
    for name, message in (("bad.toml", "not valid TOML"), ("list.json", "a table of settings"),
                          ("a.yaml", ".toml or .json"), ("missing.toml", "not found")):
        with pytest.raises(ConfigFileError, match=message):
            read_config_file(tmp_path / name)
    with pytest.raises(ConfigFileError, match=r"unknown key 'arch_lrr' \(did you mean 'arch_lr'\?\); valid keys: "
                                              r"arch_lr, epochs"):
        check_keys({"arch_lrr": 1}, ["epochs", "arch_lr"], "here")


def test_the_file_sets_the_defaults_and_flags_win(tmp_path):
    path = tmp_path / "search.toml"
    path.write_text(SEARCH_TOML)
    cfg = _printed("search", "--config", str(path), "--epochs", "2", "--method-option", "hypergradient=\"exact\"",
                   "--supernet", "layers=3")
    assert cfg["epochs"] == 2 and cfg["lr"] == 0.05 and cfg["arch_betas"] == [0.6, 0.99]  # flag > file > default
    assert cfg["method"] == "darts-v2" and cfg["method_options"] == {"r": 0.05, "hypergradient": "exact"}
    assert cfg["supernet"]["C"] == 6 and cfg["supernet"]["layers"] == 3 and cfg["removed_ops"] == ["avg_pool_3x3"]
    assert cfg["deterministic"] is True and cfg["cuda_graphs"] is False and cfg["data_limit"] == 300
    assert cfg["momentum"] == 0.9  # untouched: the SearchConfig default


@pytest.mark.parametrize("text, message", [
    ("arch_lrr = 0.1\n", "unknown key 'arch_lrr' (did you mean 'arch_lr'?); valid keys: "),
    ("epochs = 1.5\n", "epochs: expected an integer, got '1.5'"),
    ("lr = \"fast\"\n", "lr: expected a finite number"),
    ("deterministic = 1\n", "deterministic must be true or false"),
    ("method_options = 3\n", "method_options must be a table"),
    ("arch_betas = [0.5]\n", "arch_betas takes 2 values"),
    ("space = 5\n", "space must be a text"),
    ("lr = -1.0\n", "--lr: SearchConfig.lr=-1.0"),  # checked by SearchConfig, as the flag is
])
def test_bad_keys_and_values_name_the_key(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    code, _, err = _main("search", "--config", str(path), "--print-config")
    assert code == 2 and message in err, err
    if "valid keys" in message:
        assert "arch_lr" in err.split("valid keys:")[1] and "method_options" in err and "data_root" in err


@pytest.mark.parametrize("command, extra", [
    ("search", ["--space", "toy", "--method", "darts-v2", "--method-option", "r=0.02", "--eval-every", "2"]),
    ("compare", ["--space", "toy", "--methods", "darts-v2,sdarts-rs", "--method-option", "darts-v2:r=0.02",
                 "--seeds", "3", "4"]),
    ("sweep", ["--space", "toy", "--method", "darts-v2", "--grid", "arch_lr=3e-4,1e-3", "--grid", "r=[0.01,0.1]",
               "--seeds", "0,1"]),
])
def test_print_config_reads_back_as_the_same_settings(tmp_path, command, extra):
    flags = [*extra, "--epochs", "3", "--lr", "0.04", "--supernet", "C=4", "--arch-betas", "0.4", "0.9",
             "--data-root", str(tmp_path), "--no-eval-each-epoch"]
    first = _printed(command, *flags)
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(first))
    assert _printed(command, "--config", str(path)) == first
    toml = tmp_path / "settings.toml"  # the same as TOML (no nulls in TOML: those keys are left out)
    toml.write_text(_to_toml(first))
    assert _printed(command, "--config", str(toml)) == first
    assert first["epochs"] == 3 and first["supernet"]["C"] == 4 and first["data_root"] == str(tmp_path)
    assert first["eval_each_epoch"] is False


def test_compare_file_takes_per_method_option_tables(tmp_path):
    path = tmp_path / "cmp.toml"
    path.write_text('methods = ["sdarts-rs", "sdarts-adv"]\nseeds = [0, 2]\nepochs = 2\n'
                    '[method_options]\nepsilon = 0.1\n[method_options.sdarts-adv]\nsteps = 3\n')
    cfg = _printed("compare", "--config", str(path), "--space", "toy")
    assert cfg["methods"] == ["sdarts-rs", "sdarts-adv"] and cfg["seeds"] == [0, 2] and cfg["epochs"] == 2
    assert cfg["method_options"] == {"sdarts-rs": {"epsilon": 0.1}, "sdarts-adv": {"epsilon": 0.1, "steps": 3}}


def _to_toml(d: dict) -> str:
    """A flat TOML writer for the test (tables last, nulls left out)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)
    lines, tables = [], []
    for k, v in d.items():
        if v is None:
            continue
        (tables if isinstance(v, dict) else lines).append((k, v))
    out = [f"{k} = {value(v)}" for k, v in lines]
    for k, v in tables:
        sub = [(ik, iv) for ik, iv in v.items() if iv is not None]
        out.append(f'["{k}"]')
        for ik, iv in sub:
            if isinstance(iv, dict):
                out.append(f'"{ik}" = {{ ' + ", ".join(f'"{a}" = {value(b)}' for a, b in iv.items()) + " }")
            else:
                out.append(f'"{ik}" = {value(iv)}')
    return "\n".join(out) + "\n"
