"""``gdlab explain``: one gradient descent step of a tiny network, worked by hand; the numbers
come from :func:`gdlab.lab.explain.worked_step`, the text from :func:`gdlab.lab.explain.render`."""

from __future__ import annotations

import argparse

from gdlab.cli.argtypes import layer_sizes, learning_rate, non_negative_int
from gdlab.cli.exits import EXIT_OK
from gdlab.cli.options import add_activation_option, add_debug_option
from gdlab.lab.explain import FORMATS

NAME = "explain"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="work one gradient descent step of a tiny network by hand",
        description="One step of gradient descent on a tiny network (default 2-3-2 on four "
                    "samples): forward pass, loss, backpropagation by the chain rule, every "
                    "gradient and every update, then the loss again.")
    p.add_argument("--layers", type=layer_sizes, default=(3,), metavar="N,N,...",
                   help="hidden layer sizes (default: 3)")
    add_activation_option(p, "sigmoid")
    p.add_argument("--lr", type=learning_rate, default=0.5, help="learning rate (default: 0.5)")
    p.add_argument("--format", choices=FORMATS, default=FORMATS[0])
    p.add_argument("--seed", type=non_negative_int, default=0, help="initial weights (default 0)")
    add_debug_option(p)
    return p


def run(args) -> int:
    from gdlab.lab.explain import render, worked_step

    step = worked_step(hidden=args.layers, activation=args.activation, lr=args.lr,
                       seed=args.seed)
    print(render(step, fmt=args.format))
    return EXIT_OK
