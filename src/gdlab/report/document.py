"""Reports: one self-contained ``report.html`` and a ``report.md`` from the same content.

The HTML file embeds its figures as base64 PNG (``data:`` URIs) and its CSS inline, so it
needs no other file and no network; it has a viewport meta tag and a max-width layout; table
headers and text cells wrap, and a table of more than :data:`WIDE_COLUMNS` columns is set
smaller and, on a narrow screen, shows each row as a block of "header: value" lines, so that
it reads on a phone and no column hides behind a sideways scroll. The Markdown file links the PNG files
saved next to it (a figure's ``filename`` may name a subfolder, e.g. ``figures/loss.png``).

A report is a title, optional intro items, then sections. Items are block elements: a str
(a plain paragraph), :class:`Paragraph`, :class:`Table`, :class:`Figure`, :class:`CheckList`
or :class:`Verdict`. Paragraphs and table cells may hold inline pieces: :class:`Strong`,
:class:`Em`, :class:`Code`, :class:`Link` (to a section's anchor) and :class:`Badge`.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       padding: 0 1rem; color: #1a1a1a; background: #fff; line-height: 1.5;
       overflow-wrap: break-word; }
main { max-width: 52rem; margin: 0 auto; padding: 1rem 0 3rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
img { max-width: 100%; height: auto; display: block; margin: 0.5rem 0; }
figure { margin: 1rem 0; } figcaption { font-size: 0.9rem; color: #444; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3rem 0.6rem; border-bottom: 1px solid #ddd; text-align: right;
         white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; } th.text { text-align: left; }
td.text { white-space: normal; overflow-wrap: anywhere; text-align: left; min-width: 6rem; }
table.wide { font-size: 0.8rem; } table.wide th, table.wide td { padding: 0.25rem 0.4rem; }
th:first-child, td:first-child { text-align: left; }
@media (max-width: 40rem) {
  table.wide, table.wide tbody, table.wide tr, table.wide td, table.wide caption {
    display: block; width: auto; }
  table.wide thead { display: none; }
  table.wide tr { border-bottom: 2px solid #ccc; padding: 0.3rem 0; }
  table.wide td { border: none; text-align: right; white-space: normal;
                  overflow-wrap: anywhere; min-width: 0; padding: 0.1rem 0.3rem; }
  table.wide td::before { content: attr(data-label); float: left; font-weight: 600;
                          text-align: left; padding-right: 0.75rem; color: #444; }
  table.wide td:first-child { text-align: left; font-weight: 600; }
  table.wide td:first-child::before { content: none; }
}
th { background: #f3f3f3; }
caption { text-align: left; font-size: 0.9rem; color: #444; }
code { background: #f3f3f3; padding: 0 0.2rem; overflow-wrap: anywhere; }
p.small { font-size: 0.9rem; color: #333; }
.badge { display: inline-block; color: #fff; border-radius: 0.3rem; padding: 0.05rem 0.5rem;
         font-weight: 600; }
.badge.good { background: #009E73; } .badge.bad { background: #D55E00; }
.badge.mixed { background: #E69F00; } .badge.neutral { background: #666666; }
ul.checks li.pass::marker { content: "✓ "; color: #009E73; }
ul.checks li.fail::marker { content: "✗ "; color: #D55E00; }
"""

TONES = ("good", "bad", "mixed", "neutral")
"""The tones of a :class:`Badge` or :class:`Verdict` (green, vermilion, orange, grey)."""


# ---- inline pieces ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Strong:
    """Bold text."""

    text: str


@dataclass(frozen=True)
class Em:
    """Italic text."""

    text: str


@dataclass(frozen=True)
class Code:
    """Code in a monospace font."""

    text: str


@dataclass(frozen=True)
class Link:
    """A link to the section with this ``anchor`` (plain text in the Markdown file)."""

    text: str
    anchor: str


@dataclass(frozen=True)
class Badge:
    """A short label on a coloured background (bold in the Markdown file); ``tone`` from TONES."""

    text: str
    tone: str = "neutral"


def code_spans(text: str) -> list:
    """Split ``text`` on backticks into str and :class:`Code` pieces (Markdown's `code`)."""
    parts = str(text).split("`")
    return [p if i % 2 == 0 else Code(p) for i, p in enumerate(parts) if p or i % 2]


# ---- block items ------------------------------------------------------------------------------

class Paragraph:
    """A paragraph of inline pieces (str, Strong, Em, Code, Link, Badge); ``small``: a side note."""

    def __init__(self, *pieces, small: bool = False):
        self.pieces = list(pieces)
        self.small = small


