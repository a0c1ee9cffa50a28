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
    assert '<td data-label="value">0.1235</td>' in html
    assert '<td data-label="value">—</td>' in html


def test_wide_tables_are_stacked_on_a_narrow_screen_and_text_cells_wrap():
    header = ["configuration", "runs", "final loss mean", "best val accuracy", "reached"]
    html = Report("t").section("s", Table("", header, [["adam, batch 32, lr 0.001", 3, 0.25,
                                                        0.9, "3/3"]]),
                               Table("", ["a", "b"], [[1, 2]])).to_html()
    assert html.count('<table class="wide">') == 1 and html.count("<table>") == 1
    assert '<td class="text" data-label="configuration">adam, batch 32, lr 0.001</td>' in html
    assert '<td data-label="reached">3/3</td>' in html
    assert "@media (max-width: 40rem)" in html and "content: attr(data-label)" in html


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


# ---- what the tour needs: inline pieces, check lists, verdicts, anchors, an intro, subfolders --

def _tiny_figure(filename):
    from gdlab.report import draw_figure

    def draw():
        fig, axes = plots.new_figure()
        axes[0, 0].plot([0, 1], [1, 0], label="a line")
        axes[0, 0].legend()
        return fig

    return draw_figure(draw, "a | figure", filename)


@pytest.fixture
def rich_report():
    from gdlab.report import Badge, CheckList, Em, Link, Paragraph, Strong, Verdict, code_spans

    summary = Table("", ["#", "part", "verdict"], [[1, Link("First <part>", "first"),
                                                      Badge("supported", "good")]])
    return (Report("Rich", intro=["Read me first.", summary])
            .section("1. First <part>",
                     Paragraph(Strong("Claim."), " it holds"),
                     Paragraph(Strong("Experiment."), " ", *code_spans("ran `sgd` with `lr=0.1`")),
                     _tiny_figure("figures/01-first.png"),
                     CheckList([(True, "x held"), (False, "y < 2 failed")]),
                     Verdict("depends", "1 of 2 checks hold.", "mixed"),
                     Paragraph(Em("Section time: 1.0 s."), small=True),
                     anchor="first")
            .section("Plain", "no anchor here"))


def test_code_spans_split_on_backticks():
    from gdlab.report import Code, code_spans

    assert code_spans("uses `sgd` and `adam`.") == ["uses ", Code("sgd"), " and ", Code("adam"), "."]
    assert code_spans("no code") == ["no code"]


def test_html_of_anchors_badges_checks_and_verdicts(rich_report):
    html = rich_report.to_html()
    # the intro comes before the first section, and only sections are <section> elements
    assert html.index("Read me first.") < html.index("<section") and html.count("<section") == 2
    assert '<section id="first">' in html and "<h2>1. First &lt;part&gt;</h2>" in html
    assert '<a href="#first">First &lt;part&gt;</a>' in html
    assert '<span class="badge good">supported</span>' in html
    assert "<caption>" not in html                    # tables without a caption have none
    assert "<p><strong>Claim.</strong> it holds</p>" in html
    assert "ran <code>sgd</code> with <code>lr=0.1</code>" in html
    assert ('<ul class="checks"><li class="pass">x held</li><li class="fail">y &lt; 2 failed</li>'
            "</ul>") in html
    assert ('<p><strong>Verdict:</strong> <span class="badge mixed">depends</span> '
            "1 of 2 checks hold.</p>") in html
    assert '<p class="small"><em>Section time: 1.0 s.</em></p>' in html
    for tone in ("good", "bad", "mixed", "neutral"):
        assert f".badge.{tone} {{ background: #" in html
    assert not re.search(r"(src|href)=\"(?!data:|#)", html)


def test_markdown_of_anchors_badges_checks_and_verdicts(rich_report):
    md = rich_report.to_markdown()
    assert md.index("Read me first.") < md.index("## 1. First <part>")
    assert "| # | part | verdict |\n|---|---|---|\n| 1 | First <part> | **supported** |" in md
    assert "**Claim.** it holds" in md
    assert "**Experiment.** ran `sgd` with `lr=0.1`" in md
    assert "- ✓ x held\n- ✗ y < 2 failed" in md
    assert "**Verdict: depends.** 1 of 2 checks hold." in md
    assert "*Section time: 1.0 s.*" in md
    assert "![a | figure](figures/01-first.png)" in md


def test_figures_in_a_subfolder_are_written_and_embedded(tmp_path, rich_report):
    (fig,) = rich_report.figures()
    assert fig.name == "01-first" and fig.filename == "figures/01-first.png"
    html_path, _ = rich_report.write(tmp_path)
    saved = (tmp_path / "figures" / "01-first.png").read_bytes()
    assert saved == fig.png
    (data,) = re.findall(r'src="data:image/png;base64,([^"]+)"', html_path.read_text())
    assert base64.b64decode(data) == saved


def test_draw_figure_draws_inside_the_style():
    # the legend is made inside draw(): it gets the style's legend font size, not the default
    fig = _tiny_figure("x.png")
    img = mpimg.imread(io.BytesIO(fig.png), format="png")
    assert img.shape[0] > 100 and img[..., :3].std() > 0.01
    seen = {}

    def draw():
        f, axes = plots.new_figure()
        axes[0, 0].plot([0, 1], label="l")
        seen["size"] = axes[0, 0].legend().get_texts()[0].get_fontsize()
        return f

    from gdlab.report import draw_figure

    draw_figure(draw, "c", "c.png")
    assert seen["size"] == plots.STYLE["legend.fontsize"]


def test_unknown_tones_are_rejected():
    from gdlab.report import Badge, Verdict

    with pytest.raises(ValueError, match="tone must be one of"):
        Report("t").section("s", Verdict("ok", "why", "green")).to_html()
    with pytest.raises(ValueError, match="tone must be one of"):
        Report("t").section("s", Table("", ["a"], [[Badge("x", "loud")]])).to_html()
