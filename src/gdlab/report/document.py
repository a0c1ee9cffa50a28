"""Reports: one self-contained ``report.html`` and a ``report.md`` from the same content.

The HTML file embeds its figures as base64 PNG (``data:`` URIs) and its CSS inline, so it
needs no other file and no network; it has a viewport meta tag and a max-width layout, and
wide tables scroll sideways, so it reads on a phone. The Markdown file links the PNG files
saved next to it.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       padding: 0 1rem; color: #1a1a1a; background: #fff; line-height: 1.5; }
main { max-width: 52rem; margin: 0 auto; padding: 1rem 0 3rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
img { max-width: 100%; height: auto; display: block; margin: 0.5rem 0; }
figure { margin: 1rem 0; } figcaption { font-size: 0.9rem; color: #444; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3rem 0.6rem; border-bottom: 1px solid #ddd; text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[list]


@dataclass
class Figure:
    caption: str
    png: bytes        # the image itself (embedded in the HTML)
    filename: str     # the PNG file next to report.md


@dataclass
class Report:
    """A title, then sections; each section has paragraphs, tables and figures in order."""

    title: str
    sections: list[tuple[str, list]] = field(default_factory=list)

    def section(self, heading: str, *items) -> Report:
        """Add a section; items are str (a paragraph), :class:`Table` or :class:`Figure`."""
        self.sections.append((heading, list(items)))
        return self

    # ---- HTML ----
    def to_html(self) -> str:
        out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
               '<meta name="viewport" content="width=device-width, initial-scale=1">',
               f"<title>{html.escape(self.title)}</title>", f"<style>{_CSS}</style>",
               "</head>", "<body>", "<main>", f"<h1>{html.escape(self.title)}</h1>"]
        for heading, items in self.sections:
            out.append(f"<h2>{html.escape(heading)}</h2>")
            for item in items:
                out.append(_html_item(item))
        out += ["</main>", "</body>", "</html>"]
        return "\n".join(out) + "\n"

    # ---- Markdown ----
    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for heading, items in self.sections:
            out += [f"## {heading}", ""]
            for item in items:
                out += _md_item(item) + [""]
        return "\n".join(out)

    def write(self, folder, stem: str = "report") -> tuple[Path, Path]:
        """Write ``<stem>.html``, ``<stem>.md`` and the figures' PNG files into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for _, items in self.sections:
            for item in items:
                if isinstance(item, Figure):
                    (folder / item.filename).write_bytes(item.png)
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


def _html_item(item) -> str:
    if isinstance(item, str):
        return f"<p>{html.escape(item)}</p>"
    if isinstance(item, Table):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in item.header)
        body = "\n".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row)
                         + "</tr>" for row in item.rows)
        return (f'<div class="scroll"><table><caption>{html.escape(item.caption)}</caption>'
                f"<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>")
    if isinstance(item, Figure):
        data = base64.b64encode(item.png).decode("ascii")
        alt = html.escape(item.caption)
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
                f"<figcaption>{alt}</figcaption></figure>")
    raise TypeError(f"report items are str, Table or Figure, got {type(item).__name__}")


def _md_item(item) -> list[str]:
    if isinstance(item, str):
        return [item]
    if isinstance(item, Table):
        def esc(v):
            return _fmt(v).replace("|", "\\|")

        lines = [f"*{item.caption}*", "", "| " + " | ".join(map(esc, item.header)) + " |",
                 "|" + "|".join("---" for _ in item.header) + "|"]
        lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in item.rows]
        return lines
    if isinstance(item, Figure):
        return [f"![{item.caption}]({item.filename})", "", f"*{item.caption}*"]
    raise TypeError(f"report items are str, Table or Figure, got {type(item).__name__}")


def figure(fig, caption: str, filename: str) -> Figure:
    """A report :class:`Figure` from a matplotlib figure."""
    from gdlab.report.plots import to_png_bytes

    return Figure(caption, to_png_bytes(fig), filename)
