"""The ``gdlab`` command: argument parsing and printing only.

Each command is a thin layer over a library function: ``train`` over
:func:`gdlab.lab.runs.run_training`, ``compare`` over :func:`gdlab.lab.compare.run_comparison`,
``landscape`` over :func:`gdlab.lab.functions.minimize`, ``explain`` over
:func:`gdlab.lab.explain.worked_step` and ``gradcheck`` over
:func:`gdlab.nn.gradcheck.gradcheck_network`.

Nothing heavy is imported at module level (no scikit-learn, matplotlib, rich or torch), so
``gdlab --help`` costs little more than importing NumPy.

Exit codes: 0 success; 1 training diverged or a gradient check failed; 2 bad usage or bad
data (one ``error:`` line on stderr, a traceback only with ``--debug``); 130 interrupted by
Ctrl-C and 143 stopped by SIGTERM (a checkpoint is written first and the way to resume is
printed).
"""

from __future__ import annotations

import argparse
import sys

from gdlab.cli.argtypes import (
    FUNCTION_NAMES,
    OPTIMIZER_NAMES,
    batch_size,
    batch_size_list,
    layer_sizes,
    learning_rate,
    lr_list,
    non_negative_float,
    non_negative_int,
    optimizer_list,
    optimizer_name,
    optional_non_negative_float,
    point,
    positive_float,
    positive_int,
    probability,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class UsageError(ValueError):
    """Bad usage detected after parsing (reported as ``gdlab <command>: error: ...``, exit 2)."""


# ---- the parser ----------------------------------------------------------------------------

def _version():
    from gdlab import __version__

    return f"gdlab {__version__}"


def _add_model_options(p, *, layers_default, activation_default):
    p.add_argument("--layers", type=layer_sizes, default=layers_default, metavar="N,N,...",
                   help=f"hidden layer sizes, e.g. 64,32 (default: "
                        f"{','.join(map(str, layers_default)) or 'none'})")
    p.add_argument("--activation", default=activation_default, metavar="NAME",
                   help="hidden activation: relu, tanh, sigmoid, leaky_relu, elu, identity "
                        f"(default: {activation_default})")
    p.add_argument("--batchnorm", action="store_true",
                   help="batch normalisation after each hidden Dense layer")


def _add_common(p):
    p.add_argument("--debug", action="store_true", help="show the full traceback of errors")


def _add_data_options(p):
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits", metavar="NAME|PATH",
                   help="iris, wine, breast_cancer, digits, diabetes, mnist, fashion_mnist, or a "
                        ".csv/.npz file (default: digits, bundled)")
    g.add_argument("--target", metavar="COLUMN",
                   help="the target column of a CSV file (default: the last column)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="folder holding MNIST-style IDX files or the data file")
    g.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                   help="auto (default) treats strings, booleans and integers as classes and "
                        "fractional values as regression, and says which it chose")


