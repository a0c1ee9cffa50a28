"""Exceptions that gdlab raises on purpose (bad input uses ValueError/TypeError)."""


class DivergenceError(RuntimeError):
    """Training or minimisation produced a non-finite value or a runaway loss.

    Attributes ``epoch``, ``step`` and ``lr`` say where it happened (None where unknown).
    """

    def __init__(self, message, *, epoch=None, step=None, lr=None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.lr = lr


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, truncated, of another version or inconsistent."""


class InvalidParameterError(ValueError, TypeError):
    """An argument of the wrong kind (a string where a number belongs, 2.5 where an integer
    does). Both a ValueError and a TypeError, as scikit-learn's error of the same name, so
    that either ``except`` clause catches it."""
