"""Batch normalization over the whole global batch of a data-parallel step: every rank
normalises with the statistics of all ranks' shards."""

from __future__ import annotations

import copy

import numpy as np

from gdlab.distributed.comm import Communicator, SingleProcess
from gdlab.nn.normalization import BatchNorm


class SyncBatchNorm(BatchNorm):
    r"""BatchNorm whose batch statistics are those of the whole global batch, over all ranks.

    Forward gathers each rank's ``(n_r, mean_r, M2_r)`` (one ``Allgather``) and combines them
    exactly (Chan et al.): :math:`\mu = \sum_r n_r \mu_r / N`,
    :math:`\sigma^2 = \sum_r [M2_r + n_r (\mu_r - \mu)^2] / N`. Backward sums the two batch
    means it needs over the ranks (one ``Allreduce``). The result is the BatchNorm of one
    process on the global batch, and the running statistics are identical on every rank.
    Costs two small collectives per layer per step, besides the gradient's.
    """

    synchronized = True

    def __init__(self, num_features, momentum=0.1, eps=1e-5, affine=True, *, comm=None):
        super().__init__(num_features, momentum=momentum, eps=eps, affine=affine)
        self.comm = SingleProcess() if comm is None else comm
        self._n_global = None

    @classmethod
    def from_batchnorm(cls, layer: BatchNorm, comm) -> SyncBatchNorm:
        """A synchronised copy of ``layer`` on ``comm``, sharing its parameter views and
        running statistics (the network's flat buffers stay the ones the layer was bound to)."""
        sync = cls(layer.num_features, momentum=layer.momentum, eps=layer.eps,
                   affine=layer.affine, comm=comm)
        sync.build(layer.running_mean.dtype)
        sync.running_mean, sync.running_var = layer.running_mean, layer.running_var
        if layer.affine:
            sync.bind([layer.gamma, layer.beta], [layer.dgamma, layer.dbeta])
        return sync

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
            net.layers[i] = SyncBatchNorm.from_batchnorm(layer, comm)
    return net
