"""report.html of a ``gdlab train`` run (and of ``gdlab compare``), opened in headless Chromium
at a phone's width (390 px, emulated through the DevTools protocol: headless Chromium's window
is at least 500 px wide) and at 1100 px: every image loads, nothing overflows the page, no
table is cut off, the stopping reason is stated; and what the report says about the data
checked against pandas' count of the table written here."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import headless_chrome

from gdlab.lab.runs import make_config, run_training

WIDTHS = (390, 1100)

#: what a page shows: its images, its width, the tables (and blocks) wider than their box
PAGE = """
var imgs = Array.from(document.images);
var boxes = Array.from(document.querySelectorAll('.scroll'));
var w = document.documentElement.clientWidth, out = [];
document.querySelectorAll('body *').forEach(function (el) {
  if (!el.getClientRects().length) return;
  var r = el.getBoundingClientRect();
  if (r.right > w + 0.5 || r.left < -0.5) out.push(el.tagName + '.' + el.className);
});
return {images: imgs.length,
        loaded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
        innerWidth: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
        cut: boxes.filter(function (b) { return b.scrollWidth > b.clientWidth + 1; }).length,
        tables: boxes.length, outside: out, text: document.body.innerText};
"""


@pytest.fixture(scope="module")
def chrome():
    browser = headless_chrome()
    yield browser
    browser.quit()


def page_at(chrome, path, width):
    """The page laid out ``width`` pixels wide (a phone below 500: mobile emulation)."""
    chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500})
    chrome.get(path.as_uri())
    return chrome.execute_script(PAGE)


def assert_fits(page, n_images):
    assert page["images"] == n_images and page["loaded"] == n_images, page
    assert page["scrollWidth"] <= page["innerWidth"], page
    assert page["outside"] == [] and page["cut"] == 0, page


def table(tmp_path, task: str, n: int = 240):
    """A table with numbers, text, booleans and missing cells; the target's kind by ``task``."""
    rng = np.random.default_rng(3)
    area = rng.uniform(40, 200, n)
    district = rng.choice(["north", "south", "east", "west"], n)
    garden = rng.random(n) < 0.4
    rooms = rng.integers(1, 7, n).astype(float)
    score = area / 40 + (district == "north") * 2 + garden + rng.normal(0, 0.3, n)
    frame = pd.DataFrame({"area": area, "district": district, "garden": garden,
                          "rooms": rooms})
    frame.loc[rng.choice(n, 17, replace=False), "area"] = np.nan
    frame.loc[rng.choice(n, 9, replace=False), "district"] = None
    frame.loc[rng.choice(n, 5, replace=False), "rooms"] = np.nan
    if task == "classification":
        frame["grade"] = np.where(score > np.median(score), "high", "low")
    else:
        frame["grade"] = 1000 * score + 5000
    path = tmp_path / f"{task}.csv"
    frame.to_csv(path, index=False)
    return path, frame


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    out = {}
    for task, extra in (("classification", {"tol": None, "epochs": 6}),
                        ("regression", {"tol": 0.05, "patience": 2, "epochs": 60})):
        path, frame = table(root, task)
        config = make_config(dataset=str(path), target="grade", layers=[8], batch_size=16,
                             checkpoint_every=100, **extra)
        metrics = run_training(config, root / task, log=None)
        out[task] = (root / task, frame, metrics)
    # an array dataset, the rate chosen by the range test
    config = make_config(dataset="iris", layers=[8], batch_size=16, epochs=5, tol=None,
                         lr="auto", checkpoint_every=100)
    out["array"] = (root / "iris", None, run_training(config, root / "iris", log=None))
    return out


def test_array_run_report_with_lr_auto_fits_a_phone_and_1100_px(chrome, runs):
    folder, _, metrics = runs["array"]
    assert metrics["lr_find"]["suggestion"] == metrics["config"]["lr"]
    for width in WIDTHS:
        page = page_at(chrome, folder / "report.html", width)
        assert_fits(page, 4)   # loss, accuracy, confusion matrix, range test
        text = " ".join(page["text"].split())
        assert "Stopped because: it reached --epochs 5" in text
        assert "4 numeric features of an array" in text
        assert f"suggested {metrics['config']['lr']:.4g}" in text


@pytest.mark.parametrize("task, figures", [
    ("classification", {"loss.png", "accuracy.png", "confusion_matrix.png"}),
    ("regression", {"loss.png", "predicted.png"})])
def test_train_report_loads_every_image_and_fits_a_phone_and_1100_px(chrome, runs, task,
                                                                      figures):
    folder, frame, metrics = runs[task]
    assert figures <= {p.name for p in folder.iterdir()}
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html and "<script" not in html
    for width in WIDTHS:
        page = page_at(chrome, folder / "report.html", width)
        assert_fits(page, len(figures))
        text = " ".join(page["text"].split())
        assert "Stopped because:" in text
        if task == "classification":   # tol off: the run stops at its 6 epochs
            assert "it reached --epochs 6" in text
        else:                           # a loose tol: the patience rule stops it early
            assert metrics["epochs"] < 60
            assert "improved by less than --tol 0.05 for --patience 2 epochs" in text
        for name in frame.columns[:-1]:
            assert name in text
        assert f"{len(frame)} rows" in text


def test_train_report_states_the_encodings_and_the_filled_cells(chrome, runs):
    folder, frame, _ = runs["classification"]
    page = page_at(chrome, folder / "report.html", 1100)
    rows = chrome.execute_script(
        "return Array.from(document.querySelectorAll('#data tbody tr')).map(function (r) {"
        " return Array.from(r.cells).map(function (c) { return c.innerText; }); });")
    by_column = {r[0]: r for r in rows}
    features = frame.drop(columns="grade")
    assert set(by_column) == set(features.columns)
    for name in features.columns:
        assert int(by_column[name][3]) == int(features[name].isna().sum())
    assert by_column["district"][1] == "text" and by_column["garden"][1] == "boolean"
    assert "one-hot, 4 categories" in by_column["district"][2]
    assert "one-hot, 2 categories" in by_column["garden"][2]
    assert "standardised" in by_column["area"][2]
    total = int(features.isna().sum().sum())
    assert f"Filled cells: {total}" in " ".join(page["text"].split())


def test_train_report_confusion_matrix_matches_the_models_predictions(runs):
    """The report's confusion figure comes from metrics.json's matrix: check that one against
    scikit-learn on the saved model's predictions for the test rows."""
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import train_test_split

    import gdlab

    folder, frame, metrics = runs["classification"]
    model = gdlab.load_model(folder)
    X, y = frame.drop(columns="grade"), frame["grade"]
    # the run's test part: scikit-learn's stratified split of the rows, 20 %, seed 0
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    assert len(X_test) == metrics["n_test"]
    expected = confusion_matrix(y_test, model.predict(X_test), labels=metrics["classes"])
    np.testing.assert_array_equal(metrics["test_confusion_matrix"], expected)


def test_compare_summary_table_is_whole_at_1100_px_and_on_a_phone(chrome, tmp_path):
    out = tmp_path / "cmp"
    proc = subprocess.run(
        [sys.executable, "-m", "gdlab", "compare", "--dataset", "iris", "--optimizers",
         "sgd,adam", "--batch-sizes", "full,16", "--lrs", "0.05,1000", "--seeds", "2",
         "--epochs", "3", "--layers", "6", "--jobs", "1", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for width in WIDTHS:
        page = page_at(chrome, out / "report.html", width)
        assert_fits(page, 3)
        assert page["tables"] == 2
