"""Communicators: how the training loop talks to other workers.

The training loop only ever calls the methods of :class:`Communicator`. The default,
:class:`SingleProcess`, makes every call a no-op, so single-process training pays nothing.
:class:`MPIComm` implements the same interface on MPI through mpi4py, which is imported only
when an MPI communicator is made (importing mpi4py initialises MPI, so ``import gdlab`` never
does it).

Synchronous data parallelism, as the training loop uses it: every rank holds the same
parameters (rank 0's, broadcast at the start of ``fit``), draws the same global batch, works on
its shard (:meth:`Communicator.shard`) and scales its gradient by its share of the batch; ONE
in-place ``Allreduce`` of the flat gradient buffer (with a few trailing scalars: the loss, a
non-finite flag, a stop request, metric sums) gives every rank the gradient one process would
compute on the whole batch, and every rank applies the same update. At the end of each epoch the
BatchNorm running statistics are averaged over the ranks (:meth:`Communicator.end_epoch`) and
the ranks agree on stopping (:meth:`Communicator.any`), so no rank waits forever for another.
"""

from __future__ import annotations

import atexit
import copy
import os
import sys
import time

import numpy as np

from gdlab.normalization import BatchNorm


class Communicator:
    """Interface of a data-parallel group of ``size`` workers; this one is ``rank``.

    Subclasses implement :meth:`broadcast_`, :meth:`allreduce_`, :meth:`any`,
    :meth:`allgather` and :meth:`barrier`; the rest is written once here on top of them.
    """

    rank: int = 0
    size: int = 1
    #: set by :meth:`request_stop`; the training loop sends it along with the step's gradient
    stop_requested: bool = False

    def request_stop(self) -> None:
        """Ask every rank to stop at the next step (safe to call from a signal handler)."""
        self.stop_requested = True

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def shard(self, indices: np.ndarray) -> np.ndarray:
        """This worker's share of a global batch: contiguous, sizes differing by at most one."""
        if self.size == 1:
            return indices
        n = indices.shape[0]
        base, extra = divmod(n, self.size)
        start = self.rank * base + min(self.rank, extra)
        stop = start + base + (1 if self.rank < extra else 0)
        return indices[start:stop]

    def broadcast_(self, array: np.ndarray) -> None:
        """Overwrite ``array`` in place with rank 0's copy."""

    def allreduce_(self, array: np.ndarray) -> None:
        """Replace ``array`` in place by its sum over all workers."""

    def any(self, flag: bool) -> bool:
        """True on every worker if ``flag`` is true on any worker."""
        return bool(flag)

    def allgather(self, array: np.ndarray) -> np.ndarray:
        """Every worker's ``array`` stacked in rank order: shape ``(size, *array.shape)``."""
        return np.asarray(array)[None].copy()

    def barrier(self) -> None:
        """Wait for every worker."""

    # ---- the two hooks of the training loop, written on the collectives above --------------
    def start_fit(self, net, n_samples: int, batch_size: int, drop_last: bool = False) -> None:
        """Make every rank start from rank 0's parameters and buffers, and check the shards.

        Called once at the start of ``fit``. A synchronised BatchNorm needs every rank to
        take part in every step, so each global batch must give every rank two samples
        (BatchNorm's own minimum).
        """
        if self.size == 1:
            return
        self.broadcast_(net.flat_parameters)
        for array in net.buffers().values():
            self.broadcast_(array)
        if any(isinstance(layer, SyncBatchNorm) for layer in net.layers):
            sizes = [min(batch_size, n_samples)]
            if not drop_last and n_samples % batch_size:
                sizes.append(n_samples % batch_size)
            if min(sizes) < 2 * self.size:
                raise ValueError(
                    f"sync_batchnorm needs every global batch to hold at least two samples per "
                    f"rank; with {n_samples} samples, batch_size={batch_size} and {self.size} "
                    f"ranks a batch has {min(sizes)}: use drop_last=True or another batch size")

    def end_epoch(self, net, stop=None):
        """Average the BatchNorm running statistics over the ranks; returns ``stop`` unchanged.

        Called at the end of every epoch, before validation uses the statistics, so every rank
        evaluates identically. Synchronised BatchNorm layers already hold identical statistics
        and are left alone. (The training loop agrees on stopping with :meth:`any`.)
        """
        if self.size == 1:
            return stop
        arrays = [a for layer in net.layers if not isinstance(layer, SyncBatchNorm)
                  for a in layer.buffers().values()]
        if arrays:
            flat = np.concatenate([a.ravel() for a in arrays])
            self.allreduce_(flat)
            flat *= 1.0 / self.size
            offset = 0
            for a in arrays:
                a[...] = flat[offset:offset + a.size].reshape(a.shape)
                offset += a.size
        return stop


