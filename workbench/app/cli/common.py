"""Shared pieces of the CLI: errors, name checks, the search flags -> SearchConfig, the progress bar, the
drive loop and the final summary.

Everything here is space-, task- and method-generic: architectures are shown with
``searcher.space.label(arch)`` and stored with ``arch.to_dict()``, metrics by the
objective's names (accuracy as a percentage, anything else as a number), and a
method's controller (DARTS-ADA's early stopping and rollbacks) acts inside
:meth:`~workbench.search.Searcher.step`, which is the only way the CLI steps.
Cell-specific extras (DARTS text, NB201 string, parameter-free op counts,
NAS-Bench-201 ground truth) appear only for :class:`Genotype` architectures.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.data import NB201_ENV as NB201_ENV  # re-exported: the commands name it in their help
from workbench.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover  (the engine, and torch with it, is imported only by commands that use it)
    from workbench.runs import RunStore
    from workbench.search import SearchConfig, Searcher

log = logging.getLogger("workbench.app.cli")
#: width of the label column of the summary (``  genotype (NB201)  ...``)
LABEL_WIDTH = 20


class UsageError(ValueError):
    """Bad command-line input: printed as one line, exit code 2."""


def check_name(kind: str, name: str, valid: Sequence[str]) -> str:
    if name in valid:
        return name
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(f"unknown {kind} {name!r}{hint}; valid: {', '.join(valid)}")


def parse_options(items: Sequence[str], flag: str = "--method-option", example: str = "r=0.01") -> dict[str, Any]:
    """``KEY=VALUE`` items (method options, supernet settings); VALUE is parsed as JSON when it can be."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} takes KEY=VALUE (e.g. {example}), got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
#: the largest integer a flag accepts (beyond it numpy and torch overflow)
INT_MAX = 2**63 - 1


def int_arg(text: str) -> int:
    """argparse ``type=`` for an integer flag: plain ASCII digits (no ``1.5``, ``1e3``, ``１``), |N| < 2**63."""
    if not _INT_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}")
    value = int(text)
    if abs(value) > INT_MAX:
        raise argparse.ArgumentTypeError(f"expected an integer of at most {INT_MAX}, got {text[:40]}")
    return value


def float_arg(text: str) -> float:
    """argparse ``type=`` for a real flag: a finite decimal number in ASCII (no ``inf``, ``nan``, ``1_0``)."""
    if not _FLOAT_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text[:40]!r}")
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text[:40]}")
    return value


#: engine field -> the flag that sets it (for messages naming the flag)
FIELD_FLAGS = {"C": "--C"}
#: every SearchConfig field -> the ``search`` flag that sets it (``compare`` and ``sweep`` take ``--seeds`` for
#: ``seed``, ``compare`` takes ``--methods`` for ``method``); tests/test_cli_parity.py checks that none is missing
CONFIG_FLAGS = {
    "space": "--space", "method": "--method", "method_options": "--method-option", "dataset": "--dataset",
    "data_root": "--data-root", "data_limit": "--data-limit", "objective": "--objective",
    "removed_ops": "--remove-op", "supernet": "--supernet", "epochs": "--epochs", "batch_size": "--batch-size",
    "lr": "--lr", "lr_min": "--lr-min", "momentum": "--momentum", "weight_decay": "--weight-decay",
    "grad_clip": "--grad-clip", "arch_lr": "--arch-lr", "arch_betas": "--arch-betas",
    "arch_weight_decay": "--arch-weight-decay", "train_portion": "--train-portion", "seed": "--seed",
    "device": "--device", "eval_each_epoch": "--no-eval-each-epoch", "cuda_graphs": "--no-cuda-graphs",
    "deterministic": "--deterministic"}


def flag_error(exc: ConfigError, flags: Sequence[str] = ()) -> UsageError:
    """A UsageError naming the flag of the field that ``exc`` rejects (``--lr: SearchConfig.lr=... ``)."""
    msg = str(exc)
    m = re.match(r"(?:\w+\.)?(\w+)=", msg)
    flag = None
    if "option" in msg.split("=", 1)[0] or msg.startswith("method "):
        flag = "--method-option"
    elif m:
        field = m.group(1)
        cand = FIELD_FLAGS.get(field) or CONFIG_FLAGS.get(field) or "--" + field.replace("_", "-")
        flag = cand if not flags or cand in flags else None
    return UsageError(f"{flag}: {msg}" if flag else msg)


