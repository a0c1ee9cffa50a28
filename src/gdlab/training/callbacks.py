"""Callbacks: what a user's code may run at the start and end of training, after each step and
after each epoch; and the progress bar, which the trainer drives the same way."""

from __future__ import annotations


class Callback:
    """Base class of training callbacks; override what you need (every method is optional).

    ``logs`` is a dict: at a step ``{"epoch", "step", "loss", "batch_size", "indices"}`` (the
    global indices of the batch's samples, valid only during the call); at an epoch end the
    epoch's History entries plus ``"epoch"`` and ``"step"``. Returning True from
    ``on_epoch_end`` asks the trainer to stop (``stopped_because == "callback"``).
    Objects that are not subclasses but have some of these methods work too.
    """

    def on_train_begin(self, trainer, logs):
        pass

    def on_step_end(self, trainer, logs):
        pass

    def on_epoch_end(self, trainer, logs):
        return False

    def on_train_end(self, trainer, logs):
        pass


class ProgressBar:
    """A rich progress bar over epochs (rich is imported only when one is shown)."""

    def __init__(self, end_epoch, start):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(TextColumn("epoch"), MofNCompleteColumn(), BarColumn(),
                           TimeElapsedColumn(), TextColumn("{task.description}"))
        self._p.start()
        total = None if end_epoch is None else end_epoch
        self._task = self._p.add_task("", total=total, completed=start)

    def update(self, epoch, logs):
        shown = [f"{k} {v:.4g}" for k, v in logs.items() if k in (
            "loss", "val_loss", "accuracy", "val_accuracy", "r2", "val_r2")]
        self._p.update(self._task, completed=epoch, description="  ".join(shown))

    def close(self):
        self._p.stop()


def overridden(obj, name: str) -> bool:
    """Whether ``obj`` has its own ``name`` hook (a Callback subclass's override, or any object
    with such a method); the trainer calls only those, so that empty hooks cost nothing."""
    method = getattr(obj, name, None)
    if method is None:
        return False
    return getattr(type(obj), name, None) is not getattr(Callback, name)
