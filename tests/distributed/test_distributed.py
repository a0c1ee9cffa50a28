"""gdlab.distributed and gdlab.distributed.launch: the communicator interface, launcher detection, and
data-parallel training on MPI checked against one process.

The @pytest.mark.mpi tests really start ``mpiexec -n 2`` (the one next to the interpreter) and
assert inside the ranks that MPI sees 2 processes: a mismatched launcher would silently start
two independent rank-0 processes. To keep them fast, ONE mpiexec run (this file executed as a
script, ``_rank_main``) trains every case in both ranks and saves the results; the tests then
compare them with the same training in one process (this pytest process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gdlab.distributed import (
    LAUNCHER_VARIABLES,
    Communicator,
    SingleProcess,
    SyncBatchNorm,
    blas_threads_per_rank,
    convert_sync_batchnorm,
    get_communicator,
    launcher_size,
)
from gdlab.distributed.launch import find_mpiexec, mpiexec_command
from gdlab.errors import DivergenceError
from gdlab.nn.losses import CrossEntropyLoss
from gdlab.nn.normalization import BatchNorm
from gdlab.nn.sequential import mlp
from gdlab.optim import SGD, Adam, RMSprop
from gdlab.training import Callback, Trainer

# ---- the training cases run by 2 ranks and by 1 process ------------------------------------

OPTIMIZERS = {
    "sgd": lambda p: SGD(p, lr=0.1),
    "momentum": lambda p: SGD(p, lr=0.05, momentum=0.9),
    "rmsprop": lambda p: RMSprop(p, lr=0.01),
    "adam": lambda p: Adam(p, lr=0.01),
}


def _cases():
    cases = {}
    for opt in OPTIMIZERS:
        for dtype in ("float64", "float32"):
            # 40 samples in batches of 10: every shard 5/5; 45: a last batch of 5, shards 3/2
            for n in (40, 45):
                cases[f"{opt}-{dtype}-{n}"] = dict(opt=opt, dtype=dtype, n=n, batch=10)
    cases["adam-float64-full"] = dict(opt="adam", dtype="float64", n=45, batch="full")
    # batch size 1: rank 1's shard is always empty
    cases["sgd-float64-b1"] = dict(opt="sgd", dtype="float64", n=12, batch=1)
    cases["momentum-float64-b3"] = dict(opt="momentum", dtype="float64", n=13, batch=3)
    cases["adam-float64-weighted"] = dict(opt="adam", dtype="float64", n=45, batch=10,
                                          weighted=True)
    # synchronised BatchNorm == one process's BatchNorm; shards 7/6 are uneven
    cases["sync-bn-float64"] = dict(opt="adam", dtype="float64", n=52, batch=13, bn="sync")
    # local BatchNorm: not one process's numbers, but identical ranks
    cases["local-bn-float64"] = dict(opt="adam", dtype="float64", n=52, batch=13, bn="local")
    # the compiled kernels: fused Dense + ReLU and the cross-entropy in each rank's shard
    cases["kernels-float64"] = dict(opt="adam", dtype="float64", n=45, batch=10, fast=True)
    return cases


CASES = _cases()


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 5)) + 1.5 * np.eye(3, 5)[y]
    w = rng.uniform(0.2, 2.0, size=n)
    return X, y, w


def train_case(case, comm, net_seed):
    """Train one case; returns (flat parameters, buffers, training losses)."""
    X, y, w = _data(case["n"])
    fast = case.get("fast", False)
    net = mlp(5, [8], 3, activation="relu" if fast else "tanh", batchnorm=bool(case.get("bn")),
              dtype=case["dtype"], seed=net_seed, fast=fast)
    if case.get("bn") == "sync":
        convert_sync_batchnorm(net, comm)
    trainer = Trainer(net, CrossEntropyLoss(), OPTIMIZERS[case["opt"]]([net.flat_parameters]),
                      batch_size=case["batch"], epochs=3, tol=None, seed=7, comm=comm)
    result = trainer.fit(X, y, sample_weight=w if case.get("weighted") else None)
    assert (trainer.loss_kernel is not None) == fast and (net.fused_plan is not None) == fast
    return net.flat_parameters.copy(), net.buffers(), result.history.as_dict()["loss"]


class _NaNOnRank1(CrossEntropyLoss):
    """Cross-entropy whose gradient gets a NaN on rank 1 at its 4th step."""

    def __init__(self, rank):
        super().__init__()
        self.rank, self.calls = rank, 0

    def compute(self, output, y, sample_weight=None, need_grad=True):
        value, grad = super().compute(output, y, sample_weight, need_grad)
        self.calls += need_grad  # training steps, not evaluations
        if self.rank == 1 and self.calls == 4 and need_grad:
            grad = grad.copy()
            grad[0, 0] = np.nan
        return value, grad


class _StopOnRank1(Callback):
    def __init__(self, rank):
        self.rank = rank

    def on_epoch_end(self, trainer, logs):
        return self.rank == 1 and logs["epoch"] == 2


class _RequestStopOnRank1(Callback):
    def on_step_end(self, trainer, logs):
        if trainer.comm.rank == 1 and logs["step"] == 6:
            trainer.comm.request_stop()


def _rank_main(out):
    """What each rank of the mpiexec run does (this file run as a script)."""
    from mpi4py import MPI

    comm = get_communicator(expected_size=2)
    from threadpoolctl import threadpool_info

    facts = {"rank": comm.rank, "size": comm.size, "world": MPI.COMM_WORLD.Get_size(),
             "pid": os.getpid(), "threads": comm.threads,
             "blas_threads": max([i["num_threads"] for i in threadpool_info()], default=1)}
    total = np.array([comm.rank + 1.0])
    comm.allreduce_(total)
    facts["sum_of_rank_plus_one"] = float(total[0])
    arrays = {}
    for name, case in CASES.items():
        # different initial weights on each rank: training must start from rank 0's
        params, buffers, losses = train_case(case, comm, net_seed=100 + comm.rank)
        arrays[f"{name}/params"] = params
        arrays[f"{name}/losses"] = np.array(losses)
        for key, value in buffers.items():
            arrays[f"{name}/buffer/{key}"] = value
    # a NaN in one rank's gradient stops every rank with the divergence error
    X, y, _ = _data(40)
    net = mlp(5, [8], 3, dtype="float64", seed=1)
    try:
        Trainer(net, _NaNOnRank1(comm.rank), SGD([net.flat_parameters], lr=0.1),
                batch_size=10, epochs=3, tol=None, comm=comm).fit(X, y)
        facts["nan"] = None
    except DivergenceError as exc:
        facts["nan"] = {"type": type(exc).__name__, "message": str(exc), "step": exc.step}
    # a callback that stops on rank 1 only stops both
    net = mlp(5, [8], 3, dtype="float64", seed=1)
    result = Trainer(net, CrossEntropyLoss(), SGD([net.flat_parameters], lr=0.1), batch_size=10,
                     epochs=5, tol=None, comm=comm, callbacks=[_StopOnRank1(comm.rank)]).fit(X, y)
    facts["callback_stop"] = [result.epochs, result.stopped_because]
    # a stop request on rank 1 (what Ctrl-C does) travels with the next step's gradient
    net = mlp(5, [8], 3, dtype="float64", seed=1)
    result = Trainer(net, CrossEntropyLoss(), SGD([net.flat_parameters], lr=0.1), batch_size=10,
                     epochs=5, tol=None, comm=comm, callbacks=[_RequestStopOnRank1()]).fit(X, y)
    facts["request_stop"] = [result.steps, result.stopped_because]
    np.savez(Path(out) / f"rank{comm.rank}.npz", **arrays)
    (Path(out) / f"rank{comm.rank}.json").write_text(json.dumps(facts))


# ---- fixtures --------------------------------------------------------------------------------

def _mpiexec_or_skip():
    pytest.importorskip("mpi4py")
    try:
        return find_mpiexec()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """The results of both ranks of one ``mpiexec -n 2`` run of every case."""
    mpiexec = _mpiexec_or_skip()
    out = tmp_path_factory.mktemp("ranks")
    command = [mpiexec, "-n", "2", sys.executable, __file__, "--rank-worker", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    results = []
    for r in range(2):
        with np.load(out / f"rank{r}.npz") as z:
            arrays = dict(z)
        results.append((json.loads((out / f"rank{r}.json").read_text()), arrays))
    return results


@pytest.fixture(scope="module")
def reference():
    """Every case trained by one process, from rank 0's initial weights."""
    return {name: train_case(case, SingleProcess(), net_seed=100) for name, case in CASES.items()}


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


