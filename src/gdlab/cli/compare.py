"""``gdlab compare``: the grid of configurations over seeds, a summary table and a report."""

from __future__ import annotations

from pathlib import Path


def run(args) -> int:
    from gdlab.lab.compare import run_comparison, summary_rows, write_outputs
    from gdlab.lab.runs import fresh_run_dir

    base = {"dataset": args.dataset, "target": args.target, "data_dir": args.data_dir,
            "task": args.task, "layers": list(args.layers), "activation": args.activation,
            "batchnorm": args.batchnorm, "dtype": args.dtype}
    out = Path(args.out) if args.out else fresh_run_dir("compare")
    log = None if args.quiet else print
    result = run_comparison(base, optimizers=args.optimizers, batch_sizes=args.batch_sizes,
                            lrs=args.lrs, seeds=args.seeds, epochs=args.epochs,
                            target_loss=args.target_loss, log=log)
    paths = write_outputs(out, result, seeds=args.seeds, epochs=args.epochs)
    if args.quiet:
        print(out)
        return 0
    from rich.console import Console
    from rich.table import Table

    header, rows = summary_rows(result["summary"], result["metric"])
    table = Table(title=f"gdlab compare: {result['data'].name}, target loss "
                        f"{result['target_loss']:.4g}")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    console = Console()
    if not console.is_terminal:  # a file or a pipe: do not squeeze the table into 80 columns
        console = Console(width=140)
    console.print(table)
    print(f"wrote {paths['results']}, {paths['summary']}, {paths['html']}, {paths['md']} and "
          f"{len(paths['figures'])} figures in {out}")
    return 0


def _fmt(v):
    if isinstance(v, float):
        return "—" if v != v else f"{v:.4g}"
    return str(v)
