"""The presets: each lesson's link restores its two runs, and each teaches what it says,
measured with its very settings (one thread, as the server trains)."""

import re
from pathlib import Path

import numpy as np
import pytest

from gdlab.playground.config import check_config
from gdlab.playground.experiment import train
from gdlab.playground.links import parse_link, side_b
from gdlab.playground.presets import PRESETS, preset_link

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results():
    """name -> (history of A, history of B, B's run), trained once."""
    cache = {}

    def get(name):
        if name not in cache:
            preset = PRESETS[name]
            a = train(preset.a)
            b = train(side_b(check_config(preset.a), preset.b))
            cache[name] = (a["history"], b["history"], b)
        return cache[name]

    return get


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_is_a_link_to_its_two_runs(name):
    preset = PRESETS[name]
    parsed = parse_link(preset_link(preset))
    assert parsed["compare"] and parsed["autostart"]
    assert check_config(parsed["config"]) == check_config(preset.a)
    a = check_config(parsed["config"])
    assert side_b(a, parsed["b"]) == side_b(a, preset.b)
    assert set(parsed["b"]) == set(preset.b)       # one setting swapped, nothing else


def _loss(history):
    return np.array([e["loss"] if e["loss"] is not None else np.inf for e in history])


@pytest.mark.slow
def test_too_large_a_learning_rate_diverges(results):
    a, b, run_b = results("learning-rate")
    assert run_b["status"] == "diverged" and run_b["diverged"]["step"] < 100
    assert a[-1]["step"] == 2000 and a[-1]["loss"] < a[0]["loss"] / 5


@pytest.mark.slow
def test_batch_glides_where_stochastic_jitters(results):
    a, b, _ = results("batch-vs-stochastic")
    rises_a = np.diff(_loss(a)) > 0
    rises_b = np.diff(_loss(b)) > 0
    assert rises_a.sum() == 0                          # batch GD: down at every entry
    assert rises_b.sum() >= 20                         # stochastic: up and down
    assert a[-1]["accuracy"] >= 0.95 and b[-1]["accuracy"] >= 0.9


@pytest.mark.slow
def test_momentum_crosses_the_ravine_in_a_quarter_of_the_steps(results):
    a, b, _ = results("momentum-ravine")
    end = a[-1]["loss"]
    reached = next(e["step"] for e in b if e["loss"] <= end)
    assert reached <= a[-1]["step"] / 4, (reached, end)


@pytest.mark.slow
def test_batch_normalization_rescues_the_deep_sigmoid_network(results):
    a, b, _ = results("deep-sigmoid-batchnorm")
    assert a[-1]["accuracy"] <= 0.6 and b[-1]["accuracy"] >= 0.9
    first, last = a[-1]["grad_norms"][0], a[-1]["grad_norms"][-1]
    assert first < last / 100                          # vanished on the way back
    assert b[-1]["grad_norms"][0] > b[-1]["grad_norms"][-1] / 10


@pytest.mark.slow
def test_adam_untangles_the_spirals_and_sgd_does_not(results):
    a, b, _ = results("adam-vs-sgd-spirals")
    assert a[-1]["accuracy"] >= 0.95 and b[-1]["accuracy"] <= 0.85


def test_the_readme_links_every_preset():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The playground"):readme.index("## Distributed training")]
    for name, preset in PRESETS.items():
        url = f"http://127.0.0.1:8765/?{preset_link(preset)}"
        assert f"]({url})" in section, name
        assert preset.title in section, name
    shown = re.findall(r"\]\((http://127\.0\.0\.1:8765/\?[^)]*)\)", section)
    assert len(shown) >= len(PRESETS)
