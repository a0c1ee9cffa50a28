"""Helpers shared by the tests: tolerance checks and torch conversions."""

import numpy as np

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def rel_err(a, b):
    """max |a - b| / max |b| (the absolute error when b is all zeros)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = np.max(np.abs(b), initial=0.0)
    err = np.max(np.abs(a - b), initial=0.0)
    return err / scale if scale > 0 else err


def to_torch(a, requires_grad=False):
    import torch

    t = torch.from_numpy(np.array(a, copy=True))
    if requires_grad:
        t.requires_grad_(True)
    return t


def torch_linear_from_dense(dense):
    """A torch.nn.Linear holding the same weights as a gdlab Dense (W is torch's weight transposed)."""
    import torch

    dtype = torch.float64 if dense.W.dtype == np.float64 else torch.float32
    lin = torch.nn.Linear(dense.in_features, dense.out_features, bias=dense.bias, dtype=dtype)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(dense.W.T.copy()))
        if dense.bias:
            lin.bias.copy_(torch.from_numpy(dense.b.copy()))
    return lin
