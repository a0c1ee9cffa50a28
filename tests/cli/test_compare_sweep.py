"""``gdlab compare`` as a sweep: worker processes (``--jobs``), MPI ranks (``mpiexec -n 2``),
SIGTERM and ``--resume``, each giving the results.csv of the plain sequential sweep apart from
the columns that measure time. Real subprocesses; one sequential sweep is the reference.

The sweep is small (iris, 16 configurations of 30 epochs, half of them diverging) so that a
whole run takes seconds, yet long enough that SIGTERM after the first rows finds most of it
still to run.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import time

import pytest

OPTIMIZERS, BATCH_SIZES, LRS, SEEDS = ("sgd", "adam"), ("full", "8"), ("0.05", "1000"), 2
SWEEP = ["compare", "--dataset", "iris", "--layers", "6", "--epochs", "30",
         "--optimizers", ",".join(OPTIMIZERS), "--batch-sizes", ",".join(BATCH_SIZES),
         "--lrs", ",".join(LRS), "--seeds", str(SEEDS)]
TOTAL = 2 * 2 * 2 * SEEDS
# the sequential order: seed by seed, then optimizer, batch size, learning rate
ORDER = [(opt, bs, float(lr), seed) for seed in range(SEEDS)
         for opt, bs, lr in itertools.product(OPTIMIZERS, BATCH_SIZES, LRS)]


def gdlab(*args, cwd, timeout=300, launcher=()):
    return subprocess.run([*launcher, sys.executable, "-m", "gdlab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def without_time(table):
    """Every column but those that measure time (their names hold 'seconds')."""
    assert table and {"seconds", "seconds_to_target"} <= set(table[0])
    return [{k: v for k, v in row.items() if "seconds" not in k} for row in table]


def keys(table):
    return [(r["optimizer"], r["batch_size"], float(r["lr"]), int(r["seed"])) for r in table]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sequential sweep: its results.csv rows and its output."""
    cwd = tmp_path_factory.mktemp("reference")
    done = gdlab(*SWEEP, "--out", "ref", cwd=cwd)
    assert done.returncode == 0, done.stderr
    table = rows(cwd / "ref" / "results.csv")
    assert keys(table) == ORDER  # one row per configuration, in the sequential order
    statuses = {r["status"] for r in table}
    assert statuses == {"ok", "diverged"}  # both kinds of row are compared below
    assert all(r["reason"] for r in table if r["status"] == "diverged")
    return table, done.stdout


def test_two_jobs_give_the_results_of_one(reference, tmp_path):
    table, out = reference
    assert "in one process at 1 thread each" in out
    done = gdlab(*SWEEP, "--jobs", "2", "--out", "two", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "in 2 worker processes at 1 thread each" in done.stdout
    assert without_time(rows(tmp_path / "two" / "results.csv")) == without_time(table)
    for name in ("summary.csv", "curves.csv", "report.html", "loss_vs_epoch.png"):
        assert (tmp_path / "two" / name).is_file()


def _interrupt_after_first_rows(tmp_path, jobs):
    job = subprocess.Popen([sys.executable, "-m", "gdlab", *SWEEP, "--jobs", str(jobs),
                            "--quiet", "--out", "cut"], cwd=tmp_path, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    journal = tmp_path / "cut" / "records.jsonl"
    try:
        deadline = time.monotonic() + 240
        while not (journal.exists() and journal.read_text().count("\n") >= 1):
            assert job.poll() is None, job.communicate()
            assert time.monotonic() < deadline, "no configuration finished"
            time.sleep(0.01)
        job.send_signal(signal.SIGTERM)
        stdout, stderr = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    return job.returncode, stderr, journal.read_text().count("\n")


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_sigterm_keeps_finished_rows_and_resume_completes_the_same_results(reference, tmp_path,
                                                                           jobs):
    table, _ = reference
    code, stderr, finished = _interrupt_after_first_rows(tmp_path, jobs)
    assert code == 143, stderr
    kept = rows(tmp_path / "cut" / "results.csv")
    assert 1 <= len(kept) == finished < TOTAL
    # the finished rows, in the sequential order, equal to the reference's
    positions = [ORDER.index(k) for k in keys(kept)]
    assert positions == sorted(positions)
    assert without_time(kept) == [without_time(table)[p] for p in positions]
    # the message says which did not run, and how to run them
    not_run = TOTAL - len(kept)
    assert f"stopped by SIGTERM: {not_run} of {TOTAL} configurations not run:" in stderr
    missing = [k for k in ORDER if k not in keys(kept)]
    opt, bs, lr, seed = missing[0]
    assert f"  seed {seed}, {opt}, batch {bs}, lr {lr:g}\n" in stderr
    assert "gdlab compare --resume cut" in stderr

    done = gdlab("compare", "--resume", "cut", "--jobs", str(3 - jobs), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"resuming 'cut': {len(kept)} of {TOTAL} configurations done" in done.stdout
    assert without_time(rows(tmp_path / "cut" / "results.csv")) == without_time(table)
    assert (tmp_path / "cut" / "report.html").is_file()


def _mpiexec_or_skip():
    pytest.importorskip("mpi4py")
    from gdlab.distributed.launch import find_mpiexec

    try:
        return find_mpiexec()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.mark.mpi
@pytest.mark.slow
def test_two_mpi_ranks_give_the_results_of_one_process(reference, tmp_path):
    mpiexec = _mpiexec_or_skip()
    table, _ = reference
    done = gdlab(*SWEEP, "--out", "mpi", cwd=tmp_path, launcher=(mpiexec, "-n", "2"))
    assert done.returncode == 0, done.stderr
    # MPI saw 2 ranks (a launcher of another MPI starts two lone rank-0 processes, which would
    # each write the same results: only the size tells them apart), and only rank 0 printed
    assert "over 2 MPI ranks, one process each, at 1 thread each" in done.stdout
    assert done.stdout.count("data: iris") == 1
    assert without_time(rows(tmp_path / "mpi" / "results.csv")) == without_time(table)


def test_sweep_options_are_checked(tmp_path):
    done = gdlab("compare", "--jobs", "0", cwd=tmp_path)
    assert done.returncode == 2 and "0 worker processes" in done.stderr
    done = gdlab("compare", "--threads", "0", cwd=tmp_path)
    assert done.returncode == 2 and "--threads" in done.stderr
    done = gdlab("compare", "--resume", "nowhere", cwd=tmp_path)
    assert done.returncode == 2 and "no sweep to resume in 'nowhere'" in done.stderr
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "sweep.json").write_text(json.dumps({"base": {}}))
    done = gdlab("compare", "--resume", "s", "--lrs", "0.1", cwd=tmp_path)
    assert done.returncode == 2 and "only --jobs may be given (got --lrs)" in done.stderr
    done = gdlab("compare", "--resume", "s", cwd=tmp_path)
    assert done.returncode == 2 and "does not describe a sweep" in done.stderr
    done = gdlab(*SWEEP, "--out", "s", cwd=tmp_path)
    assert done.returncode == 2 and "already holds a sweep" in done.stderr
    assert os.listdir(tmp_path / "s") == ["sweep.json"]  # nothing was touched
