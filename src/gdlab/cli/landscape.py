"""``gdlab landscape``: optimizer paths on a 2-D test function, drawn over its contours; the
paths come from :func:`gdlab.lab.minimize.minimize`."""

from __future__ import annotations

import argparse
from pathlib import Path

from gdlab.cli.argtypes import function_name, learning_rate, optimizer_list, point, positive_int
from gdlab.cli.exits import EXIT_OK
from gdlab.cli.options import add_debug_option, add_out_option
from gdlab.lab.functions import FUNCTIONS

NAME = "landscape"

#: options whose value may start with a minus sign (``--start -1.5,2``)
POINT_OPTIONS = ("--start",)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="draw optimizer paths over a 2-D test function",
        description="Run each optimizer from the same start on a 2-D function and draw the "
                    "paths over its contour plot (landscape.png in --out).")
    p.add_argument("--function", type=function_name, default="rosenbrock", metavar="NAME",
                   help=f"{', '.join(FUNCTIONS)} (default: rosenbrock)")
    p.add_argument("--optimizers", type=optimizer_list, default=["sgd", "momentum", "adam"],
                   metavar="A,B,...", help="default: sgd,momentum,adam")
    p.add_argument("--lr", type=learning_rate, default=1e-3, help="default: 1e-3")
    p.add_argument("--steps", type=positive_int, default=500, help="default: 500")
    p.add_argument("--start", type=point, metavar="X,Y",
                   help="starting point (default: the function's usual start)")
    p.add_argument("--maximize", action="store_true",
                   help="climb instead of descend (gradient ascent), e.g. on the concave "
                        "function; without it every optimizer descends")
    add_out_option(p)
    add_debug_option(p)
    return p


def run(args) -> int:
    from gdlab.lab.minimize import minimize
    from gdlab.lab.runs import fresh_run_dir

    function = FUNCTIONS[args.function]
    start = function.start if args.start is None else args.start
    maximize = bool(args.maximize)
    out = Path(args.out) if args.out else fresh_run_dir(f"landscape-{args.function}")
    out.mkdir(parents=True, exist_ok=True)
    print(f"{args.function}: {'gradient ascent' if maximize else 'gradient descent'} from "
          f"({start[0]:g}, {start[1]:g}), lr {args.lr:g}, {args.steps} steps; "
          f"{function.describe_optimum(maximize)}")
    if function.maximize and not maximize:
        print(f"note: {args.function} is meant to be climbed: descending it runs away; add "
              "--maximize for gradient ascent")
    paths = {}
    for name in args.optimizers:
        result = minimize(function, None, start, optimizer=name, lr=args.lr,
                          max_iter=args.steps, maximize=maximize, tol=1e-8)
        paths[name] = result.path
        x, y = result.x
        note = "" if result.stopped_because in ("max_iter", "tol") else f" ({result.message})"
        print(f"  {name:<9} ended at ({x: .6g}, {y: .6g})  f = {result.fun:.6g}  after "
              f"{result.n_iter} steps{note}")
    print(f"wrote {draw(function, paths, args, out)}")
    return EXIT_OK


def draw(function, paths, args, out):
    """The paths over the function's contours, saved as landscape.png in ``out``."""
    from gdlab.report import plots

    fig = plots.plot_landscape(
        function, paths, maximize=bool(args.maximize),
        title=f"{len(paths)} optimizer{'s' if len(paths) > 1 else ''} on the {args.function} "
              f"function (lr {args.lr:g}, {args.steps} steps)")
    return plots.save(fig, out / "landscape.png")
