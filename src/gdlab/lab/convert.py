"""``gdlab data convert``: a CSV or Parquet table of any size into a dataset folder
(:mod:`gdlab.data.ondisk`), read in chunks by pandas' chunked reader (pyarrow's batches for
Parquet), never whole.

The table gets the preprocessing a run on the table would learn (:mod:`gdlab.data.columns`,
:mod:`gdlab.data.preprocess`): the same column selection, column kinds, missing-cell rules,
imputation (median for numbers, most frequent value for categories) and one-hot encoding,
learnt on every kept row of the file, in three passes over it:

1. the columns' kinds, the rows kept and the target's distinct values (its task and classes,
   :mod:`gdlab.data.chunked`);
2. the fill values: each number column spooled to a temporary file on disk and given to
   scikit-learn's SimpleImputer one column at a time; the categories counted chunk by chunk
   (SimpleImputer's most frequent value: the largest count, ties to the smallest value);
3. the rows imputed and encoded by the fitted Pipeline and written into ``X.npy`` (a memory
   map), while scikit-learn's StandardScaler learns the number columns' scaling with
   ``partial_fit`` (the function the in-memory path fits in one call).

``X.npy`` holds the imputed, encoded rows, unscaled; ``dataset.json`` holds the preprocessing
record with the scaling, which runs on the folder apply batch by batch and write into their
model, so that ``gdlab predict`` works on raw columns as for a run on the table itself.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from gdlab import _checks
from gdlab.data import columns as cols
from gdlab.data import ondisk
from gdlab.data.chunked import TargetValues, encode_chunk
from gdlab.data.tables import MISSING_MARKERS, TABLE_SUFFIXES

DEFAULT_CHUNK_SIZE = 10_000


def _chunks(path: Path, chunk_size: int):
    """``(first row, frame)`` over the table, ``chunk_size`` rows at a time."""
    import pandas as pd

    start = 0
    if path.suffix.lower() == ".csv":
        try:
            reader = pd.read_csv(path, keep_default_na=False, na_values=list(MISSING_MARKERS),
                                 skipinitialspace=True, encoding="utf-8-sig",
                                 chunksize=chunk_size, low_memory=False)
            for frame in reader:
                frame.columns = [str(c).strip() for c in frame.columns]
                yield start, frame
                start += len(frame)
        except UnicodeDecodeError:
            raise ValueError(f"CSV file '{path}' is not UTF-8 text") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, OverflowError) as exc:
            raise ValueError(f"CSV file '{path}' is malformed: "
                             f"{str(exc).strip().splitlines()[0]}") from None
        return
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"reading the Parquet file '{path}' needs pyarrow: pip install "
                         "pyarrow") from None
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
        frame = batch.to_pandas()
        frame.columns = [str(c).strip() for c in frame.columns]
        yield start, frame
        start += len(frame)


class _Table:
    """One table being converted: its path, chunk size and the facts the passes learn."""

    def __init__(self, source, chunk_size, target, features, drop, missing, task, progress):
        self.path = Path(source)
        if not self.path.is_file():
            raise ValueError(f"no such file: '{self.path}'")
        if self.path.suffix.lower() not in TABLE_SUFFIXES:
            raise ValueError(f"unsupported file type '{self.path.suffix}' for '{self.path}'; "
                             "give a .csv or .parquet file")
        self.csv = self.path.suffix.lower() == ".csv"
        self.source = f"'{self.path}'"
        self.chunk_size = _checks.positive_int("chunk_size", chunk_size)
        self.selection = dict(target=target, features=features, drop=drop)
        self.missing = _checks.choice("missing", missing, cols.MISSING_MODES,
                                      kind="--missing mode")
        self.task, self.progress = task, progress
        self.n_rows = self.n_read = None  # rows kept, rows read (pass 1 counts them)

    def lines(self, start, n):
        """The line of each row of a chunk (CSV: the header is line 1), or its row number."""
        return np.arange(start, start + n) + (2 if self.csv else 1)

    def where(self, text: str) -> str:
        return text if self.csv else text.replace(" line ", " row ").replace("(line ", "(row ")

    def passes(self, what):
        """The chunks of one pass, shown on a progress bar when asked."""
        bar = _Bar(what, self.n_read) if self.progress else None
        try:
            for start, frame in _chunks(self.path, self.chunk_size):
                yield start, frame
                if bar is not None:
                    bar.advance(len(frame))
        except ValueError as exc:
            raise ValueError(self.where(str(exc))) from None
        finally:
            if bar is not None:
                bar.close()


class _Bar:
    """A rich progress bar on standard error over the rows of one pass."""

    def __init__(self, what, total):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._p = Progress(TextColumn(what), MofNCompleteColumn(), BarColumn(),
                           TextColumn("rows"), console=Console(stderr=True))
        self._task = self._p.add_task(what, total=total)
        self._p.start()

    def advance(self, n):
        self._p.advance(self._task, n)

    def close(self):
        self._p.stop()


def _merge_kind(old, new, name, series, lines, source):
    """The kind of a column seen so far (``old``) and in one more chunk (``new``)."""
    if new == "text":
        cols.check_text_column(series, name, lines, source)
    if old is None or old == new:
        return new
    if {old, new} == {"number", "text"} and old == "number":
        import pandas as pd

        text = series.notna() & pd.to_numeric(series, errors="coerce").isna()
        row = int(np.flatnonzero(text.to_numpy())[0])
        raise ValueError(f'column "{name}" of {source} holds numbers, but line '
                         f"{int(lines[row])} holds {_checks.describe(series.iloc[row])}; clean "
                         "that cell or leave the column out with --drop " + name)
    return "text"


def _first_pass(t: _Table):
    """Columns, kinds, kept rows and the target's distinct values (pass 1)."""
    kinds, counts, n_rows, dropped = None, Counter(), 0, [0, 0]
    values = TargetValues()
    for start, frame in t.passes("1/3 columns"):
        lines = t.lines(start, len(frame))
        if kinds is None:
            names, target = cols.select_columns(frame.columns, source=t.source, **t.selection)
            kinds, t.features, t.target = dict.fromkeys(names), names, target
        keep = _kept(t, frame, lines, counts, dropped)
        for name in t.features:
            series = frame[name][keep]
            if series.notna().any():
                kinds[name] = _merge_kind(kinds[name], cols.column_kind(series), name, series,
                                          lines[keep], t.source)
        values.add(frame[t.target][keep], lines[keep], t)
        n_rows += int(keep.sum())
    if kinds is None or not start + len(frame):
        raise ValueError(f"{t.source} has no data rows")
    if not n_rows:
        raise ValueError(f"no rows of {t.source} are left once rows with missing values are "
                         "dropped")
    empty = [n for n, k in kinds.items() if k is None]
    if empty:
        raise ValueError(f'column "{empty[0]}" of {t.source} has no values; leave it out with '
                         f"--drop {empty[0]}")
    t.kinds, t.n_rows, t.counts, t.n_read = kinds, n_rows, counts, start + len(frame)
    t.notes = []
    if dropped[0]:
        t.notes.append(f"dropped {dropped[0]} row(s) without a value in the target column "
                       f'"{t.target}"')
    if dropped[1]:
        t.notes.append(f"dropped {dropped[1]} row(s) with missing cells (--missing drop)")
    return values


