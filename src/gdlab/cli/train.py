"""``gdlab train``: options to a configuration, signals, and the final table; the job itself is
:func:`gdlab.lab.runs.run_training`."""

from __future__ import annotations

import argparse
import signal
import sys

from gdlab.cli.argtypes import (
    learning_rate_or_auto,
    non_negative_int,
    optional_non_negative_float,
    positive_int,
)
from gdlab.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, UsageError
from gdlab.cli.options import (
    add_data_options,
    add_debug_option,
    add_network_options,
    add_optimizer_options,
    add_table_options,
)

NAME = "train"

# argparse dest -> configuration key (the same name everywhere else)
CONFIG_OPTIONS = (
    "dataset", "target", "data_dir", "task", "n_samples", "noise", "layers", "activation",
    "batchnorm", "dropout", "init", "dtype", "optimizer", "lr", "momentum", "weight_decay",
    "alpha", "schedule",
    "batch_size", "epochs", "tol", "patience", "early_stopping", "seed", "checkpoint_every",
    "workers", "sync_batchnorm", "clip_norm", "clip_value",
    "features", "drop", "missing", "test_size", "val_size",
)
#: the options that ``--resume DIR`` takes beside it (all others come from the saved run)
RESUME_OPTIONS = ("epochs", "workers")


# ---- the parser ----------------------------------------------------------------------------

def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="train a network on a dataset (default: the bundled digits)",
        description="Train a multilayer perceptron by gradient descent. With no option: the "
                    "bundled digits data, one hidden layer of 64 ReLU units, Adam, learning "
                    "rate 1e-3, batch size 32, stopping when the training loss has not "
                    "improved by --tol for --patience epochs.",
        epilog="Outputs in --out DIR: model.npz (the model: gdlab predict DIR DATA, "
               "gdlab.load_model(DIR)), report.html (and report.md), config.json, "
               "metrics.json, history.csv, loss.png, accuracy.png and confusion_matrix.png "
               "(classification), predicted.png (regression), lr_find.png (--lr auto), "
               "checkpoint.npz. Resume with --resume DIR.")
    add_data_options(p)
    add_table_options(p)
    add_network_options(p.add_argument_group("model"))
    _add_optimisation_group(p)
    _add_stopping_group(p)
    _add_run_group(p)
    add_debug_option(p)
    return p


def _add_optimisation_group(p) -> None:
    o = p.add_argument_group("optimisation")
    add_optimizer_options(o)
    o.add_argument("--lr", type=learning_rate_or_auto, default=1e-3,
                   help="learning rate (default: 1e-3), or 'auto': run the learning-rate range "
                        "test first (as gdlab lr-find) and train with the rate it suggests")
    o.add_argument("--schedule", metavar="SPEC",
                   help="learning-rate schedule NAME[:key=value,...] with PyTorch's names, e.g. "
                        "cosine:T_max=50, step:step_size=10,gamma=0.5, exponential:gamma=0.95, "
                        "plateau:factor=0.5,patience=3; the horizon defaults to --epochs")


def _add_stopping_group(p) -> None:
    s = p.add_argument_group("stopping")
    s.add_argument("--epochs", type=positive_int, default=200, metavar="N",
                   help="maximum number of epochs (default: 200)")
    s.add_argument("--tol", type=optional_non_negative_float, default=1e-4,
                   help="stop when the monitored loss improves by less than this for "
                        "--patience epochs; 'none' switches it off (default: 1e-4)")
    s.add_argument("--patience", type=positive_int, default=10, metavar="N",
                   help="epochs without improvement before stopping (default: 10)")
    s.add_argument("--early-stopping", action="store_true",
                   help="monitor the validation loss instead of the training loss and restore "
                        "the best weights")


