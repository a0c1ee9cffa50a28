"""The ``gdlab`` command: the top-level parser, the table of commands and the exit codes.

Each command is a module of :mod:`gdlab.cli` with ``NAME``, ``add_parser(subparsers)`` and
``run(args)``, a thin layer over a library function: ``train`` over
:func:`gdlab.lab.runs.run_training`, ``predict`` over
:func:`gdlab.lab.run_predict.predict_file`, ``export`` over
:func:`gdlab.lab.run_export.export_onnx`, ``data convert`` over
:func:`gdlab.lab.convert.convert_table`, ``compare`` over :func:`gdlab.lab.compare.run_comparison`,
``landscape`` over :func:`gdlab.lab.minimize.minimize`, ``explain`` over
:func:`gdlab.lab.explain.worked_step`, ``gradcheck`` over
:func:`gdlab.nn.gradcheck.gradcheck_network`, ``tour`` over :func:`gdlab.lab.tour.run_tour` and
``playground`` over :func:`gdlab.playground.server.serve`; ``lr-find`` over
:func:`gdlab.lab.lr_find.find_lr`.

Nothing heavy is imported before a command runs (no scikit-learn, pandas, matplotlib, rich,
mpi4py, torch or the playground's web stack), so ``gdlab --help`` costs little more than importing NumPy.

Exit codes (:mod:`gdlab.cli.exits`): 0 success; 1 training diverged or a gradient check
failed; 2 bad usage or bad data (one ``error:`` line on stderr, a traceback only with
``--debug``); 130 interrupted by Ctrl-C and 143 stopped by SIGTERM (a checkpoint is written
first and the way to resume is printed).
"""

from __future__ import annotations

import argparse
import sys

from gdlab.cli import compare, explain, export, gradcheck, landscape, playground, predict, tour, train
from gdlab.cli import data as data_command
from gdlab.cli import lr_find as lr_find_command
from gdlab.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_SIGINT, EXIT_USAGE

#: the commands, in the order ``gdlab --help`` lists them
COMMANDS = {module.NAME: module for module in (train, predict, export, data_command,
                                                lr_find_command, compare, landscape, explain,
                                                gradcheck, tour, playground)}


def _version() -> str:
    from gdlab import __version__

    return f"gdlab {__version__}"


def build_parser() -> argparse.ArgumentParser:
    """The ``gdlab`` argument parser: each command of :data:`COMMANDS` adds its own."""
    parser = argparse.ArgumentParser(
        prog="gdlab",
        description="Train neural networks by gradient descent and its variants, on NumPy; "
                    "compare optimizers, draw their paths and work one step by hand.",
        epilog="Run 'gdlab COMMAND --help' for a command's options. Exit codes: 0 ok, 1 "
               "diverged / check failed, 2 bad usage or data, 130 Ctrl-C, 143 SIGTERM.",
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in COMMANDS.values():
        command.add_parser(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the ``gdlab`` command line; returns the exit code (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_attach_negative_values(argv))
    args.argv = argv  # repeated by --workers N ranks
    try:
        return COMMANDS[args.command].run(args)
    except BrokenPipeError:  # e.g. `gdlab explain | head`: the reader left, nothing to report
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        # an interrupt outside training (training turns it into a checkpoint and a message)
        print("interrupted", file=sys.stderr)
        return EXIT_SIGINT
    except Exception as exc:  # turned into one line for people; --debug shows the traceback
        if args.debug:
            raise
        return report_error(args.command, exc)


def report_error(command: str, exc: Exception) -> int:
    """Print ``gdlab <command>: error: ...`` on one line and return the exit code."""
    from gdlab.errors import DivergenceError

    if isinstance(exc, DivergenceError):
        print(f"gdlab {command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(exc, (ValueError, TypeError, OSError)):
        message = str(exc)
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
            message = f"{message}: '{exc.filename}'"
        print(f"gdlab {command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    print(f"gdlab {command}: error: unexpected {type(exc).__name__}: {exc} "
          "(run again with --debug for the traceback)", file=sys.stderr)
    return EXIT_FAILED


def _attach_negative_values(argv: list[str]) -> list[str]:
    """``--start -1.5,2`` -> ``--start=-1.5,2``: argparse would take ``-1.5,2`` for an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in landscape.POINT_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
