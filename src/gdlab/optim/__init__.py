"""Gradient-descent optimizers on lists of NumPy arrays, from the simplest to the most complex.

Every optimizer follows PyTorch's ``torch.optim`` (constructor names, defaults, coupled or
decoupled weight decay, ``maximize``) and is tested against it. The contract:

* ``params`` is a list of floating arrays, updated **in place**; the maths runs in each
  array's own dtype (float32 stays float32), as torch does;
* ``opt.step(grads)`` takes the gradients in the same order; they are never modified;
* ``opt.lr`` may be read and set between steps (schedules do that);
* ``opt.state_dict()`` holds only JSON types and NumPy arrays, and ``load_state_dict``
  restores it so that training resumes bit for bit.

Notation in the update rules: :math:`\\theta` parameters, :math:`g_t` the gradient at step
:math:`t` (negated when ``maximize``), :math:`\\gamma` the learning rate, :math:`\\lambda` the
weight decay. "Coupled" weight decay means :math:`g_t \\leftarrow g_t + \\lambda\\theta_{t-1}`;
"decoupled" means :math:`\\theta_{t-1} \\leftarrow (1 - \\gamma\\lambda)\\theta_{t-1}` (AdamW).

The training loop passes one flat parameter vector and one flat gradient vector, so each
update is a handful of in-place ufuncs over preallocated scratch buffers: no allocation per step.
SGD, Adam and AdamW can also run that update as one compiled loop (``fast=``,
:mod:`gdlab.kernels`).

The modules, simplest first: :mod:`~gdlab.optim.base` (what every rule shares),
:mod:`~gdlab.optim.sgd`, :mod:`~gdlab.optim.adaptive` (Adagrad, RMSprop, Adadelta),
:mod:`~gdlab.optim.adam` (Adamax, Adam, AdamW, NAdam, RAdam), :mod:`~gdlab.optim.clip`
(gradient clipping) and :mod:`~gdlab.optim.registry` (the names).
"""

from gdlab.kernels.builds import FAST_MIN_SIZE
from gdlab.optim.adam import Adam, Adamax, AdamW, NAdam, RAdam
from gdlab.optim.adaptive import Adadelta, Adagrad, RMSprop
from gdlab.optim.base import Optimizer
from gdlab.optim.clip import clip_grad_norm_, clip_grad_value_, global_norm
from gdlab.optim.registry import OPTIMIZER_NAMES, OPTIMIZERS, make_optimizer, optimizer_entry
from gdlab.optim.sgd import SGD

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adamax", "Adam", "AdamW",
    "NAdam", "RAdam", "OPTIMIZERS", "OPTIMIZER_NAMES", "make_optimizer", "optimizer_entry",
    "FAST_MIN_SIZE", "clip_grad_norm_", "clip_grad_value_", "global_norm",
]