def check_device(device: str, flag: str = "--device") -> str:
    """``device`` (``auto`` resolved) when torch can use it; a UsageError listing the accepted ones otherwise."""
    if device == "cpu":
        return device  # always usable: no need to import torch
    import torch
    accepted = "cpu, cuda, cuda:N, mps or auto"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise UsageError(f"{flag} {device[:40]!r} is not a device; accepted: {accepted}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{flag} {device}: no CUDA GPU is available to torch {torch.__version__}; use cpu or auto")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError(f"{flag} {device}: MPS is not available to torch {torch.__version__}; use cpu or auto")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"{flag} {device[:40]!r} is not supported; accepted: {accepted}")
    return device


def dataset_name(text: str) -> str:
    from workbench.app.cli.help_names import DATASETS, valid_names

    name = text.strip().lower().replace("-", "_")
    # a built-in dataset, or an unknown one's error, without importing the registry
    return name if name in DATASETS else check_name("dataset", name, valid_names("dataset"))


# ---------------------------------------------------------------------- flags
def default_threads() -> int:
    """Half the cores, at most 4: the small convolutions of a search gain little from more, and an
    oversubscribed CPU (threads > free cores) makes every step many times slower."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def threads_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int_arg, default=None,
                   help=f"torch CPU threads (default: half the cores, at most 4; here {default_threads()})")


def search_config(args: argparse.Namespace) -> SearchConfig:
    """A SearchConfig from the ``search`` flags (unset flags keep the SearchConfig defaults)."""
    from workbench.app.cli.settings import config_from_args

    return config_from_args(args, args.method, parse_options(args.method_option), args.seed)


# ---------------------------------------------------------------------- formatting
def short(metric: str) -> str:
    return "acc" if metric == "accuracy" else metric


def metric_text(metric: str, value: float, digits: int = 1) -> str:
    """``acc 93.1%`` for accuracy, ``mse 0.0123`` otherwise."""
    return f"{short(metric)} {value:.{digits}%}" if metric == "accuracy" else f"{metric} {value:.4g}"


def metrics_text(metrics: dict[str, float], digits: int = 1) -> str:
    """Every metric of a dict, e.g. ``acc 93.1%`` or ``mse 0.0123 mae 0.0871``."""
    return " ".join(metric_text(k, v, digits) for k, v in metrics.items())


def n_text(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def line(label: str, text: str) -> str:
    """One summary line: two spaces, the label padded to the label column, the text."""
    return f"  {label:{LABEL_WIDTH - 4}s}  {text}"


def cell_counts(arch: Any) -> dict[str, int] | None:
    """Parameter-free / skip / none edge counts of a cell genotype (None for any other architecture)."""
    from workbench.spaces.cell.genotype import Genotype, count_param_free

    if not isinstance(arch, Genotype):
        return None
    ops = [op for _, c in arch.cells for _, op, _ in c.edges()]
    return {"param_free": sum(count_param_free(c) for _, c in arch.cells), "skips": ops.count("skip_connect"),
            "nones": ops.count("none")}


def controller_outcome(searcher: Searcher) -> dict[str, Any] | None:
    """What the method's controller did (DARTS-ADA: rollbacks, final weight decay), as plain data."""
    ctrl = searcher.controller
    outcome = getattr(ctrl, "outcome", None)
    if ctrl is None or outcome is None:
        return None
    d = dataclasses.asdict(outcome) if dataclasses.is_dataclass(outcome) and not isinstance(outcome, type) \
        else dict(outcome)
    return {"controller": type(ctrl).__name__, **json.loads(json.dumps(d, default=str))}


def outcome_text(out: dict[str, Any]) -> str:
    """One line for :func:`controller_outcome` (epochs 1-based, as everywhere in the CLI)."""
    parts = []
    if out.get("stopped"):
        parts.append(f"stopped early, kept the architecture of epoch {out['stop_epoch'] + 1}")
    rollbacks = out.get("rollbacks") or []
    if rollbacks:
        parts.append(f"rolled back {n_text(len(rollbacks), 'time')}: " + ", ".join(
            f"epoch {trigger + 1} -> end of epoch {epoch + 1} (weight decay {wd:g})" for trigger, epoch, wd in rollbacks))
    if not parts:
        parts.append("never acted")
    if "weight_decay" in out:
        parts.append(f"final weight decay {out['weight_decay']:g}")
    return "; ".join(parts)


