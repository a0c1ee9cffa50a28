"""The folder of a comparison: what the sweep is (``sweep.json``), a journal of the finished
configurations (``records.jsonl``) and ``results.csv`` kept up to date as they finish.

The journal gets one JSON line per finished configuration, written and flushed to the disk as
it finishes (a crash or a kill loses at most the line being written, which is then skipped),
in the order they finished. ``results.csv`` is rewritten from it in the order of the
configurations, every :data:`REWRITE_SECONDS` and whenever the sweep stops. ``--resume DIR``
reads both files and runs the configurations that have no line yet.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from gdlab.lab.compare_records import (
    record_from_json,
    record_to_json,
    summarize,
    write_curves_csv,
    write_results_csv,
    write_summary_csv,
)
from gdlab.lab.run_folder import RunFolderError, write_json

SWEEP_FILE, RECORDS_FILE = "sweep.json", "records.jsonl"
RESULTS_FILE, SUMMARY_FILE, CURVES_FILE = "results.csv", "summary.csv", "curves.csv"
FIGURE_FILES = ("loss_vs_epoch.png", "loss_vs_time.png", "val_metric_vs_epoch.png")
#: every file a comparison writes; ``force`` removes them before a new sweep takes the folder
SWEEP_FILES = (SWEEP_FILE, RECORDS_FILE, RESULTS_FILE, SUMMARY_FILE, CURVES_FILE,
               *FIGURE_FILES, "report.html", "report.md")
#: seconds between two rewrites of results.csv while a sweep runs
REWRITE_SECONDS = 2.0


def _parse_line(line: bytes):
    obj = json.loads(line.decode("utf-8"))
    index = obj.pop("index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"bad index {index!r}")
    return index, record_from_json(obj)


class SweepFolder:
    """A comparison's folder: :meth:`create` for a new sweep, :meth:`open` to resume one."""

    def __init__(self, path):
        self.path = Path(path)
        self._written = 0.0

    # ---- starting and resuming ------------------------------------------------------------
    @classmethod
    def create(cls, path, sweep: dict, *, force: bool = False) -> SweepFolder:
        """Take ``path`` for the sweep ``sweep`` (its JSON form); refuse a folder that holds
        another sweep's files unless ``force`` (then those files, and only those, go)."""
        folder = cls(path)
        taken = [name for name in SWEEP_FILES if (folder.path / name).exists()]
        if taken and not force:
            if SWEEP_FILE in taken:
                raise RunFolderError(
                    f"'{folder.path}' already holds a sweep; finish it with --resume "
                    f"{folder.path}, choose another --out, or add --force to overwrite it")
            raise RunFolderError(f"'{folder.path}' already holds {', '.join(taken)}; choose "
                                 "another --out or add --force to overwrite")
        folder.path.mkdir(parents=True, exist_ok=True)
        for name in taken:
            (folder.path / name).unlink()
        write_json(folder.path / SWEEP_FILE, sweep)
        (folder.path / RECORDS_FILE).touch()
        return folder

    @classmethod
    def open(cls, path) -> tuple[SweepFolder, dict, dict]:
        """The folder of a sweep to resume, its JSON form and its finished records by index."""
        folder = cls(path)
        spec_path = folder.path / SWEEP_FILE
        if not spec_path.is_file():
            raise RunFolderError(f"no sweep to resume in '{folder.path}': {SWEEP_FILE} is "
                                 "missing")
        try:
            sweep = json.loads(spec_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RunFolderError(f"cannot resume: {spec_path} is unreadable ({exc})") from None
        if not isinstance(sweep, dict):
            raise RunFolderError(f"cannot resume: {spec_path} does not describe a sweep")
        return folder, sweep, folder.read_records()

    def read_records(self) -> dict:
        """The journal's records by index. A torn last line (a kill while it was written) is
        cut off, so that the next line starts on a line of its own; any other bad line is a
        RunFolderError naming it."""
        path = self.path / RECORDS_FILE
        if not path.exists():
            return {}
        data = path.read_bytes()
        lines = data.split(b"\n")
        records = {}
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                index, record = _parse_line(line)
            except (ValueError, KeyError, AttributeError, TypeError) as exc:
                if number == len(lines):  # not ended by a newline: torn
                    with path.open("r+b") as fh:
                        fh.truncate(len(data) - len(line))
                    return records
                raise RunFolderError(f"cannot resume: line {number} of {path} is not a "
                                     f"finished configuration ({exc})") from None
            records.setdefault(index, record)
        if lines[-1].strip():  # a whole last line whose newline was not written yet
            with path.open("ab") as fh:
                fh.write(b"\n")
        return records

    # ---- while the sweep runs ---------------------------------------------------------------
    def add(self, index: int, record, records: dict, target_loss=None) -> None:
        """Journal one finished configuration; rewrite results.csv if it is due."""
        line = json.dumps({"index": int(index), **record_to_json(record)})
        with (self.path / RECORDS_FILE).open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if time.monotonic() - self._written >= REWRITE_SECONDS:
            self.write_results(records, target_loss)

    def write_results(self, records: dict, target_loss=None) -> Path:
        """results.csv: the finished configurations in their order (the target over them)."""
        ordered = [records[i] for i in sorted(records)]
        _, target = summarize(ordered, target_loss)
        write_results_csv(self.path / RESULTS_FILE, ordered, target)
        self._written = time.monotonic()
        return self.path / RESULTS_FILE

    def write_tables(self, records: dict, target_loss=None) -> dict:
        """results.csv, summary.csv and curves.csv of the finished configurations."""
        ordered = [records[i] for i in sorted(records)]
        summary, target = summarize(ordered, target_loss)
        write_results_csv(self.path / RESULTS_FILE, ordered, target)
        write_summary_csv(self.path / SUMMARY_FILE, summary)
        write_curves_csv(self.path / CURVES_FILE, ordered)
        self._written = time.monotonic()
        return {"results": self.path / RESULTS_FILE, "summary": self.path / SUMMARY_FILE,
                "curves": self.path / CURVES_FILE}
