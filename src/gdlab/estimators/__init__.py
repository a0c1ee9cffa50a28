"""GDClassifier and GDRegressor: scikit-learn's MLPClassifier/MLPRegressor, trained by gdlab.

A thin adapter. ``fit`` validates with scikit-learn's own helpers (so its users see the
messages they know), converts ``X`` once to the working dtype, builds a network with
:func:`gdlab.nn.sequential.mlp`, an optimizer with :func:`gdlab.optim.make_optimizer` on the one
flat parameter vector, and hands them to :class:`gdlab.training.Trainer` (or, for
``solver="lbfgs"``, to SciPy's L-BFGS-B with the network's forward and backward passes).
Backpropagation lives in :mod:`gdlab.nn`, the loop in :mod:`gdlab.training`; scikit-learn's
stopping rule is a training-loop callback (:class:`gdlab.estimators.stopping.SklearnStopping`).

The modules: :mod:`~gdlab.estimators.base` (what both estimators share),
:mod:`~gdlab.estimators.classifier`, :mod:`~gdlab.estimators.regressor`,
:mod:`~gdlab.estimators.params` (parameters, solvers, scikit-learn's initial weights),
:mod:`~gdlab.estimators.fitted` (the fitted attributes and the network they describe),
:mod:`~gdlab.estimators.losses` (losses in scikit-learn's scaling) and
:mod:`~gdlab.estimators.stopping`.

Every parameter of scikit-learn's MLP has its name, default and meaning; the extras are off
by default. With ``weight_init=None`` the initial weights are MLPClassifier's (same
``random_state``), the validation split too, so deterministic runs (L-BFGS, SGD without
shuffling) follow scikit-learn's to rounding error (tests/estimators/ shows it), and
scikit-learn's own ``test_mlp.py`` passes on them (tests/estimators/test_sklearn_suite.py).

The fitted attributes are the model (:mod:`~gdlab.estimators.fitted`; GDClassifier's
docstring lists them and the forward pass they define): fits continue from them, predictions
compute from them, and an estimator made fitted by setting them predicts as the one they came
from.

What still differs from scikit-learn 1.9, and why:

* Optimisation follows gdlab.optim, shared with the rest of gdlab: Adam's ``epsilon`` is added
  after the bias correction (PyTorch's form) rather than before it, the same algorithm when
  epsilon is negligible beside sqrt(v); momentum follows PyTorch's form, equal to
  scikit-learn's while the learning rate is constant (``adaptive`` and ``invscaling`` with
  momentum take other steps once the rate moves). With ``shuffle=True`` the epochs' orders are
  drawn by gdlab's loop from a seed taken from ``random_state``: runs are not scikit-learn's
  step for step (the initial weights and the validation split are).
* With several outputs, ``loss_curve_`` sums the per-output losses (scikit-learn's gradient
  does; its reported squared error averages them).
* Divergence. Without early stopping a non-finite loss or gradient raises scikit-learn's
  ValueError ("Solver produced non-finite parameter weights...") with gdlab's DivergenceError
  (epoch, step, learning rate) as its ``__cause__``; L-BFGS on a non-finite loss is a
  ValueError too (scikit-learn returns an untrained model with ``loss_ = nan``), and so is
  finite input so large that the network's output overflows at ``predict`` (scikit-learn may
  answer NaN). With ``early_stopping=True`` a diverging run returns, as in scikit-learn >= 1.6,
  with the best epoch's weights, NaN as the last ``validation_scores_`` and ``loss_``, and a
  ConvergenceWarning that says what happened. It stops at the epoch that diverged (its
  ``loss_curve_`` entry is NaN), where scikit-learn records the loss it reached and trains on
  with NaN weights until ``max_iter``, because a NaN score resets its patience counter.
* ``loss="poisson"`` refuses negative targets with PoissonRegressor's ValueError, where
  MLPRegressor trains on them to a NaN loss.
* Sparse input is accepted but densified (the network computes on dense arrays); the
  predictions are the same.
* Predictions are computed, with ``dtype=None``, in the wider of X's dtype and the model's, as
  scikit-learn's NumPy products are; with ``dtype`` set, in that dtype.
* A NaN or infinity in X gets scikit-learn's message, and a line saying where the first one
  is. Messages name GDClassifier/GDRegressor where scikit-learn's name MLPClassifier.
* ``loss_``, ``best_loss_`` and the entries of ``loss_curve_`` are Python floats (NumPy's
  float64 in scikit-learn: equal values, both ``float``).
* New fitted attributes: ``validation_loss_curve_``, the data loss on the validation split,
  without the L2 penalty; ``batchnorm_``, BatchNorm's parameters and running statistics (None
  without BatchNorm; the hidden layers' ``intercepts_`` are then zeros, BatchNorm's shift
  replacing the bias); ``learning_rate_``, the learning rate of the stochastic solvers' next
  step (``learning_rate_init``, or where ``invscaling``, ``adaptive`` or ``lr_schedule`` took
  it; for the Adam family before the bias correction, which the step applies), which
  scikit-learn keeps in its private ``_optimizer.learning_rate``. A two-class classifier may
  have a softmax output of two units (``out_activation_ == "softmax"``), as gdlab's own
  networks train two classes.
* Private state differs: scikit-learn's tests that call ``_loss_grad_lbfgs`` (``test_gradient``)
  or read ``_optimizer.learning_rate`` do not run unchanged (the latter do on
  ``learning_rate_``).
"""


from gdlab.estimators.classifier import GDClassifier
from gdlab.estimators.regressor import GDRegressor

__all__ = ["GDClassifier", "GDRegressor"]
