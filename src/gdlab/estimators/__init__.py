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
shuffling) follow scikit-learn's to rounding error (tests/estimators/ shows it).
Documented differences from scikit-learn 1.9:

* sparse input is accepted but densified;
* Adam's ``epsilon`` is added after the bias correction (PyTorch's form, as gdlab.optim) rather
  than before it: the two agree when epsilon is negligible beside sqrt(v);
* momentum follows PyTorch's form, equal to scikit-learn's while the learning rate is constant;
* with several outputs, ``loss_curve_`` sums the per-output losses (scikit-learn's gradient
  does; its reported squared error averages them);
* finite input so large that the network overflows is a ValueError at ``fit`` and at
  ``predict`` (scikit-learn may return an untrained model with ``loss_ = nan``, or NaN);
* ``validation_loss_curve_`` (new) is the data loss on the validation split, without the L2
  penalty; with ``batchnorm=True`` the hidden layers' ``intercepts_`` are zeros (BatchNorm's
  shift replaces the bias) and ``batchnorm_`` (new) holds BatchNorm's parameters and running
  statistics.

The fitted attributes are the model (:mod:`~gdlab.estimators.fitted`; GDClassifier's
docstring lists them and the forward pass they define): fits continue from them, predictions
compute from them, and an estimator made fitted by setting them predicts as the one they came
from.
"""


from gdlab.estimators.classifier import GDClassifier
from gdlab.estimators.regressor import GDRegressor

__all__ = ["GDClassifier", "GDRegressor"]