@dataclass
class Table:
    """A table; cells are numbers, str, None (shown as —) or inline pieces. No caption if ""."""

    caption: str
    header: list[str]
    rows: list[list]


@dataclass
class Figure:
    caption: str
    png: bytes        # the image itself (embedded in the HTML)
    filename: str     # the PNG file next to report.md (a relative path, e.g. "figures/a.png")

    @property
    def name(self) -> str:
        """The file's name without folder and extension."""
        return Path(self.filename).stem


@dataclass
class CheckList:
    """A list of conditions, each marked as holding (✓) or not (✗): ``[(passed, text), ...]``."""

    items: list[tuple[bool, str]]


@dataclass
class Verdict:
    """A conclusion: a badge with ``label`` in ``tone`` (from TONES), then the ``reason``."""

    label: str
    reason: str
    tone: str = "neutral"


@dataclass
class ReportSection:
    """A heading and its items; ``anchor`` is the HTML id that a :class:`Link` points to."""

    heading: str
    items: list
    anchor: str | None = None


@dataclass
class Report:
    """A title, intro items, then sections; each section has its items in order."""

    title: str
    sections: list[ReportSection] = field(default_factory=list)
    intro: list = field(default_factory=list)

    def section(self, heading: str, *items, anchor: str | None = None) -> Report:
        """Add a section of block items (see the module docstring); ``anchor`` names it."""
        self.sections.append(ReportSection(heading, list(items), anchor))
        return self

    def figures(self) -> list[Figure]:
        """Every figure of the report, intro first, in order."""
        items = self.intro + [item for s in self.sections for item in s.items]
        return [item for item in items if isinstance(item, Figure)]

    # ---- HTML ----
    def to_html(self) -> str:
        out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
               '<meta name="viewport" content="width=device-width, initial-scale=1">',
               f"<title>{html.escape(self.title)}</title>", f"<style>{_CSS}</style>",
               "</head>", "<body>", "<main>", f"<h1>{html.escape(self.title)}</h1>"]
        out += [_html_item(item) for item in self.intro]
        for s in self.sections:
            anchor = f' id="{html.escape(s.anchor)}"' if s.anchor else ""
            out += [f"<section{anchor}>", f"<h2>{html.escape(s.heading)}</h2>"]
            out += [_html_item(item) for item in s.items]
            out.append("</section>")
        out += ["</main>", "</body>", "</html>"]
        return "\n".join(out) + "\n"

    # ---- Markdown ----
    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for item in self.intro:
            out += _md_item(item) + [""]
        for s in self.sections:
            out += [f"## {s.heading}", ""]
            for item in s.items:
                out += _md_item(item) + [""]
        return "\n".join(out)

    def write(self, folder, stem: str = "report") -> tuple[Path, Path]:
        """Write ``<stem>.html``, ``<stem>.md`` and the figures' PNG files into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for item in self.figures():
            path = folder / item.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(item.png)
        html_path, md_path = folder / f"{stem}.html", folder / f"{stem}.md"
        html_path.write_text(self.to_html(), encoding="utf-8")
        md_path.write_text(self.to_markdown(), encoding="utf-8")
        return html_path, md_path


def _fmt(v) -> str:
    if isinstance(v, float):
        if v != v:  # NaN
            return "—"
        return f"{v:.4g}"
    return "—" if v is None else str(v)


def _tone(tone: str) -> str:
    if tone not in TONES:
        raise ValueError(f"tone must be one of {TONES}, got {tone!r}")
    return tone


# ---- HTML writer ------------------------------------------------------------------------------

def _html_inline(piece) -> str:
    if isinstance(piece, Strong):
        return f"<strong>{html.escape(piece.text)}</strong>"
    if isinstance(piece, Em):
        return f"<em>{html.escape(piece.text)}</em>"
    if isinstance(piece, Code):
        return f"<code>{html.escape(piece.text)}</code>"
    if isinstance(piece, Link):
        return f'<a href="#{html.escape(piece.anchor)}">{html.escape(piece.text)}</a>'
    if isinstance(piece, Badge):
        return f'<span class="badge {_tone(piece.tone)}">{html.escape(piece.text)}</span>'
    return html.escape(_fmt(piece))


#: a table with more columns than this is "wide": smaller type, and on a narrow screen each
#: row becomes a block of "header: value" lines instead of a row to scroll sideways
WIDE_COLUMNS = 4


def _is_text(value) -> bool:
    # text that may be long (a sentence, a path) wraps; numbers and short labels stay whole
    return isinstance(value, str) and (len(value) > 24 or " " in value.strip())


def _html_cell(value, label: str) -> str:
    css = ' class="text"' if _is_text(value) else ""
    return f'<td{css} data-label="{html.escape(label)}">{_html_inline(value)}</td>'


def _html_table(table: Table) -> str:
    caption = f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
    # a column whose first cell is text is headed on the left, as its cells are
    first = table.rows[0] if table.rows else []
    text = [j < len(first) and _is_text(first[j]) for j in range(len(table.header))]
    head = "".join(('<th class="text">' if t else "<th>") + f"{html.escape(str(h))}</th>"
                   for h, t in zip(table.header, text))
    labels = [str(h) for h in table.header]
    body = "\n".join("<tr>" + "".join(_html_cell(v, label) for v, label in zip(row, labels))
                     + "</tr>" for row in table.rows)
    wide = ' class="wide"' if len(table.header) > WIDE_COLUMNS else ""
    return (f'<div class="scroll"><table{wide}>{caption}'
            f"<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>")


def _html_item(item) -> str:
    if isinstance(item, str):
        return f"<p>{html.escape(item)}</p>"
    if isinstance(item, Paragraph):
        css = ' class="small"' if item.small else ""
        return f"<p{css}>" + "".join(_html_inline(p) for p in item.pieces) + "</p>"
    if isinstance(item, Table):
        return _html_table(item)
    if isinstance(item, Figure):
        data = base64.b64encode(item.png).decode("ascii")
        alt = html.escape(item.caption)
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
                f"<figcaption>{alt}</figcaption></figure>")
    if isinstance(item, CheckList):
        return '<ul class="checks">' + "".join(
            f'<li class="{"pass" if passed else "fail"}">{html.escape(text)}</li>'
            for passed, text in item.items) + "</ul>"
    if isinstance(item, Verdict):
        return (f'<p><strong>Verdict:</strong> <span class="badge {_tone(item.tone)}">'
                f"{html.escape(item.label)}</span> {html.escape(item.reason)}</p>")
    raise TypeError("report items are str, Paragraph, CheckList, Verdict, Table or Figure, got "
                    f"{type(item).__name__}")


# ---- Markdown writer --------------------------------------------------------------------------

def _md_inline(piece) -> str:
    if isinstance(piece, (Strong, Badge)):
        return f"**{piece.text}**"
    if isinstance(piece, Em):
        return f"*{piece.text}*"
    if isinstance(piece, Code):
        return f"`{piece.text}`"
    if isinstance(piece, Link):
        return piece.text
    return _fmt(piece)


def _md_cell(value) -> str:
    return _md_inline(value).replace("|", "\\|").replace("\n", " ")


def _md_item(item) -> list[str]:
    if isinstance(item, str):
        return [item]
    if isinstance(item, Paragraph):
        return ["".join(_md_inline(p) for p in item.pieces)]
    if isinstance(item, Table):
        lines = [f"*{item.caption}*", ""] if item.caption else []
        lines += ["| " + " | ".join(map(_md_cell, item.header)) + " |",
                  "|" + "|".join("---" for _ in item.header) + "|"]
        lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in item.rows]
        return lines
    if isinstance(item, Figure):
        alt = item.caption.replace("\n", " ")
        return [f"![{alt}]({item.filename})", "", f"*{item.caption}*"]
    if isinstance(item, CheckList):
        return [f"- {'✓' if passed else '✗'} {text}" for passed, text in item.items]
    if isinstance(item, Verdict):
        return [f"**Verdict: {item.label}.** {item.reason}"]
    raise TypeError("report items are str, Paragraph, CheckList, Verdict, Table or Figure, got "
                    f"{type(item).__name__}")


# ---- figures ----------------------------------------------------------------------------------

def figure(fig, caption: str, filename: str) -> Figure:
    """A report :class:`Figure` from a matplotlib figure."""
    from gdlab.report.plots import to_png_bytes

    return Figure(caption, to_png_bytes(fig), filename)


def draw_figure(draw, caption: str, filename: str) -> Figure:
    """Run ``draw()`` (it returns a matplotlib figure) inside gdlab's plot style; keep the PNG.

    Use it for a figure drawn step by step (its own axes, legends, bars): every artist, and
    the rendering, then get the style, not just the axes made by
    :func:`gdlab.report.plots.new_figure`.
    """
    from gdlab.report.plots import styled, to_png_bytes

    with styled():
        fig = draw()
        png = to_png_bytes(fig)
    return Figure(caption, png, filename)