def _add_run_group(p) -> None:
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                   help="seed of the split, the initial weights and the shuffling (default: 0)")
    r.add_argument("--out", metavar="DIR",
                   help="output folder (default: a fresh folder under runs/)")
    r.add_argument("--force", action="store_true",
                   help="let --out overwrite a folder that holds a different run")
    r.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR from its last checkpoint with its saved "
                        f"configuration; only {_resume_flags()} may be given with it "
                        "(--epochs to raise the limit)")
    r.add_argument("--checkpoint-every", type=positive_int, default=10, metavar="N",
                   help="write a checkpoint every N epochs (default: 10), at an interrupt "
                        "(the state at the end of the last whole epoch) and at the end")
    r.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="data-parallel workers (N > 1 runs under mpiexec; default: 1)")
    r.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="threads of each process for the BLAS and gdlab's kernels (default: "
                        "OMP_NUM_THREADS, OPENBLAS_NUM_THREADS or MKL_NUM_THREADS when set, "
                        "else the cores of the process, shared among the --workers ranks)")
    r.add_argument("--sync-batchnorm", action="store_true",
                   help="with several workers, BatchNorm uses the statistics of the whole global "
                        "batch (default: each worker's share; running statistics averaged)")
    r.add_argument("--quiet", action="store_true", help="print only errors and the result path")


def parser_defaults() -> dict:
    """The value of every ``gdlab train`` option when none is given."""
    parser = argparse.ArgumentParser(prog="gdlab")
    add_parser(parser.add_subparsers(dest="command"))
    return vars(parser.parse_args([NAME]))


# ---- options to a configuration -------------------------------------------------------------

def config_from_args(args) -> dict:
    from gdlab.lab.runs import make_config

    values = {k: getattr(args, k) for k in CONFIG_OPTIONS}
    values["layers"] = list(values["layers"])
    return make_config(**values)


def _resume_flags() -> str:
    flags = [f"--{k.replace('_', '-')}" for k in RESUME_OPTIONS]
    return ", ".join(flags[:-1]) + f" and {flags[-1]}" if len(flags) > 1 else flags[0]


def _changed_options(args, defaults) -> list[str]:
    return [k for k in CONFIG_OPTIONS
            if k not in RESUME_OPTIONS and getattr(args, k) != defaults.get(k)]


def _resume_settings(args) -> tuple[dict, str]:
    """What ``--resume DIR`` may change (the number of epochs) and the folder to write into."""
    defaults = parser_defaults()
    changed = _changed_options(args, defaults)
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise UsageError(f"--resume continues with the run's saved configuration; only "
                         f"{_resume_flags()} may be given with it (got {flags})")
    if args.out and args.out != args.resume:
        raise UsageError("--resume DIR writes into DIR; do not give --out as well")
    return {"epochs": args.epochs if args.epochs != defaults["epochs"] else None}, args.resume


# ---- signals --------------------------------------------------------------------------------

class _Signals:
    """Turn SIGTERM into KeyboardInterrupt (the trainer stops at a step boundary on it) and
    remember which signal arrived, for the exit code."""

    def __init__(self, comm=None):
        self.received = None
        # with several ranks the request travels in the next step's allreduce instead, so
        # that every rank stops at the same step (an exception here would stop this rank
        # alone and leave the others waiting for it)
        self.comm = comm if comm is not None and comm.size > 1 else None

    def __enter__(self):
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        if self.received is None:
            self.received = signum
            if self.comm is not None:
                self.comm.request_stop()
                return
            raise KeyboardInterrupt
        # a second signal while writing the checkpoint: ignore it, the write is short

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False

    @property
    def exit_code(self) -> int:
        """The exit code of a run stopped by the signal that arrived."""
        return EXIT_SIGTERM if self.received == signal.SIGTERM else EXIT_SIGINT


# ---- the run --------------------------------------------------------------------------------

def run(args) -> int:
    # --workers N > 1: this process starts N ranks running this same command
    # (gdlab.distributed.launch); in each rank, or under the user's own mpiexec/srun, it
    # trains with an MPI communicator
    from gdlab.distributed.launch import launch, under_launcher

    config, out = _resume_settings(args) if args.resume else (config_from_args(args), args.out)
    comm = None
    if args.workers > 1 or under_launcher():
        if not under_launcher():
            return launch(args.argv, args.workers)
        comm = _communicator(args, config)
    quiet = args.quiet or (comm is not None and comm.rank != 0)  # only rank 0 prints
    try:
        metrics, signals = _train(args, config, out, comm, quiet)
    except BaseException as exc:
        if _rank_failed(comm, exc):
            return EXIT_FAILED  # every rank diverged at the same step; rank 0 says so
        raise
    return _report(metrics, signals, comm, quiet)


def _communicator(args, config):
    """This rank's MPI communicator; the configuration records the number of workers."""
    from gdlab.distributed import get_communicator

    comm = get_communicator(expected_size=args.workers if args.workers > 1 else None)
    config["workers"] = comm.size
    return comm


