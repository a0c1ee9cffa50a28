"""Communicators: how the training loop talks to other workers.

The training loop only ever calls the methods of :class:`Communicator`. The default,
:class:`SingleProcess`, makes every call a no-op, so single-process training pays nothing.
An MPI communicator (mpi4py, imported only when used) implements the same interface.
"""

from __future__ import annotations

import numpy as np


class Communicator:
    """Interface of a data-parallel group of ``size`` workers; this one is ``rank``."""

    rank: int = 0
    size: int = 1

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

    def barrier(self) -> None:
        """Wait for every worker."""


class SingleProcess(Communicator):
    """The default: one worker, every collective a no-op."""

    def __repr__(self):
        return "SingleProcess()"
