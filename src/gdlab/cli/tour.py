"""``gdlab tour``: one experiment per classic claim about gradient descent, with a verdict each;
the experiments are :func:`gdlab.lab.tour.run_tour`."""

from __future__ import annotations

import argparse

from gdlab.cli.exits import EXIT_OK
from gdlab.cli.options import add_debug_option, add_out_option

NAME = "tour"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="test each classic claim about gradient descent by an experiment",
        description="Run one experiment per classic claim about gradient descent (update rule, "
                    "learning rate, batch size, local minima and saddles, ill-conditioning, "
                    "optimizers, batch normalization, distributed) and write report.html, "
                    "report.md, results.json and figures/ into --out, each section with a "
                    "verdict computed from its measurements.")
    add_out_option(p)
    p.add_argument("--quick", action="store_true",
                   help="smaller data, epochs, seeds and grids (a few minutes at most)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_debug_option(p)
    return p


def run(args) -> int:
    from gdlab.lab.runs import fresh_run_dir
    from gdlab.lab.tour import run_tour

    out = args.out or fresh_run_dir("tour")
    results = run_tour(out, quick=args.quick, progress=not args.quiet)
    if not args.quiet:
        for i, s in enumerate(results["sections"], 1):
            print(f"{i}. {s['title']}: {s['verdict']}")
    print(f"report: {out}/report.html (the tour took {results['seconds']:.0f} s)")
    return EXIT_OK
