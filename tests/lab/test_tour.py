"""gdlab tour: verdicts computed from measurements, the report's content, and a real browser.

The slow tests share one ``gdlab tour --quick`` run (module-scoped fixture). The verdict of
every section is re-derived here from the numbers in results.json with the thresholds stated
in the issue and in each section's rule, independently of the tour's own code.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from gdlab.lab.tour import EXPERIMENTS, run_tour
from gdlab.lab.tour.common import Check, Section, section_figure, verdict

KEYS = ["update_rule", "learning_rate", "batching", "minima", "conditioning", "optimizers",
        "batchnorm", "distributed"]
VERDICTS = {"supported", "not supported", "depends"}


# ---- the verdict rule ----------------------------------------------------------------------

def test_verdict_is_computed_from_checks():
    yes, no = Check("a", True, "a held"), Check("b", False, "b failed")
    assert verdict([yes, yes])[0] == "supported"
    assert verdict([no, no])[0] == "not supported"
    v, reason = verdict([yes, no])
    assert v == "depends" and "(a)" in reason and "b failed" in reason
    with pytest.raises(ValueError, match="at least one"):
        verdict([])


def test_learning_rate_decide_follows_the_numbers():
    from gdlab.lab.tour.learning_rate import decide

    lrs = [1e-4, 1e-2, 1.0]
    checks, best, failed = decide(lrs, [2.2, 0.05, math.nan], [False, False, True], 2.3)
    assert [c.passed for c in checks] == [True, True, True] and best == 1 and failed == [2]
    # no divergence and the smallest rate is nearly as good: only "inside the range" holds
    checks, best, _ = decide(lrs, [0.1, 0.05, 0.2], [False, False, False], 2.3)
    assert [c.passed for c in checks] == [False, False, True]
    assert verdict(checks)[0] == "depends"


def test_minima_and_distributed_decide_follow_the_numbers():
    from gdlab.lab.tour import distributed, minima

    rates = {"GD": 0.0, "GD + momentum": 0.0, "SGD (noisy)": 0.05, "SGD + momentum": 0.0}
    escapes = {"GD": 0.9, "GD + momentum": 0.9, "SGD (noisy)": 0.9, "SGD + momentum": 0.9}
    checks = minima.decide(rates, escapes)
    assert [c.passed for c in checks] == [True, False, False, False, False]
    checks = distributed.decide({"small": 1e-3, "large": 0.0},
                                {"small": (1e-3, 2e-3), "large": (2e-3, 1e-3)})
    assert [c.passed for c in checks] == [False, True]
    checks = distributed.decide({"small": 0.0}, {"small": (1e-3, 0.9e-3)})
    assert [c.passed for c in checks] == [True, False]


def test_optimizers_decide_treats_never_as_slowest():
    from gdlab.lab.tour.optimizers import decide

    e = {"sgd": math.inf, "momentum": 3.0, "adagrad": math.inf, "rmsprop": 2.0, "adam": 9.0}
    assert [c.passed for c in decide(e, 0.95)] == [True, False, True, True]
    e["sgd"] = 4.0
    assert [c.passed for c in decide(e, 0.95)] == [True, False, True, False]


def test_conditioning_never_reaching_the_target_is_not_faster():
    from gdlab.lab.tour.conditioning import OPTIMIZERS, _faster

    best = {o: (0.1, math.inf, []) for o in OPTIMIZERS}
    best["adam"] = (0.1, 50, [])
    assert _faster(best) == ["adam"]
    best["sgd"] = (0.1, 80, [])      # 50 is not at most half of 80
    assert _faster(best) == []


def test_run_tour_rejects_unknown_experiments(tmp_path):
    with pytest.raises(ValueError, match="unknown tour experiment"):
        run_tour(tmp_path, quick=True, progress=False, only=["nope"])


def test_update_rule_on_the_quadratic_is_supported(tmp_path):
    # GD with lr 0.15 on 1/2 (x^2 + 10 y^2) contracts every coordinate by |1 - 0.15 k| <= 0.85
    # per step (k = 1, 10): f falls at every step and 500 steps reach the minimum.
    results = run_tour(tmp_path, quick=True, progress=False, only=["update_rule"])
    (section,) = results["sections"]
    quad = [c for c in section["checks"] if c["name"].startswith("quadratic")]
    assert len(quad) == 3 and all(c["passed"] for c in quad)
    m = section["metrics"]["quadratic"]
    assert m["descent_fraction"] == 1.0 and m["distance"] < 1e-6
    assert (tmp_path / "figures" / "01-update-rule.png").stat().st_size > 1000
    _check_update_rule_metrics(section)


def _check_update_rule_metrics(section):
    """The section's metrics are the known outcomes of its runs, derived here independently."""
    # the quadratic: GD multiplies x by 1 - 0.15 and y by 1 - 0.15 * 10 at every step, so
    # x_t = -9 * 0.85^t and y_t = 3 * (-0.5)^t; the run stops at the first t with |grad| <= 1e-8
    q = section["metrics"]["quadratic"]
    t = np.arange(501)
    x, y = -9.0 * 0.85 ** t, 3.0 * (-0.5) ** t
    stop = int(np.argmax(np.hypot(x, 10.0 * y) <= 1e-8))
    assert q["steps"] == stop and q["stopped"] == "tol" and q["lr"] == 0.15
    assert q["f0"] == 85.5  # 1/2 (81 + 10 * 9)
    assert q["f_end"] == pytest.approx(0.5 * (x[stop] ** 2 + 10.0 * y[stop] ** 2), rel=1e-9)
    assert q["distance"] == pytest.approx(np.hypot(x[stop], y[stop]), rel=1e-9)
    assert q["descent_fraction"] == 1.0 and q["cos_mean"] == pytest.approx(1.0, abs=1e-12)
    # Rosenbrock (1 - x)^2 + 100 (y - x^2)^2 from (-1.2, 1) with lr 0.0015: plain GD written
    # out here, for the quick tour's 8000 steps (|grad| stays above 1e-8 all the way)
    r = section["metrics"]["Rosenbrock"]
    assert "8000 steps" in section["setup"] and r["lr"] == 1.5e-3
    p = np.array([-1.2, 1.0])
    values, cosines = [24.2], []
    for _ in range(8000):
        u = p[1] - p[0] ** 2
        g = np.array([-2.0 * (1.0 - p[0]) - 400.0 * p[0] * u, 200.0 * u])
        assert np.linalg.norm(g) > 1e-8
        step = -1.5e-3 * g
        cosines.append(-step @ g / (np.linalg.norm(step) * np.linalg.norm(g)))
        p = p + step
        values.append((1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2)
    assert r["steps"] == 8000 and r["stopped"] == "max_iter"
    assert r["f0"] == pytest.approx(24.2, rel=1e-15)  # 2.2^2 + 100 * 0.44^2
    assert r["f_end"] == pytest.approx(values[-1], rel=1e-6)
    assert r["distance"] == pytest.approx(np.hypot(p[0] - 1.0, p[1] - 1.0), rel=1e-6)
    assert r["descent_fraction"] == np.mean(np.diff(values) < 0)
    assert r["cos_mean"] == pytest.approx(np.mean(cosines), abs=1e-12)


@pytest.mark.parametrize("kappa, lr", [(10.0, 0.1), (100.0, 0.01), (1000.0, 1e-3),
                                       (10.0, 0.19), (100.0, 0.1)])
def test_conditioning_gd_steps_are_the_closed_form(kappa, lr):
    """The conditioning section's step counts for GD on 1/2 (x^2 + kappa y^2): each coordinate
    is multiplied by 1 - lr * curvature per step, so f_t is known in closed form; the count is
    the first t with f_t <= 1e-4 f_0 (infinite when GD diverges, lr * kappa > 2)."""
    from gdlab.lab.functions import Quadratic
    from gdlab.lab.tour.conditioning import Q_TARGET, START, steps_to_target

    assert START == (-9.0, 3.0) and Q_TARGET == 1e-4
    budget = 3000
    t = np.arange(budget + 1)
    with np.errstate(over="ignore"):
        f = 0.5 * (81.0 * (1 - lr) ** (2 * t) + 9.0 * kappa * (1 - lr * kappa) ** (2 * t))
    reached = np.flatnonzero(f[1:] <= 1e-4 * f[0])
    want = int(reached[0]) + 1 if reached.size else math.inf
    steps, values = steps_to_target(Quadratic(cond=kappa), START, "sgd", lr, 1e-4 * f[0], budget)
    assert steps == want
    n = len(values) if math.isfinite(steps) else min(len(values), 5)
    np.testing.assert_allclose(values[:n], f[:n], rtol=1e-9)
    if lr * kappa > 2:
        assert steps == math.inf and values[-1] > 1e6 * values[0]  # diverged, stopped early


def test_distributed_is_skipped_with_a_note_without_mpi(tmp_path, monkeypatch):
    from gdlab.lab.tour import distributed

    monkeypatch.setattr(distributed, "availability", lambda: "mpi4py is not installed")
    (section,) = run_tour(tmp_path, quick=True, progress=False, only=["distributed"])["sections"]
    assert section["skipped"] and section["verdict"] == "skipped" and not section["figures"]
    assert section["note"] == "Skipped: mpi4py is not installed."
    assert "**Verdict: skipped.** Skipped: mpi4py is not installed." in \
        (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "skipped</span> Skipped: mpi4py" in (tmp_path / "report.html").read_text()


def test_report_is_self_contained(tmp_path):
    from gdlab.lab.tour.render import write_report
    from gdlab.report.plots import new_figure

    def draw():
        fig, axes = new_figure()
        axes[0, 0].plot([0, 1], [1, 0], label="a line")
        return fig

    s = Section(key="k", title="T <&>", claim="c", setup="uses `sgd`", rule="r",
                checks=[Check("x", True, "x held")], columns=["a", "b|c"], rows=[[1, "2"]],
                figures=[section_figure("99-test", "cap", draw)])
    write_report([s], tmp_path, quick=True, seconds=1.0)
    html = (tmp_path / "report.html").read_text()
    assert "T &lt;&amp;&gt;" in html and "<code>sgd</code>" in html
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html)
    assert "<script" not in html and "<link" not in html
    md = (tmp_path / "report.md").read_text()
    assert "![cap](figures/99-test.png)" in md and "b\\|c" in md
    assert json.loads((tmp_path / "results.json").read_text())["sections"][0]["verdict"] == \
        "supported"


# ---- one real `gdlab tour --quick`, shared by the slow tests -------------------------------

@pytest.fixture(scope="module")
def quick_tour(tmp_path_factory):
    out = tmp_path_factory.mktemp("tour")
    proc = subprocess.run([sys.executable, "-m", "gdlab", "tour", "--quick", "--quiet",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "report:" in proc.stdout
    return out, json.loads((out / "results.json").read_text())


class _Sections(HTMLParser):
    """Collects, per <section id=...>, the src of each <img> and the text."""

    def __init__(self):
        super().__init__()
        self.sections, self.current = {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.current = attrs["id"]
            self.sections[self.current] = {"imgs": [], "text": []}
        elif tag == "img" and self.current:
            self.sections[self.current]["imgs"].append(attrs.get("src", ""))

    def handle_endtag(self, tag):
        if tag == "section":
            self.current = None

    def handle_data(self, data):
        if self.current:
            self.sections[self.current]["text"].append(data)


def _png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("L"), dtype=float)


def _expected(key, m, section):
    """The section's check outcomes re-derived from its metrics (None: a skipped section)."""
    inf = math.inf

    def num(v):
        return inf if v is None else v

    if key == "update_rule":
        out = []
        for label in ("quadratic", "Rosenbrock"):
            f = m[label]
            out += [f["descent_fraction"] >= 0.99, f["cos_mean"] >= 0.999, f["distance"] <= 0.05]
        return out
    if key == "learning_rate":
        finals = [num(v) if not d else inf for v, d in zip(m["final_loss"], m["diverged"])]
        best = int(np.argmin(finals))
        last_fails = m["diverged"][-1] or finals[-1] >= m["initial_loss"]
        return [finals[0] >= 10 * finals[best], last_fails, 0 < best < len(finals) - 1]
    if key == "batching":
        b = m["by_batch_size"]
        cos = [b[k]["gradient_cosine"] for k in ("1", "8", "32", "128")]
        finals = [b[k]["final_loss_mean"] for k in b]
        small = min(b[k]["final_loss_mean"] for k in ("1", "8", "32"))
        return [cos[0] <= 0.5 and all(x < y for x, y in zip(cos, cos[1:])),
                b["full"]["us_per_update_timed"] >= 1.5 * b["1"]["us_per_update_timed"],
                b["full"]["loss_drop_per_update"] > b["1"]["loss_drop_per_update"],
                2 * small <= b["full"]["final_loss_mean"], max(finals) >= 2 * min(finals)]
    if key == "minima":
        r, e = m["global_rate"], m["escape_rate"]
        return [r["GD"] < 0.5, r["SGD (noisy)"] >= r["GD"] + 0.1, e["GD"] < 0.5,
                e["SGD (noisy)"] >= e["GD"] + 0.1,
                max(r["GD + momentum"] - r["GD"], e["GD + momentum"] - e["GD"]) >= 0.1]
    if key == "conditioning":
        q = {k: {o: num(v) for o, v in d.items()} for k, d in m["quadratic_steps"].items()}
        kmin, kmax = min(q, key=float), max(q, key=float)
        mlp = {o: num(v) for o, v in m["mlp_steps"].items()}

        def faster(d):
            return sum(d[o] < inf and (d["sgd"] == inf or d[o] * 2 <= d["sgd"])
                       for o in ("momentum", "nesterov", "adagrad", "rmsprop", "adam"))
        return [q[kmax]["sgd"] == inf or q[kmax]["sgd"] >= 3 * q[kmin]["sgd"],
                faster(q[kmax]) >= 3, faster(mlp) >= 3]
    if key == "optimizers":
        e = {o: num(v["steps_to_target"]) for o, v in m["by_optimizer"].items()}
        return [e[o] < inf and (e["sgd"] == inf or e[o] <= 0.8 * e["sgd"])
                for o in ("momentum", "adagrad", "rmsprop", "adam")]
    if key == "batchnorm":
        runs = m["runs"]
        ep = runs["explode_plain"]
        return [m["vanish_ratio"] >= 100, m["vanish_ratio_bn"] <= 10,
                runs["vanish_bn"]["final_loss"] <= 0.5 * runs["vanish_plain"]["final_loss"],
                m["first_layer_grad_large_init"] >= 100,
                ep["diverged"] > 0 or ep["tamed"] < ep["runs"],
                runs["explode_clip"]["tamed"] == runs["explode_clip"]["runs"],
                runs["explode_bn"]["tamed"] == runs["explode_bn"]["runs"]]
    if key == "distributed":
        if section["skipped"]:
            return None
        return [m["max_param_diff"] <= 1e-8, max(m["speedup"].values()) >= 1.2]
    raise AssertionError(key)


@pytest.mark.slow
def test_every_section_has_figure_numbers_and_a_computed_verdict(quick_tour):
    out, results = quick_tour
    assert results["mode"] == "quick"
    assert [s["key"] for s in results["sections"]] == KEYS == [k for k, _ in EXPERIMENTS]
    for s in results["sections"]:
        if s["skipped"]:
            assert s["key"] == "distributed" and s["verdict"] == "skipped"
            assert s["note"].startswith("Skipped:")
            continue
        assert s["verdict"] in VERDICTS, s["key"]
        assert s["figures"] and s["table"]["rows"] and s["checks"], s["key"]
        expected = _expected(s["key"], s["metrics"], s)
        assert [c["passed"] for c in s["checks"]] == expected, s["key"]
        want = ("supported" if all(expected) else "not supported" if not any(expected)
                else "depends")
        assert s["verdict"] == want, s["key"]
        for f in s["figures"]:
            pixels = _png_pixels((out / "figures" / f"{f['name']}.png").read_bytes())
            assert pixels.shape[0] > 200 and pixels.shape[1] > 300 and pixels.std() > 10


@pytest.mark.slow
def test_distributed_runs_when_mpi_is_installed(quick_tour):
    from gdlab.lab.tour.distributed import availability

    _, results = quick_tour
    section = results["sections"][-1]
    if availability() is None:
        assert not section["skipped"], section["note"]
        assert section["metrics"]["max_param_diff"] <= 1e-8
    else:
        assert section["skipped"]


@pytest.mark.slow
def test_markdown_states_the_numbers_and_verdicts(quick_tour):
    out, results = quick_tour
    md = (out / "report.md").read_text(encoding="utf-8")
    for i, s in enumerate(results["sections"], 1):
        start = md.index(f"## {i}. {s['title']}")
        end = md.find("\n## ", start + 1)
        part = md[start:end if end > 0 else None]
        assert f"**Verdict: {s['verdict']}.**" in part
        for row in s["table"]["rows"]:
            line = "| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"
            assert line in part, (s["key"], line)
        for f in s["figures"]:
            assert f"](figures/{f['name']}.png)" in part


@pytest.mark.slow
def test_html_embeds_every_figure_and_nothing_external(quick_tour):
    out, results = quick_tour
    html = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert 'name="viewport"' in html
    parser = _Sections()
    parser.feed(html)
    assert list(parser.sections) == KEYS
    for s in results["sections"]:
        found = parser.sections[s["key"]]
        assert len(found["imgs"]) == len(s["figures"])
        for src in found["imgs"]:
            assert src.startswith("data:image/png;base64,")
            assert _png_pixels(base64.b64decode(src.split(",", 1)[1])).std() > 10
        assert s["verdict"] in " ".join(found["text"])


# ---- a real browser -----------------------------------------------------------------------

def _chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is required under CI (.ci/run installs it with apt-get)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def _browser(tmp_path, *args):
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


_CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var out = document.createElement('pre');
  out.id = 'tour-check';
  out.textContent = JSON.stringify({
    images: imgs.length,
    broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length,
    sections: document.querySelectorAll('section').length,
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth});
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.slow
def test_browser_loads_every_image_and_fits_a_phone(quick_tour, tmp_path):
    out, results = quick_tour
    page = tmp_path / "checked.html"   # the report plus a small check; the report has no script
    page.write_text((out / "report.html").read_text(encoding="utf-8").replace(
        "</body>", _CHECK + "</body>"), encoding="utf-8")
    proc = _browser(tmp_path, "--window-size=390,844", "--virtual-time-budget=10000",
                    "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    match = re.search(r'<pre id="tour-check">(.*?)</pre>', proc.stdout, re.S)
    assert match, proc.stdout[-2000:]
    check = json.loads(match.group(1).replace("&quot;", '"'))
    n_figures = sum(len(s["figures"]) for s in results["sections"])
    assert check["images"] == n_figures and check["broken"] == 0
    assert check["sections"] == len(KEYS)
    assert check["scrollWidth"] <= check["innerWidth"] + 1   # no sideways scrolling on a phone


@pytest.mark.slow
def test_browser_screenshot_is_not_blank(quick_tour, tmp_path):
    out, _ = quick_tour
    shot = tmp_path / "shot.png"
    proc = _browser(tmp_path, "--window-size=1280,3000", f"--screenshot={shot}",
                    (out / "report.html").as_uri())
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    pixels = _png_pixels(shot.read_bytes())
    assert pixels.shape == (3000, 1280)
    assert pixels.std() > 20                      # text and figures, not a blank page
    assert np.mean(pixels < 200) > 0.02           # a fair share of dark (drawn) pixels
    # the figures (not only text) rendered: some rows hold many mid-grey/colour pixels
    rows = np.mean((pixels > 30) & (pixels < 220), axis=1)
    assert rows.max() > 0.2
