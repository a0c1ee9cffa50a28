"""The ``gdlab compare`` job: every configuration over several seeds, on the same data, one
after another, in worker processes or over MPI ranks, with the same results every way.

All runs share one data split (made with seed 0) and its scaling. For seed ``s`` every
configuration starts from the same initial weights (the network's seed is ``s``) and
shuffles with the same generator (seed ``s``); only the optimizer, the batch size and the
learning rate differ. The tolerance rule is off: every run trains for ``epochs`` epochs
unless it diverges. A diverged run is recorded (``status == "diverged"``, its curve stops
where it diverged), and so is a run that failed (``"failed"``, with the error as its
``reason``): neither ends the sweep.

"Final loss" is the training loss of the final parameters over the whole training set (as
``gdlab train`` reports it); "epochs/seconds to target" is the first epoch whose recorded
training loss (the mean of its batch losses) is at or below the target.

A configuration is one (optimizer, batch size, learning rate, seed); they are numbered in
the order a sequential sweep runs them (seed by seed, then optimizer, batch size, learning
rate), and every table lists them in that order. Each runs at ``threads`` BLAS/kernel threads
(threadpoolctl, default 1) wherever it runs, so that its numbers are the same bits whether
the sweep runs in one process, in ``jobs`` worker processes (:mod:`gdlab.lab.sweep`) or over
MPI ranks (:mod:`gdlab.lab.sweep_ranks`); only the columns that measure time differ.

Outputs (:mod:`gdlab.lab.compare_folder`, :mod:`gdlab.lab.compare_report`): ``sweep.json``
and ``records.jsonl`` (what to resume from), ``results.csv`` (one row per configuration,
kept up to date while the sweep runs), ``summary.csv`` (one row per optimizer, batch size and
learning rate), ``curves.csv`` (one row per run and epoch), ``loss_vs_epoch.png``,
``loss_vs_time.png``, ``val_metric_vs_epoch.png``, ``report.html`` (self-contained) and
``report.md``. An interrupted sweep keeps ``results.csv``, ``summary.csv`` and ``curves.csv``
of what finished; :func:`resume_comparison` runs the rest.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from dataclasses import dataclass

import numpy as np

from gdlab import _checks
from gdlab.errors import DivergenceError
from gdlab.lab.compare_folder import SweepFolder
from gdlab.lab.compare_records import (  # noqa: F401 - public here too
    RESULT_FIELDS,
    SUMMARY_FIELDS,
    RunRecord,
    config_label,
    failed_record,
    summarize,
    write_curves_csv,
    write_results_csv,
    write_summary_csv,
)
from gdlab.lab.compare_report import curves, summary_rows, write_outputs  # noqa: F401 - public here too
from gdlab.lab.run_config import make_config
from gdlab.lab.run_data import build_trainer, prepare_data
from gdlab.lab.run_metrics import evaluate
from gdlab.lab.sweep import Interrupts, Runner, SweepProgress, resolve_jobs


@dataclass(frozen=True)
class Sweep:
    """What a comparison runs (make one with :func:`make_sweep`): the run configuration of
    the data and the model (``base``), the grid, the seeds, the epochs and the threads."""

    base: dict
    optimizers: tuple
    batch_sizes: tuple
    lrs: tuple
    seeds: int
    epochs: int
    target_loss: float | None = None
    threads: int = 1

    @property
    def size(self) -> int:
        """The number of configurations (grid x seeds)."""
        return len(self.optimizers) * len(self.batch_sizes) * len(self.lrs) * self.seeds

    def configuration(self, index: int) -> tuple:
        """``(seed, optimizer, batch_size, lr)`` of configuration ``index``."""
        grid = list(itertools.product(self.optimizers, self.batch_sizes, self.lrs))
        seed, k = divmod(index, len(grid))
        return (seed, *grid[k])

    def label(self, index: int) -> str:
        seed, opt, bs, lr = self.configuration(index)
        return f"seed {seed}, {config_label(opt, bs, lr)}"

    def run_config(self, index: int) -> dict:
        """The run configuration (as ``gdlab train`` takes it) of configuration ``index``."""
        seed, opt, bs, lr = self.configuration(index)
        return make_config(**{**self.base, "optimizer": opt, "batch_size": bs, "lr": lr,
                              "seed": seed, "checkpoint_every": None})

    def data(self):
        """The prepared data every configuration trains on (made once per process)."""
        return _prepared(json.dumps(self.base, sort_keys=True), self.threads)

    def to_json(self) -> dict:
        return {"base": self.base, "optimizers": list(self.optimizers),
                "batch_sizes": list(self.batch_sizes), "lrs": list(self.lrs),
                "seeds": self.seeds, "epochs": self.epochs, "target_loss": self.target_loss,
                "threads": self.threads, "configurations": self.size}

    @classmethod
    def from_json(cls, obj: dict) -> Sweep:
        """The sweep a ``sweep.json`` describes; ValueError/TypeError if it describes none."""
        try:
            return make_sweep(obj["base"], optimizers=obj["optimizers"],
                              batch_sizes=obj["batch_sizes"], lrs=obj["lrs"],
                              seeds=obj["seeds"], epochs=obj["epochs"],
                              target_loss=obj.get("target_loss"), threads=obj.get("threads", 1))
        except KeyError as exc:
            raise ValueError(f"not a sweep: no {exc.args[0]!r}") from None


def _batch_size(value):
    if value == "full":
        return value
    return _checks.positive_int("batch size", value)


def make_sweep(base: dict, *, optimizers, batch_sizes, lrs, seeds: int, epochs: int,
               target_loss=None, threads: int = 1) -> Sweep:
    """A checked :class:`Sweep`. ``base``: a run configuration (see
    :data:`gdlab.lab.run_config.DEFAULT_CONFIG`) for the data and the model."""
    grid = {"optimizers": optimizers, "batch_sizes": batch_sizes, "lrs": lrs}
    for name, values in grid.items():
        if isinstance(values, str) or len(values) == 0:
            raise ValueError(f"{name} must be a non-empty list, got {values!r}")
    optimizers = tuple(_checks.choice("optimizer", o, _optimizer_names()) for o in optimizers)
    lrs = tuple(float(_checks.positive("learning rate", lr)) for lr in lrs)
    epochs = _checks.positive_int("epochs", epochs)
    base = make_config(**{**base, "seed": 0, "epochs": epochs, "tol": None})
    return Sweep(base, optimizers, tuple(_batch_size(b) for b in batch_sizes), lrs,
                 _checks.positive_int("seeds", seeds), epochs,
                 _checks.positive("target_loss", target_loss, allow_none=True),
                 _checks.positive_int("threads", threads))


def _optimizer_names():
    from gdlab.optim.registry import OPTIMIZER_NAMES

    return OPTIMIZER_NAMES


@functools.lru_cache(maxsize=2)
def _prepared(base_json: str, threads: int):
    # a memo per process (each worker prepares the data once), not state: the same key gives
    # the same arrays
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return prepare_data(json.loads(base_json))


# ---- one configuration ----------------------------------------------------------------------

def run_configuration(sweep: Sweep, index: int) -> RunRecord:
    """Train configuration ``index`` of ``sweep`` at ``sweep.threads`` threads: what every
    worker process and MPI rank runs. An error becomes a ``failed`` record with the error as
    its reason; an interrupt (KeyboardInterrupt) is raised."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=sweep.threads):
        try:
            data = sweep.data()
            metric = "accuracy" if data.task == "classification" else "r2"
            return run_one(sweep.run_config(index), data, metric)
        except Exception as exc:  # a row with its reason, never the end of the sweep
            seed, opt, bs, lr = sweep.configuration(index)
            return failed_record(opt, bs, lr, seed, f"{type(exc).__name__}: {exc}")


