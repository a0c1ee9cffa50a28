"""The page for teaching, in a real headless Chromium: a shared link restores every setting and
starts the run, a setting changed in the page changes the URL, compare mode draws two
boundaries (the README's screenshot), the code panel shows and copies the API's code, and the
page fits a 1280-pixel screen and a 390-pixel phone.

``GDLAB_WRITE_DOCS=1 pytest tests/playground/test_playground_teaching.py`` also writes the
screenshot of compare mode that the README shows, ``docs/playground-compare.png``.
"""

import os
import shutil
import time
from urllib.parse import urlsplit

import numpy as np
import pytest
from browser import (
    NEG,
    POS,
    ROOT,
    WIDTH,
    _crop,
    _errors,
    _near,
    _screenshot,
    _until,
    desktop,
    overflow,
    phone_screenshot,
)

from gdlab.playground.config import check_config, options
from gdlab.playground.links import link, parse_link
from gdlab.playground.presets import PRESETS, preset_link

pytestmark = pytest.mark.slow

READY = "return document.body.dataset.ready === '1'"
B_COLOUR = np.array([156, 39, 176])      # B's lines on the charts (#9c27b0)

#: a setting for every key of a link, none of them its default
EVERY_SETTING = {
    "dataset": "moons", "n_samples": 300, "noise": 0.2, "val_size": 0.25,
    "layers": [12, 6], "activation": ["relu", "tanh"], "batchnorm": True, "dropout": 0.1,
    "optimizer": "rmsprop", "lr": 0.01, "momentum": 0.5, "weight_decay": 0.001,
    "batch_size": 10, "alpha": 0.001, "clip_norm": 2.0, "schedule": "cosine", "seed": 3,
    "max_steps": 20000,
}


def _explicit(config):
    """``config`` checked, with the optimizer's own hyper-parameters written out (the page's
    form shows them, so a link from the page carries them)."""
    c = check_config(config)
    takes = options()["optimizers"][c["optimizer"]]
    for key in ("momentum", "betas", "weight_decay"):
        if key in takes and c[key] is None:
            c[key] = takes[key]
    return check_config(c)


def _page_link(browser):
    return parse_link(urlsplit(browser.current_url).query)


def _open(browser, url):
    desktop(browser)
    browser.get(url)
    _until(browser, READY)


def _pixels(browser, element_id):
    """What the canvas shows now, as a data URL."""
    return browser.execute_script(f"return document.getElementById('{element_id}').toDataURL()")


def test_a_shared_link_restores_every_setting_and_autostart_trains(server, browser):
    _open(browser, server.url + "?" + link(EVERY_SETTING, autostart=True))
    state = "window.gdlabPlayground.state"
    shown = check_config(browser.execute_script("return window.gdlabPlayground.config()"))
    assert shown == check_config(EVERY_SETTING)
    run = server.get("/api/runs/" + browser.execute_script(f"return {state}.run"))
    assert run["config"] == check_config(EVERY_SETTING)
    # autostart: it trains without a click, and the pictures change as it does
    _until(browser, f"return {state}.summary.status === 'running' && {state}.history.length > 3")
    loss, view = _pixels(browser, "loss-chart"), _pixels(browser, "boundary")
    step = browser.execute_script(f"return {state}.summary.step")
    _until(browser, f"return {state}.summary.step > {step} + 2000 && {state}.boundary.step > {step}")
    assert _pixels(browser, "loss-chart") != loss
    assert _pixels(browser, "boundary") != view
    server.post(f"/api/runs/{run['id']}/stop")
    # the page's own link says the same (autostart is for the link that is shared)
    again = _page_link(browser)
    assert check_config(again["config"]) == check_config(EVERY_SETTING)
    assert not again["autostart"] and not again["compare"]
    assert not _errors(browser), _errors(browser)


