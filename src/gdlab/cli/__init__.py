"""The ``gdlab`` command line: a parser and one module per command, each with ``NAME``,
``add_parser(subparsers)`` and ``run(args)``. It parses, calls library functions and prints;
nothing heavy is imported before a command runs.

    main.py      main(), build_parser() and COMMANDS, the one table of commands
    exits.py     the exit codes and UsageError
    options.py   option groups that several commands share (data, model, --out, --debug)
    argtypes.py  text -> value for each option, checked by gdlab._checks and the registries
    train.py, compare.py, landscape.py, explain.py, gradcheck.py, tour.py: the commands
"""

from gdlab.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, UsageError
from gdlab.cli.main import COMMANDS, build_parser, main

__all__ = ["main", "build_parser", "COMMANDS", "UsageError", "EXIT_OK", "EXIT_FAILED",
           "EXIT_USAGE", "EXIT_SIGINT", "EXIT_SIGTERM"]
