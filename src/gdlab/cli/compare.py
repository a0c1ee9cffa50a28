"""``gdlab compare``: the grid of configurations over seeds, a summary table and a report; the
job itself is :func:`gdlab.lab.compare.run_comparison`."""

from __future__ import annotations

import argparse
from pathlib import Path

from gdlab.cli.argtypes import batch_size_list, lr_list, optimizer_list, positive_float, positive_int
from gdlab.cli.exits import EXIT_OK
from gdlab.cli.options import (
    add_data_options,
    add_debug_option,
    add_dtype_option,
    add_model_options,
    add_out_option,
)

NAME = "compare"

# the configuration keys that every run of the grid shares, taken from the options as they are
BASE_OPTIONS = ("dataset", "target", "data_dir", "task", "layers", "activation", "batchnorm",
                "dtype")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="compare optimizers, batch sizes and learning rates over several seeds",
        description="Train every combination of --optimizers x --batch-sizes x --lrs for each "
                    "seed, on the same data split and, for each seed, the same initial weights. "
                    "Writes results.csv, summary.csv, loss_vs_epoch.png, loss_vs_time.png, "
                    "report.html and report.md into --out.")
    add_data_options(p)
    add_model_options(p, layers_default=(32,), activation_default="relu")
    p.add_argument("--optimizers", type=optimizer_list, default=["sgd", "momentum", "adam"],
                   metavar="A,B,...", help="default: sgd,momentum,adam")
    p.add_argument("--batch-sizes", type=batch_size_list, default=[32], metavar="B,B,...",
                   help="e.g. full,1,32 (default: 32)")
    p.add_argument("--lrs", type=lr_list, default=[0.01], metavar="LR,LR,...",
                   help="learning rates (default: 0.01)")
    p.add_argument("--seeds", type=positive_int, default=3, metavar="K",
                   help="number of seeds: 0, 1, ..., K-1 (default: 3)")
    p.add_argument("--epochs", type=positive_int, default=20, metavar="N",
                   help="epochs per run, all of them run (default: 20)")
    p.add_argument("--target-loss", type=positive_float, metavar="L",
                   help="the training loss to reach for 'epochs/seconds to target' (default: the "
                        "largest mean final loss of the configurations that did not diverge)")
    add_dtype_option(p)
    add_out_option(p)
    p.add_argument("--quiet", action="store_true", help="print only errors and the output folder")
    add_debug_option(p)
    return p


def run(args) -> int:
    from gdlab.lab.compare import run_comparison, write_outputs
    from gdlab.lab.runs import fresh_run_dir

    base = {k: getattr(args, k) for k in BASE_OPTIONS}
    base["layers"] = list(base["layers"])
    out = Path(args.out) if args.out else fresh_run_dir("compare")
    result = run_comparison(base, optimizers=args.optimizers, batch_sizes=args.batch_sizes,
                            lrs=args.lrs, seeds=args.seeds, epochs=args.epochs,
                            target_loss=args.target_loss, log=None if args.quiet else print)
    paths = write_outputs(out, result, seeds=args.seeds, epochs=args.epochs)
    if args.quiet:
        print(out)
        return EXIT_OK
    print_summary(result)
    from gdlab.lab.compare import FINAL_LOSS_NOTE

    print(FINAL_LOSS_NOTE)
    print(f"wrote {paths['results']}, {paths['summary']}, {paths['html']}, {paths['md']} and "
          f"{len(paths['figures'])} figures in {out}")
    return EXIT_OK


def print_summary(result: dict) -> None:
    """The summary table of a comparison (rich), as wide as it needs in a file or a pipe."""
    from rich.console import Console
    from rich.table import Table

    from gdlab.lab.compare import summary_rows

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


def _fmt(v):
    if isinstance(v, float):
        return "—" if v != v else f"{v:.4g}"
    return str(v)
