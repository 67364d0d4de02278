"""The search settings as flags: every SearchConfig field has one, shared by ``search``, ``compare`` and ``sweep``.

:func:`config_flags` adds them (:data:`~workbench.app.cli.common.CONFIG_FLAGS`
maps each field to its flag; tests/test_cli_parity.py checks that none is
missing), :func:`config_from_args` builds the SearchConfig from them (names
checked against the registries, options by the method's preset, a rejected
value named by its flag), and :func:`config_file_flags` adds ``--config FILE``
(read by :mod:`workbench.app.cli.config_args`) and ``--print-config``.
"""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from workbench.app.cli.common import (
    UsageError,
    check_device,
    check_name,
    dataset_name,
    flag_error,
    float_arg,
    int_arg,
    parse_options,
)
from workbench.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from workbench.search import SearchConfig


#: the flags that set one SearchConfig field each, by field, unchanged
FLAT_FIELDS = ("epochs", "batch_size", "lr", "lr_min", "arch_lr", "arch_weight_decay", "weight_decay", "momentum",
               "grad_clip", "train_portion", "data_root", "data_limit", "objective")
#: cell-space supernet settings with their own flags (any space's settings: ``--supernet KEY=VALUE``)
NET_FLAGS = ("C", "layers", "cells_per_stage")


def config_from_args(args: argparse.Namespace, method: str, options: dict[str, Any],
                     seed: int | None = None) -> SearchConfig:
    """A SearchConfig from the flags :func:`config_flags` adds, for ``method`` with ``options`` (and ``seed``;
    None keeps the default). Names are checked against the registries, options by the method's preset.

    Built-in names (and an unknown name's error), a built-in preset with or without options or
    ``--paper-defaults`` and a built-in space (with ``--remove-op``: a cell or chain space) need neither the
    registries nor torch
    (``--print-config`` starts fast; a hardware preset's ``cost`` naming a latency table loads the table):
    :mod:`~workbench.app.cli.help_names` lists the built-ins, :mod:`workbench.methods.preset_options` checks the
    presets' options and holds the papers' settings,
    :mod:`workbench.spaces.builtin_settings` the spaces' settings and default datasets."""
    from workbench.config import SearchConfig
    from workbench.spaces.builtin_settings import DEFAULT_DATASETS

    check_space(args.space)
    check_method(method)
    # where no flag names a value: the paper's settings (--paper-defaults), else the preset's CPU-scale size
    base = preset_defaults(method, options, paper=getattr(args, "paper_defaults", False))  # validates the options
    named = base.pop("dataset", None)
    default = named or DEFAULT_DATASETS.get(args.space) or _registered_space(args.space).default_dataset
    dataset = dataset_name(args.dataset if args.dataset is not None else default)
    if args.remove_op:
        check_remove_ops(args.space, args.remove_op)
    net = parse_options(getattr(args, "supernet", []), "--supernet", "C=16")
    net.update({k: getattr(args, k) for k in NET_FLAGS if getattr(args, k, None) is not None})
    flat = {k: getattr(args, k) for k in FLAT_FIELDS if getattr(args, k, None) is not None}
    fields = SearchConfig.__dataclass_fields__
    for k, v in base.items():
        if k in fields and k not in flat and getattr(args, k, None) is None:
            flat[k] = tuple(v) if k == "arch_betas" else v
    if seed is not None:
        flat["seed"] = seed
    if getattr(args, "arch_betas", None) is not None:
        flat["arch_betas"] = tuple(args.arch_betas)
    device = check_device(args.device)
    if not getattr(args, "eval_each_epoch", True) or (getattr(args, "eval_every", None) or 1) > 1:
        flat["eval_each_epoch"] = False  # the CLI evaluates every Nth epoch itself (evaluate_epoch), or never
    try:
        return SearchConfig(space=args.space, method=method, method_options=options, dataset=dataset,
                            removed_ops=tuple(args.remove_op), supernet=net or None, device=device,
                            cuda_graphs=getattr(args, "cuda_graphs", True),
                            deterministic=getattr(args, "deterministic", False), **flat)
    except ConfigError as exc:
        raise flag_error(exc) from None


