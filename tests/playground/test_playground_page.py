"""The playground's page in a real headless Chromium (Debian's chromium and chromedriver,
through Selenium): drawn right after load, driven by its buttons, and the README's screenshot.

``GDLAB_WRITE_DOCS=1 pytest tests/playground/test_playground_page.py`` also writes the
screenshot the README shows, ``docs/playground.png``.
"""

import os
import shutil
import time

import numpy as np
import pytest
from browser import NEG, POS, ROOT, WIDTH, _crop, _errors, _near, _screenshot, _until


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
