"""Experiment 7: batch normalization against vanishing and exploding gradients; clipping."""

from __future__ import annotations

import numpy as np

from gdlab.lab.tour.common import Check, Section, digits_note, fmt, section_figure, train
from gdlab.report.plots import colour, finish, new_figure, style

CLAIM = ("Batch normalization speeds up the training of deep networks and eases vanishing and "
         "exploding gradients; gradient clipping also tames exploding gradients.")

DEPTH, WIDTH = 8, 32
LR_SIGMOID, LR_EXPLODE, SCALE, CLIP = 0.1, 0.1, 2.0, 1.0
VANISH = 100.0       # last-layer / first-layer gradient norm ratio that counts as vanishing
EVEN = 10.0          # ... and the ratio with BatchNorm must be at most this
FASTER = 0.5         # BatchNorm's final loss at most this fraction of the plain net's
EXPLODE = 100.0      # a first-layer gradient norm above this counts as exploding
TAMED = 0.5          # a fix works when no run diverges and each ends below this fraction of its
                     # own initial loss


def _net(X, y, activation, batchnorm, seed, scale=1.0):
    from gdlab.nn.layers import Dense
    from gdlab.nn.sequential import mlp

    net = mlp(X.shape[1], [WIDTH] * DEPTH, int(y.max()) + 1, activation=activation,
              batchnorm=batchnorm, seed=seed)
    if scale != 1.0:   # initial weights too large: every layer amplifies its input
        for layer in net.layers:
            if isinstance(layer, Dense):
                layer.W *= scale
    return net


def layer_gradient_norms(net, X, y):
    """Norm of each Dense layer's weight gradient on (X, y), first layer first (a copy is used)."""
    from gdlab.nn.layers import Dense
    from gdlab.nn.losses import CrossEntropyLoss

    net = net.clone()
    with np.errstate(all="ignore"):
        out = net.forward(X, training=True)
        _, g = CrossEntropyLoss().compute(out, y, None, True)
        net.backward(g, input_grad=False)
    return [float(np.linalg.norm(layer.dW)) for layer in net.layers if isinstance(layer, Dense)]


def _final(run):
    loss = run["history"].get("loss", [])
    return float("nan") if run["diverged"] or not loss else float(loss[-1])


def _curves(ax, runs, i, label):
    losses = [np.r_[r["initial_loss"], r["history"].get("loss", [])] for r in runs]
    n = min(len(lo) for lo in losses)
    Y = np.array([lo[:n] for lo in losses])
    diverged = sum(r["diverged"] for r in runs)
    label += f" ({diverged} of {len(runs)} diverged: ×)" if diverged else ""
    ax.plot(np.arange(n), Y.mean(axis=0), label=label, **style(i))
    if len(Y) > 1:
        ax.fill_between(np.arange(n), Y.min(axis=0), Y.max(axis=0), color=colour(i),
                        alpha=0.18, linewidth=0)
    if diverged:
        ax.plot(n - 1, Y.mean(axis=0)[-1], marker="x", markersize=10, color=colour(i))


def _draw(norms, vanish, explode):
    fig, axes = new_figure(ncols=3, width=15.5, height=4.8)
    ax = axes[0, 0]
    for i, (label, values) in enumerate(norms.items()):
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=label, **style(i))
    ax.set_yscale("log")
    finish(ax, "Gradient norm per layer at initialisation", "layer (1 = next to the input)",
           "‖∂loss/∂W‖ of the layer (log)", fontsize=7)
    ax = axes[0, 1]
    _curves(ax, vanish["plain"], 0, f"{DEPTH} sigmoid layers")
    _curves(ax, vanish["bn"], 1, f"{DEPTH} sigmoid layers + BatchNorm")
    ax.set_yscale("log")
    finish(ax, "Vanishing gradients: training loss", "epoch",
           "training loss (cross-entropy, log)")
    ax = axes[0, 2]
    _curves(ax, explode["plain"], 3, f"large init (×{SCALE:g}), no fix")
    _curves(ax, explode["clip"], 2, f"gradient clipping (norm ≤ {CLIP:g})")
    _curves(ax, explode["bn"], 1, "BatchNorm")
    ax.set_yscale("log")
    finish(ax, "Exploding gradients: training loss", "epoch",
           "training loss (cross-entropy, log)")
    return fig


