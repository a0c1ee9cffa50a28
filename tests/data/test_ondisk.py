"""Datasets on disk (gdlab.data.ondisk): training reads X through a memory map, never a copy,
and trains to the parameters of the same arrays in memory; in one process and in each of 2
real MPI ranks (``mpiexec -n 2``, the same pattern as tests/distributed).

The structural check is tracemalloc's peak during ``fit``: below 10% of X's bytes (X has
120 features, so that the per-row index arrays are small beside a row). The in-memory
yardstick is NumPy's own arithmetic on the whole array: ``((X - mean) / scale)`` in float64,
then cast, with scikit-learn's StandardScaler statistics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import gdlab
from gdlab import GDClassifier, GDRegressor
from gdlab.data.ondisk import ScaledRows, streaming_scaler
from gdlab.distributed.comm import Communicator
from gdlab.nn.losses import CrossEntropyLoss
from gdlab.nn.sequential import mlp
from gdlab.optim import Adam
from gdlab.training import Trainer

N, D, CLASSES = 40_000, 120, 3


def write_folder(folder: Path, n=N, d=D, seed=0, weights=False):
    """A generated dataset folder: X.npy (float64, shifted and scaled columns), y.npy."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    X = np.lib.format.open_memmap(folder / "X.npy", mode="w+", dtype=np.float64, shape=(n, d))
    y = rng.integers(0, CLASSES, n)
    centre = rng.normal(size=(CLASSES, d))
    for s in range(0, n, 5000):
        block = rng.normal(size=(min(5000, n - s), d)) + centre[y[s:s + 5000]]
        X[s:s + 5000] = block * np.linspace(0.5, 20, d) + np.linspace(-30, 30, d)
    X.flush()
    del X
    np.save(folder / "y.npy", y)
    if weights:
        np.save(folder / "w.npy", rng.uniform(0.5, 2.0, n))
    return folder


def train(X, y, dtype, comm=None, epochs=1):
    net = mlp(X.shape[1], [16], CLASSES, dtype=dtype, seed=3)
    trainer = Trainer(net, CrossEntropyLoss(), Adam([net.flat_parameters], lr=1e-3),
                      batch_size=64, epochs=epochs, tol=None, seed=5, comm=comm)
    trainer.fit(X, y)
    return net.flat_parameters.copy()


def fit_traced(X, y, dtype, comm=None):
    """(parameters, tracemalloc's peak in bytes during fit)."""
    tracemalloc.start()
    try:
        params = train(X, y, dtype, comm)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return params, peak


def in_memory(X, mean, scale, dtype):
    return ((np.asarray(X, dtype=np.float64) - mean) / scale).astype(dtype)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("ondisk") / "data")


