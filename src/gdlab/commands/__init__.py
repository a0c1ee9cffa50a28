"""The bodies of the ``gdlab`` commands that do more than one call (printing included).

cli.py parses the arguments and imports one of these modules lazily; the work itself is done
by library functions (:mod:`gdlab.runs`, :mod:`gdlab.comparison`, :mod:`gdlab.functions`).
"""
