"""Running the configurations of a sweep: one after another in this process, or in worker
processes (joblib's loky backend); Ctrl-C and SIGTERM stop it cleanly; one progress bar.

The engine knows nothing of what a configuration is. :class:`Runner` runs ``task(index)`` for
each index of a list, and as each one finishes, whatever order they finish in, calls
``on_result(index, record)`` in this process, so that the caller can keep its files up to
date. The caller writes its rows in the order of the indices, so the outputs never depend on
the order in which the configurations finished.

Guarantees, the same whether the configurations run here or in workers:

* **Interrupts.** SIGINT (Ctrl-C) and SIGTERM stop the sweep: the configurations running at
  that moment are stopped (their workers ended) and counted as not run, every finished one
  has been handed to ``on_result``, and :meth:`Runner.run` returns the indices not run. A
  signal that arrives while ``on_result`` writes is held until it returns.
* **Failures.** ``task`` turns a configuration's own failure into a record (see
  :func:`gdlab.lab.compare.run_configuration`). A worker process that dies (a crash, the
  out-of-memory killer) takes the configurations it shared the pool with along: those are run
  again one at a time, so that the one whose worker dies alone gets the failure, as the record
  ``failure(index, reason)`` builds.
* **Threads.** The task sets its own thread count (threadpoolctl); the workers also start with
  ``OMP_NUM_THREADS`` (and OpenBLAS's and MKL's) at that count, so that they never start more.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable
from contextlib import contextmanager

from gdlab import _checks

#: seconds between two looks at the workers (and, under MPI, at the other ranks' messages)
POLL_SECONDS = 0.1
#: the variables that set a worker's BLAS/OpenMP threads when it starts
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cores() -> int:
    """The cores this process may use (affinity and cgroup quotas counted: joblib's count)."""
    from joblib import cpu_count

    return max(1, int(cpu_count()))


def resolve_jobs(jobs, threads: int = 1, cores: int | None = None) -> int:
    """The number of worker processes for ``jobs``, as joblib reads ``n_jobs``: a positive
    number as given; -1 as many as ``cores`` allow at ``threads`` threads each; -2 one fewer,
    and so on (at least 1). ``cores`` defaults to :func:`usable_cores`."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0:
        raise ValueError(f"jobs must be a positive integer, or -1 for as many as the cores "
                         f"allow (joblib's n_jobs), got {_checks.describe(jobs)}")
    threads = _checks.positive_int("threads", threads)
    if jobs > 0:
        return jobs
    cores = usable_cores() if cores is None else cores
    return max(1, cores // threads + 1 + jobs)


# ---- signals ------------------------------------------------------------------------------------

class Interrupts:
    """SIGINT and SIGTERM during a sweep (a context manager; signals are left alone outside the
    main thread). While :meth:`armed`, the first signal raises KeyboardInterrupt (a training
    stops at a step boundary on it); otherwise it is only recorded, and the next
    :meth:`armed` raises it. :attr:`received` is the first signal, or None."""

    def __init__(self):
        self.received = None
        self._armed = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
        return False

    def _handle(self, signum, frame):
        first = self.received is None
        if first:
            self.received = signum
        if first and self._armed:
            raise KeyboardInterrupt

    def note(self, signum=signal.SIGINT) -> None:
        """Record an interrupt that came another way (a KeyboardInterrupt from elsewhere)."""
        if self.received is None:
            self.received = signum

    @property
    def stopped(self) -> bool:
        return self.received is not None

    @contextmanager
    def armed(self):
        """Within this block a signal raises KeyboardInterrupt at once."""
        if self.received is not None:
            raise KeyboardInterrupt
        self._armed = True
        try:
            yield
        finally:
            self._armed = False


# ---- the progress bar -------------------------------------------------------------------------

class SweepProgress:
    """One rich progress bar over the configurations, with the number running now (rich is
    imported only when the bar is shown). ``done``: those finished before (a resumed sweep)."""

    def __init__(self, total: int, *, done: int = 0, show: bool = True, console=None):
        self.running = 0
        self._bar = None
        if not show:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(TextColumn("configurations"), MofNCompleteColumn(), BarColumn(),
                             TextColumn("{task.fields[running]} running"), TimeElapsedColumn(),
                             TimeRemainingColumn(), console=console)
        self._task = self._bar.add_task("", total=total, completed=done, running=0)

    def __enter__(self):
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False

    def started(self, index) -> None:
        self.running += 1
        self._show(0)

    def finished(self, index) -> None:
        self.running = max(0, self.running - 1)
        self._show(1)

    def stopped(self, index) -> None:
        """A configuration that stopped without finishing (an interrupt)."""
        self.running = max(0, self.running - 1)
        self._show(0)

    def _show(self, advance):
        if self._bar is not None:
            self._bar.update(self._task, advance=advance, running=self.running)


# ---- the runner ---------------------------------------------------------------------------------

def _ignore_sigint():
    """A worker's initializer: Ctrl-C reaches the whole process group, and it is the main
    process that decides (it ends the workers), not each worker on its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclasses.dataclass
class Runner:
    """Runs ``task(index)`` for indices in ``jobs`` processes (1: in this process).

    ``on_result(index, record)`` runs here as each configuration finishes; ``failure(index,
    reason)`` builds the record of one whose worker died; ``poll()``, called between
    configurations and while waiting for workers, returns True to stop the sweep (another MPI
    rank asked). ``threads`` is what each worker starts with (the task sets it itself too).
    """

    task: Callable
    on_result: Callable
    failure: Callable
    interrupts: Interrupts
    progress: SweepProgress
    jobs: int = 1
    threads: int = 1
    poll: Callable | None = None

    def run(self, todo) -> list:
        """Run the configurations ``todo``; return those not run (after an interrupt)."""
        todo = list(todo)
        if min(self.jobs, len(todo)) <= 1:
            return self._here(todo)
        return self._in_workers(todo)

    def finish(self, index, record) -> None:
        """Hand a finished configuration on; a signal meanwhile waits until this returns."""
        self.on_result(index, record)
        self.progress.finished(index)

    def should_stop(self) -> bool:
        if self.interrupts.stopped:
            return True
        return bool(self.poll()) if self.poll is not None else False

    def _here(self, todo) -> list:
        for n, index in enumerate(todo):
            if self.should_stop():
                return todo[n:]
            self.progress.started(index)
            try:
                with self.interrupts.armed():
                    record = self.task(index)
            except KeyboardInterrupt:
                self.interrupts.note()
                self.progress.stopped(index)
                return todo[n:]
            except Exception as exc:  # as in a worker: a failed record, not the end
                record = self.failure(index, f"{type(exc).__name__}: {exc}")
            self.finish(index, record)
        return []

    def _in_workers(self, todo) -> list:
        pool = _Pool(self)
        try:
            pool.run(todo)
        except KeyboardInterrupt:
            self.interrupts.note()
        finally:
            pool.close()
        return sorted(pool.not_run())


class _Pool:
    """The worker processes of one :meth:`Runner.run` and the configurations in flight."""

    def __init__(self, runner: Runner):
        self.runner = runner
        self.queue = []          # the next configuration last
        self.running = {}        # future -> index
        self.suspects = set()    # in flight when a worker died: each runs again, alone
        self.executor = None
        self.workers = runner.jobs

    def _start(self):
        from joblib.externals.loky import ProcessPoolExecutor

        env = {name: str(self.runner.threads) for name in THREAD_VARIABLES}
        self.executor = ProcessPoolExecutor(max_workers=self.workers,
                                            initializer=_ignore_sigint, env=env)

    def run(self, todo) -> None:
        from joblib.externals.loky import FIRST_COMPLETED, wait

        runner = self.runner
        self.queue = list(reversed(todo))
        self.workers = min(runner.jobs, len(todo))
        self._start()
        while self.queue or self.running:
            if runner.should_stop():
                return
            self._submit()
            with runner.interrupts.armed():
                done, _ = wait(list(self.running), timeout=POLL_SECONDS,
                               return_when=FIRST_COMPLETED)
            if any([self._collect(future) for future in done]):
                self._restart()

    def _submit(self) -> None:
        """Fill the free workers; a suspect runs alone."""
        while self.queue and len(self.running) < self.workers:
            if any(i in self.suspects for i in self.running.values()):
                return
            if self.queue[-1] in self.suspects and self.running:
                return
            index = self.queue.pop()
            self.running[self.executor.submit(self.runner.task, index)] = index
            self.runner.progress.started(index)

    def _collect(self, future) -> bool:
        """Hand on one done configuration; True if a worker died (the pool is broken)."""
        from joblib.externals.loky import BrokenProcessPool

        index = self.running.pop(future)
        try:
            record = future.result()
        except BrokenProcessPool as exc:
            if index in self.suspects:  # it ran alone: its own worker died
                self.runner.finish(index, self.runner.failure(
                    index, f"its worker process died ({exc})"))
            else:
                self._again(index)
            return True
        except Exception as exc:  # the task could not be sent, or its result not received
            record = self.runner.failure(index, f"{type(exc).__name__}: {exc}")
        self.runner.finish(index, record)
        return False

    def _again(self, index) -> None:
        self.suspects.add(index)
        self.queue.append(index)
        self.runner.progress.stopped(index)

    def _restart(self) -> None:
        """After a worker died: keep what finished, queue what was in flight, new workers."""
        for future, index in list(self.running.items()):
            del self.running[future]
            if future.done() and not future.cancelled() and future.exception() is None:
                self.runner.finish(index, future.result())
            else:
                self._again(index)
        self.executor.shutdown(wait=False, kill_workers=True)
        self._start()

    def not_run(self) -> list:
        return self.queue + list(self.running.values())

    def close(self) -> None:
        """Keep the results that are in; end the workers (what they run is not run)."""
        for future, index in list(self.running.items()):
            if future.done() and not future.cancelled() and future.exception() is None:
                del self.running[future]
                self.runner.finish(index, future.result())
            else:
                future.cancel()
                self.runner.progress.stopped(index)
        if self.executor is not None:
            self.executor.shutdown(wait=False, kill_workers=True)
