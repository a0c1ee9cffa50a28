"""One gradient descent step of a tiny network, worked as a learner would work it by hand.

:func:`worked_step` runs gdlab's own layers one at a time (``Dense.forward``, the
activation's ``forward``, ``CrossEntropyLoss.value_and_grad``, then each layer's
``backward`` in reverse and an ``SGD`` step) and keeps every intermediate array;
:func:`render` writes them out as text or Markdown, with one element of each matrix
product written out in full so the reader can check the arithmetic.

The network: ``n_inputs`` inputs, the hidden layers, ``n_classes`` outputs (logits), softmax
and the cross-entropy loss averaged over the samples. Indices in the printout start at 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

# Four samples of XOR: the classic problem one hidden layer is needed for.
DEFAULT_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
DEFAULT_Y = np.array([0, 1, 1, 0])

#: the formats :func:`render` writes
FORMATS = ("text", "markdown")

_DERIVATIVES = {
    "sigmoid": "f'(z) = f(z) (1 - f(z))",
    "logistic": "f'(z) = f(z) (1 - f(z))",
    "tanh": "f'(z) = 1 - f(z)^2",
    "relu": "f'(z) = 1 if z > 0 else 0",
    "leaky_relu": "f'(z) = 1 if z > 0 else 0.01",
    "elu": "f'(z) = 1 if z > 0 else f(z) + 1",
    "identity": "f'(z) = 1",
    "linear": "f'(z) = 1",
}
_FORMULAS = {
    "sigmoid": "f(z) = 1 / (1 + e^(-z))",
    "logistic": "f(z) = 1 / (1 + e^(-z))",
    "tanh": "f(z) = tanh(z)",
    "relu": "f(z) = max(z, 0)",
    "leaky_relu": "f(z) = z if z > 0 else 0.01 z",
    "elu": "f(z) = z if z > 0 else e^z - 1",
    "identity": "f(z) = z",
    "linear": "f(z) = z",
}


@dataclass
class DenseTrace:
    """One Dense layer ``z = a_prev W + b`` with its backward quantities."""

    index: int              # 1-based layer number
    a_prev: np.ndarray      # its input
    W: np.ndarray
    b: np.ndarray
    z: np.ndarray           # its output (weighted sums)
    delta: np.ndarray = None   # dL/dz (filled by backward)
    dW: np.ndarray = None
    db: np.ndarray = None
    grad_in: np.ndarray = None  # dL/da_prev (None for the first layer)


@dataclass
class ActivationTrace:
    """One hidden activation ``a = f(z)``."""

    index: int
    name: str
    z: np.ndarray
    a: np.ndarray
    derivative: np.ndarray = None  # f'(z), from the layer's own backward
    grad_out: np.ndarray = None    # dL/da
    grad_in: np.ndarray = None     # dL/dz = dL/da * f'(z)


@dataclass
class WorkedStep:
    """Everything one step computed; ``render`` prints it."""

    X: np.ndarray
    y: np.ndarray
    lr: float
    activation: str
    dense: list[DenseTrace]
    activations: list[ActivationTrace]
    probs: np.ndarray            # softmax of the output logits
    sample_losses: np.ndarray    # -log p[y]
    loss_before: float
    grad_logits: np.ndarray      # dL/dz of the output layer
    names: list[str]
    params_before: list[np.ndarray]
    grads: list[np.ndarray]
    params_after: list[np.ndarray]
    loss_after: float
    sizes: list[int] = field(default_factory=list)

    @property
    def loss_decreased(self) -> bool:
        return self.loss_after < self.loss_before


def worked_step(hidden=(3,), activation="sigmoid", lr=0.5, seed=0, X=None, y=None,
                n_classes=None) -> WorkedStep:
    """Run one step of gradient descent on a tiny network and keep every number.

    Defaults: a 2-3-2 network on the four XOR samples, sigmoid hidden units, learning rate
    0.5, float64. ``X``/``y`` (class labels 0..C-1) may replace the data.
    """
    from gdlab.nn.losses import CrossEntropyLoss
    from gdlab.nn.sequential import mlp
    from gdlab.optim import SGD

    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    X = DEFAULT_X if X is None else np.asarray(X, dtype=np.float64)
    y = DEFAULT_Y if y is None else np.asarray(y, dtype=np.int64)
    n_classes = int(n_classes or max(2, int(y.max()) + 1))
    net = mlp(X.shape[1], hidden, n_classes, activation, dtype="float64", seed=seed)
    loss = CrossEntropyLoss()

    dense, acts, order, logits = trace_forward(net, X)
    probs, loss_before, grad, sample_losses = _loss_of(logits, y, loss)
    trace_backward(net, order, grad)

    names = net.parameter_names()
    before = [p.copy() for p in net.parameters()]
    grads = [gr.copy() for gr in net.gradients()]
    SGD(net.parameters(), lr=lr).step(net.gradients())
    after = [p.copy() for p in net.parameters()]
    loss_after = loss(net.forward(X, training=True), y)
    sizes = [X.shape[1], *[int(h) for h in hidden], n_classes]
    return WorkedStep(X, y, float(lr), activation, dense, acts, probs, sample_losses,
                      float(loss_before), grad, names, before, grads, after, float(loss_after),
                      sizes)


def trace_forward(net, X):
    """The forward pass, one layer at a time, keeping each layer's input and output.

    Returns the Dense traces, the activation traces, all traces in the network's order and
    the output logits.
    """
    from gdlab.nn.layers import Dense

    dense, acts, order = [], [], []
    a = X
    # layers may reuse their work arrays in training mode: keep copies of what they return
    for layer in net.layers:
        out = layer.forward(a, True).copy()
        if isinstance(layer, Dense):
            dense.append(DenseTrace(len(dense) + 1, a, layer.W.copy(), layer.b.copy(), out))
            order.append(dense[-1])
        else:
            acts.append(ActivationTrace(len(dense), getattr(layer, "name", type(layer).__name__),
                                        a, out))
            order.append(acts[-1])
        a = out
    return dense, acts, order, a


def _loss_of(logits, y, loss):
    """Softmax probabilities, the mean loss, its gradient and each sample's loss."""
    from gdlab.nn.layers import Softmax

    probs = Softmax().forward(logits.copy()).copy()
    loss_before, grad = loss.value_and_grad(logits, y)
    grad = grad.copy()
    sample_losses = np.array([loss(logits[i:i + 1], y[i:i + 1]) for i in range(len(y))])
    return probs, loss_before, grad, sample_losses