def test_changing_the_optimizer_in_the_page_changes_the_url(server, browser):
    from selenium.webdriver.support.ui import Select

    _open(browser, server.url)
    first = browser.current_url
    assert _page_link(browser)["config"]["optimizer"] == "adam"
    Select(browser.find_element("id", "optimizer")).select_by_value("sgd")
    _until(browser, "return location.search.indexOf('optimizer=sgd') >= 0")
    _until(browser, "var s = window.gdlabPlayground.state; return s.config && s.config.optimizer === 'sgd'")
    assert browser.current_url != first
    shared = browser.current_url
    assert _page_link(browser)["config"]["optimizer"] == "sgd"
    # the URL is the whole state: opened afresh, it shows the same settings
    before = browser.execute_script("return window.gdlabPlayground.config()")
    _open(browser, shared)
    assert browser.execute_script("return window.gdlabPlayground.config()") == before
    assert not _errors(browser), _errors(browser)


def test_swap_one_setting_sets_up_a_comparison_in_one_click(server, browser):
    _open(browser, server.url)
    browser.find_element("id", "compare").click()
    _until(browser, "return window.gdlabPlayground.state.sides.length === 2 && "
                    "document.body.dataset.ready === '1'")
    assert _page_link(browser)["b"] == {"optimizer": "sgd"}          # the default swap
    browser.find_element("css selector", "#swaps button[data-key='batch_size']").click()
    _until(browser, "return location.search.indexOf('b.batch_size=full') >= 0")
    _until(browser, "var s = window.gdlabPlayground.state.sides; return s.length === 2 && "
                    "s[1].config.batch_size === 'full' && s[1].data !== null")
    sides = browser.execute_script("return window.gdlabPlayground.state.sides.map("
                                   "function (s) { return s.config; })")
    differ = {k for k in sides[0] if sides[0][k] != sides[1][k]}
    assert differ == {"batch_size"} and _page_link(browser)["b"] == {"batch_size": "full"}
    browser.find_element("id", "compare").click()                     # and back to one run
    _until(browser, "return window.gdlabPlayground.state.sides.length === 1")
    assert "compare" not in browser.current_url
    assert not _errors(browser), _errors(browser)


def _check_view(pixels):
    orange = (pixels[..., 0] - pixels[..., 2] > 25).mean()
    blue = (pixels[..., 2] - pixels[..., 0] > 25).mean()
    assert orange > 0.05 and blue > 0.05                              # the heat map
    assert _near(pixels, NEG) > 100 and _near(pixels, POS) > 100      # the points


def test_a_lesson_in_compare_mode_draws_two_boundaries(server, browser, tmp_path):
    preset = PRESETS["adam-vs-sgd-spirals"]
    _open(browser, server.url + "?" + preset_link(preset))
    _until(browser, "var s = window.gdlabPlayground.state.sides; return s.length === 2 && "
                    "s.every(function (x) { return x.summary.status === 'done' && "
                    "x.boundary.step === 5000; })")
    time.sleep(0.5)
    parsed = _page_link(browser)
    assert parsed["compare"] and parsed["b"] == {"optimizer": "sgd"}
    assert check_config(parsed["config"]) == _explicit(preset.a)
    histories = browser.execute_script("return window.gdlabPlayground.state.sides.map("
                                       "function (s) { return s.history; })")
    assert histories[0][0] == histories[1][0]         # the same start ...
    assert histories[0][-1]["accuracy"] >= 0.95 > histories[1][-1]["accuracy"]   # ... apart
    path = tmp_path / "compare.png"
    pixels = _screenshot(browser, path)
    a, b = _crop(browser, pixels, "boundary"), _crop(browser, pixels, "boundary-b")
    for view in (a, b):
        assert view.shape[0] > 200 and view.shape[1] > 200
        _check_view(view)
    assert a.shape == b.shape and np.abs(a - b).mean() > 5             # two different pictures
    loss = _crop(browser, pixels, "loss-chart")
    assert _near(loss, np.array([8, 119, 189]), tol=30) > 100            # A's loss line
    assert _near(loss, B_COLOUR, tol=30) > 100                           # B's
    assert browser.find_element("id", "view-title-b").text.startswith("B (optimizer sgd)")
    lessons = browser.execute_script("return Array.prototype.map.call(document.getElementById("
                                     "'lessons').options, function (o) { return o.value; })")
    assert lessons[1:] == [preset_link(p) for p in PRESETS.values()]   # each lesson, a link
    assert browser.find_element("id", "lessons").get_attribute("value") == preset_link(preset)
    assert browser.find_element("id", "lesson-text").text == f"{preset.title}. {preset.lesson}"
    width, page, out = overflow(browser)
    assert page <= width == WIDTH and not out, out
    assert not _errors(browser), _errors(browser)
    if os.environ.get("GDLAB_WRITE_DOCS") == "1":
        shutil.copy(path, ROOT / "docs" / "playground-compare.png")


