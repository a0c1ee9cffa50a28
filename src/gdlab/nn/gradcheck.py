"""Gradient checking: backpropagation against central finite differences, in float64.

For every parameter element ``p``, the numerical derivative is
``(L(p + h) - L(p - h)) / (2 h)``. The error of a parameter array is its worst element error
relative to the array's scale: ``max_i |a_i - n_i| / max_i max(|a_i|, |n_i|)`` (0 when both are
exactly zero), where ``a`` is the backpropagated gradient and ``n`` the numerical one. Relative
to the array, not the element, because finite differences carry an absolute error of about
``1e-10`` that would swamp any element near zero. For the same reason an array whose analytic
and numerical gradients are both below ``zero_tol`` everywhere (a gradient that is exactly zero
in theory, such as a bias just before a normalisation) counts as agreeing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdlab import _checks
from gdlab.nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from gdlab.nn.sequential import mlp

#: the losses :func:`gradcheck_network` can check through, by task
TASKS = ("classification", "binary", "regression")


@dataclass
class GradcheckEntry:
    name: str
    shape: tuple
    max_abs_error: float
    max_rel_error: float


@dataclass
class GradcheckReport:
    """The result of :func:`gradcheck`: one entry per parameter array (and the input, if asked)."""

    entries: list[GradcheckEntry] = field(default_factory=list)
    tol: float = 1e-6

    @property
    def max_rel_error(self) -> float:
        return max((e.max_rel_error for e in self.entries), default=0.0)

    @property
    def passed(self) -> bool:
        return self.max_rel_error <= self.tol

    def __str__(self):
        lines = [f"{'array':<8} {'shape':<12} {'max abs error':>14} {'max rel error':>14}"]
        for e in self.entries:
            lines.append(
                f"{e.name:<8} {str(e.shape):<12} {e.max_abs_error:>14.3e} {e.max_rel_error:>14.3e}"
            )
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"worst relative error {self.max_rel_error:.3e} (tolerance {self.tol:g}): {verdict}"
        )
        return "\n".join(lines)


def _relative(a, n, zero_tol):
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(n), initial=0.0))
    err = float(np.max(np.abs(a - n), initial=0.0))
    return err, (err / scale if scale > zero_tol else 0.0)


def gradcheck(net, loss, X, y, *, eps: float = 1e-6, training: bool = True,
              check_input: bool = False, tol: float = 1e-6, sample_weight=None,
              zero_tol: float = 1e-8) -> GradcheckReport:
    """Compare ``net.backward`` with central finite differences of ``loss(net.forward(X), y)``.

    The check runs on a float64 copy of ``net`` (the network itself is not changed). Random
    layers (Dropout) replay the same mask in every evaluation, so the function being
    differentiated is fixed. Returns a :class:`GradcheckReport`; ``report.passed`` compares the
    worst relative error with ``tol``.
    """
    eps = _checks.positive("eps", eps)
    net64 = net.clone(dtype=np.float64)
    X64 = net64.check_input(np.asarray(X, dtype=np.float64))
    y = np.asarray(y)
    if y.dtype.kind == "f":
        y = y.astype(np.float64)
    rng_state = net64.rng_state()
    buffers = {k: v.copy() for k, v in net64.buffers().items()}

    def evaluate():
        net64.set_rng_state(rng_state)
        for key, array in net64.buffers().items():
            array[...] = buffers[key]
        return net64.forward(X64, training=training)

    out = evaluate()
    dX = net64.backward(loss.grad(out, y, sample_weight), input_grad=check_input)
    analytic = [g.copy() for g in net64.gradients()]

    report = GradcheckReport(tol=tol)
    arrays = list(zip(net64.parameter_names(), net64.parameters(), analytic))
    if check_input:
        arrays.append(("X", X64, dX))
    for name, p, a in arrays:
        numeric = np.empty_like(p)
        flat_p, flat_n = p.reshape(-1), numeric.reshape(-1)
        for i in range(flat_p.size):
            original = flat_p[i]
            flat_p[i] = original + eps
            plus = loss(evaluate(), y, sample_weight)
            flat_p[i] = original - eps
            minus = loss(evaluate(), y, sample_weight)
            flat_p[i] = original
            flat_n[i] = (plus - minus) / (2 * eps)
        abs_err, rel_err = _relative(a, numeric, zero_tol)
        report.entries.append(GradcheckEntry(name, tuple(p.shape), abs_err, rel_err))
    return report


def gradcheck_network(layers=(5, 4), activation="tanh", *, n_inputs=4, n_outputs=3,
                      task="classification", batchnorm=False, dropout=0.0, n_samples=8,
                      seed=0, tol=1e-6) -> GradcheckReport:
    """Build a small random network and data and check its gradients (``gdlab gradcheck``).

    ``task`` picks the loss: "classification" (CrossEntropyLoss), "binary" (BCEWithLogitsLoss)
    or "regression" (MSELoss).
    """
    if task not in TASKS:
        raise ValueError(f"task must be classification, binary or regression, got {task!r}")
    rng = np.random.default_rng(seed)
    net = mlp(n_inputs, layers, n_outputs, activation, batchnorm=batchnorm, dropout=dropout,
              dtype="float64", seed=seed)
    X = rng.normal(size=(n_samples, n_inputs))
    if task == "classification":
        loss, y = CrossEntropyLoss(), rng.integers(0, n_outputs, size=n_samples)
    elif task == "binary":
        loss, y = BCEWithLogitsLoss(), rng.integers(0, 2, size=(n_samples, n_outputs)).astype(float)
    else:
        loss, y = MSELoss(), rng.normal(size=(n_samples, n_outputs))
    return gradcheck(net, loss, X, y, tol=tol)
