"""MPI through mpi4py: :class:`MPIComm`, finding out whether a launcher started this process
(:func:`launcher_size`, :func:`get_communicator`), and how many BLAS threads each rank gets.

mpi4py is imported only when an MPI communicator is made: importing it initialises MPI, so
``import gdlab`` never does.
"""

from __future__ import annotations

import atexit
import os
import sys
import time

import numpy as np

from gdlab.distributed.comm import Communicator, SingleProcess
from gdlab.kernels.threads import cores_per_rank, default_threads

# (size variable, rank variable) of the launchers we know: MPICH/Intel MPI (hydra, PMI),
# Open MPI, MVAPICH2, and Slurm's srun (only in a job step: an sbatch script has SLURM_NTASKS
# too, but it is one process)
LAUNCHER_VARIABLES = (
    ("PMI_SIZE", "PMI_RANK"),
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
    ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"),
    ("SLURM_STEP_NUM_TASKS", "SLURM_PROCID"),
)


def launcher_size(environ=None) -> int:
    """The number of processes an MPI launcher (mpiexec, srun) says it started; 1 if none.

    Read from the launcher's environment variables, so it costs nothing and does not
    initialise MPI.
    """
    environ = os.environ if environ is None else environ
    for size_var, rank_var in LAUNCHER_VARIABLES:
        if size_var in environ and rank_var in environ:
            try:
                return max(1, int(environ[size_var]))
            except ValueError:
                continue
    return 1


def _import_mpi():
    try:
        import mpi4py
    except ImportError as exc:
        raise ImportError(
            "distributed training needs mpi4py: pip install 'gdlab[mpi]' (on a cluster: "
            "pip install mpi4py, built against the site's MPI)") from exc
    if "mpi4py.MPI" not in sys.modules:
        # BLAS threads never call MPI: the lowest level that allows them, and no locks
        mpi4py.rc.thread_level = "funneled"
    from mpi4py import MPI

    return MPI


# Whether this process is leaving because of an error: process-wide, as an exit code is.
_EXIT = {"failed": None, "excepthook": False}