def build_parser() -> argparse.ArgumentParser:
    """The ``gdlab`` argument parser with its five commands."""
    parser = argparse.ArgumentParser(
        prog="gdlab",
        description="Train neural networks by gradient descent and its variants, on NumPy; "
                    "compare optimizers, draw their paths and work one step by hand.",
        epilog="Run 'gdlab COMMAND --help' for a command's options. Exit codes: 0 ok, 1 "
               "diverged / check failed, 2 bad usage or data, 130 Ctrl-C, 143 SIGTERM.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # -- train --
    t = sub.add_parser(
        "train", help="train a network on a dataset (default: the bundled digits)",
        description="Train a multilayer perceptron by gradient descent. With no option: the "
                    "bundled digits data, one hidden layer of 64 ReLU units, Adam, learning "
                    "rate 1e-3, batch size 32, stopping when the training loss has not "
                    "improved by --tol for --patience epochs.",
        epilog="Outputs in --out DIR: config.json, metrics.json, history.csv, loss.png, "
               "accuracy.png (classification), checkpoint*. Resume with --resume DIR.")
    _add_data_options(t)
    m = t.add_argument_group("model")
    _add_model_options(m, layers_default=(64,), activation_default="relu")
    m.add_argument("--dropout", type=probability, default=0.0, metavar="P",
                   help="dropout probability after each hidden activation (default: 0)")
    m.add_argument("--init", metavar="NAME",
                   help="weight initialiser: kaiming_uniform (default for ReLU), xavier_uniform "
                        "(default otherwise), kaiming_normal, xavier_normal, lecun_normal, ...")
    m.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    o = t.add_argument_group("optimisation")
    o.add_argument("--optimizer", type=optimizer_name, default="adam", metavar="NAME",
                   help=f"{'|'.join(OPTIMIZER_NAMES)} (default: adam)")
    o.add_argument("--lr", type=learning_rate, default=1e-3, help="learning rate (default: 1e-3)")
    o.add_argument("--momentum", type=non_negative_float, metavar="MU",
                   help="momentum (sgd, momentum, nesterov, rmsprop; momentum/nesterov: 0.9)")
    o.add_argument("--weight-decay", type=non_negative_float, metavar="LAMBDA",
                   help="the optimizer's weight decay (PyTorch's meaning)")
    o.add_argument("--alpha", type=non_negative_float, default=0.0,
                   help="L2 penalty on the weights, scikit-learn's alpha (default: 0)")
    o.add_argument("--clip-norm", type=positive_float, metavar="C",
                   help="rescale each step's gradient to global norm at most C (exploding gradients)")
    o.add_argument("--clip-value", type=positive_float, metavar="V",
                   help="clip each gradient element to [-V, V]")
    o.add_argument("--schedule", metavar="SPEC",
                   help="learning-rate schedule NAME[:key=value,...] with PyTorch's names, e.g. "
                        "cosine:T_max=50, step:step_size=10,gamma=0.5, exponential:gamma=0.95, "
                        "plateau:factor=0.5,patience=3; the horizon defaults to --epochs")
    o.add_argument("--batch-size", type=batch_size, default=32, metavar="full|1|K",
                   help="full = batch gradient descent, 1 = stochastic, K = mini-batches "
                        "(default: 32)")
    s = t.add_argument_group("stopping")
    s.add_argument("--epochs", type=positive_int, default=200, metavar="N",
                   help="maximum number of epochs (default: 200)")
    s.add_argument("--tol", type=optional_non_negative_float, default=1e-4,
                   help="stop when the monitored loss improves by less than this for "
                        "--patience epochs; 'none' switches it off (default: 1e-4)")
    s.add_argument("--patience", type=positive_int, default=10, metavar="N",
                   help="epochs without improvement before stopping (default: 10)")
    s.add_argument("--early-stopping", action="store_true",
                   help="monitor the validation loss instead of the training loss and restore "
                        "the best weights")
    r = t.add_argument_group("run")
    r.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                   help="seed of the split, the initial weights and the shuffling (default: 0)")
    r.add_argument("--out", metavar="DIR",
                   help="output folder (default: a fresh folder under runs/)")
    r.add_argument("--force", action="store_true",
                   help="let --out overwrite a folder that holds a different run")
    r.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR from its last checkpoint with its saved "
                        "configuration (only --epochs may be raised)")
    r.add_argument("--checkpoint-every", type=positive_int, default=10, metavar="N",
                   help="write a checkpoint every N epochs (default: 10), at an interrupt "
                        "(the state at the end of the last whole epoch) and at the end")
    r.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="data-parallel workers (N > 1 runs under mpiexec; default: 1)")
    r.add_argument("--sync-batchnorm", action="store_true",
                   help="with several workers, BatchNorm uses the statistics of the whole global "
                        "batch (default: each worker's share; running statistics averaged)")
    r.add_argument("--quiet", action="store_true", help="print only errors and the result path")
    _add_common(t)

    # -- compare --
    c = sub.add_parser(
        "compare", help="compare optimizers, batch sizes and learning rates over several seeds",
        description="Train every combination of --optimizers x --batch-sizes x --lrs for each "
                    "seed, on the same data split and, for each seed, the same initial weights. "
                    "Writes results.csv, summary.csv, loss_vs_epoch.png, loss_vs_time.png, "
                    "report.html and report.md into --out.")
    _add_data_options(c)
    _add_model_options(c, layers_default=(32,), activation_default="relu")
    c.add_argument("--optimizers", type=optimizer_list, default=["sgd", "momentum", "adam"],
                   metavar="A,B,...", help="default: sgd,momentum,adam")
    c.add_argument("--batch-sizes", type=batch_size_list, default=[32], metavar="B,B,...",
                   help="e.g. full,1,32 (default: 32)")
    c.add_argument("--lrs", type=lr_list, default=[0.01], metavar="LR,LR,...",
                   help="learning rates (default: 0.01)")
    c.add_argument("--seeds", type=positive_int, default=3, metavar="K",
                   help="number of seeds: 0, 1, ..., K-1 (default: 3)")
    c.add_argument("--epochs", type=positive_int, default=20, metavar="N",
                   help="epochs per run, all of them run (default: 20)")
    c.add_argument("--target-loss", type=positive_float, metavar="L",
                   help="the training loss to reach for 'epochs/seconds to target' (default: the "
                        "largest mean final loss of the configurations that did not diverge)")
    c.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    c.add_argument("--out", metavar="DIR", help="output folder (default: a fresh one under runs/)")
    c.add_argument("--quiet", action="store_true")
    _add_common(c)

    # -- landscape --
    ls = sub.add_parser(
        "landscape", help="draw optimizer paths over a 2-D test function",
        description="Run each optimizer from the same start on a 2-D function and draw the "
                    "paths over its contour plot (landscape.png in --out).")
    ls.add_argument("--function", choices=FUNCTION_NAMES, default="rosenbrock")
    ls.add_argument("--optimizers", type=optimizer_list, default=["sgd", "momentum", "adam"],
                    metavar="A,B,...", help="default: sgd,momentum,adam")
    ls.add_argument("--lr", type=learning_rate, default=1e-3, help="default: 1e-3")
    ls.add_argument("--steps", type=positive_int, default=500, help="default: 500")
    ls.add_argument("--start", type=point, metavar="X,Y",
                    help="starting point (default: the function's usual start)")
    ls.add_argument("--maximize", action="store_true",
                    help="climb instead of descend (for a concave function)")
    ls.add_argument("--out", metavar="DIR", help="output folder (default: a fresh one under runs/)")
    _add_common(ls)

    # -- explain --
    e = sub.add_parser(
        "explain", help="work one gradient descent step of a tiny network by hand",
        description="One step of gradient descent on a tiny network (default 2-3-2 on four "
                    "samples): forward pass, loss, backpropagation by the chain rule, every "
                    "gradient and every update, then the loss again.")
    e.add_argument("--layers", type=layer_sizes, default=(3,), metavar="N,N,...",
                   help="hidden layer sizes (default: 3)")
    e.add_argument("--activation", default="sigmoid", metavar="NAME",
                   help="hidden activation (default: sigmoid)")
    e.add_argument("--lr", type=learning_rate, default=0.5, help="learning rate (default: 0.5)")
    e.add_argument("--format", choices=("text", "markdown"), default="text")
    e.add_argument("--seed", type=non_negative_int, default=0, help="initial weights (default 0)")
    _add_common(e)

    # -- gradcheck --
    g = sub.add_parser(
        "gradcheck", help="check backpropagation against finite differences",
        description="Build a small random network and compare its backpropagated gradients "
                    "with central finite differences in float64. Exit 0 if the worst relative "
                    "error is within --tol, 1 if not.")
    _add_model_options(g, layers_default=(5, 4), activation_default="tanh")
    g.add_argument("--dropout", type=probability, default=0.0, metavar="P")
    g.add_argument("--task", choices=("classification", "binary", "regression"),
                   default="classification", help="which loss to check through")
    g.add_argument("--tol", type=positive_float, default=1e-6, help="default: 1e-6")
    g.add_argument("--seed", type=non_negative_int, default=0)
    _add_common(g)

    # -- tour --
    tr = sub.add_parser(
        "tour", help="test each classic claim about gradient descent by an experiment",
        description="Run one experiment per classic claim about gradient descent (update rule, "
                    "learning rate, batch size, local minima and saddles, ill-conditioning, "
                    "optimizers, batch normalization, distributed) and write report.html, "
                    "report.md, results.json and figures/ into --out, each section with a "
                    "verdict computed from its measurements.")
    tr.add_argument("--out", metavar="DIR", help="output folder (default: a fresh one under runs/)")
    tr.add_argument("--quick", action="store_true",
                    help="smaller data, epochs, seeds and grids (a few minutes at most)")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_common(tr)
    return parser


