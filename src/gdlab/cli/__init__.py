"""The ``gdlab`` command line: a parser and one module per command, each with
``add_parser(subparsers)`` and ``run(args)``. It parses, calls library functions and prints;
nothing heavy is imported before a command runs."""

from gdlab.cli.main import (
           EXIT_FAILED,
           EXIT_OK,
           EXIT_SIGINT,
           EXIT_SIGTERM,
           EXIT_USAGE,
           UsageError,
           build_parser,
           main,
)

__all__ = ["main", "build_parser", "UsageError", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE",
           "EXIT_SIGINT", "EXIT_SIGTERM"]