class MPIComm(Communicator):
    """A :class:`Communicator` over an mpi4py communicator (default ``MPI.COMM_WORLD``).

    Collectives use mpi4py's buffer methods on NumPy arrays (``Bcast``, ``Allreduce`` with
    ``MPI.IN_PLACE``): no pickling in the training loop.

    Parameters
    ----------
    comm : an ``mpi4py.MPI.Comm`` or None (``MPI.COMM_WORLD``).
    limit_threads : bool, limit this rank's BLAS/OpenMP threads (threadpoolctl) so that the
        ranks on a node times their threads do not exceed the cores they were given.
    abort_on_failure : bool, install the exit guard: a rank leaving after an error (an
        uncaught exception, or :meth:`mark_failed`) while other ranks are still inside a
        collective calls ``MPI_Abort``, so the job ends instead of hanging.
    """

    def __init__(self, comm=None, *, limit_threads=True, abort_on_failure=True):
        MPI = _import_mpi()
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._flag = np.zeros(1, dtype=np.int32)
        self.threads = self._limit_threads() if limit_threads else None
        self._guard_comm = None
        if abort_on_failure and self.size > 1:
            self._install_exit_guard()

    def __repr__(self):
        return f"MPIComm(rank={self.rank}, size={self.size})"

    # ---- collectives ---------------------------------------------------------------------
    def broadcast_(self, array):
        self.comm.Bcast(array, root=0)

    def allreduce_(self, array):
        self.comm.Allreduce(self._MPI.IN_PLACE, array, op=self._MPI.SUM)

    def any(self, flag):
        self._flag[0] = 1 if flag else 0
        self.comm.Allreduce(self._MPI.IN_PLACE, self._flag, op=self._MPI.MAX)
        return bool(self._flag[0])

    def allgather(self, array):
        array = np.ascontiguousarray(array)
        out = np.empty((self.size,) + array.shape, dtype=array.dtype)
        self.comm.Allgather(array, out)
        return out

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (``MPI_Abort``) with exit code ``code``."""
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(0.2)  # let mpiexec forward the last lines before it tears the job down
        self.comm.Abort(int(code))

    # ---- threads ---------------------------------------------------------------------------
    def _limit_threads(self):
        """BLAS and kernel threads for this rank: OMP_NUM_THREADS (or OPENBLAS_NUM_THREADS,
        MKL_NUM_THREADS) when set, else its cores shared among the ranks of its node."""
        node = self.comm.Split_type(self._MPI.COMM_TYPE_SHARED, key=self.rank)
        local = node.Get_size()
        node.Free()
        threads = default_threads(local)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
        return threads

    # ---- the exit guard ----------------------------------------------------------------------
    @property
    def failed(self):
        """The exit code this process fails with, or None (shared by all MPIComm objects)."""
        return _EXIT["failed"]

    def mark_failed(self, code: int = 1) -> None:
        """Record that this rank is leaving because of an error (exit code ``code``).

        At exit a failed rank waits a few seconds for the others to leave too (a failure every
        rank saw, such as divergence, ends them all cleanly); if they do not, they are stuck
        in a collective waiting for this rank, and the guard aborts the job.
        """
        _EXIT["failed"] = int(code) or 1

    def _install_exit_guard(self):
        # a communicator of its own: the exit vote never matches a training collective
        self._guard_comm = self.comm.Dup()
        if not _EXIT["excepthook"]:
            previous = sys.excepthook

            def excepthook(kind, value, tb):
                _EXIT["failed"] = _EXIT["failed"] or 1
                previous(kind, value, tb)

            sys.excepthook = excepthook
            _EXIT["excepthook"] = True
        # registered after mpi4py's own handler, so it runs before MPI is finalised
        atexit.register(self._exit_vote)

    def _exit_vote(self, grace: float = 5.0):
        MPI = self._MPI
        if self._guard_comm is None or MPI.Is_finalized():
            return
        flag = np.array([self.failed or 0], dtype=np.int32)
        request = self._guard_comm.Iallreduce(MPI.IN_PLACE, flag, op=MPI.MAX)
        deadline = time.monotonic() + grace
        while not request.Test():
            if self.failed and time.monotonic() > deadline:
                print(f"gdlab: rank {self.rank} failed while other ranks are still running; "
                      "aborting the job", file=sys.stderr)
                self.abort(self.failed)
            time.sleep(0.01)  # not a busy wait: a slow rank 0 may still be writing files
        self._guard_comm.Free()
        self._guard_comm = None


def blas_threads_per_rank(ranks_on_node: int, cores: int | None = None) -> int:
    """BLAS threads per rank so that ranks x threads <= the cores this process may use (see
    :func:`gdlab.kernels.threads.cores_per_rank`)."""
    return cores_per_rank(ranks_on_node, cores)


def get_communicator(expected_size: int | None = None) -> Communicator:
    """The communicator of this process: :class:`MPIComm` when it runs under an MPI launcher
    (``mpiexec -n N``, ``srun``) with N > 1, :class:`SingleProcess` otherwise.

    MPI (mpi4py) is imported only when a launcher's variables say N > 1. Raises RuntimeError
    when MPI sees a different number of processes than the launcher started (a launcher from
    another MPI than mpi4py's starts N independent one-process jobs) or than ``expected_size``.
    """
    size = launcher_size()
    if size <= 1:
        comm = SingleProcess()
    else:
        comm = MPIComm()
        if comm.size != size:
            raise RuntimeError(
                f"the launcher started {size} processes but MPI sees {comm.size} in this one: "
                "the mpiexec/srun used does not belong to the MPI library mpi4py is built "
                "against (use the mpiexec next to the Python interpreter, or rebuild mpi4py "
                "against the site's MPI)")
    if expected_size is not None and comm.size != expected_size:
        raise RuntimeError(f"expected {expected_size} workers, but this process is one of "
                           f"{comm.size}")
    return comm
