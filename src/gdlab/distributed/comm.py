"""Communicators: how the training loop talks to other workers.

The training loop only ever calls the methods of :class:`Communicator`. The default,
:class:`SingleProcess`, makes every call a no-op, so single-process training pays nothing.
:class:`gdlab.distributed.mpi.MPIComm` implements the same interface on MPI through mpi4py,
which is imported only when an MPI communicator is made (importing mpi4py initialises MPI,
so ``import gdlab`` never does it).

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

import numpy as np


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
        if any(getattr(layer, "synchronized", False) for layer in net.layers):
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
        arrays = [a for layer in net.layers if not getattr(layer, "synchronized", False)
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
