"""gdlab.lab.sweep: the engine that runs a sweep's configurations here or in worker processes.

The tasks here are small functions of this module (loky's workers import it), so that each
guarantee is checked on its own: where each task ran, what a failing task and a dying worker
become, and what an interrupt leaves.
"""

from __future__ import annotations

import io
import os
import signal
import time

import pytest

from gdlab.lab.sweep import Interrupts, Runner, SweepProgress, resolve_jobs


def where(index):
    return {"index": index, "pid": os.getpid()}


def dies_on_2(index):
    if index == 2:
        os._exit(3)  # the worker process dies, as under the out-of-memory killer
    time.sleep(0.05)
    return {"index": index, "pid": os.getpid()}


def raises_on_1(index):
    if index == 1:
        raise ValueError("a configuration that cannot run")
    return {"index": index}


def sigterm_here_on_2(index):
    if index == 2:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the interrupt ends this at once
    return {"index": index}


def sigterm_parent_on_2(index):
    if index == 2:
        os.kill(os.getppid(), signal.SIGTERM)  # the sweep's process: loky's workers are its children
        time.sleep(30)  # ended with its worker
    time.sleep(0.05)
    return {"index": index}


def run(task, todo, *, jobs):
    """Run ``task`` over ``todo``; returns (results by index in finishing order, not run,
    the signal received)."""
    results = {}
    with Interrupts() as interrupts:
        runner = Runner(task, lambda i, rec: results.setdefault(i, rec),
                        lambda i, reason: {"index": i, "failed": reason}, interrupts,
                        SweepProgress(len(todo), show=False), jobs=jobs)
        not_run = runner.run(todo)
    return results, not_run, interrupts.received


def test_resolve_jobs_reads_n_jobs_as_joblib_does():
    assert resolve_jobs(3, 1, cores=8) == 3
    assert resolve_jobs(-1, 1, cores=8) == 8
    assert resolve_jobs(-1, 2, cores=8) == 4  # as many as the cores allow at 2 threads each
    assert resolve_jobs(-2, 2, cores=8) == 3
    assert resolve_jobs(-1, 16, cores=8) == 1
    assert resolve_jobs(-20, 1, cores=8) == 1
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(ValueError, match="jobs must be a positive integer, or -1"):
            resolve_jobs(bad)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        resolve_jobs(-1, 0)


def test_one_job_runs_here_and_several_run_in_worker_processes():
    results, not_run, received = run(where, range(5), jobs=1)
    assert not_run == [] and received is None
    assert sorted(results) == [0, 1, 2, 3, 4]
    assert {r["pid"] for r in results.values()} == {os.getpid()}
    results, not_run, _ = run(where, range(6), jobs=2)
    assert not_run == [] and sorted(results) == list(range(6))
    assert all(r["index"] == i for i, r in results.items())
    pids = {r["pid"] for r in results.values()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_task_that_raises_is_a_failed_record_here_and_in_a_worker(jobs):
    results, not_run, _ = run(raises_on_1, range(4), jobs=jobs)
    assert not_run == [] and sorted(results) == [0, 1, 2, 3]
    assert results[1]["failed"] == "ValueError: a configuration that cannot run"
    assert all("failed" not in results[i] for i in (0, 2, 3))


def test_a_dying_worker_fails_its_configuration_only():
    results, not_run, _ = run(dies_on_2, range(6), jobs=2)
    assert not_run == [] and sorted(results) == list(range(6))
    assert "its worker process died" in results[2]["failed"]
    # the configurations that shared the broken pool ran again and finished
    assert all("failed" not in results[i] for i in (0, 1, 3, 4, 5))


def test_sigterm_here_stops_the_sweep_and_says_what_did_not_run():
    start = time.monotonic()
    results, not_run, received = run(sigterm_here_on_2, range(5), jobs=1)
    assert time.monotonic() - start < 20  # the task's sleep was cut short
    assert received == signal.SIGTERM
    assert sorted(results) == [0, 1]
    assert not_run == [2, 3, 4]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_sigterm_with_workers_keeps_what_finished_and_ends_the_workers():
    start = time.monotonic()
    results, not_run, received = run(sigterm_parent_on_2, range(8), jobs=2)
    assert time.monotonic() - start < 20
    assert received == signal.SIGTERM
    assert 2 in not_run and 2 not in results
    assert sorted(results) + not_run == sorted(set(range(8)))  # each one either ran or not
    assert not_run == sorted(not_run)


def test_progress_bar_counts_configurations_and_those_running():
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with SweepProgress(5, done=1, console=console) as bar:
        bar.started(1)
        bar.started(2)
        bar.finished(1)
        bar.started(3)
        bar.stopped(2)
        assert bar.running == 1
    text = out.getvalue()
    assert "configurations" in text
    assert "2/5" in text and "1 running" in text
