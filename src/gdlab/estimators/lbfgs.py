"""``solver="lbfgs"``: SciPy's L-BFGS-B on the network's loss and gradient, as MLPClassifier
minimises it (the L2 penalty included, the flat parameter vector as the variable)."""

from __future__ import annotations

import numpy as np
import scipy.optimize
from sklearn.utils.optimize import _check_optimize_result

from gdlab.nn.penalty import L2Penalty


def minimize_lbfgs(net, loss, X, target, sw, *, alpha, max_iter, max_fun, tol):
    """Minimise ``loss`` plus the L2 penalty ``alpha`` over ``net``'s flat parameters, in
    place; returns ``(n_iter, final loss)``. A non-finite loss (L-BFGS then stops at once and
    leaves the weights as they were; scikit-learn returns an untrained model with
    ``loss_ = nan``) is a ValueError that says why."""
    flat, grads = net.flat_parameters, net.flat_gradients
    penalty = L2Penalty(net, alpha)
    total = X.shape[0] if sw is None else float(sw.sum())

    def value_and_grad(theta):
        flat[...] = theta
        value, grad = loss.compute(net.forward(X, training=True), target, sw, True)
        net.backward(grad, input_grad=False)
        value += penalty.add_to_gradients(total)
        return value, grads.astype(np.float64)

    res = scipy.optimize.minimize(
        value_and_grad, flat.astype(np.float64), method="L-BFGS-B", jac=True,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol})
    n_iter = _check_optimize_result("lbfgs", res, max_iter)
    flat[...] = res.x
    if not np.isfinite(res.fun):
        raise ValueError(f"the training loss is {float(res.fun)}: the input data may contain "
                         "values too large for the network and need to be scaled")
    return n_iter, float(res.fun)
