"""The command-line application: ``python -m workbench <command>`` (argparse lives only here).

One module per command: ``search`` (a search recorded to a run folder by
:mod:`workbench.runs`, with a tqdm progress bar on stderr, a summary on stdout
and a static ``report.html``), ``resume`` (continue a run folder), ``genotype``
(convert between DARTS text, NAS-Bench-201 strings and JSON, draw), ``nb201``
(ground truth of an architecture in a NAS-Bench-201 table; Dong & Yang, ICLR
2020), ``evaluate`` (train the discrete network of a genotype, the DARTS
evaluation stage), ``compare`` (methods x seeds, one table) and ``runs show``
(summary of a run folder) and ``latency`` (measure, show and fit latency
tables for the hardware-aware methods) and ``export`` (a chain run's derived network as JSON and
safetensors, with its predicted and measured latency report), ``nb201-convert``
(a NAS-Bench-201 table from the official NATS-Bench data) and ``lessons`` (copy the course into a folder),
``sweep`` (one method over a grid of settings x seeds; ``compare`` and ``sweep`` run their searches one after
the other or, with ``--ray``, as Ray tasks) and ``project`` (DARTS-PT's perturbation-based selection on a
finished run). ``search``, ``compare`` and ``sweep`` read ``--config FILE`` (TOML or JSON; defaults < file <
flags; :mod:`~workbench.app.cli.config_args`). :mod:`~workbench.app.cli.common` holds what they
share (flags -> SearchConfig, the progress bar and drive loop) and
:mod:`~workbench.app.cli.summary` the end-of-search summary.

Every search steps through :meth:`workbench.search.Searcher.step`, so a
method's controller (DARTS-ADA's early stopping and rollbacks) acts in the CLI
as everywhere else. Summaries are generic over spaces and tasks.

Exit codes: 0 success, 1 the search failed (e.g. a NaN loss; the last good
checkpoint is kept), 2 bad input (unknown names list the valid ones), 130
interrupted (Ctrl-C; the run can be resumed). This is the application layer:
it prints, and it may import ``widgets`` (lazily, for the report and
drawings); the engine does neither.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from workbench.app.cli import (
    compare,
    evaluate,
    export,
    genotype,
    latency,
    lessons,
    nb201,
    nb201_convert,
    project,
    resume,
    runs,
    search,
    sweep,
)
from workbench.app.cli.common import NB201_ENV, UsageError, default_threads, log, search_config

# The command modules import the engine (and torch) only inside their commands: ``--help``, every command's
# help and the commands that do not search start without torch (tests/test_startup.py). The engine's input
# errors (RunError, CheckpointError, GenotypeError: ValueErrors; DatasetNotFoundError: a FileNotFoundError) are
# caught by their base classes below.

__all__ = ["NB201_ENV", "UsageError", "build_parser", "default_threads", "main", "search_config"]

COMMANDS = (search, resume, genotype, nb201, nb201_convert, evaluate, compare, sweep, project, runs, latency, export,
            lessons)


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's error format: ``workbench: error: ...`` and a pointer to ``--help`` (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"workbench: error: {message}\n(see `{self.prog} --help`)\n")


def _is_checkpoint_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a :class:`workbench.serialize.CheckpointError` (without importing that module: if it
    was never imported, no such error can have been raised)."""
    serialize = sys.modules.get("workbench.serialize")
    return serialize is not None and isinstance(exc, serialize.CheckpointError)


def _is_unpickling_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the error of the restricted dataset unpickler (``workbench.tasks.data.formats``, only
    when that module was imported)."""
    formats = sys.modules.get("workbench.tasks.data.formats")
    return formats is not None and isinstance(exc, formats.UnpicklingError)


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of ``command`` (a subcommand of ``parser``)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m workbench", description="DNAS Workbench: differentiable "
                                "architecture search on a laptop CPU (DARTS and descendants).")
    p.add_argument("-v", "--verbose", action="store_true", help="log engine messages (INFO) to stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failed, 2 bad input, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own usage errors (exit 2) and --help (exit 0)
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return 0
    if getattr(args, "config", None):  # defaults < the config file < the flags given: parse again
        from workbench.app.cli.config_args import apply_config_file
        try:
            apply_config_file(_subparser(parser, args.command), args.config, args.command)
            args = parser.parse_args(argv)
        except ValueError as exc:
            print(f"workbench: error: {exc}", file=sys.stderr)
            return 2
        except SystemExit as exc:  # a value of the file that argparse refuses (e.g. --seeds)
            return int(exc.code or 0)
    args.argv = argv
    if hasattr(args, "threads"):
        if args.threads is not None and args.threads < 1:
            print(f"workbench: error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
            return 2
        if not getattr(args, "print_config", False):  # --print-config computes nothing (and needs no torch)
            import torch
            torch.set_num_threads(args.threads or default_threads())
    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (e.g. piped into head): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (UsageError, KeyError, ValueError, FileNotFoundError) as exc:
        if _is_checkpoint_error(exc):
            print(f"workbench: error: {exc}", file=sys.stderr)
            return 1
        if args.verbose:
            log.exception("details")
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"workbench: error: {msg}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder that cannot be read or written
        if args.verbose:
            log.exception("details")
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"workbench: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:
        if not _is_unpickling_error(exc):
            raise
        # a dataset pickle refused by the restricted unpickler
        if args.verbose:
            log.exception("details")
        print(f"workbench: error: cannot load the dataset: {exc}", file=sys.stderr)
        return 1
