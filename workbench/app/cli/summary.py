"""The end of a search on the command line: ``summary.json``, ``report.html`` and the summary on stdout.

Generic over spaces and tasks: the architecture is ``space.label(arch)`` and
``arch.to_dict()``, the supernet is scored with every metric of the objective
(accuracy as a percentage, other metrics as numbers), and what the method's
controller did (DARTS-ADA's rollbacks) is reported when it has an outcome.
Only a :class:`~workbench.spaces.cell.genotype.Genotype` gets the DARTS / NB201
text forms and the parameter-free / skip / none counts, and only a cell of the
``nb201`` space is looked up in a NAS-Bench-201 table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.app.cli.common import (
    cell_counts,
    controller_outcome,
    line,
    log,
    metrics_text,
    n_text,
    outcome_text,
)
from workbench.data import load_nb201_table, nb201_table_path

if TYPE_CHECKING:  # pragma: no cover
    from workbench.search import Searcher
    from workbench.spaces.cell.genotype import Genotype


def nb201_truth(genotype: Genotype, table_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """NAS-Bench-201 ground truth of a cell from ``table_path`` (None: ``$WORKBENCH_NB201_TABLE``, else the
    shipped table; :func:`workbench.data.nb201_table_path`)."""
    table = load_nb201_table(table_path)
    rec = table.lookup(genotype)
    return {"index": rec.index, "arch": rec.arch_str, "c10": rec.c10, "c100": rec.c100, "in16": rec.in16,
            "rank_c10": table.rank(rec.arch_str), "n": len(table)}


def summarize(searcher: Searcher, run_dir: Path | None, seconds: float, steps_taken: int | None = None,
              nb201_table: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The summary of a finished search as plain data (what ``summary.json`` holds); an NB201 cell is scored
    against ``nb201_table`` (None: ``$WORKBENCH_NB201_TABLE``, else the shipped NAS-Bench-201 table)."""
    from workbench.spaces.cell.genotype import Genotype

    arch = searcher.genotype()
    space = searcher.space
    val_loss, val_m = searcher.evaluate()
    ds = searcher.dataset
    test_loss, test_m = searcher.evaluate(ds.x_test, ds.y_test)
    is_cell = isinstance(arch, Genotype)
    truth, truth_note = None, None
    if space.name == "nb201" and is_cell and arch.is_nb201():
        try:
            truth = nb201_truth(arch, nb201_table)
        except (OSError, ValueError) as exc:
            truth_note = f"not available ({exc})"
    cfg, obj = searcher.config, searcher.objective
    network, network_note = None, None
    try:
        from workbench.analysis.network_cost import network_cost
        network = network_cost(space.compile(arch, searcher.task.info), ds.x_test[:1]).to_dict()
    except Exception as exc:  # a space without a compilable network still gets its summary
        network_note = f"not counted ({type(exc).__name__}: {exc})"
    return {"run": None if run_dir is None else str(run_dir), "space": space.name, "method": searcher.method.name,
            "dataset": cfg.dataset, "seed": cfg.seed, "epochs": cfg.epochs, "steps": searcher.step_count,
            "steps_taken": searcher.step_count if steps_taken is None else steps_taken,
            "seconds": round(seconds, 3), "label": space.label(arch), "genotype": arch.to_dict(),
            "darts": arch.to_darts_str() if is_cell and arch.is_darts() else None,
            "nb201": arch.to_nb201_str() if is_cell and arch.is_nb201() else None,
            "cell_counts": cell_counts(arch),
            "objective": obj.name, "primary_metric": obj.primary, "metrics": list(obj.metric_names),
            "higher_is_better": obj.higher_is_better,
            "supernet": {"val_loss": val_loss, "val_metrics": val_m, "n_val": len(searcher.val_data[1]),
                         "test_loss": test_loss, "test_metrics": test_m, "n_test": len(ds.y_test)},
            "controller": controller_outcome(searcher), "nb201_truth": truth, "nb201_note": truth_note,
            "network": network, "network_note": network_note}