def trace_backward(net, order, grad) -> None:
    """The backward pass, one layer at a time from the loss down, filling the traces."""
    g = grad
    for layer, trace in zip(reversed(net.layers), reversed(order)):
        if isinstance(trace, DenseTrace):
            trace.delta = g
            first = trace.index == 1
            g = layer.backward(g, need_input_grad=not first)
            g = None if g is None else g.copy()
            trace.dW, trace.db, trace.grad_in = layer.dW.copy(), layer.db.copy(), g
        else:
            trace.grad_out = g
            g = layer.backward(g).copy()
            trace.grad_in = g
            # f'(z) from the layer's own backward: the gradient it passes for dL/da = 1
            trace.derivative = layer.backward(np.ones_like(trace.a)).copy()


# ---- rendering ---------------------------------------------------------------------------------

def _num(x) -> str:
    return f"{x:.4f}"


def _matrix(M, row_label="sample") -> list[str]:
    M = np.atleast_2d(M)
    head = " " * 10 + "".join(f"{'col ' + str(j + 1):>10}" for j in range(M.shape[1]))
    rows = [f"{row_label + ' ' + str(i + 1):<10}" + "".join(f"{v:>10.4f}" for v in row)
            for i, row in enumerate(M)]
    return [head, *rows]


class _Writer:
    def __init__(self, fmt):
        self.fmt = fmt
        self.lines: list[str] = []

    def heading(self, text, level=2):
        if self.fmt == "markdown":
            self.lines += ["", "#" * level + " " + text, ""]
        else:
            self.lines += ["", text, ("=" if level == 1 else "-") * len(text)]

    def para(self, text):
        self.lines += [text] if self.fmt == "text" else [text, ""]

    def block(self, lines):
        if self.fmt == "markdown":
            self.lines += ["```", *lines, "```", ""]
        else:
            self.lines += ["    " + line for line in lines]

    def matrix(self, title, M, row_label="sample"):
        self.para(title)
        self.block(_matrix(M, row_label))


