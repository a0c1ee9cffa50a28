"""The training loop: the trainer (:mod:`~gdlab.training.trainer`), one epoch of steps
(:mod:`~gdlab.training.epoch`), the data a fit is given (:mod:`~gdlab.training.prepared`),
metrics, stopping rules, history, callbacks and checkpoints.

The loop knows no command line and no scikit-learn; it sees the network, the loss and the
optimizer through their public methods, and the other ranks through a communicator.
"""

from gdlab.training.callbacks import Callback
from gdlab.training.checkpoint import load_checkpoint, save_checkpoint
from gdlab.training.history import FitResult, History
from gdlab.training.trainer import Trainer, fit

__all__ = ["Trainer", "fit", "History", "FitResult", "Callback", "save_checkpoint",
           "load_checkpoint"]
