"""report.html is self-contained and phone-readable; report.md links the saved figures."""

import base64
import io
import re

import matplotlib.image as mpimg
import pytest

from gdlab.report import Report, Table, figure, plots


@pytest.fixture
def report():
    fig = plots.loss_figure({"loss": [1.0, 0.5, 0.25]}, loss_name="mse")
    return (Report("A <test> report")
            .section("Setup", "Some text & more.")
            .section("Results", Table("the table", ["name", "value"], [["a|b", 0.123456],
                                                                        ["c", float("nan")]]),
                     figure(fig, "the loss", "loss.png")))


def test_html_is_self_contained(tmp_path, report):
    html_path, md_path = report.write(tmp_path)
    html = html_path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "max-width" in html and "overflow-x: auto" in html
    assert "<title>A &lt;test&gt; report</title>" in html
    assert "Some text &amp; more." in html
    assert not re.search(r"(src|href)=\"(?!data:)", html)  # no external file or URL
    assert "http" not in html
    (data,) = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    img = mpimg.imread(io.BytesIO(base64.b64decode(data)), format="png")
    assert img.ndim == 3 and img.shape[0] > 100
    assert "<td>0.1235</td>" in html and "<td>—</td>" in html


def test_markdown_links_the_saved_figure(tmp_path, report):
    _, md_path = report.write(tmp_path)
    md = md_path.read_text()
    assert md.startswith("# A <test> report")
    assert "## Results" in md
    assert "| name | value |" in md and "| a\\|b | 0.1235 |" in md
    assert "![the loss](loss.png)" in md
    mpimg.imread(tmp_path / "loss.png")


def test_bad_items_are_rejected():
    with pytest.raises(TypeError, match="Table or Figure"):
        Report("t").section("s", 42).to_html()
