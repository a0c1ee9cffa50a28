"""Batch normalization, with the semantics of ``torch.nn.BatchNorm1d`` so that PyTorch can be
the oracle for its numbers. As every gdlab layer, it writes its backward pass next to its
forward pass, and backward only uses what forward cached.
"""

from __future__ import annotations

import numpy as np

from gdlab import _checks
from gdlab.nn.layers import Layer


class BatchNorm(Layer):
    r"""Batch normalisation over the samples of an ``(n, num_features)`` batch (Ioffe & Szegedy,
    2015), with the semantics of ``torch.nn.BatchNorm1d``.

    Training mode, with the batch mean :math:`\mu_B` and *biased* batch variance
    :math:`\sigma_B^2` of each feature:

    .. math::
        \hat x = \frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \qquad y = \gamma \hat x + \beta

    and the running statistics move towards the batch's, with the *unbiased* variance:

    .. math::
        m \leftarrow (1 - \rho)\, m + \rho\, \mu_B, \qquad
        v \leftarrow (1 - \rho)\, v + \rho\, \tfrac{n}{n - 1} \sigma_B^2

    where :math:`\rho` is ``momentum``. Evaluation mode uses :math:`m` and :math:`v` instead of
    the batch statistics.

    Backward in training mode differentiates through the batch statistics too. With
    :math:`g = \partial L / \partial y` and :math:`\hat g = \gamma g`, per feature and averaging
    over the batch:

    .. math::
        \frac{\partial L}{\partial x} = \frac{1}{\sqrt{\sigma_B^2 + \epsilon}}
            \left(\hat g - \overline{\hat g} - \hat x\, \overline{\hat g \hat x}\right), \quad
        \frac{\partial L}{\partial \gamma} = \sum_i g_i \hat x_i, \quad
        \frac{\partial L}{\partial \beta} = \sum_i g_i

    ``gamma`` (init 1) and ``beta`` (init 0) are trained parameters in the network's flat buffer
    (named ``gamma1, beta1, ...``); ``running_mean`` (init 0) and ``running_var`` (init 1) are
    buffers: no optimizer, weight decay or gradient touches them.

    Parameters
    ----------
    num_features : int, the number of features (columns) of the input.
    momentum : float in [0, 1], the weight of the newest batch in the running statistics.
    eps : float > 0, added to the variance for numerical stability.
    affine : bool, learn ``gamma`` and ``beta`` (otherwise ``y = x_hat``).
    """

    #: whether the batch statistics span every rank of a data-parallel group (SyncBatchNorm)
    synchronized = False

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5,
                 affine: bool = True):
        self.num_features = _checks.positive_int("num_features", num_features)
        self.momentum = _checks.real("momentum", momentum, low=0.0, high=1.0)
        self.eps = _checks.positive("eps", eps)
        self.affine = bool(affine)
        self.gamma = self.beta = self.dgamma = self.dbeta = None
        self.running_mean = self.running_var = None
        self._xhat = self._inv_std = None
        self._training = False
        self.build(np.float32)

    # ---- the Layer protocol -------------------------------------------------------------
    def param_specs(self, dtype):
        if not self.affine:
            return []
        return [("gamma", (self.num_features,)), ("beta", (self.num_features,))]

    def bind(self, params, grads):
        if self.affine:
            self.gamma, self.beta = params
            self.dgamma, self.dbeta = grads

    def reset_parameters(self, rng):
        if self.affine:
            self.gamma[...] = 1
            self.beta[...] = 0

    def build(self, dtype):
        # Sequential.clone calls this again with another dtype: convert, keeping the values
        dtype = np.dtype(dtype)
        if self.running_mean is None:
            self.running_mean = np.zeros(self.num_features, dtype=dtype)
            self.running_var = np.ones(self.num_features, dtype=dtype)
        else:
            self.running_mean = self.running_mean.astype(dtype)
            self.running_var = self.running_var.astype(dtype)

    def buffers(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def output_size(self, in_features):
        return self.num_features

    # ---- forward and backward -----------------------------------------------------------
    def _batch_statistics(self, X):
        """``(mean, biased variance, number of samples)`` of each feature over the batch.

        The one place the batch is reduced in forward: a synchronised BatchNorm overrides it
        (and :meth:`_backward_means`) to reduce across workers.
        """
        mean = X.mean(axis=0)
        centred = X - mean
        var = np.mean(centred * centred, axis=0)
        return mean, var, X.shape[0]

    def _backward_means(self, dxhat, xhat):
        """The two batch means backward needs: ``mean(dxhat)`` and ``mean(dxhat * xhat)``."""
        return dxhat.mean(axis=0), np.mean(dxhat * xhat, axis=0)

    def forward(self, X, training=True):
        if training:
            if X.shape[0] < 2:
                raise ValueError(
                    f"BatchNorm({self.num_features}) expected more than 1 value per channel when "
                    f"training, got a batch of {X.shape[0]} sample(s) (input shape {X.shape}); "
                    "use a batch size >= 2 or evaluation mode"
                )
            mean, var, n = self._batch_statistics(X)
            m = self.momentum
            self.running_mean *= 1.0 - m
            self.running_mean += m * mean
            self.running_var *= 1.0 - m
            # torch updates with the unbiased variance but normalises with the biased one
            self.running_var += (m * n / (n - 1)) * var
        else:
            mean, var = self.running_mean, self.running_var
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xhat = X - mean
        xhat *= inv_std
        self._xhat, self._inv_std, self._training = xhat, inv_std, bool(training)
        if not self.affine:
            return xhat
        return xhat * self.gamma + self.beta

    def backward(self, grad, need_input_grad=True):
        xhat = self._xhat
        if self.affine:
            np.sum(grad * xhat, axis=0, out=self.dgamma)
            np.sum(grad, axis=0, out=self.dbeta)
        if not need_input_grad:
            return None
        dxhat = grad * self.gamma if self.affine else grad
        if not self._training:
            # the running statistics are constants: an affine map per feature
            return dxhat * self._inv_std
        mean_dxhat, mean_dxhat_xhat = self._backward_means(dxhat, xhat)
        dX = xhat * mean_dxhat_xhat
        np.subtract(dxhat, dX, out=dX)
        dX -= mean_dxhat
        dX *= self._inv_std
        return dX

    def __repr__(self):
        return (f"BatchNorm({self.num_features}, momentum={self.momentum}, eps={self.eps}, "
                f"affine={self.affine})")