# ---------------------------------------------------------------------- progress and the drive loop
class Progress:
    """A tqdm bar on stderr fed by the bus, plus one stderr line per epoch and per controller action."""

    def __init__(self, searcher: Searcher, quiet: bool) -> None:
        from tqdm import tqdm  # plain tqdm: never the notebook widget

        self.searcher, self.epochs, self.quiet = searcher, searcher.config.epochs, quiet
        self.metric = searcher.objective.primary
        self.bar = tqdm(total=searcher.total_steps, initial=searcher.step_count, file=sys.stderr, unit="step",
                        disable=quiet, dynamic_ncols=True, desc=f"{searcher.space.name}/{searcher.method.name}",
                        mininterval=0.1 if sys.stderr.isatty() else 10.0)  # a log file: a few bar states
        self._fired: int | None = None  # step of an early-stopping trigger not yet followed by a rollback
        from workbench.events import AnalysisResult, EpochEnded, RunStarted, StepEnded

        self._kinds = StepEnded, EpochEnded, RunStarted, AnalysisResult
        self._unsub = searcher.bus.subscribe(self, kinds=self._kinds)

    def write(self, text: str) -> None:
        if not self.quiet:
            self.bar.write(text, file=sys.stderr)

    def __call__(self, ev: Any) -> None:
        StepEnded, EpochEnded, RunStarted, AnalysisResult = self._kinds  # noqa: N806 (the event classes)
        if isinstance(ev, StepEnded):
            m = self.metric
            tm, vm = ev.train_metrics.get(m, float("nan")), ev.val_metrics.get(m, float("nan"))
            fmt = ".0%" if m == "accuracy" else ".3g"
            self.bar.set_postfix_str(f"ep {ev.epoch + 1}/{self.epochs} loss {ev.train_loss:.3f} {short(m)} "
                                     f"{tm:{fmt}} val {ev.val_loss:.3f}/{vm:{fmt}}", refresh=False)
            if self._fired is not None and ev.step > self._fired:  # the trigger was not acted on
                wd = self.searcher.optimizer.param_groups[0]["weight_decay"]
                self.write(f"workbench: {self.searcher.method.name} went on without a rollback (weight decay "
                           f"{wd:g})")
            self._fired = None
            self.bar.update(ev.step - self.bar.n)  # goes back after a controller's rollback
        elif isinstance(ev, EpochEnded):
            val = "" if not ev.val_metrics else f" val {metrics_text(dict(ev.val_metrics))}"
            self.write(f"epoch {ev.epoch + 1}/{self.epochs}{val}  {self.searcher.space.label(ev.genotype)}")
        elif isinstance(ev, RunStarted) and ev.resumed and ev.step < self.bar.n:
            self._fired = None
            spe = self.searcher.steps_per_epoch
            wd = self.searcher.optimizer.param_groups[0]["weight_decay"]
            self.write(f"workbench: {self.searcher.method.name} rolled back to step {ev.step} (end of epoch "
                       f"{ev.step // spe}); weight decay now {wd:g}")
        elif isinstance(ev, AnalysisResult) and ev.kind == EVALUATION:
            v = ev.values
            self.write(f"epoch {v['epoch'] + 1}/{self.epochs} val {metrics_text(dict(v['val_metrics']))}")
        elif isinstance(ev, AnalysisResult) and ev.kind == "early_stop":
            v = ev.values
            self._fired = ev.step
            self.write(f"workbench: early stopping fired at epoch {v['trigger_epoch'] + 1} (sharpness ratio "
                       f"{v['ratio']:.3f} > {v['factor']:g}); architecture of epoch {v['stop_epoch'] + 1}: "
                       f"{v.get('genotype')}")

    def close(self) -> None:
        self._unsub()
        self.bar.close()


#: ``AnalysisResult.kind`` of the per-epoch evaluations that ``--eval-every N`` makes
EVALUATION = "evaluation"