# ---- main ------------------------------------------------------------------------------------

def main(argv=None) -> int:
    """Run the ``gdlab`` command line; returns the exit code (see the module docstring)."""
    parser = build_parser()
    argv = _attach_negative_values(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # repeated by --workers N ranks
    command = COMMANDS[args.command]
    try:
        return command(args)
    except BrokenPipeError:  # e.g. `gdlab explain | head`: the reader left, nothing to report
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        # an interrupt outside training (training turns it into a checkpoint and a message)
        print("interrupted", file=sys.stderr)
        return EXIT_SIGINT
    except Exception as exc:  # turned into one line for people; --debug shows the traceback
        from gdlab.errors import DivergenceError

        if args.debug:
            raise
        if isinstance(exc, DivergenceError):
            print(f"gdlab {args.command}: error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if isinstance(exc, (ValueError, TypeError, OSError)):
            message = str(exc)
            if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
                message = f"{message}: '{exc.filename}'"
            print(f"gdlab {args.command}: error: {message}", file=sys.stderr)
            return EXIT_USAGE
        print(f"gdlab {args.command}: error: unexpected {type(exc).__name__}: {exc} "
              "(run again with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILED


def _attach_negative_values(argv):
    """``--start -1.5,2`` -> ``--start=-1.5,2``: argparse would take ``-1.5,2`` for an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in _POINT_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


_POINT_OPTIONS = ("--start",)


def _cmd_train(args):
    from gdlab.cli import train

    return train.run(args)


def _cmd_compare(args):
    from gdlab.cli import compare

    return compare.run(args)


def _cmd_landscape(args):
    from gdlab.cli import landscape

    return landscape.run(args)


def _cmd_explain(args):
    from gdlab.lab.explain import render, worked_step

    step = worked_step(hidden=args.layers, activation=args.activation, lr=args.lr,
                       seed=args.seed)
    print(render(step, fmt=args.format))
    return EXIT_OK


def _cmd_gradcheck(args):
    from gdlab.nn.gradcheck import gradcheck_network

    print(f"gradcheck: layers {','.join(map(str, args.layers)) or 'none'}, activation "
          f"{args.activation}, batchnorm {'on' if args.batchnorm else 'off'}, "
          f"dropout {args.dropout:g}, loss for {args.task}, float64")
    report = gradcheck_network(args.layers, args.activation, batchnorm=args.batchnorm,
                               dropout=args.dropout, task=args.task, seed=args.seed,
                               tol=args.tol)
    print(report)
    return EXIT_OK if report.passed else EXIT_FAILED


def _cmd_tour(args):
    from gdlab.lab.runs import fresh_run_dir
    from gdlab.lab.tour import run_tour

    out = args.out or fresh_run_dir("tour")
    results = run_tour(out, quick=args.quick, progress=not args.quiet)
    if not args.quiet:
        for i, s in enumerate(results["sections"], 1):
            print(f"{i}. {s['title']}: {s['verdict']}")
    print(f"report: {out}/report.html")
    return EXIT_OK


COMMANDS = {
    "train": _cmd_train,
    "compare": _cmd_compare,
    "landscape": _cmd_landscape,
    "explain": _cmd_explain,
    "gradcheck": _cmd_gradcheck,
    "tour": _cmd_tour,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