def run_one(config: dict, data, metric: str) -> RunRecord:
    """Train one configuration; a divergence is recorded, never raised; an interrupt is
    raised (KeyboardInterrupt: the configuration did not finish)."""
    trainer = build_trainer(config, data)
    status, reason = "ok", ""
    try:
        result = trainer.fit(data.X_train, data.y_train,
                             validation_data=(data.X_val, data.y_val))
        if result.stopped_because == "interrupted":
            raise KeyboardInterrupt
    except DivergenceError as exc:
        status, reason = "diverged", str(exc)
    h = trainer.history
    loss = [float(v) for v in h["loss"]] if "loss" in h else []
    times = [float(t) for t in np.cumsum(h["time"])] if "time" in h else []
    val = [float(v) for v in h[f"val_{metric}"]] if f"val_{metric}" in h else []
    final = math.nan
    if status == "ok":
        final = evaluate(trainer, data, config)["final_loss"]
        if not math.isfinite(final):
            status, reason = "diverged", f"the final training loss is {final}"
    return RunRecord(config["optimizer"], config["batch_size"], float(config["lr"]),
                     config["seed"], status, trainer.epoch, trainer.step, final, loss, val,
                     times, reason)


# ---- the sweep ------------------------------------------------------------------------------

def run_comparison(base: dict, *, optimizers, batch_sizes, lrs, seeds: int, epochs: int,
                   target_loss=None, out=None, force: bool = False, jobs: int = 1,
                   threads: int = 1, comm=None, log=print, progress: bool = False) -> dict:
    """Train every (optimizer, batch size, learning rate) for seeds ``0..seeds-1``.

    ``base`` is a run configuration (see :data:`gdlab.lab.run_config.DEFAULT_CONFIG`) for the
    data and the model. ``out``: the folder to write (None: nothing is written); it must not
    hold another sweep unless ``force``. ``jobs`` worker processes (joblib's ``n_jobs``: -1
    as many as the cores allow at ``threads`` threads each) run the configurations, each at
    ``threads`` BLAS/kernel threads. ``comm``: a :class:`gdlab.distributed.MPIComm` to spread
    them over MPI ranks (rank 0 writes). ``log`` receives the lines to print (None: silent);
    ``progress`` shows a progress bar over the configurations.

    SIGINT/SIGTERM stop the sweep: what finished is kept (and written), the result lists what
    did not run (``not_run``) and which signal stopped it (``signal``). Returns ``{"records":
    [RunRecord], "summary": [dict], "target_loss": float, "metric": "accuracy" | "r2",
    "data": PreparedData, "not_run": [str], "signal": int | None, "out": Path | None,
    "paths": dict, "sweep": Sweep, "root": bool}`` (on ranks other than 0 only ``not_run``,
    ``signal`` and ``root``).
    """
    resolve_jobs(jobs, threads)  # a bad value is an error before anything starts
    sweep = make_sweep(base, optimizers=optimizers, batch_sizes=batch_sizes, lrs=lrs,
                       seeds=seeds, epochs=epochs, target_loss=target_loss, threads=threads)

    def setup():
        data = sweep.data()
        n_train = len(data.X_train)
        for bs in sweep.batch_sizes:
            if bs != "full" and bs > n_train:
                raise ValueError(f"batch size {bs} is larger than the {n_train} training "
                                 "samples")
        folder = None if out is None else SweepFolder.create(out, sweep.to_json(), force=force)
        return sweep, folder, {}

    return _execute(setup, jobs=jobs, comm=comm, log=log or _silent, progress=progress)


