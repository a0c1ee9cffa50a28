"""The compiled gather of a batch's rows (``take_rows_``) in training: a step copies its rows
on the kernels' threads where the network's kernels run, and the training is the same bits as
with ``np.take``."""

import numpy as np
import pytest

from gdlab.kernels import FAST_MIN_SIZE, builds
from gdlab.nn.losses import CrossEntropyLoss
from gdlab.nn.sequential import mlp
from gdlab.optim import Adam
from gdlab.training import Trainer, epoch


def _fit(X, y, hidden=24, fast=None, batch=32):
    net = mlp(X.shape[1], (hidden,), 3, seed=3, fast=fast)
    trainer = Trainer(net, CrossEntropyLoss(), Adam([net.flat_parameters], lr=0.01),
                      batch_size=batch, epochs=3, tol=None, seed=0)
    trainer.fit(X, y)
    return trainer, net.flat_parameters.copy()


@pytest.fixture
def data(rng):
    X = rng.normal(size=(500, 40)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)


def test_training_gathers_with_the_kernel_and_gives_the_same_bits(kernel_backend, data,
                                                                 monkeypatch):
    with_kernel, p_kernel = _fit(*data, fast=True)
    assert with_kernel.rows_kernel is builds.select(True, 0).take_rows_
    monkeypatch.setattr(epoch, "rows_kernel", lambda net, data: None)
    with_take, p_take = _fit(*data, fast=True)
    assert with_take.rows_kernel is None
    np.testing.assert_array_equal(p_kernel, p_take)
    assert with_kernel.history["loss"] == with_take.history["loss"]
    assert not np.array_equal(p_kernel, mlp(40, (24,), 3, seed=3).flat_parameters)


def test_the_gather_follows_the_networks_kernels(kernel_backend, data):
    X, y = data
    assert _fit(X, y, fast=False)[0].rows_kernel is None
    assert _fit(X, y)[0].rows_kernel is None  # a small network, small batches: np.take
    big, _ = _fit(X, y, hidden=FAST_MIN_SIZE // 40)
    assert big.rows_kernel is builds.select(True, 0).take_rows_

