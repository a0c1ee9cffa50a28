"""Headless Chromium for the playground's page tests (Debian's chromium and chromedriver,
through Selenium): the browser, waiting for the page, screenshots, phones, overflow."""

import time
from pathlib import Path

import numpy as np
from helpers import headless_chrome

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 1280
NEG, POS = np.array([245, 147, 34]), np.array([8, 119, 189])   # the page's class colours


def _chrome():
    return headless_chrome(
        WIDTH, ("--disable-background-networking", "--disable-component-update", "--no-first-run"),
        {"goog:loggingPrefs": {"browser": "ALL"}})


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


def phone(browser, width=390, height=844):
    """Lay the page out as a phone ``width`` pixels wide (the DevTools protocol: headless
    Chromium's window is at least 500 pixels wide, so a window size cannot do it)."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
    time.sleep(0.3)


def desktop(browser):
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.set_window_size(WIDTH, 1000)


def phone_screenshot(browser, path, width=390):
    """The whole page laid out ``width`` pixels wide, as an (h, w, 3) array of 0..255."""
    import matplotlib.image as mpimg

    height = browser.execute_script("return document.documentElement.scrollHeight")
    phone(browser, width, height)
    browser.save_screenshot(str(path))
    return (mpimg.imread(str(path))[..., :3] * 255).round().astype(int)


#: the elements that stick out of the viewport (past the right edge or the left) or out of
#: the panel that holds them, except what a scrolling box (the code's pre) holds
OVERFLOW = """
var w = document.documentElement.clientWidth, out = [];
document.querySelectorAll('body *').forEach(function (el) {
  if (!el.getClientRects().length) return;
  for (var p = el.parentElement; p; p = p.parentElement) {
    var o = getComputedStyle(p).overflowX;
    if (o === 'auto' || o === 'scroll' || o === 'hidden') return;
  }
  var r = el.getBoundingClientRect(), panel = el.parentElement && el.parentElement.closest('.panel');
  var box = panel ? panel.getBoundingClientRect() : {left: 0, right: w};
  if (r.right > Math.min(w, box.right) + 0.5 || r.left < box.left - 0.5) {
    out.push(el.tagName + '#' + el.id + '.' + el.className + ' ' + Math.round(r.left) + '..' +
             Math.round(r.right));
  }
});
return [w, document.documentElement.scrollWidth, out];
"""


def overflow(browser):
    """``(viewport width, page width, [elements sticking out])``."""
    return browser.execute_script(OVERFLOW)
