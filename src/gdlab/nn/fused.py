"""Dense + ReLU pairs in one pass each way, with gdlab's compiled kernels (:mod:`gdlab.kernels`).

A Dense layer followed by a ReLU costs, besides its matrix products, NumPy passes over the
(batch, width) activations: add the bias, take the maximum; in backward, form the ReLU's
derivative, multiply, sum the columns for the bias gradient. When those arrays are large
(full-batch training) the passes are bound by memory bandwidth and cost as much as a product.
The kernels do each direction in one pass over the activations, in place:
``max(XW + b, 0)`` forward, and ``G (out > 0)`` with its column sums (the bias gradient)
backward. When the next Dense layer has a single output, its input gradient ``G = d w^T`` is
folded into that pass too, so the (batch, width) outer product is never written.

A pair is fused when the ReLU feeds another Dense layer, so that its output is an
intermediate the backward pass may overwrite; a second ``backward`` after one fused forward
is therefore an error (as in PyTorch). Only :class:`gdlab.Sequential`'s training-mode
``forward``/``backward`` fuse; a layer called on its own runs its NumPy code. Forward outputs
and every gradient but the bias's are the same bits as the NumPy path; the bias gradient is
summed in another order (float64 accumulators) and agrees to rounding.

A :class:`FusedPlan`, owned by the network, runs one forward and its backward: it keeps the
activations of the fused pairs itself (what each ReLU would have kept), so no layer's cache is
written from outside; the layers are used through their public methods and parameter views.

``Sequential.fast`` chooses: None (auto: when a build of the kernels is installed and the network
has at least ``FAST_MIN_SIZE`` parameters, the size at which the optimizers take their kernels too,
or a pair's activations have that many elements; ``GDLAB_FAST=0`` turns it off), True
(always; ImportError without the kernels) or False (never). See :mod:`gdlab.kernels`.
"""

from __future__ import annotations

import numpy as np

from gdlab import kernels as builds
from gdlab.nn.layers import Dense, ReLU


def fusable_pairs(layers) -> list[int]:
    """Indices ``i`` of the layers Dense (with a bias), ReLU, Dense at ``i, i+1, i+2``."""
    return [i for i in range(len(layers) - 2)
            if type(layers[i]) is Dense and layers[i].bias and type(layers[i + 1]) is ReLU
            and type(layers[i + 2]) is Dense]


def kernels_for(fast, layers, pairs, n_rows, n_parameters):
    """The kernels module when the fused path applies to a batch of ``n_rows``, else None."""
    if fast is False or not pairs:
        return None
    widest = max(layers[i].out_features for i in pairs) * n_rows
    return builds.select(fast, max(n_parameters, widest))


def _bias0(dense):
    return dense.b[0] if dense.bias else dense.W.dtype.type(0)


class FusedPlan:
    """One training-mode forward of ``layers`` with the pairs at ``pairs`` fused, and its
    backward. The plan owns what the fused pairs cache: each pair's activation (the ReLU's
    output, overwritten in place by backward) and the one-column output of a head folded into
    the pair's pass. ``used`` turns True once backward ran: the activations are gone then."""

    def __init__(self):
        self.pairs, self.kernels, self.used = (), None, False
        self.found, self._layers = [], ()
        self._activations: dict[int, np.ndarray] = {}
        self._heads: dict[int, np.ndarray] = {}

    def choose(self, fast, layers, n_rows, n_parameters):
        """The kernels for a forward of ``n_rows`` rows through ``layers``, or None (the NumPy
        path); ``found`` holds the layers' fusable pairs, looked for again only when the
        layers change (a step costs one comparison, not a search)."""
        key = tuple(layers)
        if key != self._layers:
            self._layers, self.found = key, fusable_pairs(layers)
        return kernels_for(fast, layers, self.found, n_rows, n_parameters)

    def __getstate__(self):
        # a module does not pickle: backward after unpickling selects the kernels again
        return dict(self.__dict__, kernels=None)

    def _head_out(self, i, n, dtype):
        out = self._heads.get(i)
        if out is None or out.shape[0] < n or out.dtype != dtype:
            out = self._heads[i] = np.empty((n, 1), dtype=dtype)
        return out[:n]

    def forward(self, layers, pairs, X, kernels):
        """Training-mode forward through ``layers``, each pair in ``pairs`` fused."""
        self.pairs, self.kernels, self.used = tuple(pairs), kernels, False
        self._activations.clear()
        i, n = 0, len(layers)
        while i < n:
            layer = layers[i]
            if i not in self.pairs:
                X, i = layer.forward(X, True), i + 1
                continue
            Y = layer.forward(X, True, add_bias=False)
            self._activations[i] = Y
            head = layers[i + 2]
            if head.out_features == 1 and i + 2 not in self.pairs:  # its output in the same pass
                out = self._head_out(i + 2, Y.shape[0], Y.dtype)
                kernels.bias_relu_dot_(Y, layer.b, head.W[:, 0], _bias0(head), out)
                X, i = out, i + 3
            else:
                kernels.bias_relu_(Y, layer.b)
                X, i = Y, i + 2
        return X

    def backward(self, layers, grad, stop, input_grad):
        """Backward through ``layers[stop:]`` in reverse after :meth:`forward`, as
        :meth:`gdlab.Sequential.backward`."""
        kernels = self.kernels or builds.select(True, 0)
        pairs, acts = self.pairs, self._activations
        self.used = True
        i = len(layers) - 1
        while i >= stop:
            layer = layers[i]
            if i - 2 in pairs:  # layer is the Dense above a fused pair: its input gradient is G
                dense, out = layers[i - 2], acts[i - 2]
                if layer.out_features == 1:
                    db = layer.db if layer.bias else np.empty(1, grad.dtype)
                    kernels.outer_relu_backward_bias_(grad, layer.W[:, 0], out, dense.db,
                                                      layer.dW[:, 0], db)
                else:
                    kernels.relu_backward_bias_(layer.backward(grad), out, dense.db)
                grad = dense.backward(out, need_input_grad=input_grad or i - 2 > stop,
                                      bias_grad=False)
                i -= 3
            elif i - 1 in pairs:  # the ReLU of a pair whose head was the Dense of the pair above
                dense, out = layers[i - 1], acts[i - 1]
                kernels.relu_backward_bias_(grad, out, dense.db)
                grad = dense.backward(out, need_input_grad=input_grad or i - 1 > stop,
                                      bias_grad=False)
                i -= 2
            else:
                grad = layer.backward(grad, need_input_grad=input_grad or i > stop)
                i -= 1
        return grad
