"""Figures (matplotlib, in one visual style) and self-contained HTML/Markdown reports: the one
layer that ``gdlab train``, ``gdlab compare`` and the tour draw and write with. matplotlib is
imported only when a figure is drawn."""

from gdlab.report.document import Figure, Report, Table, figure

__all__ = ["Report", "Table", "Figure", "figure"]
