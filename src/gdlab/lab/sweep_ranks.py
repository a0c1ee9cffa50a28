"""A sweep spread over MPI ranks (``mpiexec -n K gdlab compare ...`` or ``srun``): a static
split by index, and rank 0 gathers the records as they finish and writes every output.

Rank ``r`` of ``K`` runs the configurations ``todo[r::K]`` (round robin, so that each rank
gets every seed and every optimizer, and the ranks finish close together), each rank with its
own :class:`~gdlab.lab.sweep.Runner` (so ``--jobs`` worker processes per rank: one rank per
node and ``--jobs -1`` fills a cluster). The other ranks send each finished record to rank 0
at once, with a non-blocking send (they never wait for rank 0), and say when each
configuration starts (for the progress bar); rank 0 receives between its own configurations
and while its workers run, and hands each record on as if it had run it.

Interrupts: a launcher passes SIGTERM/SIGINT on to every rank, and each stops as one process
does; a rank that is told to stop by rank 0 (rank 0 alone was signalled) stops before its
next configuration. Each rank then tells rank 0 it is done; rank 0 returns the
configurations of every rank that did not run.
"""

from __future__ import annotations

import dataclasses
import time

from gdlab.lab.sweep import POLL_SECONDS, Runner

TAG_TO_ROOT, TAG_STOP = 7301, 7302


class RootFailed(RuntimeError):
    """Rank 0 could not start the sweep; it reports why, the other ranks stop quietly."""


def share_from_root(comm, make, shared=lambda value: value):
    """``make()`` on rank 0; every other rank gets ``shared(value)`` (a broadcast). An error
    on rank 0 is raised there and as :class:`RootFailed` on the others."""
    mpi = comm.comm
    if comm.rank == 0:
        try:
            value = make()
        except BaseException as exc:
            mpi.bcast(("error", f"{type(exc).__name__}: {exc}"), root=0)
            raise
        mpi.bcast(("ok", shared(value)), root=0)
        return value
    kind, value = mpi.bcast(None, root=0)
    if kind == "error":
        raise RootFailed(f"rank 0 could not start the sweep: {value}")
    return value


def run_on_ranks(comm, runner: Runner, todo) -> list:
    """Run ``todo`` over the ranks of ``comm`` (a :class:`gdlab.distributed.MPIComm`);
    ``runner.on_result`` is called on rank 0 for every finished configuration. Returns, on
    rank 0, every configuration not run; on the others, their own."""
    mpi = comm.comm.Dup()  # messages of their own: never matched by anything else
    try:
        mine = list(todo)[comm.rank::comm.size]
        if comm.rank == 0:
            return _root(mpi, runner, list(todo), mine)
        return _other(mpi, runner, mine)
    finally:
        mpi.Free()


def _root(mpi, runner: Runner, todo, mine) -> list:
    finished = set()

    def on_result(index, record):
        finished.add(index)
        runner.on_result(index, record)

    inbox = _Inbox(mpi)
    here = dataclasses.replace(runner, on_result=on_result, poll=None)
    here.poll = lambda: inbox.poll(here)
    here.run(mine)
    while inbox.open:
        if runner.interrupts.stopped:
            inbox.stop_others()
        inbox.poll(here)
        time.sleep(POLL_SECONDS)
    inbox.close()
    return sorted(set(todo) - finished)


def _other(mpi, runner: Runner, mine) -> list:
    outbox = _Outbox(mpi)
    here = dataclasses.replace(runner, on_result=outbox.row, progress=outbox,
                               poll=outbox.stop_requested)
    not_run = here.run(mine)
    outbox.close()
    return not_run


class _Inbox:
    """Rank 0's side: the messages of the other ranks."""

    def __init__(self, mpi):
        self.mpi = mpi
        self.open = set(range(1, mpi.Get_size()))
        self.requests = []
        self.told = False

    def poll(self, runner: Runner) -> bool:
        """Take every message that has arrived; never asks rank 0 to stop (False)."""
        from mpi4py import MPI

        status = MPI.Status()
        while self.mpi.iprobe(source=MPI.ANY_SOURCE, tag=TAG_TO_ROOT):
            kind, index, record = self.mpi.recv(source=MPI.ANY_SOURCE, tag=TAG_TO_ROOT,
                                                status=status)
            if kind == "started":
                runner.progress.started(index)
            elif kind == "stopped":
                runner.progress.stopped(index)
            elif kind == "row":
                runner.finish(index, record)
            else:  # "done": every message of that rank came before this one
                self.open.discard(status.Get_source())
        return False

    def stop_others(self) -> None:
        if not self.told:
            self.told = True
            self.requests += [self.mpi.isend("stop", dest=r, tag=TAG_STOP) for r in self.open]

    def close(self) -> None:
        from mpi4py import MPI

        MPI.Request.waitall(self.requests)


class _Outbox:
    """Another rank's side: its rows, what starts and stops (in the place of its progress
    bar), and whether rank 0 asked it to stop."""

    def __init__(self, mpi):
        self.mpi = mpi
        self.requests = []
        self.stop = False

    def _send(self, kind, index=None, record=None):
        self.requests.append(self.mpi.isend((kind, index, record), dest=0, tag=TAG_TO_ROOT))

    def row(self, index, record) -> None:
        self._send("row", index, record)

    def started(self, index) -> None:
        self._send("started", index)

    def stopped(self, index) -> None:
        self._send("stopped", index)

    def finished(self, index) -> None:
        pass  # the row says it

    def stop_requested(self) -> bool:
        if not self.stop and self.mpi.iprobe(source=0, tag=TAG_STOP):
            self.mpi.recv(source=0, tag=TAG_STOP)
            self.stop = True
        return self.stop

    def close(self) -> None:
        from mpi4py import MPI

        self._send("done")
        MPI.Request.waitall(self.requests)