RULE = (f"Supported when: the sigmoid net's last/first layer gradient ratio is ≥ {VANISH:g} "
        f"and ≤ {EVEN:g} with BatchNorm; BatchNorm's final loss is ≤ {FASTER:g}× the plain "
        f"net's; the large-weight net's first-layer gradient is ≥ {EXPLODE:g}; it fails "
        f"without a fix; and with clipping and with BatchNorm no run diverges and the loss "
        f"ends ≤ {TAMED:g}× its initial value.")
BIG = f"ReLU, init ×{SCALE:g}"


def initial_gradient_norms(X, y) -> dict:
    """Each Dense layer's gradient norm at initialisation (seed 0), for the four networks."""
    return {
        "sigmoid": layer_gradient_norms(_net(X, y, "sigmoid", False, 0), X, y),
        "sigmoid + BatchNorm": layer_gradient_norms(_net(X, y, "sigmoid", True, 0), X, y),
        BIG: layer_gradient_norms(_net(X, y, "relu", False, 0, SCALE), X, y),
        f"{BIG} + BatchNorm": layer_gradient_norms(_net(X, y, "relu", True, 0, SCALE), X, y),
    }


def _train_all(ctx, X, y, epochs, seeds):
    """The training runs: ``(vanish, explode)``, dicts of lists of runs (one per seed)."""
    def fit(net, lr, seed, **kw):
        r = train(X, y, net=net, optimizer="sgd", lr=lr, batch_size=32, epochs=epochs,
                  seed=seed, **kw)
        ctx.tick()
        return r

    vanish = {"plain": [], "bn": []}
    explode = {"plain": [], "clip": [], "bn": []}
    for seed in range(seeds):
        vanish["plain"].append(fit(_net(X, y, "sigmoid", False, seed), LR_SIGMOID, seed))
        vanish["bn"].append(fit(_net(X, y, "sigmoid", True, seed), LR_SIGMOID, seed))
        explode["plain"].append(fit(_net(X, y, "relu", False, seed, SCALE), LR_EXPLODE, seed))
        explode["clip"].append(fit(_net(X, y, "relu", False, seed, SCALE), LR_EXPLODE, seed,
                                   clip_norm=CLIP))
        explode["bn"].append(fit(_net(X, y, "relu", True, seed, SCALE), LR_EXPLODE, seed))
    return vanish, explode


def summarise(runs) -> dict:
    """Diverged, tamed and total runs, mean initial loss, mean final loss (None if all diverged)."""
    finals = [_final(r) for r in runs]
    return {"diverged": int(sum(r["diverged"] for r in runs)), "runs": len(runs),
            "tamed": int(sum(not r["diverged"] and _final(r) <= TAMED * r["initial_loss"]
                             for r in runs)),
            "initial_loss": float(np.mean([r["initial_loss"] for r in runs])),
            "final_loss": float(np.nanmean(finals)) if not all(np.isnan(finals)) else None}


def gradient_ratios(norms) -> dict:
    """Last/first layer gradient ratio with and without BatchNorm; first-layer norms at large init."""
    sig, sig_bn = norms["sigmoid"], norms["sigmoid + BatchNorm"]
    return {"ratio": sig[-1] / sig[0], "ratio_bn": sig_bn[-1] / sig_bn[0],
            "first_big": norms[BIG][0], "first_big_bn": norms[f"{BIG} + BatchNorm"][0]}


def _tamed(s):
    return s["tamed"] == s["runs"]