def _kept(t, frame, lines, counts, dropped):
    """The rows of a chunk kept by the missing-cell rules (as in-memory loading keeps them)."""
    target_missing = frame[t.target].isna().to_numpy()
    feature_missing = frame[t.features].isna().to_numpy()
    if t.missing == "error" and (target_missing.any() or feature_missing.any()):
        cols.missing_cells(frame[[*t.features, t.target]], t.target, lines, "error", t.source)
    keep = ~target_missing
    dropped[0] += int(target_missing.sum())
    if t.missing == "drop":
        incomplete = keep & feature_missing.any(axis=1)
        dropped[1] += int(incomplete.sum())
        keep &= ~incomplete
    counts.update({n: int(c) for n, c in zip(t.features, feature_missing[keep].sum(axis=0))
                   if c})
    return keep


def _clean_chunk(t, start, frame):
    """The kept rows of a chunk: their features cleaned by the recorded kinds, their target."""
    lines = t.lines(start, len(frame))
    keep = _kept(t, frame, lines, Counter(), [0, 0])
    return (cols.clean_features(frame[keep], t.kinds, lines[keep], t.source),
            frame[t.target][keep])


def _fill_values(t: _Table, spool: Path) -> dict:
    """The preprocessing record without scaling: medians, most frequent values, categories
    (pass 2)."""
    from sklearn.impute import SimpleImputer

    numbers = [n for n, k in t.kinds.items() if k == "number"]
    others = [n for n, k in t.kinds.items() if k != "number"]
    files = {n: open(spool / f"{j}.f8", "wb") for j, n in enumerate(numbers)}
    counters = {n: Counter() for n in others}
    try:
        for start, frame in t.passes("2/3 fill values"):
            clean = _clean_chunk(t, start, frame)[0]
            for name in numbers:
                files[name].write(clean[name].to_numpy(dtype=np.float64).tobytes())
            for name in others:
                counters[name].update(clean[name].dropna().tolist())
    finally:
        for fh in files.values():
            fh.close()
    record = {"kind": "table", "columns": [{"name": n, "kind": k} for n, k in t.kinds.items()]}
    if numbers:
        medians = []
        for j in range(len(numbers)):
            column = np.memmap(spool / f"{j}.f8", dtype=np.float64, mode="r")
            medians.append(float(SimpleImputer(strategy="median").fit(
                column.reshape(-1, 1)).statistics_[0]))
            del column
        k = len(numbers)
        record["numbers"] = {"columns": numbers, "median": medians, "mean": np.zeros(k),
                             "var": np.ones(k), "scale": np.ones(k), "n_samples_seen": 0}
    if others:
        for name in others:
            if not counters[name]:
                raise ValueError(f'column "{name}" of {t.source} has no values; leave it out '
                                 f"with --drop {name}")
        top = [max(c.values()) for c in (counters[n] for n in others)]
        record["categories"] = {
            "columns": others,
            "most_frequent": [min(v for v, m in counters[n].items() if m == best)
                              for n, best in zip(others, top)],
            "categories": [sorted(counters[n]) for n in others]}
    return record