def resume_comparison(out, *, jobs: int = 1, comm=None, log=print,
                      progress: bool = False) -> dict:
    """Run the configurations of the sweep in ``out`` that have not finished, then write its
    outputs; the rest as :func:`run_comparison` (the sweep keeps its own threads)."""
    from gdlab.lab.run_folder import RunFolderError

    resolve_jobs(jobs)
    log = log or _silent

    def setup():
        folder, spec, records = SweepFolder.open(out)
        try:
            sweep = Sweep.from_json(spec)
        except (ValueError, TypeError) as exc:
            raise RunFolderError(f"cannot resume: {folder.path / 'sweep.json'} does not "
                                 f"describe a sweep ({exc})") from None
        beyond = sorted(i for i in records if i >= sweep.size)
        if beyond:
            raise RunFolderError(f"cannot resume: the journal in '{folder.path}' holds "
                                 f"configuration {beyond[0]}, but the sweep has {sweep.size}")
        sweep.data()
        log(f"resuming '{folder.path}': {len(records)} of {sweep.size} configurations done, "
            f"{sweep.size - len(records)} to run")
        return sweep, folder, records

    return _execute(setup, jobs=jobs, comm=comm, log=log, progress=progress)


def _silent(*args, **kwargs):
    pass


def _execute(setup, *, jobs, comm, log, progress) -> dict:
    """Set the sweep up (on rank 0), run what is missing, and write the outputs."""
    distributed = comm is not None and comm.size > 1
    if distributed:
        from gdlab.lab.sweep_ranks import run_on_ranks, share_from_root

        sweep, folder, records = share_from_root(
            comm, setup, lambda made: (made[0], None, dict.fromkeys(made[2])))
    else:
        sweep, folder, records = setup()
    root = not distributed or comm.rank == 0
    data = sweep.data()
    todo = [i for i in range(sweep.size) if i not in records]
    workers = resolve_jobs(jobs, sweep.threads, comm.threads if distributed else None)
    workers = min(workers, max(1, -(-len(todo) // (comm.size if distributed else 1))))
    if root:
        _log_plan(log, sweep, data, len(todo), workers, comm.size if distributed else 1)

    def on_result(index, record):
        records[index] = record
        if folder is not None:
            folder.add(index, record, records, sweep.target_loss)
        log(_line(sweep, index, record))

    def failure(index, reason):
        seed, opt, bs, lr = sweep.configuration(index)
        return failed_record(opt, bs, lr, seed, reason)

    bar = SweepProgress(sweep.size, done=sweep.size - len(todo), show=progress and root and
                        bool(todo))
    with Interrupts() as interrupts:
        with bar:
            runner = Runner(functools.partial(run_configuration, sweep), on_result, failure,
                            interrupts, bar, jobs=workers, threads=sweep.threads)
            not_run = run_on_ranks(comm, runner, todo) if distributed else runner.run(todo)
        if not root:
            return {"root": False, "not_run": not_run, "signal": interrupts.received}
        return _finish(sweep, folder, records, data, not_run, interrupts.received)


def _log_plan(log, sweep, data, todo, workers, ranks):
    grid = sweep.size // sweep.seeds
    log(f"data: {data.name} ({data.task}), {len(data.X_train)} train / {len(data.X_val)} "
        f"validation samples; {grid} settings x {sweep.seeds} seeds = {sweep.size} "
        f"configurations of {sweep.epochs} epochs")
    threads = f"{sweep.threads} thread{'s' if sweep.threads > 1 else ''}"
    where = f"in {workers} worker processes" if workers > 1 else "in one process"
    if ranks > 1:
        where = f"over {ranks} MPI ranks, {where.removeprefix('in ')} each,"
    log(f"running {todo} configurations {where} at {threads} each")


def _line(sweep, index, record) -> str:
    seed = sweep.configuration(index)[0]
    head = f"  seed {seed}  {record.label:<32} "
    if record.status == "ok":
        return head + f"final loss {record.final_loss:.4g}"
    if record.status == "diverged":
        return head + "DIVERGED"
    return head + f"FAILED: {record.reason}"


def _finish(sweep, folder, records, data, not_run, signal) -> dict:
    ordered = [records[i] for i in sorted(records)]
    summary, target = summarize(ordered, sweep.target_loss)
    result = {"sweep": sweep, "records": ordered, "summary": summary, "target_loss": target,
              "metric": "accuracy" if data.task == "classification" else "r2", "data": data,
              "not_run": [sweep.label(i) for i in not_run], "signal": signal,
              "out": None if folder is None else folder.path, "paths": {}, "root": True}
    if folder is not None:
        if not_run:
            result["paths"] = folder.write_tables(records, sweep.target_loss)
        else:
            result["paths"] = write_outputs(folder.path, result, seeds=sweep.seeds,
                                            epochs=sweep.epochs)
    return result
