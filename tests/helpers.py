"""Helpers shared by the tests: tolerance checks, torch conversions, a headless Chromium."""

import os
import shutil

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


def headless_chrome(width=1280, extra_args=(), capabilities=None):
    """Debian's chromium through its chromedriver (Selenium), headless, ``width`` pixels wide.
    Skips where either is missing, but fails under CI, which installs them."""
    import pytest

    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium and chromedriver are required under CI")
        pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1",
                f"--window-size={width},1000", *extra_args):
        options.add_argument(arg)
    for key, value in (capabilities or {}).items():
        options.set_capability(key, value)
    return webdriver.Chrome(service=Service(driver), options=options)
