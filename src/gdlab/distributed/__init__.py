"""Data-parallel training: communicators (one process, or MPI through mpi4py), batch
normalization across ranks, and the launcher behind ``gdlab train --workers N``.

The training loop talks to other ranks only through :class:`Communicator`; mpi4py is imported
only when an MPI communicator is made.
"""

from gdlab.distributed.comm import Communicator, SingleProcess
from gdlab.distributed.mpi import (
    LAUNCHER_VARIABLES,
    MPIComm,
    blas_threads_per_rank,
    get_communicator,
    launcher_size,
)
from gdlab.distributed.syncbn import SyncBatchNorm, convert_sync_batchnorm

__all__ = ["Communicator", "SingleProcess", "MPIComm", "LAUNCHER_VARIABLES", "launcher_size",
           "blas_threads_per_rank", "get_communicator", "SyncBatchNorm",
           "convert_sync_batchnorm"]