def _train(args, config, out, comm, quiet):
    """Run the job under the signal handlers; return its metrics and the handlers."""
    from gdlab.kernels.threads import limit
    from gdlab.lab.runs import run_training

    def started(folder):
        if not quiet:
            print(f"run folder: {folder}")

    with _Signals(comm) as signals, limit(args.threads):
        metrics = run_training(config, out, resume=bool(args.resume), force=args.force,
                               progress=not quiet and sys.stderr.isatty(),
                               log=None if quiet else print, on_start=started, comm=comm)
    return metrics, signals


def _rank_failed(comm, exc) -> bool:
    """With several ranks, tell the others this one failed (if they are stuck waiting for it:
    MPI_Abort). True when a rank other than 0 diverged: it exits 1 quietly, rank 0 says why."""
    if comm is None or comm.size <= 1:
        return False
    from gdlab.errors import DivergenceError

    comm.mark_failed()
    return comm.rank != 0 and isinstance(exc, DivergenceError)


def _report(metrics, signals, comm, quiet) -> int:
    """Print the outcome (rank 0 only) and return the exit code."""
    interrupted = metrics["stopped_because"] == "interrupted"
    if interrupted and comm is not None and comm.size > 1:
        comm.mark_failed(signals.exit_code)  # should a rank not have stopped with this one: no hang
    if comm is not None and comm.rank != 0:
        return signals.exit_code if interrupted else EXIT_OK
    folder = metrics["out"]
    if interrupted:
        print(f"interrupted at epoch {metrics['epochs']}, step {metrics['steps']}; checkpoint "
              f"written. Resume with: gdlab train --resume {folder}", file=sys.stderr)
        return signals.exit_code
    if quiet:
        print(folder)
    else:
        print_table(metrics)
    return EXIT_OK


def print_table(metrics: dict) -> None:
    """The final table (rich): the test metrics in the target's units, the training loss
    named with what it measures, why training stopped; per-class metrics for a classifier."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # a file or a pipe: do not squeeze the table into 80 columns
        console = Console(width=120)
    title = f"gdlab train: {metrics['dataset']}, target \"{metrics.get('target')}\" ({metrics['task']})"
    table = Table(title=title)
    table.add_column("result")
    table.add_column("value", justify="right")
    for name, value in result_rows(metrics):
        table.add_row(name, value)
    console.print(table)
    if metrics.get("test_per_class"):
        console.print(per_class_table(metrics))


def result_rows(metrics: dict) -> list[tuple[str, str]]:
    """(name, value) rows of the final table."""
    rows = []
    if metrics["task"] == "classification" and "test_accuracy" in metrics:
        rows.append(("test accuracy", f"{metrics['test_accuracy']:.4f}"))
    elif "test_r2" in metrics:
        units = f"in the units of \"{metrics.get('target')}\""
        rows += [("test R²", f"{metrics['test_r2']:.4f}"),
                 (f"test RMSE ({units})", f"{metrics['test_rmse']:.6g}"),
                 (f"test MAE ({units})", f"{metrics['test_mae']:.6g}")]
    else:
        rows.append(("test metrics", "none (--test-size 0)"))
    rows += [
        (f"final training loss ({metrics.get('loss_name', 'loss')})",
         f"{metrics['final_loss']:.4g}"),
        ("epochs", str(metrics["epochs"])),
        ("steps", str(metrics["steps"])),
        ("training time", f"{metrics['seconds']:.2f} s"),
        ("stopped because", str(metrics.get("stopped_reason", metrics["stopped_because"]))),
        ("outputs", metrics["out"]),
    ]
    return rows


def per_class_table(metrics: dict):
    """Precision, recall, F1 and support per class, and the confusion matrix's rows."""
    from rich.table import Table

    table = Table(title="test set, per class (rows of the confusion matrix: true class; "
                        "columns: predicted)")
    classes = [str(c["class"]) for c in metrics["test_per_class"]]
    for name in ("class", "precision", "recall", "F1", "support", *classes):
        table.add_column(name, justify="left" if name == "class" else "right")
    for c, row in zip(metrics["test_per_class"], metrics["test_confusion_matrix"]):
        table.add_row(str(c["class"]), f"{c['precision']:.3f}", f"{c['recall']:.3f}",
                      f"{c['f1']:.3f}", str(c["support"]), *map(str, row))
    return table
