"""Issue 9: every config field, supernet field, method option and data argument is checked at construction,
with the project's own error naming the field, the value and what is accepted (tests/test_fuzz.py fuzzes them)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import tiny_config

from workbench import SearchConfig, Searcher, SupernetConfig
from workbench.errors import ConfigError, ConfigTypeError
from workbench.methods import get_method
from workbench.tasks.data import DatasetNotFoundError, load_dataset


@pytest.mark.parametrize("kw, error, message", [
    ({"epochs": "3"}, ConfigTypeError, r"SearchConfig\.epochs='3' is not accepted: expected an int >= 1 \(got str\)"),
    ({"batch_size": None}, ConfigTypeError, r"SearchConfig\.batch_size=None .*an int >= 1"),
    ({"epochs": 1.5}, ConfigTypeError, r"epochs=1\.5 .*an int"),
    ({"epochs": math.inf}, ConfigTypeError, r"epochs=inf"),
    ({"epochs": True}, ConfigTypeError, r"epochs=True .*\(got bool\)"),
    ({"batch_size": 2.5}, ConfigTypeError, r"batch_size=2\.5"),
    ({"lr": math.inf}, ConfigError, r"lr=inf is not accepted: expected a finite number >= 0"),
    ({"momentum": math.nan}, ConfigError, r"momentum=nan .*in \[0, 1\)"),
    ({"momentum": 2}, ConfigError, r"momentum=2 .*in \[0, 1\)"),
    ({"momentum": -1}, ConfigError, r"momentum=-1"),
    ({"weight_decay": math.nan}, ConfigError, r"weight_decay=nan"),
    ({"seed": 99999999999999999999999}, ConfigError, r"seed=99999999999999999999999 .*in \[0, 9007199254740991\]"),
    ({"seed": -1}, ConfigError, r"seed=-1"),
    ({"train_portion": 0}, ConfigError, r"train_portion=0 .*in \(0, 1\]"),
    ({"arch_betas": (0.5,)}, ConfigError, r"arch_betas=\(0\.5,\) .*a pair"),
    ({"arch_betas": (0.5, 1.0)}, ConfigError, r"arch_betas\[1\]=1\.0"),
    ({"device": "gpu"}, ConfigError, r"device='gpu'"),
    ({"eval_each_epoch": "yes"}, ConfigTypeError, r"eval_each_epoch='yes' .*True or False"),
    ({"removed_ops": "none"}, ConfigTypeError, r"removed_ops='none' .*a list or tuple"),
    ({"removed_ops": ("bogus",)}, ConfigError, r"removed_ops=\('bogus',\) .*options of space 'nb201'.*'bogus' is not among them"),
    ({"space": "nb201", "removed_ops": ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")},
     ConfigError, r"at least one option other than 'none'"),
    ({"data_limit": 0}, ConfigError, r"data_limit=0"),
    ({"method_options": ["r"]}, ConfigTypeError, r"method_options=\['r'\] .*a mapping"),
    ({"method": "darts-v2", "method_options": {"r": None}}, ConfigTypeError,
     r"SearchConfig\.method_options=.*method 'darts-v2' option r .*=None"),
    ({"supernet": {"C": "8"}}, ConfigTypeError, r"SearchConfig\.supernet=.*SupernetConfig\.C='8'"),
    ({"supernet": {"D": 8}}, ConfigError, r"SearchConfig\.supernet=.*unknown supernet setting"),
    ({"supernet": 8}, ConfigTypeError, r"SearchConfig\.supernet=8 .*SupernetConfig"),
])
def test_search_config_rejects_with_a_message_naming_the_field(kw, error, message):
    with pytest.raises(error, match=message):
        SearchConfig(**kw)


def test_errors_are_value_and_type_errors():
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigTypeError, TypeError)
    assert issubclass(ConfigTypeError, ConfigError)


def test_values_are_normalised_and_round_trip():
    cfg = SearchConfig(epochs=np.int64(3), lr=1, arch_betas=[0.5, 0.9], removed_ops=["none"], seed=np.int32(4))
    assert cfg.epochs == 3 and type(cfg.epochs) is int and type(cfg.lr) is float and cfg.arch_betas == (0.5, 0.9)
    assert cfg.removed_ops == ("none",) and type(cfg.seed) is int
    assert SearchConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigTypeError, match="from_dict"):
        SearchConfig.from_dict(["epochs", 3])


def test_supernet_stays_none_a_config_or_a_mapping_resolved_by_the_space():
    assert SearchConfig(supernet=None).supernet == SupernetConfig()
    assert SearchConfig(supernet={"C": 4}).supernet == SupernetConfig(C=4)
    assert SearchConfig(space="custom_object_space", supernet={"width": 3}).supernet == {"width": 3}


@pytest.mark.parametrize("kw, error, message", [
    ({"C": 0}, ConfigError, r"SupernetConfig\.C=0 is not accepted: expected an int >= 1"),
    ({"C": 8.0}, ConfigTypeError, r"SupernetConfig\.C=8\.0"),
    ({"layers": None}, ConfigTypeError, r"layers=None"),
    ({"alpha_init_std": math.nan}, ConfigError, r"alpha_init_std=nan"),
    ({"affine": 1}, ConfigTypeError, r"affine=1 .*True or False"),
    ({"partial_channels": 3}, ConfigError, r"partial_channels=3 .*a divisor of C=8"),
    ({"edge_normalization": "yes"}, ConfigTypeError, r"edge_normalization='yes'"),
])
def test_supernet_config_rejects(kw, error, message):
    with pytest.raises(error, match=message):
        SupernetConfig(**kw)


@pytest.mark.parametrize("method, options, error, message", [
    ("pc-darts", {"edge_normalization": "yes"}, ConfigTypeError,
     r"method 'pc-darts' option edge_normalization='yes' is not accepted: expected True or False"),
    ("pc-darts", {"warmup_epochs": 1.5}, ConfigTypeError, r"option warmup_epochs=1\.5 .*an int >= 0"),
    ("pc-darts", {"K": 0}, ConfigError, r"option K \(channel fraction 1/K\)=0"),
    ("gdas", {"tau_min": 100}, ConfigError, r"option tau_min=100 is not accepted: .*in \(0, 10\.0\]"),
    ("gdas", {"tau_variant": "other"}, ConfigError, r"tau_variant='other' .*'autodl', 'naslib'"),
    ("darts-v2", {"r": None}, ConfigTypeError, r"method 'darts-v2' option r \(HVP eps = r/\|\|v\|\|\)=None"),
    ("darts-v2", {"r": 0}, ConfigError, r"option r .*=0 .*> 0"),
    ("darts-v2", {"hypergradient": "fd"}, ConfigError, r"hypergradient='fd' .*'finite_difference', 'exact'"),
    ("snas", {"anneal_epochs": 0}, ConfigError, r"anneal_epochs"),
    ("sdarts-rs", {"eps_min": 0.5}, ConfigError, r"eps_min=0\.5 .*in \[0, 0\.3\]"),
    ("sdarts-adv", {"steps": True}, ConfigTypeError, r"steps"),
    ("sharpdarts", {"power": 0.5}, ConfigError, r"power=0\.5"),
    ("darts-l2", {"second_order": "no"}, ConfigTypeError, r"second_order='no'"),
    ("darts-ada", {"mul_factor": 1}, ConfigError, r"mul_factor .*=1 .*> 1"),
    ("darts-ada", {"window": 0}, ConfigError, r"window=0"),
    ("darts-v1", {"r": 0.01}, ConfigError, r"does not accept option\(s\) 'r'"),
])
def test_method_options_are_checked(method, options, error, message):
    with pytest.raises(error, match=message):
        get_method(method, options)
    with pytest.raises(error, match=message):
        SearchConfig(method=method, method_options=options)


def test_load_dataset_arguments_are_checked(tmp_path):
    with pytest.raises(ConfigTypeError, match=r"load_dataset: name=None is not accepted: expected a string"):
        load_dataset(None)
    with pytest.raises(DatasetNotFoundError, match=r"mnist5k: root='.*does-not-exist' is not a folder"):
        load_dataset("mnist5k", tmp_path / "does-not-exist")
    with pytest.raises(ConfigError, match=r"seed=-1"):
        load_dataset("digits", seed=-1)
    with pytest.raises(ConfigTypeError, match=r"limit=2\.5"):
        load_dataset("digits", limit=2.5)


def test_set_op_enabled_arguments_are_checked():
    s = Searcher(tiny_config())
    before = s.masks()["cell"].copy()
    for kw, error, message in [
        ({"rows": [1.5]}, ConfigTypeError, r"set_op_enabled: rows=1\.5 is not accepted: expected an int in \[0, 2\]"),
        ({"rows": [3]}, ConfigError, r"rows=3"),
        ({"rows": "0"}, ConfigTypeError, r"rows='0'"),
        ({"enabled": "no"}, ConfigTypeError, r"enabled='no' .*True or False"),
        ({"op": "bogus"}, ConfigError, r"op='bogus' .*one of 'none', 'skip_connect'"),
        ({"group": "normal"}, ConfigError, r"group='normal' .*one of 'cell'"),
    ]:
        args = {"group": "cell", "op": "skip_connect", "enabled": False, "rows": None, **kw}
        with pytest.raises(error, match=message):
            s.set_op_enabled(args["group"], args["op"], args["enabled"], args["rows"])
    assert np.array_equal(s.masks()["cell"], before)
    for op in ("skip_connect", "nor_conv_3x3"):
        s.set_op_enabled("cell", op, False, rows=[0])
    with pytest.raises(ConfigError, match="would leave row"):
        s.set_op_enabled("cell", "avg_pool_3x3", False, rows=[0])


def test_searcher_checks_its_config_and_device():
    with pytest.raises(ConfigTypeError, match="expected a SearchConfig"):
        Searcher({"epochs": 1})
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"device='cuda' is not available"):
            Searcher(tiny_config(device="cuda"))