def check_space(name: str) -> str:
    """``name`` when it is a registered space (a built-in one, or an error, without importing the registry)."""
    from workbench.app.cli.help_names import SPACES, valid_names

    return name if name in SPACES else check_name("space", name, valid_names("space"))


def check_method(name: str) -> str:
    """``name`` when it is a registered method (a built-in one, or an error, without importing the presets)."""
    from workbench.app.cli.help_names import METHODS, valid_names

    return name if name in METHODS else check_name("method", name, valid_names("method"))


def preset_defaults(method: str, options: dict[str, Any], paper: bool = False) -> dict[str, Any]:
    """The preset's ``search_defaults`` (its CPU-scale size) or, with ``paper``, its ``paper_defaults`` (the
    paper's settings), its ``options`` checked by the preset. A built-in preset is neither built nor imported (nor
    torch): its torch-free spec (:data:`workbench.methods.preset_options.PRESETS`) checks the options and holds
    the paper's values and the CPU-scale size."""
    from workbench.methods.preset_options import PRESETS, check_preset_options

    try:
        if method in PRESETS:
            spec = PRESETS[method]
            checked = check_preset_options(method, options)
            return spec.paper(checked) if paper else dict(spec.search_defaults)
        from workbench.methods import get_method

        preset = get_method(method, options)  # validates the options
    except ConfigError as exc:
        raise flag_error(exc) from None
    return dict(preset.paper_defaults if paper else preset.search_defaults)


def check_remove_ops(space_name: str, remove: list[str]) -> None:
    """Every ``--remove-op`` names an op of the space (the registered space; a cell or chain space is looked up
    without torch: :data:`workbench.spaces.builtin_settings.TORCH_FREE_FAMILIES`)."""
    space = _registered_space(space_name)
    ops = tuple(dict.fromkeys(o for g in space.choice_groups() for o in g.options))  # every group's options
    for op in remove:
        if not hasattr(space, "with_ops"):
            raise UsageError(f"--remove-op {op!r}: space {space_name!r} has no op list to remove options from")
        if op not in ops:
            raise UsageError(f"--remove-op {op!r}: not an op of space {space_name!r}; its ops: {', '.join(ops)}")


def _registered_space(name: str) -> Any:
    from workbench.spaces import get_space

    return get_space(name)


