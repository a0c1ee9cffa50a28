"""Figures are checked by opening them: labels, legends, lines, data, and decoded PNG files."""

import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pytest

from gdlab.lab.functions import FUNCTIONS
from gdlab.report import plots


def legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def labelled_lines(ax):
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def make_curves(rng, n_configs=3, n_seeds=2, epochs=6):
    curves = []
    for c in range(n_configs):
        runs = []
        for _ in range(n_seeds):
            loss = np.exp(-np.linspace(0, 1 + c, epochs)) + rng.uniform(0, 0.05, epochs)
            runs.append({"loss": loss.tolist(),
                         "time": np.cumsum(rng.uniform(0.1, 0.2, epochs)).tolist()})
        curves.append({"label": f"config {c}", "runs": runs})
    return curves


def test_plot_runs_one_line_per_configuration_with_mean_and_spread(rng):
    curves = make_curves(rng)
    fig = plots.plot_runs(curves, x="epoch", title="Loss per epoch", ylabel="training loss")
    (ax,) = fig.axes
    assert ax.get_title() == "Loss per epoch"
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "training loss"
    assert legend_texts(ax) == ["config 0", "config 1", "config 2"]
    lines = labelled_lines(ax)
    assert len(lines) == 3
    for line, curve in zip(lines, curves):
        Y = np.array([r["loss"] for r in curve["runs"]])
        np.testing.assert_allclose(line.get_ydata(), Y.mean(axis=0))
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 7))
    # the spread is shaded: one filled band per configuration, from min to max over seeds
    bands = ax.collections
    assert len(bands) == 3
    band = bands[0].get_paths()[0].vertices
    Y0 = np.array([r["loss"] for r in curves[0]["runs"]])
    assert band[:, 1].min() == pytest.approx(Y0.min())
    assert band[:, 1].max() == pytest.approx(Y0.max())
    colours = {line.get_color() for line in lines}
    assert colours == set(plots.OKABE_ITO[:3])


def test_plot_runs_against_wall_time(rng):
    curves = make_curves(rng, n_configs=2)
    fig = plots.plot_runs(curves, x="time", title="Loss vs time", ylabel="training loss")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "wall-clock time (s)"
    line = labelled_lines(ax)[0]
    T = np.array([r["time"] for r in curves[0]["runs"]])
    np.testing.assert_allclose(line.get_xdata(), T.mean(axis=0))
    with pytest.raises(ValueError, match="x must be"):
        plots.plot_runs(curves, x="steps", title="t", ylabel="y")


def test_diverged_runs_are_marked_and_do_not_squash_the_axis(rng):
    curves = make_curves(rng, n_configs=1)
    curves.append({"label": "too fast", "runs": [
        {"loss": [1.0, 1e12], "time": [0.1, 0.2], "diverged": True},
        {"loss": [1.0, float("inf")], "time": [0.1, 0.2], "diverged": True}]})
    curves.append({"label": "hopeless", "runs": [{"loss": [float("nan")], "time": [0.1]}]})
    fig = plots.plot_runs(curves, title="t", ylabel="training loss")
    ax = fig.axes[0]
    assert legend_texts(ax) == ["config 0", "too fast (2 diverged)", "hopeless (diverged)"]
    assert ax.get_ylim()[1] < 1e3


def test_history_figures():
    history = {"loss": [2.0, 1.0, 0.5, 0.01], "val_loss": [2.1, 1.2, 0.7, 0.6],
               "accuracy": [0.2, 0.5, 0.8, 0.9], "val_accuracy": [0.2, 0.4, 0.7, 0.8]}
    fig = plots.loss_figure(history, loss_name="cross-entropy", dataset="digits")
    ax = fig.axes[0]
    assert "digits" in ax.get_title()
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss (cross-entropy)"
    assert legend_texts(ax) == ["training", "validation"]
    lines = labelled_lines(ax)
    np.testing.assert_array_equal(lines[0].get_ydata(), history["loss"])
    np.testing.assert_array_equal(lines[1].get_ydata(), history["val_loss"])
    assert ax.get_yscale() == "log"  # the loss spans more than a decade
    fig = plots.accuracy_figure(history)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "accuracy (fraction correct)"
    assert len(labelled_lines(ax)) == 2 and ax.get_yscale() == "linear"


