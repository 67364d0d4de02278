"""The command-line application: ``python -m workbench <command>`` (argparse lives only here).

Commands: ``search`` (a DARTS-style search recorded to a run folder by
:mod:`workbench.runs`, with a tqdm progress bar on stderr, a summary on stdout
and a static ``report.html``), ``resume`` (continue a run folder), ``genotype``
(convert between DARTS text, NAS-Bench-201 strings and JSON, draw), ``nb201``
(ground truth of an architecture in a NAS-Bench-201 table; Dong & Yang, ICLR
2020), ``evaluate`` (train the discrete network of a genotype, the DARTS
evaluation stage) and ``runs show`` (summary of a run folder).

Exit codes: 0 success, 1 the search failed (e.g. a NaN loss; the last good
checkpoint is kept), 2 bad input (unknown names list the valid ones), 130
interrupted (Ctrl-C; the run can be resumed). This is the application layer:
it may import ``widgets`` (lazily, for the report and drawings); the engine
never does.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.events import EpochEnded, StepEnded
from workbench.methods import get_method, method_names
from workbench.runs import RunError, RunStore, list_checkpoints, load_run, read_run_info, resume
from workbench.search import NonFiniteLossError, SearchConfig, Searcher
from workbench.serialize import CheckpointError
from workbench.spaces import get_space, space_names
from workbench.spaces.cell.genotype import Genotype, GenotypeError
from workbench.spaces.cell.supernet import SupernetConfig
from workbench.tasks.data import DatasetNotFoundError, dataset_names

log = logging.getLogger("workbench.app.cli")
NB201_ENV = "WORKBENCH_NB201_TABLE"


class UsageError(ValueError):
    """Bad command-line input: printed as one line, exit code 2."""


def _check_name(kind: str, name: str, valid: Sequence[str]) -> str:
    if name in valid:
        return name
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(f"unknown {kind} {name!r}{hint}; valid: {', '.join(valid)}")


def _parse_options(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--method-option takes KEY=VALUE (e.g. r=0.01), got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


# ---------------------------------------------------------------------- search / resume
def search_config(args: argparse.Namespace) -> SearchConfig:
    """A SearchConfig from the ``search`` flags (unset flags keep the SearchConfig defaults)."""
    _check_name("space", args.space, space_names())
    _check_name("method", args.method, method_names())
    dataset = args.dataset.strip().lower().replace("-", "_")
    _check_name("dataset", dataset, dataset_names())
    options = _parse_options(args.method_option)
    get_method(args.method, options)  # validates the options
    space = get_space(args.space)
    for op in args.remove_op:
        if op not in space.ops:
            raise UsageError(f"--remove-op {op!r}: not an op of space {args.space!r}; its ops: {', '.join(space.ops)}")
    net = {k: getattr(args, k) for k in ("C", "layers", "cells_per_stage") if getattr(args, k) is not None}
    flat = {k: getattr(args, k) for k in ("epochs", "batch_size", "seed", "lr", "arch_lr", "arch_weight_decay",
                                          "weight_decay", "momentum", "grad_clip", "train_portion", "data_root",
                                          "data_limit") if getattr(args, k) is not None}
    import torch
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"--device {device!r} is not a device; use cpu, cuda, cuda:N, mps or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA GPU is available to torch {torch.__version__}; use cpu or auto")
    return SearchConfig(space=args.space, method=args.method, method_options=options, dataset=dataset,
                        removed_ops=tuple(args.remove_op), supernet=SupernetConfig(**net), device=device, **flat)


class _Progress:
    """A tqdm bar on stderr fed by the bus, plus one stderr line per epoch."""

    def __init__(self, searcher: Searcher, quiet: bool) -> None:
        from tqdm import tqdm  # plain tqdm: never the notebook widget

        self.epochs, self.quiet = searcher.config.epochs, quiet
        self.metric = searcher.objective.primary
        self.bar = tqdm(total=searcher.total_steps, initial=searcher.step_count, file=sys.stderr, unit="step",
                        disable=quiet, dynamic_ncols=True, desc=f"{searcher.space.name}/{searcher.method.name}")
        self._unsub = searcher.bus.subscribe(self, kinds=(StepEnded, EpochEnded))

    def __call__(self, ev: Any) -> None:
        if isinstance(ev, StepEnded):
            m = self.metric
            self.bar.set_postfix_str(f"ep {ev.epoch + 1}/{self.epochs} loss {ev.train_loss:.3f} {_short(m)} "
                                     f"{ev.train_metrics[m]:.2f} val {ev.val_loss:.3f}/{ev.val_metrics[m]:.2f}",
                                     refresh=False)
            self.bar.update(1)
        elif not self.quiet:
            acc = "" if not ev.val_metrics else f" val {_metric_text(self.metric, ev.val_metrics[self.metric])}"
            self.bar.write(f"epoch {ev.epoch + 1}/{self.epochs}{acc}  {ev.genotype}", file=sys.stderr)

    def close(self) -> None:
        self._unsub()
        self.bar.close()


def _drive(searcher: Searcher, store: RunStore, args: argparse.Namespace) -> int:
    """Step to the end with a progress bar; Ctrl-C stops after the current step and checkpoints."""
    stop = {"requested": False}

    def on_sigint(signum: int, frame: Any) -> None:
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        sys.stderr.write("\nworkbench: stopping after this step (Ctrl-C again to abort at once)\n")

    in_main = hasattr(signal, "SIGINT") and _is_main_thread()
    old = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    progress = _Progress(searcher, args.quiet)
    t0, code = time.perf_counter(), 0
    try:
        while not searcher.finished and not stop["requested"]:
            searcher.step()
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
    _finish(searcher, store.dir, args, seconds)
    return 0


def _short(metric: str) -> str:
    return "acc" if metric == "accuracy" else metric


def _metric_text(metric: str, value: float, digits: int = 1) -> str:
    """``acc 93.1%`` for accuracy, ``mse 0.0123`` otherwise."""
    return f"{_short(metric)} {value:.{digits}%}" if metric == "accuracy" else f"{metric} {value:.4g}"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _is_main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _nb201_truth(genotype: Genotype, table_path: str | None) -> dict[str, Any] | None:
    if not table_path:
        return None
    from workbench.spaces.cell.nb201 import NB201Table
    table = NB201Table.load(table_path)
    rec = table.lookup(genotype)
    return {"index": rec.index, "arch": rec.arch_str, "c10": rec.c10, "c100": rec.c100, "in16": rec.in16,
            "rank_c10": table.rank(rec.arch_str), "n": len(table)}


def _finish(searcher: Searcher, run_dir: Path, args: argparse.Namespace, seconds: float) -> None:
    """Final summary on stdout, summary.json and report.html in the run folder."""
    g = searcher.genotype()
    val_loss, val_m = searcher.evaluate()
    ds = searcher.dataset
    test_loss, test_m = searcher.evaluate(ds.x_test, ds.y_test)
    metric = searcher.objective.primary
    table = getattr(args, "nb201_table", None) or os.environ.get(NB201_ENV)
    truth, truth_note = None, ""
    if searcher.space.name == "nb201":
        try:
            truth = _nb201_truth(g, table)
        except (OSError, ValueError) as exc:
            truth_note = f"not available ({exc})"
        if truth is None and not truth_note:
            truth_note = f"pass --nb201-table PATH (or set {NB201_ENV}) for the benchmark's accuracies"
    summary = {"run": str(run_dir), "space": searcher.space.name, "method": searcher.method.name,
               "dataset": searcher.config.dataset, "seed": searcher.config.seed, "epochs": searcher.config.epochs,
               "steps": searcher.step_count, "seconds": round(seconds, 3), "genotype": g.to_dict(),
               "darts": g.to_darts_str() if getattr(g, "is_darts", lambda: False)() else None,
               "nb201": g.to_nb201_str() if getattr(g, "is_nb201", lambda: False)() else None,
               "objective": searcher.objective.name, "primary_metric": metric,
               "supernet": {"val_loss": val_loss, "val_metrics": val_m, "n_val": len(searcher.val_data[1]),
                            "test_loss": test_loss, "test_metrics": test_m, "n_test": len(ds.y_test)},
               "nb201_truth": truth}
    from workbench.serialize import atomic_write_text
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=1))
    report = None if args.no_report else _write_report(run_dir)
    cfg = searcher.config
    lines = [f"search finished: {cfg.space} / {cfg.method} / {cfg.dataset}, seed {cfg.seed}, {_n(cfg.epochs, 'epoch')} "
             f"({searcher.step_count} steps, {seconds:.1f} s)"]
    if summary["darts"]:
        lines.append(f"  genotype (DARTS)  {summary['darts']}")
    if summary["nb201"]:
        lines.append(f"  genotype (NB201)  {summary['nb201']}")
    lines.append(f"  genotype (JSON)   {g.to_json()}")
    lines.append(f"  supernet          val {_metric_text(metric, val_m[metric], 2)} ({summary['supernet']['n_val']} "
                 f"arch-half examples), test {_metric_text(metric, test_m[metric], 2)} ({len(ds.y_test)} test "
                 "examples)")
    if truth:
        lines.append(f"  NB201 truth       CIFAR-10 {truth['c10']:.2f}%  CIFAR-100 {truth['c100']:.2f}%  "
                     f"ImageNet16-120 {truth['in16']:.2f}%  (CIFAR-10 rank {truth['rank_c10']} of {truth['n']})")
    elif truth_note:
        lines.append(f"  NB201 truth       {truth_note}")
    lines.append(f"  run folder        {run_dir}")
    if report:
        lines.append(f"  report            {report}")
    print("\n".join(lines))


def _write_report(run_dir: Path) -> Path | None:
    try:
        from widgets.report import write_report  # application layer only; lazy (plotly is heavy)
    except ImportError as exc:
        print(f"workbench: warning: report.html not written (widgets.report unavailable: {exc})", file=sys.stderr)
        return None
    try:
        return write_report(run_dir)
    except Exception as exc:  # the search result stands even if the report fails
        log.debug("report failed", exc_info=True)
        print(f"workbench: warning: report.html not written ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None


def cmd_search(args: argparse.Namespace) -> int:
    cfg = search_config(args)
    out = Path(args.out) if args.out else Path("runs") / (
        f"{cfg.space}-{cfg.method}-{cfg.dataset.replace(':', '_')}-seed{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}")
    if args.overwrite and out.exists() and any(out.iterdir()):
        read_run_info(out)  # only ever delete a folder that holds a workbench run (RunError otherwise)
        shutil.rmtree(out)
        print(f"workbench: removed the previous run in {out} (--overwrite)", file=sys.stderr)
    if out.exists() and any(out.iterdir()):  # fail before loading data; RunStore checks again
        what = "holds a run" if (out / "config.json").is_file() else "is not empty"
        raise UsageError(f"output folder {out} {what}; choose another --out, continue it with "
                         f"`python -m workbench resume {out}`, or replace it with --overwrite")
    table = args.nb201_table or os.environ.get(NB201_ENV)
    if table and not Path(table).expanduser().is_file():  # fail now, not after the search
        raise UsageError(f"NAS-Bench-201 table not found: {table} (--nb201-table / {NB201_ENV})")
    searcher = Searcher(cfg)
    store = RunStore(out, searcher, checkpoint_every=args.checkpoint_every, keep=args.keep,
                     command=["python", "-m", "workbench", *args.argv])
    if not args.quiet:
        print(f"workbench: run folder {out} ({searcher.total_steps} steps = {_n(cfg.epochs, 'epoch')} x "
              f"{searcher.steps_per_epoch})", file=sys.stderr)
    return _drive(searcher, store, args)


def cmd_resume(args: argparse.Namespace) -> int:
    recorded = read_run_info(args.run_dir).get("torch_threads")
    if args.threads is None and recorded:  # CPU results depend on the thread count: match the run's
        import torch
        torch.set_num_threads(int(recorded))
    searcher, store = resume(args.run_dir, epochs=args.epochs, command=["python", "-m", "workbench", *args.argv])
    if searcher.finished:
        store.close()
        print(f"workbench: {args.run_dir} is already finished ({searcher.config.epochs} epochs); pass "
              f"--epochs N with N > {searcher.config.epochs} to search longer", file=sys.stderr)
        _finish(searcher, store.dir, args, 0.0)
        return 0
    if not args.quiet:
        print(f"workbench: resuming {args.run_dir} at step {searcher.step_count} of {searcher.total_steps}",
              file=sys.stderr)
    return _drive(searcher, store, args)


# ---------------------------------------------------------------------- genotype / nb201 / evaluate / runs
def _read_genotype(text: str) -> Genotype:
    if text == "-":
        text = sys.stdin.read()
    elif len(text) < 4096 and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
        try:  # a summary.json / epochs line holding {"genotype": {...}}
            d = json.loads(text)
            if isinstance(d, dict) and isinstance(d.get("genotype"), dict):
                return Genotype.from_dict(d["genotype"])
        except json.JSONDecodeError:
            pass
    return Genotype.parse(text)


def _plain_dot(g: Genotype) -> str:
    """Minimal DOT text, used only when widgets.graph cannot be imported."""
    lines = ["digraph genotype {", "  rankdir=LR;"]
    for name, cell in g.cells:
        for node, op, src in cell.edges():
            lines.append(f'  "{name}_s{src}" -> "{name}_s{cell.n_inputs + node}" [label="{op}"];')
        lines += [f'  "{name}_s{s}" -> "{name}_out";' for s in cell.concat]
    return "\n".join(lines + ["}"]) + "\n"


def _draw(g: Genotype, path: Path) -> None:
    if path.suffix not in (".svg", ".dot"):
        raise UsageError(f"--draw {path}: the file name must end in .svg or .dot")
    try:
        from widgets.graph import genotype_dot, render_svg
    except ImportError as exc:
        dot_path = path.with_suffix(".dot")
        dot_path.write_text(_plain_dot(g), encoding="utf-8")
        print(f"workbench: widgets.graph unavailable ({exc}); wrote plain DOT to {dot_path}", file=sys.stderr)
        return
    dot = genotype_dot(g)
    if path.suffix == ".dot":
        path.write_text(dot, encoding="utf-8")
    else:
        try:
            path.write_text(render_svg(dot), encoding="utf-8")
        except Exception as exc:  # no Graphviz 'dot' program
            dot_path = path.with_suffix(".dot")
            dot_path.write_text(dot, encoding="utf-8")
            print(f"workbench: cannot render SVG ({exc}); wrote DOT to {dot_path}", file=sys.stderr)
            return
    print(f"workbench: wrote {path}", file=sys.stderr)


def cmd_genotype(args: argparse.Namespace) -> int:
    from workbench.spaces.cell import zoo
    if args.list:
        for name in zoo.published_names():
            print(f"{name:16s} {zoo.SOURCES.get(name, '')}")
        return 0
    if args.genotype is None:
        raise UsageError("give a genotype (DARTS text, NB201 string, JSON, a published name, a file, or - for "
                         "stdin), or --list for the published names")
    g = _read_genotype(args.genotype)
    forms = {"darts": g.to_darts_str if g.is_darts() else None, "nb201": g.to_nb201_str if g.is_nb201() else None,
             "json": g.to_json}
    if args.to:
        if args.to == "darts":
            print(g.to_darts_str())
        elif args.to == "nb201":
            print(g.to_nb201_str())
        else:
            print(g.to_json(indent=args.indent))
    else:
        for name, fn in forms.items():
            if fn is not None:
                print(f"{name:6s} {fn()}")
    if args.draw:
        _draw(g, Path(args.draw))
    return 0


def cmd_nb201(args: argparse.Namespace) -> int:
    from workbench.spaces.cell.nb201 import NB201Table, canonical_str
    table_path = args.table or os.environ.get(NB201_ENV)
    if not table_path:
        raise UsageError(f"nb201 needs --table PATH (a NAS-Bench-201 CSV export) or {NB201_ENV}")
    table = NB201Table.load(table_path)
    g = _read_genotype(args.arch)
    rec = table.lookup(g)
    n = len(table)
    iso = table.isomorphic(rec.arch_str)
    print(f"arch          {rec.arch_str}")
    print(f"index         {rec.index}")
    for label, key in (("CIFAR-10", "c10_test_200ep"), ("CIFAR-100", "c100_test_200ep"),
                       ("ImageNet16", "in16_test_200ep")):
        print(f"{label:13s} {rec.metrics[key]:6.2f}%   rank {table.rank(rec.arch_str, key):5d} of {n}")
    devices = rec.devices()
    if devices:
        print("latency (ms)  " + ", ".join(f"{d} {rec.latency(d):.3g}" for d in devices))
    shown = {"c10_test_200ep", "c100_test_200ep", "in16_test_200ep"} | {f"lat_ms_{d}" for d in devices}
    rest = [f"{k} {v:.4g}" for k, v in rec.metrics.items() if k not in shown]
    if rest:
        print("other         " + ", ".join(rest))
    print(f"isomorphic    {len(iso)} architecture(s) compute the same function (canonical "
          f"{canonical_str(rec.arch_str)})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    try:
        from workbench.spaces.cell import discrete
    except ImportError as exc:
        print(f"workbench: error: evaluate needs workbench.spaces.cell.discrete ({exc})", file=sys.stderr)
        return 1
    g = _read_genotype(args.genotype)
    if args.space:
        _check_name("space", args.space, space_names())
    dataset = args.dataset.strip().lower().replace("-", "_")
    _check_name("dataset", dataset, dataset_names())
    fields = {f.name for f in dataclasses.fields(discrete.EvalConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    cfg = discrete.EvalConfig(**given)

    def on_epoch(rec: Any) -> None:
        if not args.quiet:
            print(f"epoch {rec.epoch + 1}/{cfg.epochs}  lr {rec.lr:.4f}  train {rec.train_loss:.3f}/"
                  f"{rec.train_acc:.3f}  test {rec.test_loss:.3f}/{rec.test_acc:.3f}", file=sys.stderr)

    res = discrete.evaluate_genotype(g, args.space, dataset, cfg, on_epoch=on_epoch)
    print(f"genotype   {res.genotype}")
    print(f"test acc   {res.test_acc:.2%} (loss {res.test_loss:.4f}) on {dataset}, after {cfg.epochs} epochs")
    print(f"train acc  {res.train_acc:.2%}   params {res.params:,}   {res.seconds:.1f} s")
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    run = load_run(args.run_dir)
    cfg, info, h = run.config, run.info, run.history
    total = info.get("steps_per_epoch", 0) * cfg.epochs
    done = int(h.steps[-1]) if len(h) else 0
    status = {"finished": "finished", "failed": f"FAILED ({run.error})",
              "incomplete": "incomplete (interrupted or still running)"}[run.status]
    print(f"run folder   {run.path}")
    print(f"status       {status}, step {done} of {total}")
    removed = f", removed {list(cfg.removed_ops)}" if cfg.removed_ops else ""
    print(f"search       {cfg.space} / {cfg.method} / {cfg.dataset}, seed {cfg.seed}, {_n(cfg.epochs, 'epoch')}, "
          f"supernet {cfg.supernet}, batch {cfg.batch_size}{removed}")
    if info.get("command"):
        print(f"command      {' '.join(info['command'])}")
    cks = list_checkpoints(run.path)
    print(f"checkpoints  {', '.join(p.stem for p in cks) or 'none'}")
    for rec in h.epochs:
        m = run.history.primary_metric or "accuracy"
        acc = "" if not rec.val_metrics else f"val {_metric_text(m, rec.val_metrics.get(m, float('nan')))}  "
        print(f"  epoch {rec.epoch + 1:3d}  step {rec.step:6d}  {acc}{rec.genotype}")
    if run.genotype is not None:
        print(f"genotype     {run.genotype}")
    if run.status == "incomplete" and cks:
        print(f"continue     python -m workbench resume {run.path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Run several methods x seeds on one space and dataset; print and write the comparison table."""
    from workbench.compare import compare
    from workbench.spaces.cell.discrete import EvalConfig

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        get_method(m)  # unknown names fail here, listing the valid ones
    try:
        seeds = [int(x) for x in args.seeds.split(",")]
    except ValueError:
        raise UsageError(f"--seeds takes comma-separated integers, e.g. 0,1,2; got {args.seeds!r}") from None
    get_space(args.space)
    table = args.nb201_table or os.environ.get(NB201_ENV)
    base = SearchConfig(space=args.space, dataset=args.dataset, epochs=args.epochs, arch_lr=args.arch_lr,
                        batch_size=args.batch_size,
                        supernet=SupernetConfig(C=args.C, layers=args.layers, cells_per_stage=args.cells_per_stage))
    retrain = EvalConfig(epochs=args.retrain_epochs) if args.retrain_epochs else None

    def on_run(row: dict) -> None:
        if not args.quiet:
            print(f"  done {row.get('method')} seed {row.get('seed')}: {row.get('genotype')}", file=sys.stderr)

    result = compare(methods, seeds, args.space, args.dataset, args.epochs, args.out, table, base_config=base,
                     retrain=retrain, hessian=not args.no_hessian, on_run=on_run)
    print(result.to_markdown())
    if args.out:
        print(f"\ntables and run folders in {args.out}")
    return 0


