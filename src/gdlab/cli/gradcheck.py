"""``gdlab gradcheck``: backpropagation against central finite differences, in float64; the
check itself is :func:`gdlab.nn.gradcheck.gradcheck_network`. Exit 1 when it fails."""

from __future__ import annotations

import argparse

from gdlab.cli.argtypes import non_negative_int, positive_float, probability
from gdlab.cli.exits import EXIT_FAILED, EXIT_OK
from gdlab.cli.options import add_debug_option, add_model_options
from gdlab.nn.gradcheck import TASKS

NAME = "gradcheck"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="check backpropagation against finite differences",
        description="Build a small random network and compare its backpropagated gradients "
                    "with central finite differences in float64. Exit 0 if the worst relative "
                    "error is within --tol, 1 if not.")
    add_model_options(p, layers_default=(5, 4), activation_default="tanh")
    p.add_argument("--dropout", type=probability, default=0.0, metavar="P")
    p.add_argument("--task", choices=TASKS, default=TASKS[0], help="which loss to check through")
    p.add_argument("--tol", type=positive_float, default=1e-6, help="default: 1e-6")
    p.add_argument("--seed", type=non_negative_int, default=0)
    add_debug_option(p)
    return p


def run(args) -> int:
    from gdlab.nn.gradcheck import gradcheck_network

    print(f"gradcheck: layers {','.join(map(str, args.layers)) or 'none'}, activation "
          f"{args.activation}, batchnorm {'on' if args.batchnorm else 'off'}, "
          f"dropout {args.dropout:g}, loss for {args.task}, float64")
    report = gradcheck_network(args.layers, args.activation, batchnorm=args.batchnorm,
                               dropout=args.dropout, task=args.task, seed=args.seed,
                               tol=args.tol)
    print(report)
    return EXIT_OK if report.passed else EXIT_FAILED
