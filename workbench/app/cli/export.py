"""``python -m workbench export SOURCE --out DIR [--format F ...]``: a derived or published network, exported.

``SOURCE`` is a run folder (its final architecture, in its space and at its task's input shape) or an
architecture: a published genotype name (``genotype --list``), DARTS text, an NB201 string, or a JSON file
(``--space`` for other spaces). ``--format`` (repeatable): ``safetensors`` (default), ``torchscript``,
``onnx`` (:mod:`workbench.app.export_formats`); every file written is read back and compared with the eager
network at the export shape and, for images, at ``--check-shape`` (default: twice the resolution), so an
export at one resolution is shown to run at another. ``architecture.json`` holds the architecture, the input
shape, the parameter count and FLOPs (``torch.utils.flop_counter``).

Chain runs keep their latency export (:mod:`workbench.app.export`): ``architecture.json``,
``weights.safetensors`` when there are weights, ``latency_report.json``
(per-layer predicted cost from the cost model, the predicted total, and the
network measured on this machine: warm-up runs, then the median of N at
batch 1 on one torch thread, with the host's description). No pickle.

* the architecture: the run's final one (``--arch`` JSON text or file to
  export another architecture of the same space);
* the cost model: the run's own ``cost`` method option (default parameters);
  ``--cost params|flops|TABLE`` to price it with another (e.g. a table
  measured with ``latency measure``);
* weights: ``--weights supernet`` (default when the run has a checkpoint)
  inherits the chosen blocks' weights from the run's last supernet
  checkpoint; ``none`` writes no weights; ``--train-epochs N`` then trains the
  network N epochs on the run's dataset (from the inherited weights, or from
  scratch with ``none``) and saves those weights with the test accuracy.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from workbench.app.cli.common import UsageError, int_arg, threads_flag


def _architecture(space: Any, run: Any, text: str | None) -> Any:
    if text is None:
        arch = run.genotype
        if arch is None:
            raise UsageError(f"run {run.path} has no architecture yet (no epoch finished); pass --arch")
        return arch
    path = Path(text)
    source = path.read_text() if path.is_file() else text
    return space.parse(source)


def cmd_export(args: argparse.Namespace) -> int:
    args.format = list(dict.fromkeys(args.format or ["safetensors"]))
    source = Path(args.source)
    if not source.is_dir():
        return _export_architecture(args)
    from workbench.runs import load_run
    from workbench.spaces.chain.space import ChainSpace
    run = load_run(source)
    if not isinstance(run.history.space, ChainSpace):
        return _export_run(args, run)
    return _export_chain(args)


def _export_chain(args: argparse.Namespace) -> int:
    from workbench.app.export import export_derived, inherit_supernet_weights, train_network
    from workbench.app.hardware import cost_model_for
    from workbench.runs import load_run
    from workbench.serialize import load as load_checkpoint
    from workbench.spaces.chain.space import ChainSpace
    from workbench.tasks.data import load_dataset
    from workbench.tasks.task import TaskInfo

    if args.repeats < 1 or args.warmup < 0 or args.train_epochs < 0:
        raise UsageError(f"need --repeats >= 1, --warmup >= 0 and --train-epochs >= 0, got {args.repeats}, "
                         f"{args.warmup} and {args.train_epochs}")
    run = load_run(args.source)
    space = run.history.space
    assert isinstance(space, ChainSpace)
    cfg = run.config
    arch = _architecture(space, run, args.arch)
    ds = load_dataset(cfg.dataset, cfg.data_root, seed=cfg.seed, limit=cfg.data_limit)
    info = TaskInfo(tuple(int(v) for v in ds.input_shape), int(ds.n_outputs))
    spec = args.cost if args.cost is not None else dict(cfg.method_options).get("cost")
    cost = cost_model_for(space, spec if isinstance(spec, str) else None, info.input_shape)
    weights = args.weights or ("supernet" if run.checkpoints else "none")
    state = None
    if weights == "supernet":
        if not run.checkpoints:
            raise UsageError(f"run {run.path} has no checkpoint to inherit weights from; use --weights none")
        sd = load_checkpoint(run.checkpoints[-1])
        state = inherit_supernet_weights(space, arch, sd["model"])
    trained = None
    if args.train_epochs:
        import torch
        torch.manual_seed(cfg.seed)
        net = space.compile(arch, info)
        if state is not None:
            net.load_state_dict(state, strict=True)
        trained = train_network(net, ds, args.train_epochs, batch_size=cfg.batch_size, seed=cfg.seed)
        state = net.state_dict()
    meta = {"run_dir": str(run.path), "method": cfg.method, "dataset": cfg.dataset, "weights": weights,
            "train_epochs": args.train_epochs, **({"trained": trained} if trained else {})}
    paths = export_derived(args.out, space, arch, info.input_shape, info.n_outputs, cost, state=state,
                           warmup=args.warmup, repeats=args.repeats, meta=meta)
    import json
    report = json.loads(paths["report"].read_text())
    m, unit = report["measured"], report["unit"]
    print(f"architecture {report['label']}  ({space.name}, from {run.path})")
    print(f"cost model   {report['cost_model']['name']} ({unit})")
    width = max(len(r["row"]) for r in report["layers"])
    print(f"  {'layer':{width}s}  {'block':6s}  {'predicted':>10s}  {'measured':>9s}")
    for r in report["layers"]:
        print(f"  {r['row']:{width}s}  {r['block']:6s}  {r['predicted']:10.4g}  {r['measured_ms']:7.4f}ms")
    print(f"predicted    {report['predicted_total']:.4g} {unit} (sum of the layers)")
    print(f"measured     {m['network_ms']:.4f} ms whole network, {m['layers_ms']:.4f} ms its searchable layers "
          f"(batch 1, 1 thread, median of {m['repeats']} after {m['warmup']} warm-up runs)")
    host = report["host"]
    print(f"host         {host['processor'] or host['machine']} ({host['machine']}, {host['system']}, "
          f"{host['cpus']} CPUs), torch {host['torch']}")
    if trained:
        print(f"trained      {args.train_epochs} epoch(s) on {cfg.dataset}: test accuracy {trained['test_accuracy']:.2%}")
    print(f"weights      {paths['weights'] if 'weights' in paths else 'none written'}"
          + (f" ({weights})" if "weights" in paths and not args.train_epochs else ""))
    net = space.compile(arch, info)
    if state is not None:
        net.load_state_dict(state, strict=True)
    _write_formats(args, net, ds.x_test[:2], Path(args.out), skip=("safetensors",))
    print(f"wrote        {paths['architecture'].parent}")
    return 0


EXPORT_DOC = "workbench-export/1"


def _write_formats(args: argparse.Namespace, net: Any, example: Any, out: Path, skip: tuple[str, ...] = ()
                   ) -> dict[str, Any]:
    """Write every ``--format`` (except ``skip``), read each back and compare; print one line per format."""
    import torch

    from workbench.app.export_formats import check_export, export_network
    files, checks = {}, []
    shapes = [tuple(example.shape)]
    if example.ndim >= 4 and example.is_floating_point():
        check = args.check_shape or tuple(2 * s for s in example.shape[2:])
        if len(check) == example.ndim - 1:  # C,H,W given
            check = check[1:]
        shapes.append((2, example.shape[1], *check))
    for fmt in args.format:
        if fmt in skip:
            continue
        try:
            path = export_network(net, out, fmt, example)
        except RuntimeError as exc:
            raise UsageError(str(exc)) from None
        files[fmt] = path.name
        for shape in shapes if fmt != "safetensors" else shapes[:1]:
            x = example if shape == tuple(example.shape) else torch.randn(*shape, generator=torch.Generator().manual_seed(0))
            c = check_export(net, path, fmt, x)
            checks.append({"format": fmt, "input_shape": list(c.input_shape), "max_abs_diff": c.max_abs_diff,
                           "note": c.note})
            diff = c.note if c.max_abs_diff is None else f"max |diff| {c.max_abs_diff:.2e} vs eager"
            print(f"{fmt:12s} {path}  input {'x'.join(map(str, c.input_shape))}: {diff}")
            if c.max_abs_diff is not None and not c.ok:
                raise RuntimeError(f"export check failed: {fmt} differs from the eager network by {c.max_abs_diff:.3g} "
                                   f"at input {c.input_shape}")
    return {"files": files, "checks": checks}


def _write_doc(args: argparse.Namespace, space: Any, arch: Any, net: Any, example: Any, n_outputs: int,
               meta: dict[str, Any]) -> int:
    import json

    from workbench.analysis.network_cost import network_cost
    from workbench.serialize import atomic_write_text
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder (created if missing)")
    out.mkdir(parents=True, exist_ok=True)
    cost = network_cost(net, example)
    label = space.label(arch) if space is not None else str(arch)
    print(f"architecture {label}")
    print(f"network      {cost}  (input {'x'.join(map(str, example.shape[1:]))}, {n_outputs} outputs)")
    written = _write_formats(args, net, example, out)
    doc = {"format": EXPORT_DOC, "space": None if space is None else space.name,
           "architecture": arch.to_dict(), "label": label, "input_shape": list(example.shape[1:]),
           "n_outputs": n_outputs, "network": cost.to_dict(), **written, "meta": meta}
    atomic_write_text(out / "architecture.json", json.dumps(doc, indent=1))
    print(f"wrote        {out}")
    return 0


def _export_run(args: argparse.Namespace, run: Any) -> int:
    """A run folder of any (non-chain) space: its final architecture at its task's input shape."""
    import torch

    from workbench.tasks import Task, load_dataset
    space, cfg = run.history.space, run.config
    arch = _architecture(space, run, args.arch)
    ds = load_dataset(cfg.dataset, cfg.data_root, seed=cfg.seed, limit=cfg.data_limit)
    task = Task.of(ds, cfg.objective)
    torch.manual_seed(cfg.seed)
    net = space.compile(arch, task.info)
    trained = None
    if args.train_epochs:
        from workbench.app.export import train_network
        trained = train_network(net, ds, args.train_epochs, batch_size=cfg.batch_size, seed=cfg.seed)
        print(f"trained      {args.train_epochs} epoch(s) on {cfg.dataset}: test accuracy "
              f"{trained['test_accuracy']:.2%}")
    meta = {"run_dir": str(run.path), "method": cfg.method, "dataset": cfg.dataset,
            "weights": "trained" if trained else "untrained", **({"trained": trained} if trained else {})}
    return _write_doc(args, space, arch, net, ds.x_test[:2], task.info.n_outputs, meta)