def eval_every_flag(p: argparse.ArgumentParser, default: int | None = 1, extra: str = " (default 1: every epoch)"
                    ) -> None:
    p.add_argument("--eval-every", type=int_arg, default=default, metavar="N",
                   help="evaluate the supernet on the arch half after every Nth epoch and the last one" + extra +
                        "; N > 1 skips the others and logs each evaluation as an 'evaluation' analysis event")


def check_eval_every(args: argparse.Namespace) -> None:
    every = getattr(args, "eval_every", None)
    if every is not None and every < 1:
        raise UsageError(f"--eval-every: expected an integer >= 1, got {every}")


def evaluate_epoch(searcher: Searcher, every: int | None) -> bool:
    """After a step of a search whose config skips the per-epoch evaluation (``eval_each_epoch=False``): if the
    step ended an epoch whose number is a multiple of ``every`` (or the last epoch), evaluate the supernet on the
    arch half and emit ``AnalysisResult(kind="evaluation")`` (the run folder logs it). Does nothing when ``every``
    is None or the search evaluates every epoch itself. Returns whether it evaluated."""
    spe, step = searcher.steps_per_epoch, searcher.step_count
    if every is None or searcher.config.eval_each_epoch or step == 0 or step % spe:
        return False
    epoch = step // spe - 1
    if (epoch + 1) % every and not searcher.finished:
        return False
    from workbench.events import AnalysisResult

    loss, metrics = searcher.evaluate()
    searcher.bus.emit(AnalysisResult(step, EVALUATION, {"epoch": epoch, "val_loss": loss,
                                                        "val_metrics": dict(metrics), "every": every}))
    return True


def _is_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def tensorboard_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard event files to DIR (scalars per "
                   "step; alphas, weights and the architecture per epoch; no tensorboard package needed; default: none)")


def drive(searcher: Searcher, store: RunStore, args: argparse.Namespace,
          finish: Callable[[Searcher, Path, argparse.Namespace, float, int], None]) -> int:
    """Step to the end through ``Searcher.step()`` (so the method's controller acts) with a progress bar;
    Ctrl-C stops after the current step and checkpoints. ``finish`` prints the summary of a finished run."""
    from workbench.search import NonFiniteLossError

    check_eval_every(args)
    every = getattr(args, "eval_every", None)
    stop = {"requested": False}

    def on_sigint(signum: int, frame: Any) -> None:
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        sys.stderr.write("\nworkbench: stopping after this step (Ctrl-C again to abort at once)\n")

    in_main = hasattr(signal, "SIGINT") and _is_main_thread()
    old = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    progress = Progress(searcher, args.quiet)
    tensorboard = None
    if getattr(args, "tensorboard", None):
        from workbench.runs.tensorboard import TensorBoardLogger
        try:
            tensorboard = TensorBoardLogger(args.tensorboard).attach(searcher)
        except OSError as exc:
            raise UsageError(f"--tensorboard {args.tensorboard}: {exc}") from None
    t0, code, taken = time.perf_counter(), 0, 0
    try:
        while not searcher.finished and not stop["requested"]:
            searcher.step()
            taken += 1
            evaluate_epoch(searcher, every)
    except NonFiniteLossError as exc:
        code = 1
        progress.close()
        print(f"workbench: search failed: {exc}", file=sys.stderr)
    except KeyboardInterrupt:  # second Ctrl-C, mid-step: the state is torn, keep the last checkpoint
        code = 130
    finally:
        if in_main:
            signal.signal(signal.SIGINT, old)
        progress.close()
        if tensorboard is not None:
            tensorboard.detach()
    if stop["requested"] and code == 0:
        code = 130
        store.checkpoint()  # between steps: a clean state
    store.close()
    seconds = time.perf_counter() - t0
    if code:
        ck = store.latest_checkpoint()
        where = f"last good checkpoint: {ck}" if ck else "no checkpoint was written yet"
        verb = "interrupted" if code == 130 else "stopped"
        print(f"workbench: {verb} at step {searcher.step_count} of {searcher.total_steps}; {where}", file=sys.stderr)
        if ck:
            print(f"workbench: continue with: python -m workbench resume {store.dir}", file=sys.stderr)
        return code
    finish(searcher, store.dir, args, seconds, taken)
    return 0