def config_flags(p: argparse.ArgumentParser, *, method: bool = True, seed: bool = True, method_option: bool = True,
                 defaults: dict[str, Any] | None = None) -> None:
    """The flags of every SearchConfig field (:data:`CONFIG_FLAGS`), shared by ``search``, ``compare`` and
    ``sweep``; ``method``/``seed``/``method_option``: False where the command has its own form of that flag.
    ``defaults`` replaces a shown SearchConfig default by the command's own (``compare``: 30 epochs)."""
    from workbench.app.cli.help_names import DATASETS, METHODS, SEARCH_DEFAULTS, SPACES

    shown = {**SEARCH_DEFAULTS, **(defaults or {})}
    own = defaults or {}
    p.add_argument("--space", default="nb201", help=f"search space: {', '.join(SPACES)} (default nb201)")
    if method:
        p.add_argument("--method", default="darts-v1", help=f"method: {', '.join(METHODS)} (default darts-v1)")
    p.add_argument("--dataset", help=f"dataset: {', '.join(DATASETS)} (default: the space's own; digits for the "
                                     "cell and chain spaces)")
    p.add_argument("--data-root", help="folder of a dataset read from disk (cifar10, ...; default: none, the "
                                       "dataset's own location)")
    p.add_argument("--data-limit", type=int_arg, metavar="N",
                   help="keep at most this many training images (stratified; default: all; fbnet, proxylessnas "
                        "and single-path: their own CPU-scale size, 1436, digits' whole training set)")
    p.add_argument("--objective", metavar="NAME",
                   help="training objective by name, e.g. cross_entropy, mse (default: the dataset's own)")
    p.add_argument("--remove-op", action="append", default=[], metavar="OP",
                   help="drop a candidate op (repeatable; default: none)")
    if method_option:
        p.add_argument("--method-option", action="append", default=[], metavar="KEY=VALUE",
                       help="method option, VALUE parsed as JSON when possible (repeatable), e.g. r=0.01 "
                            "(default: the method's own)")
    p.add_argument("--supernet", action="append", default=[], metavar="KEY=VALUE",
                   help="a supernet setting of the space, VALUE parsed as JSON when possible (repeatable), e.g. "
                        "C=16 or affine=true (default: the space's own; --C, --layers, --cells-per-stage win)")
    numeric = [("--epochs", int, "search epochs (fbnet, proxylessnas and single-path: their own CPU-scale size)"),
               ("--batch-size", int, "mini-batch size"),
               ("--seed", int, "random seed"), ("--C", int, "supernet channels"),
               ("--layers", int, "cells (DARTS macro)"),
               ("--cells-per-stage", int, "cells per stage N (NB201 macro)"),
               ("--lr", float, "weight learning rate (cosine schedule)"),
               ("--lr-min", float, "final weight learning rate of the cosine schedule"),
               ("--arch-lr", float, "architecture (alpha) learning rate (fbnet, proxylessnas: their own)"),
               ("--arch-weight-decay", float, "alpha weight decay"),
               ("--weight-decay", float, "weight decay"), ("--momentum", float, "SGD momentum"),
               ("--grad-clip", float, "gradient-norm clip (0: off)"),
               ("--train-portion", float, "share of training data for weights (rest: alphas)")]
    for flag, typ, what in numeric:
        dest = flag[2:].replace("-", "_")
        if dest == "seed" and not seed:
            continue
        p.add_argument(flag, type=int_arg if typ is int else float_arg, dest=dest, default=own.get(dest),
                       metavar="N" if typ is int else "X", help=f"{what} (default {shown[dest]})")
    b1, b2 = shown["arch_betas"]
    p.add_argument("--arch-betas", type=float_arg, nargs=2, metavar=("B1", "B2"),
                   help=f"Adam betas of the alpha optimizer (default {b1} {b2})")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, or auto (default cpu)")
    p.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                   help="on CUDA, run every step eagerly instead of replaying captured CUDA graphs "
                        "(default: replay them)")
    p.add_argument("--deterministic", action="store_true",
                   help="on CUDA, deterministic kernels (bit-identical resumes; sets process-wide torch switches; "
                        "default off)")
    p.add_argument("--paper-defaults", action="store_true",
                   help="start from the method's published settings (epochs, batch size, learning rates, ...: "
                        "its paper_defaults) instead of the workbench's CPU-scale defaults; flags still win "
                        "(default off)")
    p.add_argument("--no-eval-each-epoch", dest="eval_each_epoch", action="store_false",
                   help="skip the supernet evaluation at each epoch end (default: evaluate every epoch; "
                        "--eval-every N > 1 thins it instead)")


def config_file_flags(p: argparse.ArgumentParser) -> None:
    """``--config FILE`` (read in :func:`workbench.app.cli.main` before the command runs) and
    ``--print-config``."""
    p.add_argument("--config", metavar="FILE",
                   help="TOML (.toml) or JSON (.json) file of settings, keys as the flags' names with underscores "
                        "(epochs, arch_lr, method_options, ...); flags given on the command line win (default: none)")
    p.add_argument("--print-config", action="store_true",
                   help="print the settings as a JSON config file (for --config) and exit without searching")


def print_config(settings: dict[str, Any]) -> int:
    """``--print-config``: the settings as a JSON config file (``--config`` reads it back); exit code 0."""
    print(json.dumps(settings, indent=1, default=list))
    return 0
