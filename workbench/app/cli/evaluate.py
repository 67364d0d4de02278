"""``python -m workbench evaluate GENOTYPE``: train the discrete network of a cell genotype (DARTS's evaluation
stage, scaled down) and print its test accuracy (:mod:`workbench.spaces.cell.discrete`)."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from workbench.app.cli.common import (
    UsageError,
    check_device,
    check_name,
    dataset_name,
    float_arg,
    int_arg,
    threads_flag,
)
from workbench.app.cli.genotype import read_genotype


def cmd_evaluate(args: argparse.Namespace) -> int:
    try:
        from workbench.spaces.cell import discrete
    except ImportError as exc:
        print(f"workbench: error: evaluate needs workbench.spaces.cell.discrete ({exc})", file=sys.stderr)
        return 1
    g = read_genotype(args.genotype)
    if args.space:
        from workbench.spaces import space_names
        check_name("space", args.space, space_names())
    dataset = dataset_name(args.dataset)
    fields = {f.name for f in dataclasses.fields(discrete.EvalConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if "device" in given:
        given["device"] = check_device(given["device"])
    try:
        cfg = discrete.EvalConfig(**given)
    except ValueError as exc:  # "NAME must be ...": name the flag
        name = str(exc).split(" ", 1)[0].split("=", 1)[0].split(".")[-1]
        flag = "--" + name.replace("_", "-")
        raise UsageError(f"{flag}: {exc}" if name in fields else str(exc)) from None

    def on_epoch(rec: Any) -> None:
        if not args.quiet:
            print(f"epoch {rec.epoch + 1}/{cfg.epochs}  lr {rec.lr:.4f}  train {rec.train_loss:.3f}/"
                  f"{rec.train_acc:.3f}  test {rec.test_loss:.3f}/{rec.test_acc:.3f}", file=sys.stderr)

    res = discrete.evaluate_genotype(g, args.space, dataset, cfg, on_epoch=on_epoch)
    print(f"genotype   {res.genotype}")
    print(f"test acc   {res.test_acc:.2%} (loss {res.test_loss:.4f}) on {dataset}, after {cfg.epochs} epochs")
    print(f"train acc  {res.train_acc:.2%}   params {res.params:,}   {res.seconds:.1f} s")
    note = res.convergence_note()
    if note:
        print(f"note       not converged: {note}")
    return 0


def add_parser(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="train the discrete network of a genotype, print test accuracy")
    e.add_argument("genotype", help="DARTS text, NB201 string, JSON, a published name or a file")
    e.add_argument("--space", help="check the genotype against this space and use its macro (default: none)")
    e.add_argument("--dataset", default="digits", help="dataset to train and test on (default digits)")
    e.add_argument("--data-root", help="folder of a dataset read from files (cifar10; optional for the others)")
    e.add_argument("--data-limit", type=int_arg, help="keep at most N training examples, stratified (default all)")
    helps = {"--epochs": "training epochs (default 20)", "--batch-size": "batch size (default 96)",
             "--lr": "initial SGD learning rate, cosine to 0 (default 0.025)",
             "--C": "initial channels (default 8)", "--layers": "cells, DARTS macro (default 3)",
             "--cells-per-stage": "cells per stage, NB201 macro (default 1)", "--seed": "seed (default 0)",
             "--drop-path-prob": "drop-path probability, ramped linearly (default 0)"}
    for flag, typ in (("--epochs", int), ("--batch-size", int), ("--lr", float), ("--C", int), ("--layers", int),
                      ("--cells-per-stage", int), ("--seed", int), ("--drop-path-prob", float)):
        e.add_argument(flag, type=int_arg if typ is int else float_arg, dest=flag[2:].replace("-", "_"),
                       help=helps[flag])
    e.add_argument("--auxiliary", action="store_true", default=None, help="auxiliary head (weight 0.4)")
    e.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    e.add_argument("--quiet", action="store_true", help="no per-epoch lines on stderr")
    threads_flag(e)
    e.set_defaults(func=cmd_evaluate)
