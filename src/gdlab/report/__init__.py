"""Figures (matplotlib, in one visual style) and self-contained HTML/Markdown reports: the one
layer that ``gdlab train``, ``gdlab compare`` and the tour draw and write with. matplotlib is
imported only when a figure is drawn.

:mod:`gdlab.report.plots` draws (``new_figure``, ``styled``, ``finish``, ``style``, ``colour``,
``to_png_bytes`` and the ready-made figures); :mod:`gdlab.report.document` writes
(:class:`Report` and its items).
"""

from gdlab.report.document import (
    TONES,
    Badge,
    CheckList,
    Code,
    Em,
    Figure,
    Link,
    Paragraph,
    Report,
    ReportSection,
    Strong,
    Table,
    Verdict,
    code_spans,
    draw_figure,
    figure,
)

__all__ = ["Report", "ReportSection", "Table", "Figure", "Paragraph", "CheckList", "Verdict",
           "Strong", "Em", "Code", "Link", "Badge", "TONES", "code_spans", "figure",
           "draw_figure"]