def summary_lines(s: dict[str, Any], report: Path | None = None) -> list[str]:
    """The summary printed on stdout (``label  text`` lines under a headline)."""
    extra = s["steps_taken"] - s["steps"]
    redo = f" + {extra} repeated after rollbacks" if extra > 0 else ""
    lines = [f"search finished: {s['space']} / {s['method']} / {s['dataset']}, seed {s['seed']}, "
             f"{n_text(s['epochs'], 'epoch')} ({s['steps']} steps{redo}, {s['seconds']:.1f} s)"]
    if s["darts"]:
        lines.append(line("genotype (DARTS)", s["darts"]))
    if s["nb201"]:
        lines.append(line("genotype (NB201)", s["nb201"]))
    if s["cell_counts"] is not None:
        if not (s["darts"] or s["nb201"]):
            lines.append(line("genotype", s["label"]))
        lines.append(line("genotype (JSON)", json.dumps(s["genotype"])))
        c = s["cell_counts"]
        lines.append(line("cell ops", f"{c['param_free']} parameter-free ({n_text(c['skips'], 'skip')}), "
                                      f"{c['nones']} none"))
    else:
        lines.append(line("architecture", s["label"]))
        lines.append(line("as JSON", json.dumps(s["genotype"])))
    if s.get("network"):
        from workbench.analysis.network_cost import NetworkCost
        lines.append(line("derived network", f"{NetworkCost(**s['network'])} (as compiled)"))
    elif s.get("network_note"):
        lines.append(line("derived network", s["network_note"]))
    sn = s["supernet"]
    lines.append(line("supernet", f"val {metrics_text(sn['val_metrics'], 2)} ({sn['n_val']} arch-half examples), "
                                  f"test {metrics_text(sn['test_metrics'], 2)} ({sn['n_test']} test examples)"))
    if s["controller"] is not None:
        lines.append(line("early stopping" if "rollbacks" in s["controller"] else "controller",
                          outcome_text(s["controller"])))
    truth = s["nb201_truth"]
    if truth:
        lines.append(line("NB201 truth", f"CIFAR-10 {truth['c10']:.2f}%  CIFAR-100 {truth['c100']:.2f}%  "
                                         f"ImageNet16-120 {truth['in16']:.2f}%  (CIFAR-10 rank {truth['rank_c10']} "
                                         f"of {truth['n']})"))
    elif s["nb201_note"]:
        lines.append(line("NB201 truth", s["nb201_note"]))
    if s["run"]:
        lines.append(line("run folder", s["run"]))
    if report:
        lines.append(line("report", str(report)))
    return lines


def finish(searcher: Searcher, run_dir: Path, args: argparse.Namespace, seconds: float,
           steps_taken: int | None = None) -> None:
    """Final summary on stdout, summary.json and report.html in the run folder."""
    from workbench.serialize import atomic_write_text

    table = nb201_table_path(getattr(args, "nb201_table", None))
    summary = summarize(searcher, run_dir, seconds, steps_taken, table)
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=1))
    report = None if args.no_report else write_report(run_dir)
    print("\n".join(summary_lines(summary, report)))


def write_report(run_dir: Path) -> Path | None:
    """``report.html`` by :mod:`widgets.report` (imported here, lazily: plotly is heavy); None if it fails."""
    try:
        from widgets.report import write_report as write  # the application layer may use widgets
    except ImportError as exc:
        print(f"workbench: warning: report.html not written ({exc}); install the widgets extra: "
              "pip install 'dnas-workbench[widgets]'", file=sys.stderr)
        return None
    try:
        return write(run_dir)
    except Exception as exc:  # the search result stands even if the report fails
        log.debug("report failed", exc_info=True)
        print(f"workbench: warning: report.html not written ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
