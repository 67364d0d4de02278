"""``python -m workbench latency ...``: latency tables for the hardware-aware methods.

* ``latency measure --space chain --input-shape 1,8,8 --out table.json [--repeats N] [--warmup N]``
  times every (layer, block) of a chain space on this machine at batch 1
  (:func:`workbench.spaces.chain.costs.measure_latency`, one torch thread),
  saves the JSON table and prints it with the host's description.
* ``latency show TABLE [--space NAME] [--remove-op BLOCK ...]`` prints a
  shipped table (``proxylessnas_pixel1``, ``ofa_note10``), a YAML lookup table
  or a workbench JSON table; with ``--space``, also the cost table that space
  gets from it (:func:`workbench.spaces.chain.lut.cost_model`: virtual
  resolution for a phone table, with its layer mapping).
* ``latency fit-nb201 --device D [--table PATH] [--per-edge]`` fits the additive
  per-op latency model to a device's NAS-Bench-201 latencies and prints it
  with its fit errors (:mod:`workbench.spaces.cell.latency`); ``--device all``
  prints one line per device.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from workbench.app.cli.common import NB201_ENV, UsageError, check_name
from workbench.data import nb201_table_path

if TYPE_CHECKING:  # pragma: no cover  (numpy, like the engine, is imported by the commands that use it)
    import numpy as np


def _input_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"--input-shape takes C,H,W (three positive integers, e.g. 1,8,8), got {text!r}")
    return shape


def _chain_space(name: str, remove: Sequence[str]) -> Any:
    from workbench.app.cli.help_names import valid_names
    check_name("space", name, valid_names("space"))  # an unknown name's error without importing the spaces
    from workbench.spaces import get_space
    from workbench.spaces.chain.space import ChainSpace
    space = get_space(name)
    if not isinstance(space, ChainSpace):
        raise UsageError(f"latency tables price chain spaces (a block per layer); space {name!r} is a "
                         f"{type(space).__name__}. For NAS-Bench-201 cells use `latency fit-nb201`")
    for b in remove:
        if b not in space.blocks:
            raise UsageError(f"--remove-op {b!r}: not a block of space {name!r}; its blocks: {', '.join(space.blocks)}")
    return space.with_ops(remove=list(remove)) if remove else space


def _matrix(rows: Sequence[str], cols: Sequence[str], values: np.ndarray, allowed: np.ndarray | None = None,
            digits: int = 3) -> list[str]:
    width = max(len(r) for r in rows)
    colw = [max(len(c), digits + 4) for c in cols]
    out = [" " * (width + 2) + "  ".join(f"{c:>{w}s}" for c, w in zip(cols, colw, strict=True))]
    for i, r in enumerate(rows):
        cells = [("-" if allowed is not None and not allowed[i, j] else f"{values[i, j]:.{digits}f}").rjust(w)
                 for j, w in enumerate(colw)]
        out.append(f"  {r:{width}s}" + "  ".join(cells))
    return out


def _print_cost(space: Any, cost: Any) -> None:
    import numpy as np

    g, = space.choice_groups()
    table = np.asarray(cost.costs[g.name])
    print(f"cost model   {cost.name}, {cost.unit} per (layer, block); '-' = not allowed there")
    for ln in _matrix(g.rows, g.options, table, g.allowed_matrix()):
        print(ln)
    print(f"cheapest     {cost.minimum():.4g} {cost.unit} (the cheapest legal architecture)")


# ---------------------------------------------------------------------------------------------- measure
def cmd_measure(args: argparse.Namespace) -> int:
    import numpy as np

    from workbench.spaces.chain.costs import measure_latency, save_latency
    space = _chain_space(args.space, args.remove_op)
    shape = _input_shape(args.input_shape)
    if args.repeats < 1 or args.warmup < 0:
        raise UsageError(f"need --repeats >= 1 and --warmup >= 0, got {args.repeats} and {args.warmup}")
    table = measure_latency(space, shape, warmup=args.warmup, repeats=args.repeats)
    path = save_latency(table, args.out)
    host = table["host"]
    print(f"measured     space {space.name!r} at input {','.join(str(v) for v in shape)}, batch 1, 1 torch thread, "
          f"median of {args.repeats} after {args.warmup} warm-up run(s)")
    print(f"host         {host['processor'] or host['machine']} ({host['machine']}, {host['system']}, "
          f"{host['cpus']} CPUs), Python {host['python']}, torch {host['torch']}")
    g, = space.choice_groups()
    print("latency (ms) of each block at its layer")
    for ln in _matrix(g.rows, g.options, np.asarray(table["table"]), g.allowed_matrix()):
        print(ln)
    print(f"wrote        {path}")
    return 0


# ---------------------------------------------------------------------------------------------- show
def cmd_show(args: argparse.Namespace) -> int:
    from workbench.spaces.chain import lut
    table = lut.load_table(args.table)
    if args.remove_op and not args.space:
        raise UsageError("--remove-op needs --space")
    space = cost = None
    if args.space:  # before printing anything: a table the space cannot use is one error line
        space = _chain_space(args.space, args.remove_op)
        cost = lut.cost_model(table, space)
    if table.kind == "workbench":
        _show_json(table)
    else:
        _show_yaml(table)
    if space is not None:
        doc = table.document or {}
        print()
        if table.kind != "workbench":
            g, = space.choice_groups()
            print(f"mapping      chain layer -> {lut.MACROS[table.kind].name} layer (virtual resolution)")
            width = max(len(r) for r in g.rows)
            for row, layer in zip(g.rows, lut.virtual_layers(space, lut.MACROS[table.kind]), strict=True):
                print(f"  {row:{width}s}  {layer}")
        elif doc.get("space") != space.name:
            print(f"note         measured for space {doc.get('space')!r}; its layers and blocks match {space.name!r}")
        _print_cost(space, cost)
    return 0


def _show_json(table: Any) -> None:
    import numpy as np

    d = table.document
    print(f"table        {table.name} (workbench latency table, {d.get('unit', 'ms')})")
    print(f"source       {table.source}")
    print(f"space        {d.get('space')!r} (fingerprint {d.get('fingerprint')}), input shape "
          f"{','.join(str(v) for v in d.get('input_shape', []))}, batch {d.get('batch', 1)}")
    host = d.get("host") or {}
    if host:
        print(f"host         {host.get('processor') or host.get('machine')} ({host.get('machine')}, "
              f"{host.get('system')}, {host.get('cpus')} CPUs), Python {host.get('python')}, torch {host.get('torch')}")
    print(f"measured     median of {d.get('repeats')} after {d.get('warmup')} warm-up run(s), "
          f"{d.get('torch_threads', '?')} torch thread(s), {d.get('created', 'date unknown')}")
    rows, cols = list(d.get("rows", [])), list(d.get("options", []))
    values = np.asarray(d.get("table", []), dtype=np.float64)
    if rows and cols and values.shape == (len(rows), len(cols)):
        for ln in _matrix(rows, cols, values):
            print(ln)


def _show_yaml(table: Any) -> None:
    kind = {"proxylessnas": "ProxylessNAS lookup table", "ofa": "Once-for-All lookup table"}[table.kind]
    device = f", {table.device}" if table.device else ""
    print(f"table        {table.name} ({kind}{device}, {len(table)} entries, mean latency in ms)")
    print(f"source       {table.source}")
    layers = table.layers()
    flags = table.kind == "ofa"
    head = f"  {'op':14s} {'input':>11s} {'output':>11s} {'expand':>6s} {'kernel':>6s} {'stride':>6s} {'idskip':>6s}"
    print(head + (f" {'se':>2s} {'hs':>2s}" if flags else "") + f" {'mean':>9s}")
    for op, f, mean in layers:
        line = (f"  {op:14s} {f.get('input', ''):>11s} {f.get('output', ''):>11s} {f.get('expand', ''):>6s} "
                f"{f.get('kernel', ''):>6s} {f.get('stride', ''):>6s} {f.get('idskip', ''):>6s}")
        if flags:
            line += f" {f.get('se', ''):>2s} {f.get('hs', ''):>2s}"
        print(line + f" {mean:9.4f}")


# ---------------------------------------------------------------------------------------------- fit-nb201
def cmd_fit_nb201(args: argparse.Namespace) -> int:
    from workbench.spaces.cell.latency import fit_nb201_latency, latency_devices
    from workbench.spaces.cell.nb201 import NB201Table
    table = NB201Table.load(nb201_table_path(args.table))  # --table, $WORKBENCH_NB201_TABLE or the shipped one
    devices = latency_devices(table)
    model = "per-(edge, op)" if args.per_edge else "per-op"
    if args.device == "all":
        print(f"NB201 latency fits, additive {model} model, {len(table)} cells ({table.path})")
        width = max(len(d) for d in devices)
        for d in devices:
            fit = fit_nb201_latency(table, d, per_edge=args.per_edge)
            print(f"  {d:{width}s}  {fit.report.line()}")
        return 0
    device = check_name("device", args.device.strip().lower(), devices)
    fit = fit_nb201_latency(table, device, per_edge=args.per_edge)
    r = fit.report
    print(f"NB201 latency fit: device {device}, additive {model} model, {r.n} cells ({table.path})")
    print(f"model        latency ~= b + sum over the 6 edges of c[{'edge, ' if args.per_edge else ''}op on the edge]; "
          f"b = {fit.intercept:.4g} ms")
    if args.per_edge:
        rows = ["0→1", "0→2", "1→2", "0→3", "1→3", "2→3"]
        for ln in _matrix(rows, list(fit.ops), fit.edge_costs, digits=3):
            print(ln)
    else:
        for op, c in fit.op_costs().items():
            print(f"  {op:14s} {c:8.4f} ms")
    print(f"fit          {r.line()}")
    print(f"measured     mean {r.mean_latency_ms:.4g} ms over the table")
    offset = (f" {-fit.offset_ms:+.4g} ms (the negative intercept is left out so that prices stay >= 0)"
              if fit.offset_ms else " (ms)")
    print(f"cost model   E[cost] over the relaxed cell = the predicted latency{offset}")
    print(f"fastest      predicted {fit.fastest_ms:.4g} ms (the smallest budget "
          "fit.cost_term(weight, budget_ms) accepts)")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("latency", help="latency tables: measure, show, fit NAS-Bench-201 latencies")
    lsub = p.add_subparsers(dest="latency_command", metavar="ACTION", required=True)
    m = lsub.add_parser("measure", help="time every block of a chain space on this machine (JSON table)")
    m.add_argument("--space", default="chain", help="a chain space (default: chain)")
    m.add_argument("--input-shape", required=True, metavar="C,H,W", help="example shape, e.g. 1,8,8 for digits")
    m.add_argument("--out", required=True, metavar="PATH", help="where to write the JSON table")
    m.add_argument("--repeats", type=int, default=50, help="timed runs per block; the median is kept (default 50)")
    m.add_argument("--warmup", type=int, default=10, help="untimed runs before timing (default 10)")
    m.add_argument("--remove-op", action="append", default=[], metavar="BLOCK", help="leave a block out (repeatable; default: none)")
    m.set_defaults(func=cmd_measure)
    s = lsub.add_parser("show", help="print a latency table (shipped name, YAML or JSON)")
    s.add_argument("table", metavar="TABLE", help="proxylessnas_pixel1, ofa_note10, or a .yaml/.json path")
    s.add_argument("--space", help="also print the cost table this chain space gets from it")
    s.add_argument("--remove-op", action="append", default=[], metavar="BLOCK",
                   help="with --space: leave a block out (repeatable; default: none; e.g. k3_e1, k5_e1 for the ProxylessNAS table)")
    s.set_defaults(func=cmd_show)
    f = lsub.add_parser("fit-nb201", help="fit an additive per-op latency model to NAS-Bench-201 latencies")
    f.add_argument("--device", required=True, help="e.g. pixel3, raspi4, eyeriss, fpga, gold_6226, ...; or 'all'")
    f.add_argument("--table", metavar="PATH", help=f"NAS-Bench-201 CSV with lat_ms_* columns (default: ${NB201_ENV}, else the shipped table)")
    f.add_argument("--per-edge", action="store_true", help="one price per (edge, op) instead of per op")
    f.set_defaults(func=cmd_fit_nb201)
