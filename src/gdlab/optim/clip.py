"""Gradient clipping, in place, with the semantics of ``torch.nn.utils.clip_grad_norm_`` and
``clip_grad_value_``. The training loop calls these on the gradient list before
``optimizer.step``, so they compose with every optimizer.
"""

from math import inf, isfinite, isnan

import numpy as np

from gdlab import _checks
from gdlab.errors import DivergenceError

__all__ = ["global_norm", "clip_grad_norm_", "clip_grad_value_"]


def _as_list(grads):
    if isinstance(grads, np.ndarray):
        return [grads]
    grads = list(grads)
    for i, g in enumerate(grads):
        if not isinstance(g, np.ndarray):
            raise TypeError(f"grads[{i}] must be a NumPy array, got {type(g).__name__}")
    return grads


def _norm_type(norm_type):
    if isinstance(norm_type, str):
        if norm_type.lower() == "inf":
            return inf
        raise ValueError(f"norm_type must be a positive number or 'inf', got {norm_type!r}")
    return _checks.real("norm_type", norm_type, low=0.0, low_open=True, finite=False)


def _array_norm(g, p):
    """The p-norm of one array, computed in the array's dtype (as torch does)."""
    if g.size == 0:
        return 0.0
    x = g.reshape(-1)
    if p == 2.0:
        return float(np.sqrt(np.dot(x, x)))  # BLAS: no temporary array
    if p == inf:
        return float(np.max(np.abs(x)))
    if p == 1.0:
        return float(np.sum(np.abs(x)))
    return float(np.sum(np.abs(x) ** p) ** (1.0 / p))


def global_norm(grads, norm_type=2.0):
    r"""The norm of all gradients taken as one vector,
    :math:`\|(\|g_1\|_p, \ldots, \|g_k\|_p)\|_p` (the maximum of :math:`|g|` for ``inf``)."""
    grads = _as_list(grads)
    p = _norm_type(norm_type)
    norms = [_array_norm(g, p) for g in grads]
    if not norms:
        return 0.0
    if p == inf:
        return max(norms)
    return float(sum(n ** p for n in norms) ** (1.0 / p))


def clip_grad_norm_(grads, max_norm, norm_type=2.0, error_if_nonfinite=False, *,
                    total_norm=None):
    r"""Scale ``grads`` in place so that their global norm is at most ``max_norm``.

    .. math::
        c = \min\!\left(1, \frac{\text{max\_norm}}{\|g\|_p + 10^{-6}}\right),
        \qquad g \leftarrow c\,g

    Returns the global norm before clipping (a float). A non-finite norm makes the gradients
    NaN, as in torch, or raises :class:`gdlab.DivergenceError` when ``error_if_nonfinite``.
    ``total_norm``: the global ``norm_type``-norm of ``grads``, for a caller that has just
    computed it (the training loop), so that it is not computed twice.
    """
    grads = _as_list(grads)
    max_norm = _checks.real("max_norm", max_norm, low=0.0, finite=False)
    total = global_norm(grads, norm_type) if total_norm is None else float(total_norm)
    if error_if_nonfinite and not isfinite(total):
        raise DivergenceError(f"the total {norm_type}-norm of the gradients is {total}")
    coef = min(max_norm / (total + 1e-6), 1.0) if not isnan(total) else total
    if coef != 1.0:
        with np.errstate(invalid="ignore"):  # inf * 0 -> NaN is the documented result
            for g in grads:
                g *= coef
    return total


def clip_grad_value_(grads, clip_value):
    r"""Clamp every gradient entry in place to :math:`[-c, c]` with :math:`c` = ``clip_value``."""
    grads = _as_list(grads)
    c = _checks.real("clip_value", clip_value, low=0.0, finite=False)
    for g in grads:
        np.clip(g, -c, c, out=g)
