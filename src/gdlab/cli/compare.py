"""``gdlab compare``: the grid of configurations over seeds, a summary table and a report; the
job itself is :func:`gdlab.lab.compare.run_comparison` (and ``resume_comparison``).

``--jobs N`` runs the configurations in N worker processes; under ``mpiexec -n K`` or ``srun``
they are spread over the K ranks and rank 0 writes the outputs. SIGINT/SIGTERM stop the sweep:
the finished rows stay in results.csv, the configurations not run are listed, and ``--resume
DIR`` runs them.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from gdlab.cli.argtypes import batch_size_list, jobs, lr_list, optimizer_list, positive_float, positive_int
from gdlab.cli.exits import EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, UsageError
from gdlab.cli.options import (
    add_data_options,
    add_debug_option,
    add_dtype_option,
    add_model_options,
    add_out_option,
    add_threads_option,
)

NAME = "compare"

# the configuration keys that every run of the grid shares, taken from the options as they are
BASE_OPTIONS = ("dataset", "target", "data_dir", "task", "n_samples", "noise", "layers",
                "activation", "batchnorm", "dtype")
# what --resume DIR may be given with (the sweep itself is the one saved in DIR)
RESUME_OPTIONS = ("resume", "out", "jobs", "quiet", "debug", "command", "argv")
# lines listing the configurations not run, at most
NOT_RUN_SHOWN = 10


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="compare optimizers, batch sizes and learning rates over several seeds",
        description="Train every combination of --optimizers x --batch-sizes x --lrs for each "
                    "seed, on the same data split and, for each seed, the same initial weights. "
                    "Writes results.csv, summary.csv, curves.csv, loss_vs_epoch.png, "
                    "loss_vs_time.png, report.html and report.md into --out.",
        epilog="Under mpiexec -n K (or srun) the configurations are spread over the K ranks and "
               "rank 0 writes the outputs. Ctrl-C or SIGTERM keeps every finished row in "
               "results.csv; --resume DIR runs the rest. Every column but those measuring time "
               "(seconds, seconds_to_target) is the same however the sweep runs.")
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
    _add_sweep_group(p)
    p.add_argument("--quiet", action="store_true", help="print only errors and the output folder")
    add_debug_option(p)
    return p


def _add_sweep_group(p) -> None:
    s = p.add_argument_group("sweep")
    s.add_argument("--jobs", type=jobs, default=1, metavar="N",
                   help="worker processes running configurations at once; -1: as many as the "
                        "cores allow at --threads each (default: 1, this process)")
    add_threads_option(s, default=1, default_text="1, whatever the environment says, so that "
                                                  "every configuration gives the same bits at "
                                                  "any --jobs")
    add_out_option(s)
    s.add_argument("--force", action="store_true",
                   help="let --out overwrite a folder that holds another sweep")
    s.add_argument("--resume", metavar="DIR",
                   help="run the configurations of the sweep in DIR that have not finished "
                        "(with its saved options; only --jobs may be given)")


def parser_defaults() -> dict:
    """The value of every ``gdlab compare`` option when none is given."""
    parser = argparse.ArgumentParser(prog="gdlab")
    add_parser(parser.add_subparsers(dest="command"))
    return vars(parser.parse_args([NAME]))


def _check_resume(args) -> None:
    defaults = parser_defaults()
    changed = [k for k, v in vars(args).items()
               if k not in RESUME_OPTIONS and v != defaults.get(k)]
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise UsageError(f"--resume runs the sweep saved in its folder with its own options; "
                         f"only --jobs may be given (got {flags})")
    if args.out and args.out != args.resume:
        raise UsageError("--resume DIR writes into DIR; do not give --out as well")


def run(args) -> int:
    from gdlab.distributed.launch import under_launcher
    from gdlab.lab.compare import resume_comparison, run_comparison
    from gdlab.lab.runs import fresh_run_dir

    comm = None
    if under_launcher():  # mpiexec -n K / srun: this process is one of K ranks
        from gdlab.distributed import get_communicator

        comm = get_communicator()
    root = comm is None or comm.rank == 0
    quiet = args.quiet or not root
    common = dict(jobs=args.jobs, comm=comm, log=None if quiet else print,
                  progress=not quiet and sys.stdout.isatty())
    try:
        if args.resume:
            _check_resume(args)
            result = resume_comparison(args.resume, **common)
        else:
            base = {k: getattr(args, k) for k in BASE_OPTIONS}
            base["layers"] = list(base["layers"])
            result = run_comparison(
                base, optimizers=args.optimizers, batch_sizes=args.batch_sizes, lrs=args.lrs,
                seeds=args.seeds, epochs=args.epochs, target_loss=args.target_loss,
                out=Path(args.out) if args.out else fresh_run_dir("compare"), force=args.force,
                threads=args.threads, **common)
    except Exception as exc:
        from gdlab.lab.sweep_ranks import RootFailed

        if isinstance(exc, RootFailed):
            return EXIT_USAGE  # rank 0 says why
        raise
    return _report(result, quiet)


def _report(result: dict, quiet: bool) -> int:
    """Print the outcome (rank 0) and return the exit code."""
    code = EXIT_SIGTERM if result["signal"] == signal.SIGTERM else EXIT_SIGINT
    if not result["root"]:
        return code if result["not_run"] else EXIT_OK
    out = result["out"]
    if result["not_run"]:
        _print_not_run(result)
        return code
    if quiet:
        print(out)
        return EXIT_OK
    print_summary(result)
    from gdlab.lab.compare_report import FINAL_LOSS_NOTE

    print(FINAL_LOSS_NOTE)
    paths = result["paths"]
    print(f"wrote {paths['results']}, {paths['summary']}, {paths['html']}, {paths['md']} and "
          f"{len(paths['figures'])} figures in {out}")
    return EXIT_OK


def _print_not_run(result: dict) -> None:
    not_run, total = result["not_run"], result["sweep"].size
    name = "SIGTERM" if result["signal"] == signal.SIGTERM else "an interrupt"
    lines = [f"stopped by {name}: {len(not_run)} of {total} configurations not run:"]
    lines += [f"  {label}" for label in not_run[:NOT_RUN_SHOWN]]
    if len(not_run) > NOT_RUN_SHOWN:
        lines.append(f"  and {len(not_run) - NOT_RUN_SHOWN} more")
    lines.append(f"finished rows ({total - len(not_run)}) are in {result['out'] / 'results.csv'}; "
                 f"run the rest with: gdlab compare --resume {result['out']}")
    print("\n".join(lines), file=sys.stderr)


def print_summary(result: dict) -> None:
    """The summary table of a comparison (rich), as wide as it needs in a file or a pipe."""
    from rich.console import Console
    from rich.table import Table

    from gdlab.lab.compare_report import summary_rows

    header, rows = summary_rows(result["summary"], result["metric"])
    table = Table(title=f"gdlab compare: {result['data'].name}, target loss "
                        f"{result['target_loss']:.4g}")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    console = Console()
    if not console.is_terminal:  # a file or a pipe: do not squeeze the table into 80 columns
        console = Console(width=240)
    console.print(table)


def _fmt(v):
    if isinstance(v, float):
        return "—" if v != v else f"{v:.4g}"
    return str(v)
