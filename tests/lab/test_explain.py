"""gdlab explain: every number of the worked step is recomputed independently with PyTorch."""

import re
import subprocess
import sys

import numpy as np
import pytest

from gdlab.lab.explain import DEFAULT_X, DEFAULT_Y, render, worked_step

torch = pytest.importorskip("torch")

ACTS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def torch_step(step, activation):
    """Forward, loss, backward and one SGD step in torch from the step's initial parameters."""
    params = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in step.params_before]
    X = torch.tensor(step.X, dtype=torch.float64)
    y = torch.tensor(step.y)
    a, zs, acts = X, [], []
    n_dense = len(params) // 2
    for k in range(n_dense):
        z = a @ params[2 * k] + params[2 * k + 1]
        z.retain_grad()
        zs.append(z)
        if k < n_dense - 1:
            a = ACTS[activation](z)
            a.retain_grad()
            acts.append(a)
        else:
            a = z
    loss = torch.nn.functional.cross_entropy(a, y)
    loss.backward()
    opt = torch.optim.SGD(params, lr=step.lr)
    opt.step()
    with torch.no_grad():
        a = X
        for k in range(n_dense):
            a = a @ params[2 * k] + params[2 * k + 1]
            if k < n_dense - 1:
                a = ACTS[activation](a)
        loss_after = torch.nn.functional.cross_entropy(a, y)
    return {
        "z": [z.detach().numpy() for z in zs],
        "a": [t.detach().numpy() for t in acts],
        "delta": [z.grad.numpy() for z in zs],
        "dA": [t.grad.numpy() for t in acts],
        "probs": torch.softmax(zs[-1], dim=1).detach().numpy(),
        "loss": loss.item(),
        "grads": [p.grad.numpy() for p in params],
        "after": [p.detach().numpy() for p in params],
        "loss_after": loss_after.item(),
    }


@pytest.mark.parametrize("hidden,activation,lr", [((3,), "sigmoid", 0.5), ((4, 3), "tanh", 0.1),
                                                  ((5,), "relu", 1.0)])
def test_every_number_matches_torch(hidden, activation, lr):
    step = worked_step(hidden=hidden, activation=activation, lr=lr, seed=3)
    ref = torch_step(step, activation)
    np.testing.assert_array_equal(step.X, DEFAULT_X)
    np.testing.assert_array_equal(step.y, DEFAULT_Y)
    for d, z, delta in zip(step.dense, ref["z"], ref["delta"]):
        np.testing.assert_allclose(d.z, z, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(d.delta, delta, rtol=1e-12, atol=1e-14)
    for act, a, da, delta in zip(step.activations, ref["a"], ref["dA"], ref["delta"]):
        np.testing.assert_allclose(act.a, a, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(act.grad_out, da, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(act.grad_in, delta, rtol=1e-12, atol=1e-14)
        # the derivative shown satisfies delta = dL/da * f'(z)
        np.testing.assert_allclose(act.grad_out * act.derivative, delta, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(step.probs, ref["probs"], rtol=1e-12)
    assert step.loss_before == pytest.approx(ref["loss"], rel=1e-12)
    np.testing.assert_allclose(step.sample_losses.mean(), ref["loss"], rtol=1e-12)
    for g, rg in zip(step.grads, ref["grads"]):
        np.testing.assert_allclose(g, rg, rtol=1e-10, atol=1e-14)
    for p, rp in zip(step.params_after, ref["after"]):
        np.testing.assert_allclose(p, rp, rtol=1e-12, atol=1e-14)
    assert step.loss_after == pytest.approx(ref["loss_after"], rel=1e-12)
    assert step.loss_decreased == (ref["loss_after"] < ref["loss"])


def test_text_shows_the_numbers_and_the_verdict():
    step = worked_step()
    ref = torch_step(step, "sigmoid")
    text = render(step)
    for heading in ("Forward pass", "Loss", "Backward pass (chain rule)",
                    "new weight = old weight - lr * gradient", "Did the loss go down?"):
        assert heading in text
    assert f"Loss before the step: {ref['loss']:.6f}; after: {ref['loss_after']:.6f}" in text
    assert ref["loss_after"] < ref["loss"]
    assert "the loss went down" in text
    # every parameter element has its update line, with torch's numbers
    W1, g1, W1_new = step.params_before[0], ref["grads"][0], ref["after"][0]
    assert f"W1[2,3] = {W1[1, 2]:.4f} - 0.5 * ({g1[1, 2]:.4f}) = {W1_new[1, 2]:.4f}" in text
    n_updates = len(re.findall(r"^\s*(W|b)\d\[[\d,]+\] = ", text, flags=re.M))
    assert n_updates == sum(p.size for p in step.params_before) == 2 * 3 + 3 + 3 * 2 + 2
    # the chain rule through the sigmoid: f'(z) = a (1 - a), from torch's activations
    a1 = ref["a"][0]
    assert f"{a1[3, 0] * (1 - a1[3, 0]):.4f}" in text


def test_too_large_a_step_is_reported_as_such():
    step = worked_step(lr=200.0, seed=1)
    ref = torch_step(step, "sigmoid")
    assert ref["loss_after"] > ref["loss"]  # torch agrees the step overshot
    assert not step.loss_decreased
    assert "the loss went up" in render(step)


def test_markdown_format():
    md = render(worked_step(), fmt="markdown")
    assert md.startswith("# One step of gradient descent on a 2-3-2 network")
    assert "\n## 3. Forward pass\n" in md
    assert md.count("```") % 2 == 0 and md.count("```") >= 20
    with pytest.raises(ValueError, match="format"):
        render(worked_step(), fmt="html")


def test_cli_explain_subprocess():
    step = worked_step(hidden=(4,), activation="tanh", lr=0.2, seed=5)
    ref = torch_step(step, "tanh")
    out = subprocess.run(
        [sys.executable, "-m", "gdlab", "explain", "--layers", "4", "--activation", "tanh",
         "--lr", "0.2", "--seed", "5", "--format", "markdown"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "2-4-2 network" in out.stdout
    assert f"Loss before the step: {ref['loss']:.6f}" in out.stdout
    assert "## 6. Update" in out.stdout