def test_landscape_figure_draws_each_path_over_contours():
    f = FUNCTIONS["rosenbrock"]
    paths = {"sgd": np.array([[-1.2, 1.0], [-1.0, 0.9], [-0.8, 0.7]]),
             "adam": np.array([[-1.2, 1.0], [-1.1, 1.05]])}
    fig = plots.plot_landscape(f, paths)
    ax = fig.axes[0]
    assert "rosenbrock" in ax.get_title()
    assert ax.get_xlabel().startswith("x") and ax.get_ylabel().startswith("y")
    texts = legend_texts(ax)
    assert {"sgd", "adam", "start", "minimum"} <= set(texts)
    by_label = {line.get_label(): line for line in labelled_lines(ax)}
    np.testing.assert_array_equal(by_label["sgd"].get_xdata(), paths["sgd"][:, 0])
    np.testing.assert_array_equal(by_label["adam"].get_ydata(), paths["adam"][:, 1])
    assert len(ax.collections) >= 2  # filled contours and contour lines


def test_save_writes_a_png_that_decodes(tmp_path, rng):
    fig = plots.plot_runs(make_curves(rng), title="t", ylabel="training loss")
    path = plots.save(fig, tmp_path / "sub" / "f.png")
    img = mpimg.imread(path)
    assert img.shape[2] == 4 and img.shape[0] >= 400 and img.shape[1] >= 600
    assert img[..., :3].std() > 0.01  # not blank
    assert plots.to_png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_never_load_pyplot():
    code = ("import sys, numpy as np\nfrom gdlab.report import plots\n"
            "plots.loss_figure({'loss': [1.0, 0.5]}, loss_name='mse')\n"
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# ---- the building blocks every figure (train, compare, tour) is drawn with --------------------

def test_new_figure_gives_a_grid_of_styled_axes():
    fig, axes = plots.new_figure(2, 3, width=9.0, height=5.0)
    assert axes.shape == (2, 3) and len(fig.axes) == 6
    assert tuple(fig.get_size_inches()) == (9.0, 5.0)
    ax = axes[1, 2]
    # the style applies to the axes made here, though no rc_context is active any more
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()
    assert ax.xaxis.get_gridlines()[0].get_visible()
    assert ax.title.get_fontsize() == plots.STYLE["axes.titlesize"]
    fig, axes = plots.new_figure()
    assert axes.shape == (1, 1)
    assert plots.to_png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_styled_applies_the_style_only_inside_the_block():
    import matplotlib

    before = matplotlib.rcParams["legend.fontsize"]
    with plots.styled():
        assert matplotlib.rcParams["legend.fontsize"] == plots.STYLE["legend.fontsize"] == 8
        assert matplotlib.rcParams["axes.grid"] is True
    assert matplotlib.rcParams["legend.fontsize"] == before


def test_colour_and_style_cycle_the_palette():
    n = len(plots.OKABE_ITO)
    assert [plots.colour(i) for i in range(n)] == list(plots.OKABE_ITO)
    assert plots.colour(n + 2) == plots.OKABE_ITO[2]
    assert plots.style(3) == {"color": plots.OKABE_ITO[3], "linestyle": "-"}
    assert plots.style(n + 1) == {"color": plots.OKABE_ITO[1], "linestyle": "--"}


def test_finish_labels_the_axes_and_passes_legend_options():
    fig, axes = plots.new_figure(1, 2)
    a, b = axes[0]
    # the curve runs through the lower left corner: "best" would never put the legend there
    a.plot([1, 2, 3], [1, 2, 3], label="curve")
    plots.finish(a, "Title", "epoch", "loss (MSE)", loc="lower left")
    assert (a.get_title(), a.get_xlabel(), a.get_ylabel()) == ("Title", "epoch", "loss (MSE)")
    legend = a.get_legend()
    assert legend_texts(a) == ["curve"] and not legend.get_frame_on()
    fig.canvas.draw()
    box, frame = legend.get_window_extent(), a.get_window_extent()
    assert box.x0 - frame.x0 < 0.2 * frame.width and box.y0 - frame.y0 < 0.2 * frame.height
    b.plot([1, 2, 3], [0, 1, 2])                                    # nothing labelled
    plots.finish(b, "t", "time (s)", "y")
    assert b.get_legend() is None
    ticks = {ax: ax.get_xticks() for ax in (a, b)}
    assert np.all(ticks[a] == np.round(ticks[a]))                   # whole epochs only
    assert not np.all(ticks[b] == np.round(ticks[b]))               # seconds: 1.25, 1.5, ...
    plots.finish(b, "t", "x", "y", legend=False)
    assert b.get_legend() is None