def render(step: WorkedStep, fmt: str = "text") -> str:
    """The worked step as plain text (``fmt="text"``) or Markdown (``fmt="markdown"``)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be {' or '.join(map(repr, FORMATS))}, got {fmt!r}")
    w = _Writer(fmt)
    for section in (_write_introduction, _write_inputs, _write_forward, _write_loss,
                    _write_backward, _write_update, _write_verdict):
        section(w, step)
    text = "\n".join(w.lines).strip("\n") + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)


def _shown_sample(step: WorkedStep) -> int:
    """The sample whose arithmetic is written out (the last one), 0-based."""
    return len(step.y) - 1


def _write_introduction(w: _Writer, step: WorkedStep) -> None:
    shape = "-".join(map(str, step.sizes))
    w.heading(f"One step of gradient descent on a {shape} network, worked by hand", 1)
    w.para(f"Network: {step.sizes[0]} inputs -> "
           + "".join(f"{h} {step.activation} units -> " for h in step.sizes[1:-1])
           + f"{step.sizes[-1]} outputs (logits) -> softmax -> cross-entropy loss, "
           f"averaged over the {len(step.y)} samples. Learning rate lr = {step.lr:g}.")
    w.para("Notation: a0 = X is the input; layer k computes the weighted sums zk = a(k-1) Wk + "
           "bk and, for a hidden layer, the activations ak = f(zk). Indices start at 1; "
           "Wk[i,j] is the weight from unit i of layer k-1 to unit j of layer k.")


def _write_inputs(w: _Writer, step: WorkedStep) -> None:
    w.heading("1. Inputs and targets")
    w.matrix("X (one row per sample):", step.X)
    w.para("Targets (class of each sample): "
           + ", ".join(f"sample {i + 1}: class {c + 1}" for i, c in enumerate(step.y)))
    w.heading("2. Initial parameters")
    for name, p in zip(step.names, step.params_before):
        w.matrix(f"{name}:", p if p.ndim == 2 else p[None, :], "row")


def _write_forward(w: _Writer, step: WorkedStep) -> None:
    s = _shown_sample(step)
    w.heading("3. Forward pass")
    for d in step.dense:
        k = d.index
        w.para(f"Layer {k}: z{k} = a{k - 1} W{k} + b{k}.")
        terms = " + ".join(f"({_num(d.a_prev[s, i])})({_num(d.W[i, 0])})"
                           for i in range(d.W.shape[0]))
        w.para(f"For example sample {s + 1}, unit 1: z{k}[{s + 1},1] = {terms} + "
               f"({_num(d.b[0])}) = {_num(d.z[s, 0])}")
        w.matrix(f"z{k}:", d.z)
        if k <= len(step.activations):
            act = step.activations[k - 1]
            formula = _FORMULAS.get(act.name, f"f = {act.name}")
            w.para(f"Activation: a{k} = f(z{k}) with {formula}. For example "
                   f"a{k}[{s + 1},1] = f({_num(act.z[s, 0])}) = {_num(act.a[s, 0])}")
            w.matrix(f"a{k}:", act.a)
    w.para(f"The outputs z{len(step.dense)} are logits; softmax turns each row into "
           f"probabilities p[n,c] = e^z[n,c] / sum_j e^z[n,j].")
    w.matrix("p = softmax(z):", step.probs)


def _write_loss(w: _Writer, step: WorkedStep) -> None:
    w.heading("4. Loss")
    w.para("Cross-entropy of each sample: l[n] = -log p[n, target of n].")
    w.block([f"sample {i + 1}: l = -log({_num(step.probs[i, c])}) = {_num(step.sample_losses[i])}"
             for i, c in enumerate(step.y)])
    w.para(f"Loss L = (1/{len(step.y)}) sum_n l[n] = {step.loss_before:.6f}")


def _write_backward(w: _Writer, step: WorkedStep) -> None:
    L, n = len(step.dense), len(step.y)
    w.heading("5. Backward pass (chain rule)")
    w.para(f"Output error: dL/dz{L} = (p - onehot(target)) / {n}, for softmax and cross-entropy "
           "together.")
    w.matrix(f"delta{L} = dL/dz{L}:", step.grad_logits)
    for d in reversed(step.dense):
        k = d.index
        w.para(f"Layer {k}: dL/dW{k} = a{k - 1}^T delta{k} (sum over samples), "
               f"dL/db{k} = sum over samples of delta{k}.")
        terms = " + ".join(f"({_num(d.a_prev[s, 0])})({_num(d.delta[s, 0])})"
                           for s in range(d.delta.shape[0]))
        w.para(f"For example dL/dW{k}[1,1] = {terms} = {_num(d.dW[0, 0])}")
        w.matrix(f"dL/dW{k}:", d.dW, "row")
        w.matrix(f"dL/db{k}:", d.db[None, :], "row")
        if k > 1:
            _write_error_sent_back(w, d, step.activations[k - 2], _shown_sample(step))


def _write_error_sent_back(w: _Writer, d: DenseTrace, act: ActivationTrace, s: int) -> None:
    """From Dense layer k back through the activation below it: dL/da(k-1), then delta(k-1)."""
    k = d.index
    w.para(f"Error sent back to a{k - 1}: dL/da{k - 1} = delta{k} W{k}^T.")
    w.matrix(f"dL/da{k - 1}:", d.grad_in)
    deriv = _DERIVATIVES.get(act.name, "f'(z) from the activation")
    w.para(f"Through the activation ({deriv}): delta{k - 1} = dL/dz{k - 1} = "
           f"dL/da{k - 1} * f'(z{k - 1}), element by element. For example "
           f"delta{k - 1}[{s + 1},1] = ({_num(act.grad_out[s, 0])})"
           f"({_num(act.derivative[s, 0])}) = {_num(act.grad_in[s, 0])}")
    w.matrix(f"f'(z{k - 1}):", act.derivative)
    w.matrix(f"delta{k - 1}:", act.grad_in)


def _write_update(w: _Writer, step: WorkedStep) -> None:
    w.heading("6. Update: new weight = old weight - lr * gradient")
    lines = []
    for name, p0, g, p1 in zip(step.names, step.params_before, step.grads, step.params_after):
        for idx in np.ndindex(p0.shape):
            where = ",".join(str(i + 1) for i in idx)
            lines.append(f"{name}[{where}] = {p0[idx]:.4f} - {step.lr:g} * ({g[idx]:.4f}) "
                         f"= {p1[idx]:.4f}")
    w.block(lines)


def _write_verdict(w: _Writer, step: WorkedStep) -> None:
    w.heading("7. Did the loss go down?")
    change = step.loss_after - step.loss_before
    w.para(f"Loss before the step: {step.loss_before:.6f}; after: {step.loss_after:.6f} "
           f"(change {change:+.6f}).")
    if step.loss_decreased:
        w.para("Yes: the loss went down, as a small enough step against the gradient must.")
    else:
        w.para("No: the loss went up. The step was too large for the curvature here; try a "
               "smaller --lr.")