class SingleProcess(Communicator):
    """The default: one worker, every collective a no-op."""

    def __repr__(self):
        return "SingleProcess()"


# ---- MPI ------------------------------------------------------------------------------------

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
        """BLAS threads for this rank: its cores shared among the ranks of its node."""
        node = self.comm.Split_type(self._MPI.COMM_TYPE_SHARED, key=self.rank)
        local = node.Get_size()
        node.Free()
        threads = blas_threads_per_rank(local)
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
    """BLAS threads per rank so that ranks x threads <= the cores this process may use.

    If the launcher bound this process to fewer cores than the machine has (mpiexec -bind-to,
    srun --cpus-per-task), those cores are its own; otherwise the ranks of the node share them.
    """
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            cores = os.cpu_count() or 1
    total = os.cpu_count() or cores
    if cores < total:
        return max(1, cores)
    return max(1, cores // max(1, ranks_on_node))


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


# ---- synchronised BatchNorm ---------------------------------------------------------------

class SyncBatchNorm(BatchNorm):
    r"""BatchNorm whose batch statistics are those of the whole global batch, over all ranks.

    Forward gathers each rank's ``(n_r, mean_r, M2_r)`` (one ``Allgather``) and combines them
    exactly (Chan et al.): :math:`\mu = \sum_r n_r \mu_r / N`,
    :math:`\sigma^2 = \sum_r [M2_r + n_r (\mu_r - \mu)^2] / N`. Backward sums the two batch
    means it needs over the ranks (one ``Allreduce``). The result is the BatchNorm of one
    process on the global batch, and the running statistics are identical on every rank.
    Costs two small collectives per layer per step, besides the gradient's.
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, affine=True, *, comm=None):
        super().__init__(num_features, momentum=momentum, eps=eps, affine=affine)
        self.comm = SingleProcess() if comm is None else comm
        self._n_global = None

    def __deepcopy__(self, memo):
        # a clone shares the communicator (it cannot be copied) and copies everything else
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = value if key == "comm" else copy.deepcopy(value, memo)
        return new

    def _batch_statistics(self, X):
        n = X.shape[0]
        mean = X.mean(axis=0, dtype=np.float64)
        centred = X - mean
        local = np.concatenate(([n], mean, np.einsum("ij,ij->j", centred, centred)))
        parts = self.comm.allgather(local)
        counts, means, m2 = parts[:, 0], parts[:, 1:1 + X.shape[1]], parts[:, 1 + X.shape[1]:]
        total = counts.sum()
        g_mean = counts @ means / total
        dev = means - g_mean
        var = (m2.sum(axis=0) + counts @ (dev * dev)) / total
        self._n_global = total
        return g_mean.astype(X.dtype), var.astype(X.dtype), int(total)

    def _backward_means(self, dxhat, xhat):
        # The incoming gradient is that of this rank's mean loss; the training loop scales
        # the parameter gradients by the rank's share n_r / N afterwards. The means over the
        # global batch need every rank's term in the global loss's units (times the share),
        # and the result goes back in this rank's units (divided by it).
        share = dxhat.shape[0] / self._n_global
        sums = np.concatenate((dxhat.sum(axis=0), np.einsum("ij,ij->j", dxhat, xhat)))
        sums *= share
        self.comm.allreduce_(sums)
        sums *= 1.0 / (self._n_global * share)
        f = dxhat.shape[1]
        return sums[:f], sums[f:]

    def __repr__(self):
        return "Sync" + super().__repr__()


def convert_sync_batchnorm(net, comm: Communicator):
    """Replace every BatchNorm of ``net`` by a :class:`SyncBatchNorm` on ``comm``, in place.

    Parameters, running statistics and settings are kept; returns ``net``. By default
    (without this call) each rank normalises with its own shard's statistics and the running
    statistics are averaged over the ranks at the end of each epoch.
    """
    for i, layer in enumerate(net.layers):
        if isinstance(layer, BatchNorm) and not isinstance(layer, SyncBatchNorm):
            sync = SyncBatchNorm.__new__(SyncBatchNorm)
            sync.__dict__.update(layer.__dict__)
            sync.comm = comm
            sync._n_global = None
            net.layers[i] = sync
    return net
