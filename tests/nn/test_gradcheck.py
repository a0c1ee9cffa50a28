"""gradcheck itself: it passes correct backward passes and catches wrong ones."""

import numpy as np
import pytest

import gdlab
from gdlab.nn.gradcheck import gradcheck_network


class WrongTanh(gdlab.Tanh):
    """A deliberately wrong derivative (forgets the square)."""

    def backward(self, grad, need_input_grad=True):
        return grad * (1.0 - self._out)


def test_catches_a_wrong_derivative(rng):
    net = gdlab.Sequential([gdlab.Dense(3, 4), WrongTanh(), gdlab.Dense(4, 2)], dtype="float64")
    report = gdlab.gradcheck(net, gdlab.MSELoss(), rng.normal(size=(5, 3)), rng.normal(size=(5, 2)))
    assert not report.passed
    worst = {e.name: e.max_rel_error for e in report.entries}
    assert worst["W1"] > 1e-2 and worst["W2"] < 1e-6  # the error shows below the wrong layer only


def test_checks_a_float32_network_in_float64_without_changing_it(rng):
    net = gdlab.nn.sequential.mlp(3, [4], 2, "sigmoid", dtype="float32")
    before = net.flat_parameters.copy()
    report = gdlab.gradcheck(net, gdlab.CrossEntropyLoss(), rng.normal(size=(6, 3)),
                             rng.integers(0, 2, size=6))
    assert report.passed, str(report)
    np.testing.assert_array_equal(net.flat_parameters, before)
    assert net.dtype == np.float32


def test_report_names_every_array_and_prints_a_table():
    report = gradcheck_network((3,), "relu")
    assert [e.name for e in report.entries] == ["W1", "b1", "W2", "b2"]
    text = str(report)
    assert "W1" in text and "PASS" in text


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="eps must be > 0"):
        gdlab.gradcheck(gdlab.nn.sequential.mlp(2, [2], 1), gdlab.MSELoss(), np.ones((2, 2)),
                        np.ones((2, 1)), eps=0)
    with pytest.raises(ValueError, match="task must be"):
        gradcheck_network(task="ranking")


def test_an_array_whose_true_gradient_is_zero_passes(rng):
    # a bias right before BatchNorm has an exact gradient of zero; only rounding noise remains
    net = gdlab.Sequential([gdlab.Dense(3, 4), gdlab.BatchNorm(4), gdlab.Tanh(), gdlab.Dense(4, 2)],
                           dtype="float64")
    report = gdlab.gradcheck(net, gdlab.CrossEntropyLoss(), rng.normal(size=(6, 3)),
                             rng.integers(0, 2, size=6))
    assert report.passed, str(report)
    b1 = next(e for e in report.entries if e.name == "b1")
    assert b1.max_abs_error <= 1e-8
