"""Benchmark: data larger than the memory a run needs. The peak anonymous resident memory
(``RssAnon`` in /proc/<pid>/status: the pages of a memory-mapped file do not count) of

- ``train``: one epoch of ``gdlab train --dataset DIR`` on a generated dataset folder whose
  X.npy holds at least ``--gb`` GiB (float32), in one process and in each of 2 MPI ranks
  (``mpiexec -n 2``), against X's size (the target: below a quarter);
- ``convert``: ``gdlab data convert`` of a generated CSV of at least ``--gb`` GiB, above the
  converting process's start-up footprint (after its imports), against the file's size
  (the target: below a quarter).

    python benchmarks/bench_ondisk.py train   --dir /tmp/gdlab-ondisk [--gb 1]
    python benchmarks/bench_ondisk.py convert --dir /tmp/gdlab-ondisk [--gb 1]

Each measured process samples its own RssAnon every 2 ms in a thread (and reports VmHWM, the
kernel's high-water mark of all resident pages, file pages included). The files are left in
``--dir``; delete them afterwards (``--clean`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

import numpy as np  # noqa: E402

GIB = 2**30
FEATURES = 256


def status_kb(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class AnonPeak:
    """The peak RssAnon of this process, sampled every ``period`` seconds in a thread."""

    def __init__(self, period=0.002):
        self.start = self.peak = status_kb("RssAnon") * 1024
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(period,), daemon=True)
        self._thread.start()

    def _sample(self, period):
        while not self._done.is_set():
            self.peak = max(self.peak, status_kb("RssAnon") * 1024)
            time.sleep(period)

    def stop(self) -> dict:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, status_kb("RssAnon") * 1024)
        return {"start_anon": self.start, "peak_anon": self.peak,
                "vmhwm": status_kb("VmHWM") * 1024}


# ---- the generated data ------------------------------------------------------------------------

def make_folder(folder: Path, gb: float) -> int:
    """A dataset folder of 3 classes whose float32 X.npy holds at least ``gb`` GiB."""
    n = int(np.ceil(gb * GIB / (4 * FEATURES)))
    folder.mkdir(parents=True, exist_ok=True)
    X = np.lib.format.open_memmap(folder / "X.npy", mode="w+", dtype=np.float32,
                                  shape=(n, FEATURES))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    centre = rng.normal(size=(3, FEATURES)).astype(np.float32)
    for s in range(0, n, 65536):
        e = min(n, s + 65536)
        X[s:e] = rng.standard_normal((e - s, FEATURES), dtype=np.float32) * 3 + centre[y[s:e]]
    X.flush()
    nbytes = X.nbytes
    del X
    np.save(folder / "y.npy", y)
    return nbytes


def make_csv(path: Path, gb: float) -> int:
    """A CSV of 40 number columns (1% of the cells missing), a text column and a 0/1 target,
    of at least ``gb`` GiB: 8 different blocks of 20,000 rows, written in turn (formatting
    numbers as text is slow; the memory measured does not depend on the values)."""
    rng = np.random.default_rng(1)
    header = ",".join([f"x{j}" for j in range(40)] + ["colour", "label"]) + "\n"
    colours = np.array(["red", "green", "blue", "amber"])
    blocks = []
    for _ in range(8):
        block = rng.normal(size=(20000, 40)) * 10
        text = np.char.mod("%.4f", block)
        text[rng.random(block.shape) < 0.01] = ""
        label = (block[:, 0] + block[:, 1] > 0).astype(int)
        blocks.append("\n".join(",".join(row) + f",{c},{t}" for row, c, t in
                                zip(text.tolist(), colours[rng.integers(0, 4, 20000)], label))
                      + "\n")
    with open(path, "w") as fh:
        fh.write(header)
        i = 0
        while fh.tell() < gb * GIB:
            fh.write(blocks[i % len(blocks)])
            i += 1
        return fh.tell()


# ---- the measured processes ---------------------------------------------------------------------

def train_worker(folder: str, out: str, ranks: int) -> None:
    """One epoch of the ``gdlab train`` job on the folder (a rank of ``ranks``)."""
    meter = AnonPeak()
    from gdlab.lab.runs import run_training

    comm = None
    if ranks > 1:
        from gdlab.distributed import get_communicator

        comm = get_communicator(expected_size=ranks)
    config = dict(dataset=folder, layers=[64], epochs=1, batch_size=256, workers=ranks,
                  checkpoint_every=1000)
    t0 = time.perf_counter()
    metrics = run_training(config, Path(out), comm=comm, log=None, force=True)
    result = meter.stop()
    result.update(rank=0 if comm is None else comm.rank, seconds=time.perf_counter() - t0,
                  test_accuracy=metrics.get("test_accuracy"))
    print("RESULT " + json.dumps(result), flush=True)


def convert_worker(source: str, folder: str) -> None:
    import pandas  # noqa: F401
    import sklearn.preprocessing  # noqa: F401

    from gdlab.lab import convert  # noqa: F401 - the imports belong to the start-up footprint

    meter = AnonPeak()
    t0 = time.perf_counter()
    convert.convert_table(source, folder, force=True)
    result = meter.stop()
    result["seconds"] = time.perf_counter() - t0
    print("RESULT " + json.dumps(result), flush=True)


def results(command) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return [json.loads(line[7:]) for line in done.stdout.splitlines()
            if line.startswith("RESULT ")]


def mb(n) -> str:
    return f"{n / 2**20:,.0f} MiB"


def bench_train(base: Path, gb: float) -> None:
    folder = base / "data"
    t0 = time.perf_counter()
    nbytes = make_folder(folder, gb)
    print(f"X.npy: {mb(nbytes)} ({time.perf_counter() - t0:.0f} s to write); target: peak "
          f"RssAnon below a quarter, {mb(nbytes / 4)}")
    me = os.path.abspath(__file__)
    one = results([sys.executable, me, "_train", str(folder), str(base / "run1"), "1"])
    from gdlab.distributed.launch import find_mpiexec

    two = results([find_mpiexec(), "-n", "2", sys.executable, me, "_train", str(folder),
                   str(base / "run2"), "2"])
    for label, rows in (("1 process", one), ("2 ranks", sorted(two, key=lambda r: r["rank"]))):
        for r in rows:
            print(f"{label}, rank {r['rank']}: peak RssAnon {mb(r['peak_anon'])} = "
                  f"{r['peak_anon'] / nbytes:.1%} of X (at start {mb(r['start_anon'])}; VmHWM "
                  f"with file pages {mb(r['vmhwm'])}); one epoch in {r['seconds']:.0f} s, test "
                  f"accuracy {r['test_accuracy']:.3f}")


def bench_convert(base: Path, gb: float) -> None:
    source = base / "table.csv"
    t0 = time.perf_counter()
    size = make_csv(source, gb)
    print(f"table.csv: {mb(size)} ({time.perf_counter() - t0:.0f} s to write); target: below "
          f"a quarter, {mb(size / 4)}")
    (r,) = results([sys.executable, os.path.abspath(__file__), "_convert", str(source),
                    str(base / "converted")])
    added = r["peak_anon"] - r["start_anon"]
    print(f"convert: peak RssAnon {mb(r['peak_anon'])}, {mb(added)} above the start-up "
          f"footprint of {mb(r['start_anon'])} = {added / size:.1%} of the file; VmHWM with "
          f"file pages {mb(r['vmhwm'])}; {r['seconds']:.0f} s")


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_train":
        return train_worker(argv[1], argv[2], int(argv[3]))
    if argv and argv[0] == "_convert":
        return convert_worker(argv[1], argv[2])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("train", "convert"))
    parser.add_argument("--dir", default="/tmp/gdlab-ondisk", help="where the files go")
    parser.add_argument("--gb", type=float, default=1.0, help="GiB of X, or of the CSV")
    parser.add_argument("--clean", action="store_true", help="delete --dir afterwards")
    args = parser.parse_args(argv)
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    try:
        (bench_train if args.what == "train" else bench_convert)(base, args.gb)
    finally:
        if args.clean:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
