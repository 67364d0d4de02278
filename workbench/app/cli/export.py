"""``python -m workbench export RUN_DIR --out DIR``: the derived chain network of a run and its latency report.

Writes an export folder (:mod:`workbench.app.export`): ``architecture.json``,
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
    run = load_run(args.run_dir)
    space = run.history.space
    if not isinstance(space, ChainSpace):
        raise UsageError(f"export writes chain networks (a block per layer) and their latency; run {run.path} "
                         f"searched space {space.name!r} ({type(space).__name__})")
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
    print(f"wrote        {paths['architecture'].parent}")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export a run's derived chain network (JSON, safetensors) and latency report")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder of a chain-space search")
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