def decide(g, stats, epochs) -> list[Check]:
    """Checks from :func:`gradient_ratios` ``g`` and the :func:`summarise` of each group of runs."""
    vp, vb = stats["vanish_plain"]["final_loss"], stats["vanish_bn"]["final_loss"]
    ep, clip, bn = stats["explode_plain"], stats["explode_clip"], stats["explode_bn"]
    return [
        Check("gradients vanish in the deep sigmoid net", g["ratio"] >= VANISH,
              f"without BatchNorm the last layer's gradient is {g['ratio']:.3g}× the first "
              f"layer's (vanishing when ≥ {VANISH:g}×)"),
        Check("BatchNorm evens the gradients", g["ratio_bn"] <= EVEN,
              f"with BatchNorm the ratio is {g['ratio_bn']:.3g} (threshold ≤ {EVEN:g})"),
        Check("BatchNorm speeds convergence", vp is not None and vb is not None
              and vb <= FASTER * vp,
              f"after {epochs} epochs the loss is {fmt(vb)} with BatchNorm against {fmt(vp)} "
              f"without (threshold ≤ {FASTER:g}×)"),
        Check("gradients explode with large weights", g["first_big"] >= EXPLODE,
              f"with weights ×{SCALE:g} the first layer's gradient norm is {g['first_big']:.3g} "
              f"(exploding when ≥ {EXPLODE:g}; {g['first_big_bn']:.3g} with BatchNorm)"),
        Check("plain training fails", ep["diverged"] > 0 or not _tamed(ep),
              f"without a fix {ep['diverged']} of {ep['runs']} runs diverged"
              + (f" and the rest ended at loss {fmt(ep['final_loss'])}" if ep["final_loss"] else "")),
        Check("clipping tames it", _tamed(clip),
              f"with clipping {clip['diverged']} runs diverged and the loss went from "
              f"{fmt(clip['initial_loss'])} to {fmt(clip['final_loss'])} (tamed when no run "
              f"diverges and the loss ends ≤ {TAMED:g}× its own initial value)"),
        Check("BatchNorm tames it", _tamed(bn),
              f"with BatchNorm {bn['diverged']} runs diverged and the loss went "
              f"from {fmt(bn['initial_loss'])} to {fmt(bn['final_loss'])}"),
    ]


def _rows(stats, norms):
    labels = {"vanish_plain": f"{DEPTH}×sigmoid", "vanish_bn": f"{DEPTH}×sigmoid + BatchNorm",
              "explode_plain": f"{DEPTH}×{BIG}",
              "explode_clip": f"{DEPTH}×{BIG}, clip norm {CLIP:g}",
              "explode_bn": f"{DEPTH}×{BIG} + BatchNorm"}
    rows = [[labels[k], fmt(s["initial_loss"]), fmt(s["final_loss"]), f"{s['diverged']}/{s['runs']}"]
            for k, s in stats.items()]
    rows += [[f"gradient norm layer 1 → {DEPTH + 1}: {k}", "", " → ".join(fmt(v, 2) for v in n), ""]
             for k, n in norms.items()]
    return rows


def _setup(data, epochs, seeds):
    return (f"Data: {digits_note(data)}. Vanishing: 64-({WIDTH}×{DEPTH})-10 with sigmoid "
            "activations (Xavier init), with and without BatchNorm after each hidden Dense "
            f"layer; plain SGD η = {LR_SIGMOID:g}, mini-batches of 32, {epochs} epochs. "
            f"Exploding: the same shape with ReLU and every weight matrix multiplied by "
            f"{SCALE:g} after He initialisation; SGD η = {LR_EXPLODE:g}, without a fix, with "
            f"gradient clipping (Trainer clip_norm = {CLIP:g}) and with BatchNorm. Seeds "
            f"0–{seeds - 1} (weights and shuffling). Gradient norms: one full-batch backward "
            "pass at initialisation, seed 0. Divergence (DivergenceError) is caught and "
            "counted.")


def run(ctx) -> Section:
    data = ctx.digits()
    X, y = data["X_train"], data["y_train"]
    epochs, seeds = (10, 2) if ctx.quick else (30, 3)
    ctx.start("7 batch normalization", 5 * seeds)
    norms = initial_gradient_norms(X, y)
    vanish, explode = _train_all(ctx, X, y, epochs, seeds)
    stats = {"vanish_plain": summarise(vanish["plain"]), "vanish_bn": summarise(vanish["bn"]),
             "explode_plain": summarise(explode["plain"]),
             "explode_clip": summarise(explode["clip"]), "explode_bn": summarise(explode["bn"])}
    g = gradient_ratios(norms)
    fig = section_figure("07-batchnorm", "Left: gradient norm of each layer's weights at "
                         "initialisation. Middle: a deep sigmoid net with and without BatchNorm. "
                         "Right: a net with too large initial weights, plain, clipped and with "
                         "BatchNorm.", lambda: _draw(norms, vanish, explode))
    ctx.finish()
    return Section(
        key="batchnorm", title="Batch normalization", claim=CLAIM,
        setup=_setup(data, epochs, seeds), rule=RULE, checks=decide(g, stats, epochs),
        columns=["network", "initial loss", "final loss (mean)", "runs diverged"],
        rows=_rows(stats, norms),
        metrics={"gradient_norms": norms, "vanish_ratio": g["ratio"], "vanish_ratio_bn": g["ratio_bn"],
                 "first_layer_grad_large_init": g["first_big"], "runs": stats},
        figures=[fig])