# ---- the MPI tests -----------------------------------------------------------------------------

@pytest.mark.mpi
def test_two_real_ranks(ranks):
    facts = [f for f, _ in ranks]
    assert [f["rank"] for f in facts] == [0, 1]
    assert all(f["size"] == 2 and f["world"] == 2 for f in facts)
    assert facts[0]["pid"] != facts[1]["pid"]
    assert all(f["sum_of_rank_plus_one"] == 3.0 for f in facts)  # 1 + 2: both took part
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert all(2 * f["threads"] <= max(cores, 2) for f in facts)
    assert all(f["blas_threads"] <= f["threads"] for f in facts)


@pytest.mark.mpi
def test_a_launcher_of_another_mpi_is_an_error_not_independent_runs():
    # Open MPI's variables say 2 processes; mpi4py's MPICH sees a lone process
    _mpiexec_or_skip()
    env = dict(os.environ, OMPI_COMM_WORLD_SIZE="2", OMPI_COMM_WORLD_RANK="0")
    code = "from gdlab.distributed import get_communicator; get_communicator()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode != 0
    assert "the launcher started 2 processes but MPI sees 1" in done.stderr


@pytest.mark.mpi
@pytest.mark.slow
def test_an_error_on_one_rank_aborts_instead_of_hanging():
    mpiexec = _mpiexec_or_skip()
    code = ("import numpy as np; from gdlab.distributed import get_communicator\n"
            "comm = get_communicator(expected_size=2)\n"
            "if comm.rank == 1: raise ValueError('only on rank 1')\n"
            "comm.allreduce_(np.ones(3))  # rank 0 waits here for a rank that left\n")
    start = time.monotonic()
    done = subprocess.run([mpiexec, "-n", "2", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "only on rank 1" in done.stderr
    assert time.monotonic() - start < 30


EQUIVALENT = [name for name, case in CASES.items() if case.get("bn") != "local"]


@pytest.mark.mpi
@pytest.mark.parametrize("name", EQUIVALENT)
def test_two_ranks_equal_one_process(ranks, reference, name):
    tol = 1e-9 if CASES[name]["dtype"] == "float64" else 1e-5
    params, buffers, losses = reference[name]
    for _, arrays in ranks:
        assert rel(arrays[f"{name}/params"], params) <= tol
        assert rel(arrays[f"{name}/losses"], losses) <= tol
        for key, value in buffers.items():  # synchronised BatchNorm: the same running stats
            assert rel(arrays[f"{name}/buffer/{key}"], value) <= tol


@pytest.mark.mpi
@pytest.mark.parametrize("name", list(CASES))
def test_ranks_bit_identical(ranks, name):
    (_, a0), (_, a1) = ranks
    keys = [k for k in a0 if k.startswith(name + "/")]
    assert any(k.endswith("/params") for k in keys)
    for key in keys:
        assert np.array_equal(a0[key], a1[key]), key


@pytest.mark.mpi
def test_local_batchnorm_differs_from_one_process_but_ranks_agree(ranks, reference):
    # the local statistics of half batches are not the global ones: a test that could not
    # tell local from synchronised BatchNorm would pass here too, so check it does
    params, buffers, _ = reference["local-bn-float64"]
    _, arrays = ranks[0]
    assert rel(arrays["local-bn-float64/params"], params) > 1e-6
    assert any(k.startswith("local-bn-float64/buffer/") for k in arrays)


@pytest.mark.mpi
def test_nan_on_one_rank_stops_every_rank(ranks):
    nan = [f["nan"] for f, _ in ranks]
    assert all(x is not None and x["type"] == "DivergenceError" for x in nan)
    assert nan[0]["step"] == nan[1]["step"] == 4
    assert "diverged" in nan[0]["message"]


@pytest.mark.mpi
def test_a_stop_on_one_rank_stops_every_rank(ranks):
    assert [f["callback_stop"] for f, _ in ranks] == [[2, "callback"], [2, "callback"]]


@pytest.mark.mpi
def test_a_stop_request_on_one_rank_stops_every_rank_at_the_same_step(ranks):
    assert [f["request_stop"] for f, _ in ranks] == [[6, "interrupted"], [6, "interrupted"]]


# ---- the CLI under mpiexec ---------------------------------------------------------------------

def _gdlab(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "gdlab", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.mpi
@pytest.mark.slow
def test_cli_two_workers_same_final_loss_as_one(tmp_path):
    _mpiexec_or_skip()
    common = ["train", "--dataset", "iris", "--epochs", "8", "--seed", "3", "--quiet"]
    one = _gdlab(*common, "--out", str(tmp_path / "one"))
    two = _gdlab(*common, "--workers", "2", "--out", str(tmp_path / "two"))
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert (m1["workers"], m2["workers"]) == (1, 2)
    assert abs(m2["final_loss"] - m1["final_loss"]) <= 1e-5 * abs(m1["final_loss"])
    assert m2["epochs"] == m1["epochs"] == 8
    # only rank 0 printed: --quiet prints the run folder once
    assert two.stdout.strip().splitlines() == [str(tmp_path / "two")]


@pytest.mark.mpi
@pytest.mark.slow
def test_cli_sync_batchnorm_two_workers_same_final_loss_as_one(tmp_path):
    _mpiexec_or_skip()
    common = ["train", "--dataset", "iris", "--epochs", "5", "--seed", "4", "--batchnorm",
              "--quiet"]
    one = _gdlab(*common, "--out", str(tmp_path / "one"))
    two = _gdlab(*common, "--workers", "2", "--sync-batchnorm", "--out", str(tmp_path / "two"))
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert abs(m2["final_loss"] - m1["final_loss"]) <= 1e-5 * abs(m1["final_loss"])


def _rank_pids(marker):
    """Processes whose command line holds ``marker``, keyed by their PMI_RANK."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in cmdline and b"-m" in cmdline:
            for item in environ:
                if item.startswith(b"PMI_RANK="):
                    found[int(item[9:])] = int(entry.name)
    return found


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_killed_rank_ends_the_job_and_resume_finishes(tmp_path):
    _mpiexec_or_skip()
    out = tmp_path / "run"
    epochs = 60
    job = subprocess.Popen(
        [sys.executable, "-m", "gdlab", "train", "--dataset", "digits", "--layers", "32",
         "--epochs", str(epochs), "--tol", "none", "--checkpoint-every", "1", "--workers", "2",
         "--quiet", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (out / "checkpoint.npz").exists():
            assert job.poll() is None, job.communicate()
            assert time.monotonic() < deadline, "no checkpoint written"
            time.sleep(0.05)
        pids = _rank_pids(str(out))
        assert sorted(pids) == [0, 1]
        killed_at = time.monotonic()
        os.kill(pids[1], signal.SIGKILL)
        code = job.wait(timeout=30)  # TimeoutExpired = the job hangs
        elapsed = time.monotonic() - killed_at
        assert elapsed < 30
        print(f"the job ended {elapsed:.2f} s after rank 1 was killed")
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert code != 0
    assert not (out / "metrics.json").exists()
    # the checkpoint of 2 workers resumes with 1
    resumed = _gdlab("train", "--resume", str(out), "--quiet", timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == epochs
    assert metrics["stopped_because"] == "max_epochs"
    assert metrics["workers"] == 1


# ---- without MPI ----------------------------------------------------------------------------

def test_import_gdlab_does_not_import_mpi4py():
    code = ("import sys, gdlab, gdlab.distributed, gdlab.distributed.launch, gdlab.training, gdlab.cli; "
            "gdlab.distributed.get_communicator(); assert 'mpi4py' not in sys.modules")
    env = {k: v for k, v in os.environ.items()
           if k not in {name for pair in LAUNCHER_VARIABLES for name in pair}}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


@given(n=st.integers(0, 50), size=st.integers(1, 7))
def test_shards_cover_the_batch_in_order(n, size):
    indices = np.arange(100, 100 + n)
    shards = []
    for rank in range(size):
        comm = Communicator()
        comm.rank, comm.size = rank, size
        shards.append(comm.shard(indices))
    assert np.array_equal(np.concatenate(shards), indices)
    lengths = [len(s) for s in shards]
    assert max(lengths) - min(lengths) <= 1
    assert lengths == sorted(lengths, reverse=True)


@pytest.mark.parametrize("environ, expected", [
    ({}, 1),
    ({"PMI_SIZE": "4", "PMI_RANK": "2"}, 4),
    ({"OMPI_COMM_WORLD_SIZE": "3", "OMPI_COMM_WORLD_RANK": "0"}, 3),
    ({"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "5"}, 8),
    # an sbatch script is one process even when the job has several tasks
    ({"SLURM_NTASKS": "8", "SLURM_PROCID": "0"}, 1),
    ({"PMI_SIZE": "1", "PMI_RANK": "0"}, 1),
])
def test_launcher_size(environ, expected):
    assert launcher_size(environ) == expected


def test_get_communicator_without_launcher_is_single_process(monkeypatch):
    for pair in LAUNCHER_VARIABLES:
        for name in pair:
            monkeypatch.delenv(name, raising=False)
    comm = get_communicator()
    assert isinstance(comm, SingleProcess) and (comm.rank, comm.size) == (0, 1)
    with pytest.raises(RuntimeError, match="expected 2 workers"):
        get_communicator(expected_size=2)


def test_single_process_collectives_are_identities():
    comm = SingleProcess()
    a = np.arange(4.0)
    comm.allreduce_(a)
    comm.broadcast_(a)
    assert np.array_equal(a, np.arange(4.0))
    assert comm.any(True) and not comm.any(False)
    assert comm.allgather(a).shape == (1, 4)
    assert comm.end_epoch(None, "tol") == "tol"


@pytest.mark.parametrize("ranks_on_node, cores, expected", [
    (1, 8, 8), (2, 8, 4), (3, 8, 2), (16, 8, 1),
])
def test_blas_threads_per_rank(ranks_on_node, cores, expected, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert blas_threads_per_rank(ranks_on_node, cores) == expected
    # bound by the launcher to 2 of the 8 cores: those 2 are this rank's own
    assert blas_threads_per_rank(ranks_on_node, 2) == 2


def test_mpiexec_command_uses_the_interpreters_launcher():
    cmd = mpiexec_command(3, ["train", "--workers", "3"], mpiexec="/x/mpiexec")
    assert cmd[0] == "/x/mpiexec"
    assert cmd[cmd.index("-n") + 1] == "3"
    assert cmd[cmd.index("-n") + 2:] == [sys.executable, "-m", "gdlab", "train", "--workers", "3"]
    with pytest.raises(ValueError, match="workers"):
        mpiexec_command(0, [], mpiexec="/x/mpiexec")


def test_find_mpiexec_looks_next_to_python(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(FileNotFoundError, match=r"gdlab\[mpi\]"):
        find_mpiexec()
    launcher = tmp_path / "mpiexec"
    launcher.write_text("#!/bin/sh\n")
    launcher.chmod(0o755)
    assert find_mpiexec() == str(launcher)


def test_convert_sync_batchnorm_keeps_state_and_matches_batchnorm_in_one_process():
    net = mlp(5, [8], 3, batchnorm=True, dtype="float64", seed=0)
    bn = next(layer for layer in net.layers if isinstance(layer, BatchNorm))
    bn.running_mean[...] = 0.5
    twin = net.clone()
    convert_sync_batchnorm(net, SingleProcess())
    sync = next(layer for layer in net.layers if isinstance(layer, BatchNorm))
    assert isinstance(sync, SyncBatchNorm) and sync.running_mean[0] == 0.5
    X = np.random.default_rng(0).normal(size=(9, 5))
    out, ref = net.forward(X, training=True), twin.forward(X, training=True)
    assert np.allclose(out, ref, rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(1).normal(size=out.shape)
    net.backward(g, input_grad=True)
    twin.backward(g, input_grad=True)
    assert np.allclose(net.flat_gradients, twin.flat_gradients, rtol=1e-12, atol=1e-12)
    assert isinstance(net.clone().layers[1], SyncBatchNorm)


def test_sync_batchnorm_needs_two_samples_per_rank():
    comm = Communicator()
    comm.rank, comm.size = 0, 2
    net = convert_sync_batchnorm(mlp(5, [8], 3, batchnorm=True, seed=0), comm)
    comm.start_fit(net, n_samples=44, batch_size=10)  # a last batch of 4: 2 + 2
    with pytest.raises(ValueError, match="two samples per rank"):
        comm.start_fit(net, n_samples=43, batch_size=10)  # a last batch of 3: 2 + 1
    comm.start_fit(net, n_samples=43, batch_size=10, drop_last=True)


if __name__ == "__main__" and sys.argv[1:2] == ["--rank-worker"]:
    _rank_main(sys.argv[2])