def _write_rows(t: _Table, record: dict, folder: Path, dtype, target):
    """Impute and encode every kept row into X.npy and its target into y.npy, learning the
    scaling (pass 3); returns the fitted preprocessing. ``target``: (task, classes)."""
    from sklearn.preprocessing import StandardScaler

    from gdlab.data.preprocess import preprocessor_from_record

    pre = preprocessor_from_record(record)
    k = len(record.get("numbers", {}).get("columns", []))
    n_out = len(pre.named_steps["encode"].get_feature_names_out())
    X = np.lib.format.open_memmap(folder / ondisk.X_FILE, mode="w+", dtype=dtype,
                                  shape=(t.n_rows, n_out))
    y = np.lib.format.open_memmap(folder / ondisk.Y_FILE, mode="w+", shape=(t.n_rows,),
                                  dtype=np.int64 if target[0] == "classification" else np.float64)
    where = f'column "{t.target}" of {t.source}'
    scaler, row = StandardScaler(), 0
    for start, frame in t.passes("3/3 rows"):
        clean, labels = _clean_chunk(t, start, frame)
        if not len(clean):
            continue
        y[row:row + len(clean)] = encode_chunk(labels, *target, where)
        block = pre.transform(clean)
        if k:
            scaler.partial_fit(block[:, :k])
        X[row:row + len(block)] = block
        row += len(block)
    X.flush()
    y.flush()
    del X, y
    if k:
        record["numbers"].update(mean=scaler.mean_, var=scaler.var_, scale=scaler.scale_,
                                 n_samples_seen=int(np.max(scaler.n_samples_seen_)))
    return preprocessor_from_record(record)


def convert_table(source, folder, *, target=None, features=None, drop=None, missing="impute",
                  task=None, chunk_size=DEFAULT_CHUNK_SIZE, dtype="float32",
                  progress=False, force=False) -> dict:
    """Convert the table ``source`` (.csv, .parquet) into the dataset folder ``folder`` in
    chunks of ``chunk_size`` rows; returns the folder's ``dataset.json`` as a dict.

    ``target``, ``features``, ``drop``, ``missing`` and ``task`` mean what they mean for
    :func:`gdlab.data.load_dataset`; ``dtype`` is X.npy's (float32 or float64); ``force``
    lets an existing dataset folder be overwritten. A bad row is a ValueError naming its line.
    """
    from gdlab.data.datasets import _check_task

    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    _check_task(task)
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()) and not force:
        raise ValueError(f"'{folder}' exists and is not empty; give a new folder (or --force "
                         "to overwrite a dataset folder)")
    t = _Table(source, chunk_size, target, features, drop, missing, task, progress)
    try:
        return _convert(t, folder, task, dtype)
    except ValueError as exc:  # Parquet has rows, not lines
        raise ValueError(t.where(str(exc))) from None


def _convert(t: _Table, folder: Path, task, dtype) -> dict:
    from gdlab.data.preprocess import preprocessing_record

    values = _first_pass(t)
    task, reason, classes = values.task(task, f'column "{t.target}" of {t.source}')
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".spool-") as spool:
        record = _fill_values(t, Path(spool))
    pre = _write_rows(t, record, folder, dtype, (task, classes))
    record = preprocessing_record(pre)
    meta = {"format": "gdlab-dataset", "name": t.path.stem, "source": str(t.path),
            "target": t.target, "task": task, "task_reason": reason, "classes": classes,
            "feature_names": record["outputs"], "missing": dict(t.counts), "notes": t.notes,
            "n_samples": t.n_rows, "preprocessing": record}
    ondisk.write_meta(folder, meta)
    return ondisk.to_json(meta)
