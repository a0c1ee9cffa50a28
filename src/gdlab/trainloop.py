"""The hot path of :class:`gdlab.training.Trainer`: one epoch of optimizer steps.

Everything a step needs is allocated once per ``fit`` (batch buffers, penalty views, the
allreduce buffer); a step then gathers its rows with ``np.take(..., out=buffer)``, runs forward,
the fused loss value-and-gradient, backward into the network's ONE flat gradient buffer and
one optimizer update of the ONE flat parameter buffer. It never re-validates or converts data.

Distributed data parallelism: every rank draws the same global batch (same seed), keeps its
shard ``comm.shard(indices)``, and scales its mean gradient (and loss) by its share of the
global batch, ``n_local / n_global`` (or of the sample weights), so that the sum over ranks,
one ``allreduce_`` of ``[gradient, loss share, non-finite flag, metric sums]`` per step, is
the gradient a single process would compute on the whole batch. Everything after the
allreduce (penalty, clipping, update, stopping decisions) then runs identically on every rank.
"""

from __future__ import annotations

import math
import time

import numpy as np

from gdlab import accel, fitdata
from gdlab.clip import clip_grad_norm_, clip_grad_value_
from gdlab.errors import DivergenceError
from gdlab.losses import CrossEntropyLoss


class TrainLoop:
    """Mixin holding the epoch loop; the Trainer supplies the configuration and the state."""

    def _setup_step(self, data):
        net = self.net
        X, y, w = data["X"], data["y"], data["w"]
        k = data["batch_size"]
        self._shuffled = self.shuffle and not data["full"]
        self._dist = self.comm.size > 1
        if self._shuffled or self._dist:
            self._xbuf = np.empty((k, X.shape[1]), dtype=X.dtype)
            self._ybuf = np.empty((k,) + y.shape[1:], dtype=y.dtype)
            self._wbuf = None if w is None else np.empty(k, dtype=w.dtype)
        # the L2 penalty applies to the weight matrices: contiguous runs of the flat buffers
        self._penalty = []
        if self.alpha > 0:
            flat_p, flat_g = net.flat_parameters, net.flat_gradients
            self._penalty_tmp = np.empty_like(flat_p)
            offset = 0
            for name, p in zip(net.parameter_names(), net.parameters()):
                if name.startswith("W"):
                    sl = slice(offset, offset + p.size)
                    self._penalty.append((flat_p[sl], flat_g[sl], self._penalty_tmp[sl]))
                offset += p.size
        self._classify = self.task == "classification"
        # softmax cross-entropy and the accuracy count in one compiled pass, by the rule of the
        # network's other kernels (its size, or the size of a batch's logits), when no weights
        # apply
        self._xent = None
        loss = self.loss
        if (self._classify and w is None and y.ndim == 1 and y.dtype == np.int64
                and type(loss)._compute is CrossEntropyLoss._compute and loss.weight is None):
            logits = k * (net.n_outputs or 0)
            self._xent = accel.kernels(net.fast, max(net.n_parameters, logits))
        n_metric = 1 if self._classify else y.shape[1]
        if self._dist:
            n = net.n_parameters
            # [gradient, loss share, non-finite flag, stop request, metric sums]
            self._buf = np.zeros(n + 3 + n_metric, dtype=net.dtype)
            self._buf_grad, self._buf_tail = self._buf[:n], self._buf[n:]
        if not self._classify:
            total = X.shape[0] if w is None else float(w.sum(dtype=np.float64))
            self._var_total = fitdata.weighted_sst(y, w) / total
        self._snapshot = None

    def _loss_step(self, out, yb, wb):
        """The loss value, its gradient and the batch's metric sums (correct predictions, or
        squared errors per output) of one step."""
        if self._xent is not None and wb is None:
            return self.loss._compute_counting(out, yb, self._xent)
        value, g = self.loss._compute(out, yb, wb, True)
        if self._classify:
            return value, g, fitdata.correct(out, yb, wb)
        return value, g, fitdata.squared_errors(out, yb, wb)

    def _keep_snapshot(self):
        """Copy the parameters at the start of an epoch (restored if an update overflows)."""
        flat = self.net.flat_parameters
        if not math.isfinite(float(np.dot(flat, flat))):
            return
        if self._snapshot is None:
            self._snapshot = self.net.state_dict()
            self._snapshot.pop("rng")
        else:
            np.copyto(self._snapshot["params"], flat)
            for key, array in self.net.buffers().items():
                np.copyto(self._snapshot["buffers"][key], array)

    def _diverged(self, what, value, epoch):
        net = self.net
        state = [net.flat_parameters] + list(net.buffers().values())
        restored = ""
        if not all(np.isfinite(a).all() for a in state) and self._snapshot is not None:
            net.load_state_dict(self._snapshot)
            restored = " (parameters restored to the start of the epoch)"
        lr = self.optimizer.lr
        raise DivergenceError(
            f"training diverged at epoch {epoch}, step {self.step + 1}: the {what} is {value} "
            f"with learning rate {lr:g}; try a smaller learning rate{restored}",
            epoch=epoch, step=self.step + 1, lr=lr)

    def _epoch(self, data, end_step):
        t0 = time.perf_counter()
        net, loss, opt = self.net, self.loss, self.optimizer
        X, y, w = data["X"], data["y"], data["w"]
        n, k = X.shape[0], data["batch_size"]
        epoch = self.epoch + 1
        self._keep_snapshot()
        order = self._rng.permutation(n) if self._shuffled else None
        n_batches = n // k if self.drop_last else -(-n // k)
        flat_g = net.flat_gradients
        grads = self._opt_grads
        classify, dist, penalty = self._classify, self._dist, self._penalty
        per_step_schedule = (self.schedule is not None and self.schedule_interval == "step"
                             and not getattr(self.schedule, "needs_metric", False))
        step_callbacks, record = self._step_callbacks, self.record_steps
        lr0 = opt.lr
        total_loss = total_w = 0.0
        metric = 0.0 if classify else np.zeros(y.shape[1])
        norm = math.nan
        for b in range(n_batches):
            if end_step is not None and self.step >= end_step:
                break
            s = b * k
            e = min(s + k, n)
            m = e - s
            if dist:
                value, batch_w, batch_metric = self._shard_step(X, y, w, order, s, e, epoch)
            else:
                if order is None:
                    xb, yb = X[s:e], y[s:e]
                    wb = None if w is None else w[s:e]
                else:
                    idx = order[s:e]
                    # mode="clip" lets take write straight into `out` (indices are valid)
                    xb = np.take(X, idx, axis=0, out=self._xbuf[:m], mode="clip")
                    yb = np.take(y, idx, axis=0, out=self._ybuf[:m], mode="clip")
                    wb = None if w is None else np.take(w, idx, out=self._wbuf[:m], mode="clip")
                out = net.forward(xb, training=True)
                value, g, batch_metric = self._loss_step(out, yb, wb)
                if not math.isfinite(value):
                    self._diverged("training loss", value, epoch)
                net.backward(g, input_grad=False)
                batch_w = m if wb is None else float(wb.sum(dtype=np.float64))
            if penalty:
                # scikit-learn (>= 1.7) scales the penalty by the batch's total sample
                # weight, so that a weight of 2 is exactly a repeated row
                c = self.alpha / batch_w
                sq = 0.0
                for wv, gv, tv in penalty:
                    sq += float(np.dot(wv, wv))
                    np.multiply(wv, c, out=tv)
                    gv += tv
                value += 0.5 * c * sq
            norm = math.sqrt(float(np.dot(flat_g, flat_g)))
            if not math.isfinite(norm):
                self._diverged("gradient norm", norm, epoch)
            if self.clip_norm is not None:
                clip_grad_norm_([flat_g], self.clip_norm)
            if self.clip_value is not None:
                clip_grad_value_([flat_g], self.clip_value)
            opt.step(grads)
            self.step += 1
            if per_step_schedule:
                self.schedule.step()
            total_loss += value * batch_w
            total_w += batch_w
            metric += batch_metric
            if record:
                self.history.step_loss.append(value)
            if step_callbacks:
                indices = order[s:e] if order is not None else np.arange(s, e)
                logs = {"epoch": epoch, "step": self.step, "loss": value, "batch_size": m,
                        "indices": indices}
                for cb in step_callbacks:
                    cb(self, logs)
        self.epoch = epoch
        if dist:  # average the BatchNorm statistics before validation uses them
            self.comm.end_epoch(net, None)
        logs = {"loss": total_loss / total_w}
        if classify:
            logs["accuracy"] = metric / (total_w * (1 if y.ndim == 1 else y.shape[1]))
        else:
            logs["mse"] = float(metric.sum()) / (total_w * y.shape[1])
            logs["r2"] = fitdata.r2_from(metric / total_w, self._var_total)
        if data["val"] is not None:
            val = fitdata.evaluate(net, loss, self.task, *data["val"])
            logs.update({f"val_{key}": value for key, value in val.items()})
        logs["lr"] = lr0
        logs["grad_norm"] = norm
        logs["time"] = time.perf_counter() - t0
        return logs

    def _shard_step(self, X, y, w, order, s, e, epoch):
        """Forward and backward on this rank's shard, then the one allreduce of the step."""
        net, comm = self.net, self.comm
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
            if order is None:
                a = int(lidx[0])
                xb, yb = X[a:a + ml], y[a:a + ml]
                wb = None if w is None else w[a:a + ml]
            else:
                xb = np.take(X, lidx, axis=0, out=self._xbuf[:ml], mode="clip")
                yb = np.take(y, lidx, axis=0, out=self._ybuf[:ml], mode="clip")
                wb = None if w is None else np.take(w, lidx, out=self._wbuf[:ml], mode="clip")
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
            self._diverged("training loss", value, epoch)
        np.copyto(net.flat_gradients, self._buf_grad)
        metric = float(tail[3]) if self._classify else tail[3:].astype(np.float64)
        return value, batch_w, metric