def test_streaming_statistics_are_standard_scalers(folder):
    X = np.load(folder / "X.npy")
    whole = StandardScaler().fit(X)
    chunked = streaming_scaler(np.load(folder / "X.npy", mmap_mode="r"), chunk=777)
    np.testing.assert_allclose(chunked.mean_, whole.mean_, rtol=1e-12)
    np.testing.assert_allclose(chunked.var_, whole.var_, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_reads_through_the_map_and_equals_memory(folder, dtype):
    ds = gdlab.load_dataset(folder)
    assert isinstance(ds.X, np.memmap) and ds.on_disk and ds.task == "classification"
    scaler = streaming_scaler(ds.X)
    rows = ScaledRows(ds.X, mean=scaler.mean_, scale=scaler.scale_, dtype=dtype)
    params, peak = fit_traced(rows, ds.y, dtype)
    assert peak < 0.10 * ds.X.nbytes, f"peak {peak} bytes for X of {ds.X.nbytes}"
    reference = train(in_memory(ds.X, scaler.mean_, scaler.scale_, dtype), ds.y, dtype)
    np.testing.assert_array_equal(params, reference)


def test_a_split_is_indices_into_the_map(folder):
    ds = gdlab.load_dataset(folder)
    scaler = streaming_scaler(ds.X)
    idx = np.random.default_rng(1).permutation(N)[: N // 2]
    rows = ScaledRows(ds.X, mean=scaler.mean_, scale=scaler.scale_, dtype="float32")[idx]
    assert rows.shape == (N // 2, D)
    expected = in_memory(ds.X, scaler.mean_, scaler.scale_, "float32")[idx]
    np.testing.assert_array_equal(rows[100:300], expected[100:300])
    np.testing.assert_array_equal(rows.take([5, 0, 9]), expected[[5, 0, 9]])
    np.testing.assert_array_equal(train(rows, ds.y[idx], "float32"),
                                  train(expected, ds.y[idx], "float32"))


def test_train_job_on_a_folder_equals_the_same_arrays_in_memory(tmp_path):
    folder = write_folder(tmp_path / "small", n=600, d=8)
    np.savez(tmp_path / "small.npz", X=np.load(folder / "X.npy"), y=np.load(folder / "y.npy"))
    from gdlab.lab.runs import run_training

    config = dict(layers=[8], epochs=4, batch_size=16, seed=2, tol=None)
    runs = {}
    for name, dataset in (("disk", folder), ("memory", tmp_path / "small.npz")):
        metrics = run_training(dict(config, dataset=str(dataset)), tmp_path / name, log=None)
        runs[name] = (metrics, gdlab.load_model(tmp_path / name))
    (m_disk, disk), (m_mem, mem) = runs["disk"], runs["memory"]
    assert m_disk["n_train"] == m_mem["n_train"] and m_disk["n_test"] == m_mem["n_test"]
    for a, b in zip(disk[-1].coefs_, mem[-1].coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(disk.named_steps["scale"].scale_, mem.named_steps["scale"].scale_,
                               rtol=1e-12)
    X = np.load(folder / "X.npy")[:50]
    np.testing.assert_array_equal(disk.predict(X), mem.predict(X))


def test_bad_folders_are_named(tmp_path):
    folder = write_folder(tmp_path / "bad", n=20, d=4)
    np.save(folder / "y.npy", np.zeros(19))
    with pytest.raises(ValueError, match=r"y.npy .* one value per row of X \(20\)"):
        gdlab.load_dataset(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a file nor a dataset folder .*X.npy"):
        gdlab.load_dataset(tmp_path / "empty")
    np.save(folder / "y.npy", np.zeros(20))
    (folder / "dataset.json").write_text(json.dumps({"feature_names": ["a", "b"]}))
    with pytest.raises(ValueError, match="names 2 features but X has 4 columns"):
        gdlab.load_dataset(folder)


def test_nan_in_the_map_is_named_with_its_row(tmp_path):
    folder = write_folder(tmp_path / "nan", n=3000, d=5)
    X = np.load(folder / "X.npy", mmap_mode="r+")
    X[2345, 3] = np.nan
    X.flush()
    rows = ScaledRows(np.load(folder / "X.npy", mmap_mode="r"), dtype="float32")
    with pytest.raises(ValueError, match=r"row 2345, column 3"):
        train(rows, np.load(folder / "y.npy"), "float32")


class _Recording(np.ndarray):
    """An array that records the rows every ``take`` gathers from it."""

    def take(self, indices, *args, **kwargs):
        self.taken.append(np.array(indices))
        return np.asarray(self).take(indices, *args, **kwargs)


class _Rank(Communicator):
    """Rank ``rank`` of 2 whose collectives are local (the rows it reads are what is checked)."""

    def __init__(self, rank):
        self.rank, self.size = rank, 2

    def allreduce_(self, array):
        array *= 2


def test_each_rank_gathers_only_its_shard_of_every_batch():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(103, 6)), rng.integers(0, CLASSES, 103)
    seen = []
    for rank in range(2):
        source = X.view(_Recording)
        source.taken = []
        train(ScaledRows(source, mean=X.mean(0), scale=X.std(0), dtype="float64"), y,
              "float64", comm=_Rank(rank), epochs=2)
        seen.append(np.concatenate(source.taken))
    # the epochs' orders, as the trainer draws them (seed 5), cut into batches of 64
    order = np.random.default_rng(5)
    expected = [[], []]
    for _ in range(2):
        perm = order.permutation(103)
        for s in range(0, 103, 64):
            batch = perm[s:s + 64]
            for rank in range(2):
                expected[rank].append(_Rank(rank).shard(batch))
    for rank in range(2):
        np.testing.assert_array_equal(seen[rank], np.concatenate(expected[rank]))
    assert len(seen[0]) + len(seen[1]) == 2 * 103


@pytest.mark.parametrize("Estimator", [GDClassifier, GDRegressor])
def test_estimators_fit_rows_on_disk_as_in_memory(folder, Estimator):
    ds = gdlab.load_dataset(folder)
    scaler = streaming_scaler(ds.X)
    rows = ScaledRows(ds.X, mean=scaler.mean_, scale=scaler.scale_, dtype="float32")[np.arange(4000)]
    y = ds.y[:4000].astype(float) if Estimator is GDRegressor else ds.y[:4000]
    options = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        disk = Estimator(**options).fit(rows, y)
        memory = Estimator(**options).fit(
            in_memory(ds.X[:4000], scaler.mean_, scaler.scale_, "float32"), y)
        whole = Estimator(**options).fit(ds.rows(), ds.y)  # the folder's X, as training reads it
    for a, b in zip(disk.coefs_ + disk.intercepts_, memory.coefs_ + memory.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert disk.n_features_in_ == D
    assert whole.n_features_in_ == D and whole.n_iter_ == 2
    np.testing.assert_array_equal(ds.rows()[:100], in_memory(ds.X[:100], scaler.mean_,
                                                             scaler.scale_, "float32"))
    with pytest.raises(ValueError, match="lbfgs"):
        Estimator(solver="lbfgs").fit(rows, y)


@pytest.mark.parametrize("Estimator", [GDClassifier, GDRegressor])
def test_estimators_predict_and_score_rows_on_disk_a_chunk_at_a_time(folder, Estimator):
    """predict, predict_proba and score on the folder's rows give what they give on the same
    arrays in memory, and read the map a chunk at a time (tracemalloc, as for fit)."""
    ds = gdlab.load_dataset(folder)
    scaler = streaming_scaler(ds.X)
    whole = in_memory(ds.X, scaler.mean_, scaler.scale_, "float32")
    rows = ScaledRows(ds.X, mean=scaler.mean_, scale=scaler.scale_, dtype="float32")
    y = ds.y.astype(float) if Estimator is GDRegressor else ds.y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = Estimator(hidden_layer_sizes=(8,), max_iter=2, random_state=0,
                        batch_size=256).fit(whole[:4000], y[:4000])
    tracemalloc.start()
    try:
        predicted = est.predict(rows)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.1 * ds.X.nbytes, (peak, ds.X.nbytes)
    # float32 products over chunks of another height may differ in the last bit (BLAS blocking)
    if Estimator is GDClassifier:
        np.testing.assert_array_equal(predicted, est.predict(whole))
        np.testing.assert_allclose(est.predict_proba(rows), est.predict_proba(whole), rtol=1e-5)
        assert est.score(rows, y) == est.score(whole, y)
    else:
        # values of order y's spread, near 0 only by cancellation: float32 rounding of that order
        np.testing.assert_allclose(predicted, est.predict(whole), rtol=1e-5, atol=1e-5 * y.std())
        assert est.score(rows, y) == pytest.approx(est.score(whole, y), rel=1e-6)
    with pytest.raises(ValueError, match="expecting 120 features"):
        est.predict(ScaledRows(ds.X[:, :60]))


# ---- 2 MPI ranks -----------------------------------------------------------------------------

def _rank_main(folder, out):
    """Each rank of the mpiexec run: fit on the map under tracemalloc, save what it saw."""
    from gdlab.distributed import get_communicator

    comm = get_communicator(expected_size=2)
    ds = gdlab.load_dataset(folder)
    scaler = streaming_scaler(ds.X)
    rows = ScaledRows(ds.X, mean=scaler.mean_, scale=scaler.scale_, dtype="float64")
    params, peak = fit_traced(rows, ds.y, "float64", comm)
    np.save(Path(out) / f"rank{comm.rank}.npy", params)
    (Path(out) / f"rank{comm.rank}.json").write_text(json.dumps(
        {"rank": comm.rank, "size": comm.size, "peak": peak, "x_bytes": int(ds.X.nbytes),
         "pid": os.getpid()}))


@pytest.mark.mpi
def test_two_ranks_read_the_map_and_equal_one_process(folder, tmp_path):
    pytest.importorskip("mpi4py")
    from gdlab.distributed.launch import find_mpiexec

    try:
        mpiexec = find_mpiexec()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    done = subprocess.run([mpiexec, "-n", "2", sys.executable, __file__, "--rank-worker",
                           str(folder), str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    facts = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [f["rank"] for f in facts] == [0, 1] and all(f["size"] == 2 for f in facts)
    assert facts[0]["pid"] != facts[1]["pid"]
    for f in facts:
        assert f["peak"] < 0.10 * f["x_bytes"], f
    ranks = [np.load(tmp_path / f"rank{r}.npy") for r in range(2)]
    np.testing.assert_array_equal(ranks[0], ranks[1])
    ds = gdlab.load_dataset(folder)
    scaler = streaming_scaler(ds.X)
    one = train(in_memory(ds.X, scaler.mean_, scaler.scale_, "float64"), ds.y, "float64")
    rel = np.max(np.abs(ranks[0] - one)) / np.max(np.abs(one))
    assert rel < 1e-9


if __name__ == "__main__" and "--rank-worker" in sys.argv:
    _rank_main(sys.argv[-2], sys.argv[-1])
