"""The hot path: one epoch of optimizer steps (:class:`EpochRunner`).

Everything a step needs is allocated once per ``fit`` (batch buffers, the penalty's views, the
allreduce buffer); a step then gathers its rows with ``np.take(..., out=buffer)``, runs forward,
the loss's value and gradient in one pass, backward into the network's ONE flat gradient buffer
and one optimizer update of the ONE flat parameter buffer. It never re-validates or converts
data: :mod:`gdlab.training.prepared` did that once.

Rows on disk (a row source such as :class:`gdlab.data.ondisk.ScaledRows`) are gathered the
same way, standardised in the buffer. Distributed data parallelism: every rank draws the same
global batch (same seed), keeps its shard ``comm.shard(indices)`` and gathers only its rows,
scales its mean gradient (and loss) by its share of the global batch, ``n_local / n_global``
(or of the sample weights), so that the sum over ranks, one ``allreduce_`` of ``[gradient,
loss share, non-finite flag, stop request, metric sums]`` per step, is the gradient a single
process would compute on the whole batch. Everything after
the allreduce (penalty, clipping, update, stopping decisions) then runs identically on every
rank.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from gdlab.errors import DivergenceError
from gdlab.kernels import builds
from gdlab.optim.clip import clip_grad_norm_, clip_grad_value_
from gdlab.training import metrics
from gdlab.training.prepared import is_row_source


@dataclass
class Counters:
    """The epochs and optimizer steps done so far: the trainer's, advanced by the runner step
    by step (so that an interrupted epoch leaves them right)."""

    epoch: int = 0
    step: int = 0


@dataclass
class StepRules:
    """What a step applies after backward: the L2 penalty, clipping, the divergence test."""

    penalty: object            # gdlab.nn.L2Penalty (falsy when alpha is 0)
    clip_norm: float | None
    clip_value: float | None


def loss_kernel(net, loss, task, data):
    """The compiled kernels for the step's softmax cross-entropy and its accuracy count, by the
    rule of the network's other kernels (its size, or the size of a batch's logits), when the
    loss declares the capability and no weights apply; else None."""
    y = data.y
    if not (task == "classification" and data.w is None and y.ndim == 1
            and y.dtype == np.int64 and loss.supports_fused_counting()):
        return None
    logits = data.batch_size * (net.n_outputs or 0)
    return builds.select(net.fast, max(net.n_parameters, logits))


def rows_kernel(net, data):
    """The compiled gather of a batch's rows (``take_rows_``, on the kernels' threads), by the
    rule of the network's other kernels (its size, or the size of a batch), where the rows are
    a float array in memory with contiguous rows; else None (``np.take``)."""
    X = data.X
    if not (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype in (np.float32, np.float64)
            and X.flags.c_contiguous):
        return None
    build = builds.select(net.fast, max(net.n_parameters, data.batch_size * X.shape[1]))
    return None if build is None else build.take_rows_


def gradients_for(net, optimizer):
    """The gradient list that matches the optimizer's parameters: ``[net.flat_gradients]`` for
    an optimizer on the flat vector, ``net.gradients()`` for one on the per-array views."""
    params = getattr(optimizer, "params", None)
    if params is None:
        raise TypeError(f"optimizer {optimizer!r} has no 'params': use a gdlab optimizer")
    flat = net.flat_parameters
    if len(params) == 1 and params[0] is flat or (
            len(params) == 1 and params[0].shape == flat.shape
            and np.shares_memory(params[0], flat)):
        return [net.flat_gradients]
    views = net.parameters()
    if len(params) == len(views) and all(
            p.shape == v.shape and np.shares_memory(p, v) for p, v in zip(params, views)):
        return net.gradients()
    raise ValueError("the optimizer does not hold this network's parameters; build it on "
                     "[net.flat_parameters] (fastest) or net.parameters()")


class EpochRunner:
    """Runs epochs of steps of ``optimizer`` on ``net`` and ``loss`` over prepared ``data``.

    ``grads`` is the gradient list in the optimizer's order (the flat buffer, or the per-array
    views); ``comm`` the communicator; ``counters`` the trainer's :class:`Counters`.
    """

    def __init__(self, net, loss, optimizer, grads, data, *, task, shuffle, rules, comm,
                 counters):
        self.net, self.loss, self.optimizer, self.grads = net, loss, optimizer, grads
        self.data, self.rules, self.comm, self.counters = data, rules, comm, counters
        self.classify = task == "classification"
        self.shuffled = shuffle and not data.full
        self.distributed = comm.size > 1
        X, y, w, k = data.X, data.y, data.w, data.batch_size
        # rows on disk (a row source) are always gathered: into the buffer, standardised there
        self._source = is_row_source(X)
        if self.shuffled or self.distributed or self._source:
            self._xbuf = np.empty((k, X.shape[1]), dtype=X.dtype)
            self._ybuf = np.empty((k,) + y.shape[1:], dtype=y.dtype)
            self._wbuf = None if w is None else np.empty(k, dtype=w.dtype)
        self.kernel = loss_kernel(net, loss, task, data)
        self.take_rows = rows_kernel(net, data) if self.shuffled or self.distributed else None
        # the gradient norm: one threaded pass with float64 partial sums per fixed block (the
        # same bits at any thread count) where the kernels are there, else BLAS's dot
        norm_kernels = builds.select(net.fast, net.n_parameters)
        self._sum_squares = (norm_kernels.sum_squares if norm_kernels is not None
                             else lambda g: float(np.dot(g, g)))
        if self.distributed:
            n, n_metric = net.n_parameters, 1 if self.classify else y.shape[1]
            self._buf = np.zeros(n + 3 + n_metric, dtype=net.dtype)
            self._buf_grad, self._buf_tail = self._buf[:n], self._buf[n:]
        if not self.classify:
            total = X.shape[0] if w is None else float(w.sum(dtype=np.float64))
            self._var_total = metrics.weighted_sst(y, w) / total
        self._snapshot = None

    # ---- one step's parts ---------------------------------------------------------------------
    def _loss_step(self, out, yb, wb):
        """The loss value, its gradient and the batch's metric sums (correct predictions, or
        squared errors per output) of one step."""
        if self.kernel is not None and wb is None:
            return self.loss.compute_counting(out, yb, self.kernel)
        value, g = self.loss.compute(out, yb, wb, True)
        if self.classify:
            return value, g, metrics.correct(out, yb, wb)
        return value, g, metrics.squared_errors(out, yb, wb)

    def _batch(self, order, s, e):
        """The rows ``s:e`` of the epoch's order, gathered into the reused buffers."""
        X, y, w = self.data.X, self.data.y, self.data.w
        if order is None:
            xb = X.take_range(s, e, self._xbuf[:e - s]) if self._source else X[s:e]
            return xb, y[s:e], None if w is None else w[s:e]
        idx, m = order[s:e], e - s
        xb = self._take_x(idx, m)
        # mode="clip" lets take write straight into `out` (indices are valid); the methods
        # spare np.take's dispatch, a few microseconds a step
        yb = y.take(idx, axis=0, out=self._ybuf[:m], mode="clip")
        wb = None if w is None else w.take(idx, out=self._wbuf[:m], mode="clip")
        return xb, yb, wb

    def _take_x(self, idx, m):
        """The rows ``idx`` of X, gathered into the reused buffer (on the kernels' threads where
        there is a kernel: the one copy of a step that NumPy does on one thread)."""
        xb = self._xbuf[:m]
        if self.take_rows is None:
            return self.data.X.take(idx, axis=0, out=xb, mode="clip")
        self.take_rows(self.data.X, idx, xb)
        return xb

    def _local_step(self, order, s, e, epoch):
        xb, yb, wb = self._batch(order, s, e)
        out = self.net.forward(xb, training=True)
        value, g, batch_metric = self._loss_step(out, yb, wb)
        if not math.isfinite(value):
            self.diverged("training loss", value, epoch)
        self.net.backward(g, input_grad=False)
        batch_w = e - s if wb is None else float(wb.sum(dtype=np.float64))
        return value, batch_w, batch_metric

    def _update(self, value, batch_w, epoch):
        """Penalty, gradient norm, clipping and the optimizer step; returns (loss, norm)."""
        rules, flat_g = self.rules, self.net.flat_gradients
        if rules.penalty:
            # scikit-learn (>= 1.7) scales the penalty by the batch's total sample weight,
            # so that a weight of 2 is exactly a repeated row
            value += rules.penalty.add_to_gradients(batch_w)
        norm = math.sqrt(self._sum_squares(flat_g))
        if not math.isfinite(norm):
            self.diverged("gradient norm", norm, epoch)
        if rules.clip_norm is not None:
            clip_grad_norm_([flat_g], rules.clip_norm, total_norm=norm)
        if rules.clip_value is not None:
            clip_grad_value_([flat_g], rules.clip_value)
        self.optimizer.step(self.grads)
        self.counters.step += 1
        return value, norm

    # ---- the epoch ------------------------------------------------------------------------------
    def run(self, rng, end_step, after_step=None, drop_last=False) -> dict:
        """One epoch: its steps (until ``end_step`` steps in all, if given), then its logs.

        ``rng`` draws the epoch's order; ``after_step(value, m, indices)``, if given, runs after
        every step (per-step schedules, recorded losses, step callbacks).
        """
        t0 = time.perf_counter()
        data, counters = self.data, self.counters
        n, k = data.n_samples, data.batch_size
        epoch = counters.epoch + 1
        self.keep_snapshot()
        order = rng.permutation(n) if self.shuffled else None
        n_batches = n // k if drop_last else -(-n // k)
        lr0 = self.optimizer.lr
        total_loss = total_w = 0.0
        metric = 0.0 if self.classify else np.zeros(data.y.shape[1])
        norm = math.nan
        for b in range(n_batches):
            if end_step is not None and counters.step >= end_step:
                break
            s, e = b * k, min(b * k + k, n)
            if self.distributed:
                value, batch_w, batch_metric = self._shard_step(order, s, e, epoch)
            else:
                value, batch_w, batch_metric = self._local_step(order, s, e, epoch)
            value, norm = self._update(value, batch_w, epoch)
            total_loss += value * batch_w
            total_w += batch_w
            metric += batch_metric
            if after_step is not None:
                after_step(value, e - s, order[s:e] if order is not None else np.arange(s, e))
        counters.epoch = epoch
        if self.distributed:  # average the BatchNorm statistics before validation uses them
            self.comm.end_epoch(self.net, None)
        logs = self._logs(total_loss, total_w, metric)
        logs["lr"] = lr0
        logs["grad_norm"] = norm
        logs["time"] = time.perf_counter() - t0
        return logs

    def _logs(self, total_loss, total_w, metric):
        y = self.data.y
        logs = {"loss": total_loss / total_w}
        if self.classify:
            logs["accuracy"] = metric / (total_w * (1 if y.ndim == 1 else y.shape[1]))
        else:
            logs["mse"] = float(metric.sum()) / (total_w * y.shape[1])
            logs["r2"] = metrics.r2_from(metric / total_w, self._var_total)
        if self.data.validation is not None:
            val = metrics.evaluate(self.net, self.loss, "classification" if self.classify
                                   else "regression", *self.data.validation)
            logs.update({f"val_{key}": value for key, value in val.items()})
        return logs

    # ---- divergence -------------------------------------------------------------------------------
    def keep_snapshot(self):
        """Copy the parameters at the start of an epoch (restored if an update overflows)."""
        net = self.net
        flat = net.flat_parameters
        if not math.isfinite(float(np.dot(flat, flat))):
            return
        if self._snapshot is None:
            self._snapshot = net.state_dict()
            self._snapshot.pop("rng")
        else:
            np.copyto(self._snapshot["params"], flat)
            for key, array in net.buffers().items():
                np.copyto(self._snapshot["buffers"][key], array)

    def diverged(self, what, value, epoch):
        """Raise DivergenceError for this step, restoring the epoch's start if the state broke."""
        net = self.net
        state = [net.flat_parameters] + list(net.buffers().values())
        restored = ""
        if not all(np.isfinite(a).all() for a in state) and self._snapshot is not None:
            net.load_state_dict(self._snapshot)
            restored = " (parameters restored to the start of the epoch)"
        lr, step = self.optimizer.lr, self.counters.step + 1
        raise DivergenceError(
            f"training diverged at epoch {epoch}, step {step}: the {what} is {value} "
            f"with learning rate {lr:g}; try a smaller learning rate{restored}",
            epoch=epoch, step=step, lr=lr)

    # ---- distributed ------------------------------------------------------------------------------
    def _shard_step(self, order, s, e, epoch):
        """Forward and backward on this rank's shard, then the one allreduce of the step."""
        net, comm, w = self.net, self.comm, self.data.w
        gidx = order[s:e] if order is not None else np.arange(s, e)
        lidx = comm.shard(gidx)
        ml, m = lidx.shape[0], e - s
        if w is None:
            share, batch_w = ml / m, m
        else:
            batch_w = float(np.take(w, gidx).sum(dtype=np.float64))
            share = float(np.take(w, lidx).sum(dtype=np.float64)) / batch_w
        buf, tail = self._buf, self._buf_tail
        if ml == 0:
            buf[...] = 0  # an empty shard contributes nothing
        else:
            xb, yb, wb = self._shard(order, lidx)
            out = net.forward(xb, training=True)
            value, g, tail[3:] = self._loss_step(out, yb, wb)
            net.backward(g, input_grad=False)
            np.multiply(net.flat_gradients, share, out=self._buf_grad)
            tail[0] = value * share
            tail[1] = 0.0 if math.isfinite(value) else 1.0
        # a stop request (Ctrl-C, SIGTERM) rides along, so every rank stops at this same step
        tail[2] = 1.0 if comm.stop_requested else 0.0
        comm.allreduce_(buf)
        if tail[2] > 0:
            raise KeyboardInterrupt
        value = float(tail[0])
        if tail[1] > 0 or not math.isfinite(value):
            self.diverged("training loss", value, epoch)
        np.copyto(net.flat_gradients, self._buf_grad)
        metric = float(tail[3]) if self.classify else tail[3:].astype(np.float64)
        return value, batch_w, metric

    def _shard(self, order, lidx):
        X, y, w = self.data.X, self.data.y, self.data.w
        ml = lidx.shape[0]
        if order is None:
            a = int(lidx[0])
            xb = X.take_range(a, a + ml, self._xbuf[:ml]) if self._source else X[a:a + ml]
            return xb, y[a:a + ml], None if w is None else w[a:a + ml]
        xb = self._take_x(lidx, ml)
        yb = np.take(y, lidx, axis=0, out=self._ybuf[:ml], mode="clip")
        wb = None if w is None else np.take(w, lidx, out=self._wbuf[:ml], mode="clip")
        return xb, yb, wb
