"""The playground's page in a real headless Chromium (Debian's chromium and chromedriver,
through Selenium): drawn right after load, driven by its buttons, and the README's screenshot.

``GDLAB_WRITE_DOCS=1 pytest tests/playground/test_playground_page.py`` also writes the
screenshot the README shows, ``docs/playground.png``.
"""

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 1280
NEG, POS = np.array([245, 147, 34]), np.array([8, 119, 189])   # the page's class colours


def _chrome():
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
                f"--window-size={WIDTH},1000", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def browser():
    chrome = _chrome()
    yield chrome
    chrome.quit()


def _until(browser, script, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def _screenshot(browser, path):
    """The whole page at WIDTH pixels, as an (h, w, 3) array of 0..255."""
    import matplotlib.image as mpimg

    height = browser.execute_script("return document.documentElement.scrollHeight")
    frame = browser.execute_script("return window.outerHeight - window.innerHeight")
    browser.set_window_size(WIDTH, height + max(0, frame))
    time.sleep(0.3)
    browser.save_screenshot(str(path))
    return (mpimg.imread(str(path))[..., :3] * 255).round().astype(int)


def _crop(browser, pixels, element_id):
    box = browser.execute_script(
        "var r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];",
        element_id)
    x, y, w, h = (int(round(v)) for v in box)
    return pixels[y + 2:y + h - 2, x + 2:x + w - 2]


def _near(pixels, colour, tol=25):
    return int((np.abs(pixels - colour).max(axis=-1) <= tol).sum())


def _errors(browser):
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.slow
def test_right_after_load_the_data_and_the_heat_map_are_drawn(server, browser, tmp_path):
    browser.set_window_size(WIDTH, 1000)
    browser.get(server.url)
    _until(browser, "return document.body.dataset.ready === '1'")
    pixels = _screenshot(browser, tmp_path / "load.png")
    assert pixels.shape[1] == WIDTH
    assert pixels.std() > 20                       # not a blank page
    view = _crop(browser, pixels, "boundary")
    assert view.shape[0] > 300 and view.shape[1] > 300
    # the heat map: tints of both classes' colours over most of the view ...
    orange_tint = (view[..., 0] - view[..., 2] > 25).mean()
    blue_tint = (view[..., 2] - view[..., 0] > 25).mean()
    assert orange_tint > 0.05 and blue_tint > 0.05 and orange_tint + blue_tint > 0.5
    assert len(np.unique(view.reshape(-1, 3), axis=0)) > 200      # a gradient, not flat
    # ... and the points in the classes' full colours (320 training points of radius 3.4)
    assert _near(view, NEG) > 300 and _near(view, POS) > 300
    state = browser.execute_script("return window.gdlabPlayground.state.summary")
    assert state["status"] == "paused" and state["step"] == 0     # nothing trained yet
    assert browser.execute_script("return document.documentElement.scrollWidth") <= WIDTH
    assert not _errors(browser), _errors(browser)


@pytest.mark.slow
def test_the_buttons_drive_the_run(server, browser):
    browser.set_window_size(WIDTH, 1000)
    browser.get(server.url)
    _until(browser, "return document.body.dataset.ready === '1'")
    first = browser.execute_script("return window.gdlabPlayground.state.run")
    browser.find_element("css selector", "#datasets button[data-name='moons']").click()
    _until(browser, "var s = window.gdlabPlayground.state;"
                    f"return s.run && s.run !== '{first}' && s.data.dataset === 'moons';")
    run_id = browser.execute_script("return window.gdlabPlayground.state.run")
    assert server.get(f"/api/runs/{first}")["status"] == "stopped"   # the old run let go
    browser.find_element("id", "step").click()
    _until(browser, "return window.gdlabPlayground.state.summary.step === 1")
    assert server.get(f"/api/runs/{run_id}")["step"] == 1
    browser.find_element("id", "play").click()
    _until(browser, "return window.gdlabPlayground.state.summary.status === 'done'")
    shown = browser.execute_script("return window.gdlabPlayground.state.history")
    assert shown == server.get(f"/api/runs/{run_id}")["history"]
    assert browser.find_element("id", "status").text == "done"
    assert not _errors(browser), _errors(browser)


@pytest.mark.slow
def test_a_trained_spiral_for_the_readme(server, browser, tmp_path):
    browser.set_window_size(WIDTH, 1000)
    browser.get(server.url)
    _until(browser, "return document.body.dataset.ready === '1'")
    browser.execute_script(
        "window.gdlabPlayground.setConfig({dataset: 'spirals', layers: [16, 16], max_steps: 5000})"
        ".then(function () { window.gdlabPlayground.play(); });")
    _until(browser, "var s = window.gdlabPlayground.state.summary;"
                    "return s && s.status === 'done' && s.step === 5000;")
    time.sleep(0.5)
    path = tmp_path / "playground.png"
    pixels = _screenshot(browser, path)
    loss = _crop(browser, pixels, "loss-chart")
    assert _near(loss, np.array([8, 119, 189]), tol=30) > 200          # the training loss line
    view = _crop(browser, pixels, "boundary")
    assert _near(view, NEG) > 300 and _near(view, POS) > 300
    text = browser.find_element("id", "stepcount").text
    assert text == "5,000 / 5,000"
    if os.environ.get("GDLAB_WRITE_DOCS") == "1":
        shutil.copy(path, ROOT / "docs" / "playground.png")
