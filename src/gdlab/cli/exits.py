"""The exit codes of the ``gdlab`` command and the error for bad usage found after parsing.

0 success; 1 training diverged or a gradient check failed; 2 bad usage or bad data (one
``error:`` line on stderr); 130 interrupted by Ctrl-C; 143 stopped by SIGTERM.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class UsageError(ValueError):
    """Bad usage detected after parsing (reported as ``gdlab <command>: error: ...``, exit 2)."""