# ---------------------------------------------------------------------- parser
def default_threads() -> int:
    """Half the cores, at most 4: the small convolutions of a search gain little from more, and an
    oversubscribed CPU (threads > free cores) makes every step many times slower."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def _threads_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None,
                   help=f"torch CPU threads (default: half the cores, at most 4; here {default_threads()})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workbench", description="DNAS Workbench: differentiable "
                                "architecture search on a laptop CPU (DARTS and descendants).")
    p.add_argument("-v", "--verbose", action="store_true", help="log engine messages (INFO) to stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("search", help="run a search; writes a run folder, a summary and report.html")
    s.add_argument("--space", default="nb201", help=f"search space: {', '.join(space_names())} (default nb201)")
    s.add_argument("--method", default="darts-v1", help=f"method: {', '.join(method_names())} (default darts-v1)")
    s.add_argument("--dataset", default="digits", help=f"dataset: {', '.join(dataset_names())} (default digits)")
    s.add_argument("--data-root", help="folder of a dataset read from disk (cifar10, ...)")
    s.add_argument("--data-limit", type=int, metavar="N", help="keep at most this many training images (stratified)")
    s.add_argument("--remove-op", action="append", default=[], metavar="OP", help="drop a candidate op (repeatable)")
    s.add_argument("--method-option", action="append", default=[], metavar="KEY=VALUE",
                   help="method option, VALUE parsed as JSON when possible (repeatable), e.g. r=0.01")
    for flag, typ, what in (("--epochs", int, "search epochs"), ("--batch-size", int, "mini-batch size"),
                            ("--seed", int, "random seed"), ("--C", int, "supernet channels"),
                            ("--layers", int, "cells (DARTS macro)"),
                            ("--cells-per-stage", int, "cells per stage N (NB201 macro)"),
                            ("--lr", float, "weight learning rate (cosine schedule)"),
                            ("--arch-lr", float, "architecture (alpha) learning rate"),
                            ("--arch-weight-decay", float, "alpha weight decay"),
                            ("--weight-decay", float, "weight decay"), ("--momentum", float, "SGD momentum"),
                            ("--grad-clip", float, "gradient-norm clip (0: off)"),
                            ("--train-portion", float, "share of training data for weights (rest: alphas)")):
        dest = flag[2:].replace("-", "_")
        default = getattr(SupernetConfig() if dest in ("C", "layers", "cells_per_stage") else SearchConfig(), dest)
        s.add_argument(flag, type=typ, dest=dest, metavar="N" if typ is int else "X",
                       help=f"{what} (default {default})")
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, or auto (default cpu)")
    _threads_flag(s)
    s.add_argument("--out", help="run folder (must be new or empty; default runs/<space>-<method>-...)")
    s.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (refused for folders that do not hold a run)")
    s.add_argument("--checkpoint-every", type=int, default=1, metavar="EPOCHS",
                   help="checkpoint every N epochs (0: only at the end; default 1)")
    s.add_argument("--keep", type=int, default=3, help="checkpoints to keep (default 3)")
    s.add_argument("--nb201-table", metavar="PATH", help=f"NAS-Bench-201 CSV for ground truth (or ${NB201_ENV})")
    s.add_argument("--no-report", action="store_true", help="do not write report.html")
    s.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    s.set_defaults(func=cmd_search)

    r = sub.add_parser("resume", help="continue a run folder from its newest good checkpoint")
    r.add_argument("run_dir", metavar="DIR")
    r.add_argument("--epochs", type=int, help="new total number of epochs (to extend a search)")
    r.add_argument("--nb201-table", metavar="PATH")
    r.add_argument("--no-report", action="store_true")
    r.add_argument("--quiet", action="store_true")
    _threads_flag(r)
    r.set_defaults(func=cmd_resume)

    g = sub.add_parser("genotype", help="convert or draw a genotype")
    g.add_argument("genotype", nargs="?", help="DARTS text, NB201 string, JSON, a published name, a file, or -")
    g.add_argument("--to", choices=("darts", "nb201", "json"), help="print only this form")
    g.add_argument("--indent", type=int, help="indent JSON output")
    g.add_argument("--draw", metavar="OUT", help="draw the cells to OUT.svg or OUT.dot")
    g.add_argument("--list", action="store_true", help="list the published genotypes")
    g.set_defaults(func=cmd_genotype)

    n = sub.add_parser("nb201", help="NAS-Bench-201 ground truth of an architecture")
    n.add_argument("arch", help="NB201 string (|op~0|+|op~0|op~1|+...), JSON or a file")
    n.add_argument("--table", metavar="PATH", help=f"NAS-Bench-201 CSV export (or ${NB201_ENV})")
    n.set_defaults(func=cmd_nb201)

    e = sub.add_parser("evaluate", help="train the discrete network of a genotype, print test accuracy")
    e.add_argument("genotype", help="DARTS text, NB201 string, JSON, a published name or a file")
    e.add_argument("--space", help="check the genotype against this space and use its macro")
    e.add_argument("--dataset", default="digits")
    e.add_argument("--data-root")
    e.add_argument("--data-limit", type=int)
    for flag, typ in (("--epochs", int), ("--batch-size", int), ("--lr", float), ("--C", int), ("--layers", int),
                      ("--cells-per-stage", int), ("--seed", int), ("--drop-path-prob", float)):
        e.add_argument(flag, type=typ, dest=flag[2:].replace("-", "_"))
    e.add_argument("--auxiliary", action="store_true", default=None, help="auxiliary head (weight 0.4)")
    e.add_argument("--device", default=None)
    e.add_argument("--quiet", action="store_true")
    _threads_flag(e)
    e.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("compare", help="run methods x seeds on one space/dataset and tabulate them")
    c.add_argument("--methods", default="darts-v1,darts-v2,pc-darts,gdas,snas,sdarts-rs",
                   help="comma-separated method names (default: the DARTS family comparison)")
    c.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    c.add_argument("--space", default="nb201")
    c.add_argument("--dataset", default="digits")
    c.add_argument("--epochs", type=int, default=30)
    c.add_argument("--arch-lr", type=float, default=1e-2, help="alpha learning rate for every method (default 1e-2)")
    c.add_argument("--batch-size", type=int, default=64)
    c.add_argument("--C", type=int, default=8)
    c.add_argument("--layers", type=int, default=3)
    c.add_argument("--cells-per-stage", type=int, default=1)
    c.add_argument("--retrain-epochs", type=int, default=0, help="retrain each derived cell this long (0: skip)")
    c.add_argument("--no-hessian", action="store_true", help="skip the dominant eigenvalue column")
    c.add_argument("--nb201-table", metavar="PATH", help=f"NAS-Bench-201 CSV for ground truth (or ${NB201_ENV})")
    c.add_argument("--out", help="folder for the run folders and comparison.{csv,md,json}")
    c.add_argument("--quiet", action="store_true")
    _threads_flag(c)
    c.set_defaults(func=cmd_compare)

    rs = sub.add_parser("runs", help="inspect run folders")
    rsub = rs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    show = rsub.add_parser("show", help="summary of a run folder")
    show.add_argument("run_dir", metavar="DIR")
    show.set_defaults(func=cmd_runs_show)
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
    args.argv = argv
    if hasattr(args, "threads"):
        if args.threads is not None and args.threads < 1:
            print(f"workbench: error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
            return 2
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
    except (UsageError, GenotypeError, DatasetNotFoundError, RunError, KeyError, ValueError, FileNotFoundError) as exc:
        if isinstance(exc, CheckpointError):
            print(f"workbench: error: {exc}", file=sys.stderr)
            return 1
        if args.verbose:
            log.exception("details")
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"workbench: error: {msg}", file=sys.stderr)
        return 2
