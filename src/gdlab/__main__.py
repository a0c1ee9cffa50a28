"""``python -m gdlab``: the same as the ``gdlab`` command."""

import sys

from gdlab.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
