"""scikit-learn's end-of-epoch bookkeeping and stopping rule, as a training-loop callback.

The callback keeps its own records and counters in a :class:`Curves` object; the estimator
hands it its records before a fit and writes them back as fitted attributes after it, in one
place (``GDBase._store_curves``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdlab.estimators.params import SGD_SOLVERS
from gdlab.training.metrics import predict_chunked


@dataclass
class Curves:
    """What scikit-learn's MLP records over the epochs of its stochastic solvers: the fitted
    attributes ``n_iter_``, ``t_``, ``loss_``, ``loss_curve_``, ``best_loss_``,
    ``validation_scores_``, ``validation_loss_curve_`` (gdlab's) and
    ``best_validation_score_``, and the patience counter ``_no_improvement_count``."""

    n_iter: int = 0
    t: int = 0
    loss: float | None = None
    loss_curve: list = field(default_factory=list)
    best_loss: float | None = np.inf
    validation_scores: list | None = None
    validation_loss_curve: list | None = None
    best_validation_score: float | None = None
    no_improvement_count: int = 0


class SklearnStopping:
    """MLPClassifier's end-of-epoch bookkeeping and stopping rule, for the training loop.

    After each epoch: record ``loss_curve`` and, with a validation split, the validation
    loss and score (accuracy or R^2, from ``score(output, target, sample_weight)``). An epoch
    that does not improve the best training loss by ``tol`` (or, with early stopping, the best
    validation score by ``tol``) counts as no improvement; after more than ``n_iter_no_change``
    such epochs in a row, training stops, except with ``learning_rate="adaptive"``, which
    divides the learning rate by 5 instead until it falls to 1e-6. ``invscaling`` sets
    ``lr = lr_0 / (t + 1)^power_t`` with ``t`` the number of samples seen (scikit-learn's time
    step). ``est`` gives the parameters (``tol``, ``verbose``, ``solver``, ...), read only.
    """

    def __init__(self, est, curves: Curves, optimizer, net, n_train, *, score,
                 validation=None):
        self.est, self.curves, self.optimizer, self.n_train = est, curves, optimizer, n_train
        self.score = score
        self.validation = validation  # (X_val, target_val, sw_val, loss) or None
        self.stopped = False
        # scikit-learn restores the initial weights if no epoch ever scores (all NaN)
        self.best_state = net.state_dict() if validation is not None else None

    def on_epoch_end(self, trainer, logs):
        est, c = self.est, self.curves
        c.n_iter += 1
        c.t += self.n_train
        c.loss = float(logs["loss"])
        c.loss_curve.append(c.loss)
        if est.verbose:
            print(f"Iteration {c.n_iter}, loss = {c.loss:.8f}")
        if self.validation is not None:
            self._validate(trainer.net)
        elif c.loss > c.best_loss - est.tol:
            c.no_improvement_count += 1
        else:
            c.no_improvement_count = 0
        if self.validation is None and c.loss < c.best_loss:
            c.best_loss = c.loss
        sgd = est.solver in SGD_SOLVERS
        if sgd and est.learning_rate == "invscaling":
            self.optimizer.lr = est.learning_rate_init / (c.t + 1) ** est.power_t
        if c.no_improvement_count > est.n_iter_no_change:
            return self._no_improvement(sgd)
        return False

    def diverged(self, error) -> str:
        """Record the epoch that diverged (``error``, a DivergenceError) as scikit-learn (>= 1.6)
        records it with early stopping: a NaN validation score, the loss it reached. Returns
        the warning that says what happened; the caller restores :attr:`best_state`."""
        c = self.curves
        c.n_iter += 1
        c.t += self.n_train
        c.loss = float("nan")
        c.loss_curve.append(c.loss)
        c.validation_scores.append(float("nan"))
        c.validation_loss_curve.append(float("nan"))
        self.stopped = True
        best = ("the initial weights are kept (no epoch scored)"
                if c.best_validation_score == -np.inf else
                f"the weights of the best validation score ({c.best_validation_score:g}) are "
                "kept")
        return (f"Stopped at epoch {c.n_iter}: {error}; {best}. With early stopping a diverging "
                "run returns (as scikit-learn does) instead of raising.")

    def _no_improvement(self, sgd):
        est, c = self.est, self.curves
        what = "Validation score" if self.validation is not None else "Training loss"
        msg = (f"{what} did not improve more than tol={est.tol:f} for "
               f"{est.n_iter_no_change} consecutive epochs.")
        if sgd and est.learning_rate == "adaptive" and self.optimizer.lr > 1e-6:
            self.optimizer.lr /= 5.0
            c.no_improvement_count = 0
            if est.verbose:
                print(f"{msg} Setting learning rate to {self.optimizer.lr:f}")
            return False
        if est.verbose:
            print(f"{msg} Stopping.")
        self.stopped = True
        return True

    def _validate(self, net):
        est, c = self.est, self.curves
        X_val, target, sw, loss = self.validation
        out = predict_chunked(net, X_val)
        finite = bool(np.isfinite(out).all())
        val_loss = loss.compute(out, target, sw, need_grad=False)[0] if finite else np.nan
        c.validation_loss_curve.append(float(val_loss))
        score = self.score(out, target, sw) if finite else np.nan
        c.validation_scores.append(score)
        if est.verbose:
            print(f"Validation score: {score:f}")
        if score < c.best_validation_score + est.tol:
            c.no_improvement_count += 1
        else:
            c.no_improvement_count = 0
        if score > c.best_validation_score:
            c.best_validation_score = score
            self.best_state = net.state_dict()