def _export_architecture(args: argparse.Namespace) -> int:
    """A published name, genotype text/file, or a JSON architecture of ``--space``: compiled at --input-shape."""
    import torch

    from workbench.app.export_formats import parse_shape
    from workbench.spaces import get_space
    from workbench.spaces.cell.space import CellSpace
    from workbench.tasks import TaskInfo
    try:
        shape = parse_shape(args.input_shape)
    except ValueError as exc:
        raise UsageError(f"--input-shape: {exc}") from None
    if args.train_epochs:
        raise UsageError("--train-epochs needs a run folder (its dataset); an architecture is exported untrained")
    space = get_space(args.space) if args.space else None
    torch.manual_seed(0)
    if space is None or isinstance(space, CellSpace):
        from workbench.app.cli.genotype import read_genotype
        from workbench.spaces.cell.discrete import from_space
        from workbench.spaces.cell.supernet import SupernetConfig
        arch = read_genotype(args.source)
        net: torch.nn.Module = from_space(arch, space, SupernetConfig(C=args.C, layers=args.layers), shape[0],
                                          args.classes)
    else:
        text = Path(args.source).read_text() if Path(args.source).is_file() else args.source
        arch = space.parse(text)
        net = space.compile(arch, TaskInfo(shape, args.classes))
    example = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    return _write_doc(args, space, arch, net, example, args.classes, {"source": args.source})


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export a derived or published network (safetensors, TorchScript, ONNX)")
    p.add_argument("source", metavar="RUN_DIR|ARCH",
                   help="a run folder, or an architecture: a published name, DARTS text, an NB201 string, a file")
    p.add_argument("--format", action="append", choices=("safetensors", "torchscript", "onnx"),
                   help="file format, repeatable (default: safetensors); onnx needs the export extra")
    p.add_argument("--space", metavar="NAME",
                   help="the space of an ARCH (default: any DARTS/NB201 genotype, checked against no space)")
    p.add_argument("--input-shape", default="3,32,32", metavar="C,H,W",
                   help="input of one example for an ARCH (default 3,32,32; a run uses its dataset's)")
    p.add_argument("--check-shape", type=lambda t: tuple(int(v) for v in t.split(",")), metavar="[C,]H,W",
                   help="also run traced exports at this resolution (default: twice the export's)")
    p.add_argument("--classes", type=int_arg, default=10, help="outputs of an ARCH's network (default 10)")
    p.add_argument("--C", type=int_arg, default=8, help="initial channels of a cell network from an ARCH (default 8)")
    p.add_argument("--layers", type=int_arg, default=3, help="cells of a cell network from an ARCH (default 3)")
    p.add_argument("--out", required=True, metavar="DIR", help="the export folder (created)")
    p.add_argument("--arch", metavar="JSON", help="export this architecture (JSON text or file) instead of the run's")
    p.add_argument("--cost", metavar="COST", help="params, flops or a latency table (name or path); default: the run's")
    p.add_argument("--weights", choices=("supernet", "none"),
                   help="inherit the chosen blocks from the last supernet checkpoint (default when there is one), or "
                        "write no weights")
    p.add_argument("--train-epochs", type=int_arg, default=0, metavar="N",
                   help="train the network N epochs on the run's dataset before saving its weights (default 0)")
    p.add_argument("--repeats", type=int_arg, default=50, help="timed runs; the median is kept (default 50)")
    p.add_argument("--warmup", type=int_arg, default=10, help="untimed runs before timing (default 10)")
    threads_flag(p)
    p.set_defaults(func=cmd_export)
