"""Reading a table chunk by chunk as the whole of it would be read: the target column's
distinct values (:class:`TargetValues`), from which the task, the reason and the classes come
as :func:`gdlab.data.columns.describe_target` and :func:`~gdlab.data.columns.encode_target`
find them on the whole column, and each chunk's target encoded against them
(:func:`encode_chunk`). Used by ``gdlab data convert`` (:mod:`gdlab.lab.convert`)."""

from __future__ import annotations

import numpy as np

from gdlab.data import columns as cols

#: distinct numbers a target may hold for its values to be counted (classes need at most 20)
MAX_DISTINCT = 100_000


class TargetValues:
    """The target column's distinct values, gathered chunk by chunk: what the in-memory path
    infers the task and the classes from (:func:`gdlab.data.columns.describe_target` and
    :func:`~gdlab.data.columns.encode_target` give the same answers on the distinct values as
    on the whole column), without holding the column. Numbers with more than
    :data:`MAX_DISTINCT` distinct values are a quantity to regress."""

    def __init__(self):
        self.kind, self.values, self.fractional, self.many, self.where = None, set(), False, \
            False, None

    def add(self, series, lines, t):
        """The values of one chunk (``series``, the kept rows; ``lines`` theirs); ``t`` names
        the target column (``t.target``) and the file (``t.source``) in messages."""
        if not len(series):
            return
        kind = cols.column_kind(series)
        if self.kind not in (None, kind):
            raise ValueError(f'the target column "{t.target}" of {t.source} holds '
                             f"{self.kind} values up to {self.where}, but {kind} values from line "
                             f"{int(lines[0])}")
        self.kind, self.where = kind, f"line {int(lines[-1])}"
        if kind == "number":
            values = series.to_numpy(dtype=np.float64)
            if not np.all(np.isfinite(values)):
                row = int(np.flatnonzero(~np.isfinite(values))[0])
                raise ValueError(f'inf in the target column "{t.target}" of {t.source} (line '
                                 f"{int(lines[row])})")
            self.fractional |= bool(np.any(values != np.round(values)))
            values = np.unique(values)
        else:
            values = series.unique()
        if not self.many:
            self.values.update(values.tolist())
            self.many = kind == "number" and len(self.values) > MAX_DISTINCT
            if self.many:
                self.values = set()

    def task(self, task, where):
        """``(task, reason, classes)`` as the in-memory path finds them."""
        import pandas as pd

        distinct = pd.Series(list(self.values), dtype=object if self.kind == "text" else None)
        if self.many:
            if task == "classification":
                raise ValueError(f"{where} holds more than {MAX_DISTINCT:,} distinct values: "
                                 "too many classes")
            reason = ("fractional values" if self.fractional
                      else f"more than {MAX_DISTINCT:,} distinct whole numbers")
            return "regression", reason, None
        if self.kind == "boolean":
            distinct = distinct.astype(bool)
        found, reason = cols.describe_target(distinct)
        if task is None:
            task = found
        else:
            reason = "as asked" if task == "regression" else None
        classes = None
        if task == "classification":
            classes = cols.encode_target(distinct, task, where)[1]
            reason = reason or f"{len(classes)} classes, as asked"
        return task, reason, classes


def encode_chunk(series, task, classes, where):
    """A chunk of the target as the whole column would be encoded: indices into ``classes``
    (classification) or float64 values."""
    values, local = cols.encode_target(series, task, where)
    if task == "regression":
        return values
    position = {c: i for i, c in enumerate(classes)}
    return np.array([position[c] for c in local], dtype=np.int64)[values]
