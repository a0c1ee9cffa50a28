"""``gdlab playground``: watch gradient descent train a network, live, in the browser.

A thin layer over :func:`gdlab.playground.server.serve`. The web stack (Starlette, uvicorn) is
the ``gdlab[playground]`` extra and is imported only here, inside :func:`run`; without it the
command says which ``pip install`` to run (exit 2).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from gdlab.cli.argtypes import non_negative_int, positive_float, positive_int
from gdlab.cli.exits import EXIT_USAGE, UsageError
from gdlab.cli.options import add_debug_option

NAME = "playground"

#: the modules of the ``gdlab[playground]`` extra
WEB_STACK = ("starlette", "uvicorn")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="watch gradient descent train a network, live, in the browser",
        description="Start a local web page where you pick a 2-D data set, a network and an "
                    "optimizer, and watch gdlab train it: the loss, the decision boundary, "
                    "the gradient norms per layer, step by step. A JSON API beside the page "
                    "lets notebooks drive it (see the README).",
        epilog="Needs the playground extra: pip install 'gdlab[playground]'.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_port, default=8765,
                   help="port to listen on; 0 picks a free one (default: 8765)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--max-runs", type=positive_int, default=8, metavar="N",
                   help="runs active (running or paused) at once (default: 8)")
    p.add_argument("--idle-timeout", type=positive_float, default=600.0, metavar="SECONDS",
                   help="stop a run nobody has watched or asked about for this long "
                        "(default: 600)")
    add_debug_option(p)
    return p


def _port(text):
    port = non_negative_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {port}")
    return port


def missing_web_stack() -> list[str]:
    """The modules of the web stack that cannot be imported here."""
    missing = []
    for name in WEB_STACK:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules
            found = False
        if not found:
            missing.append(name)
    return missing


def run(args) -> int:
    missing = missing_web_stack()
    if missing:
        print(f"gdlab playground: error: the playground needs {' and '.join(missing)}; "
              "install them with: pip install 'gdlab[playground]'", file=sys.stderr)
        return EXIT_USAGE
    from gdlab.playground.server import serve

    if not args.host.strip():
        raise UsageError("--host must not be empty")
    return serve(args.host, args.port, open_browser=not args.no_browser,
                 max_runs=args.max_runs, idle_timeout=args.idle_timeout)
