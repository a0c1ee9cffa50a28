"""``gdlab train``: parse-to-config, signals, and the final table; the job is gdlab.lab.runs."""

from __future__ import annotations

import signal
import sys

# argparse dest -> configuration key (the same name everywhere else)
CONFIG_OPTIONS = (
    "dataset", "target", "data_dir", "task", "layers", "activation", "batchnorm", "dropout",
    "init", "dtype", "optimizer", "lr", "momentum", "weight_decay", "alpha", "schedule",
    "batch_size", "epochs", "tol", "patience", "early_stopping", "seed", "checkpoint_every",
    "workers", "sync_batchnorm", "clip_norm", "clip_value",
)


def config_from_args(args) -> dict:
    from gdlab.lab.runs import make_config

    values = {k: getattr(args, k) for k in CONFIG_OPTIONS}
    values["layers"] = list(values["layers"])
    return make_config(**values)


def _changed_options(args, parser_defaults) -> list[str]:
    return [k for k in CONFIG_OPTIONS
            if k not in ("epochs", "workers") and getattr(args, k) != parser_defaults.get(k)]


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


def run(args) -> int:
    from gdlab.cli import EXIT_FAILED, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, UsageError, build_parser
    from gdlab.lab.runs import run_training

    quiet = args.quiet
    log = None if quiet else print
    if args.resume:
        defaults = vars(build_parser().parse_args(["train"]))
        changed = _changed_options(args, defaults)
        if changed:
            flags = ", ".join("--" + k.replace("_", "-") for k in changed)
            raise UsageError(f"--resume continues with the run's saved configuration; only "
                             f"--epochs and --workers may be given (got {flags})")
        if args.out and args.out != args.resume:
            raise UsageError("--resume DIR writes into DIR; do not give --out as well")
        config = {"epochs": args.epochs if args.epochs != defaults["epochs"] else None}
        out = args.resume
    else:
        config = config_from_args(args)
        out = args.out

    # --workers N > 1: this process starts N ranks running this same command (gdlab.distributed.launch);
    # in each rank, or under the user's own mpiexec/srun, it trains with an MPI communicator
    from gdlab.distributed.launch import launch, under_launcher

    comm = None
    if args.workers > 1 or under_launcher():
        if not under_launcher():
            return launch(args.argv, args.workers)
        from gdlab.distributed import get_communicator

        comm = get_communicator(expected_size=args.workers if args.workers > 1 else None)
        config["workers"] = comm.size
        if comm.rank != 0:  # only rank 0 prints
            quiet, log = True, None

    def started(folder):
        if not quiet:
            print(f"run folder: {folder}")

    try:
        with _Signals(comm) as signals:
            metrics = run_training(config, out, resume=bool(args.resume), force=args.force,
                                   progress=not quiet and sys.stderr.isatty(), log=log,
                                   on_start=started, comm=comm)
    except BaseException as exc:
        if comm is not None and comm.size > 1:
            from gdlab.errors import DivergenceError

            comm.mark_failed()  # if other ranks are stuck waiting for this one: MPI_Abort
            if comm.rank != 0 and isinstance(exc, DivergenceError):
                return EXIT_FAILED  # every rank diverged at the same step; rank 0 says so
        raise
    interrupted = metrics["stopped_because"] == "interrupted"
    code = EXIT_SIGTERM if signals.received == signal.SIGTERM else EXIT_SIGINT
    if interrupted and comm is not None and comm.size > 1:
        comm.mark_failed(code)  # should a rank not have stopped with this one: no hang
    if comm is not None and comm.rank != 0:
        return code if interrupted else EXIT_OK
    folder = metrics["out"]
    if metrics["stopped_because"] == "interrupted":
        print(f"interrupted at epoch {metrics['epochs']}, step {metrics['steps']}; checkpoint "
              f"written. Resume with: gdlab train --resume {folder}", file=sys.stderr)
        return EXIT_SIGTERM if signals.received == signal.SIGTERM else EXIT_SIGINT
    if quiet:
        print(folder)
    else:
        print_table(metrics)
    return EXIT_OK


def print_table(metrics: dict) -> None:
    """The final table (rich)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"gdlab train: {metrics['dataset']} ({metrics['task']})")
    table.add_column("result")
    table.add_column("value", justify="right")
    rows = []
    if metrics["task"] == "classification":
        rows.append(("test accuracy", f"{metrics['test_accuracy']:.4f}"))
    else:
        rows += [("test R²", f"{metrics['test_r2']:.4f}"), ("test MSE", f"{metrics['test_mse']:.4g}")]
    rows += [
        ("final training loss", f"{metrics['final_loss']:.4g}"),
        ("epochs", str(metrics["epochs"])),
        ("steps", str(metrics["steps"])),
        ("training time", f"{metrics['seconds']:.2f} s"),
        ("stopped because", str(metrics["stopped_because"])),
        ("outputs", metrics["out"]),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