@pytest.mark.parametrize("compare", [False, True], ids=["one run", "compare mode"])
def test_a_phone_and_a_laptop_see_the_whole_page(server, browser, tmp_path, compare):
    query = "?" + link({"dataset": "spirals", "max_steps": 500}, {"optimizer": "sgd"}
                       if compare else None, autostart=True)
    _open(browser, server.url + query)
    _until(browser, "return window.gdlabPlayground.state.sides.every("
                    "function (s) { return s.summary.status === 'done'; })")
    _until(browser, "return document.body.dataset.code === '1'")
    time.sleep(0.3)
    wide = _screenshot(browser, tmp_path / "wide.png")
    assert wide.shape[1] == WIDTH and wide.std() > 20
    width, page, out = overflow(browser)
    assert page <= width and not out, out
    narrow = phone_screenshot(browser, tmp_path / "phone.png")
    assert narrow.shape[1] == 390 and narrow.std() > 20
    width, page, out = overflow(browser)
    assert width == 390 and page <= 390 and not out, out
    views = ["boundary", "boundary-b"] if compare else ["boundary"]
    for name in views:
        view = _crop(browser, narrow, name)
        assert view.shape[1] > (120 if compare else 300)
        _check_view(view)
    loss = _crop(browser, narrow, "loss-chart")
    assert _near(loss, np.array([8, 119, 189]), tol=30) > 30
    desktop(browser)
    assert not _errors(browser), _errors(browser)


def test_the_code_panel_shows_and_copies_the_apis_code(server, browser):
    config = {"dataset": "xor", "layers": [6], "optimizer": "momentum", "lr": 0.1,
              "batch_size": 4, "max_steps": 300}
    _open(browser, server.url + "?" + link(config))
    _until(browser, "return document.body.dataset.code === '1'")
    shown = browser.execute_script("return window.gdlabPlayground.state.config")
    code = server.post("/api/code", shown)
    assert browser.find_element("id", "code-python").text.strip() == code["python"].strip()
    assert browser.find_element("id", "code-command").text.strip() == code["command"]
    notes = [li.text for li in browser.find_elements("css selector", "#code-notes li")]
    assert notes == code["command_notes"]
    browser.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": server.url.rstrip("/"), "permissions": ["clipboardReadWrite",
                                                          "clipboardSanitizedWrite"]})
    browser.find_element("id", "copy-python").click()
    _until(browser, "return document.getElementById('copy-python').dataset.copied === '1'")
    pasted = browser.execute_async_script(
        "var done = arguments[0]; navigator.clipboard.readText().then(done, "
        "function (e) { done('error: ' + e); });")
    assert pasted == code["python"]
    assert not _errors(browser), _errors(browser)


def test_a_link_with_a_wrong_setting_says_which(server, browser):
    _open(browser, server.url + "?dataset=moons&lr=fast&colour=red")
    message = browser.find_element("id", "message").text
    assert "colour" in message and "lr" in message            # named, and left out
    config = browser.execute_script("return window.gdlabPlayground.state.config")
    assert config["dataset"] == "moons" and config["lr"] == check_config({})["lr"]
    browser.get(server.url + "?optimizer=adamm")
    _until(browser, "return document.getElementById('status').dataset.status === 'invalid'")
    assert "did you mean 'adam'" in browser.find_element("id", "message").text
    assert browser.find_element("id", "optimizer").get_attribute("class") == "invalid"
