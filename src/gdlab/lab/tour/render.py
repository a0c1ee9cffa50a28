"""Write the tour: a self-contained ``report.html`` (figures embedded as base64 PNG, no external
file or URL, readable on a phone), ``report.md`` (figures in ``figures/``) and ``results.json``."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from gdlab.lab.tour.common import DEPENDS, NOT_SUPPORTED, SUPPORTED

_BADGE = {SUPPORTED: "#009E73", NOT_SUPPORTED: "#D55E00", DEPENDS: "#E69F00", "skipped": "#666666"}

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;line-height:1.5;color:#1a1a1a;
max-width:60rem;margin:0 auto;padding:1rem;background:#fff}
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2.5rem;border-bottom:1px solid #ddd}
img{max-width:100%;height:auto;display:block;margin:.5rem 0}
figure{margin:1rem 0}figcaption{font-size:.9rem;color:#444}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.badge{display:inline-block;color:#fff;border-radius:.3rem;
padding:.05rem .5rem;font-weight:600}.rule{font-size:.9rem;color:#333}
ul.checks li.pass::marker{content:'✓ ';color:#009E73}ul.checks li.fail::marker{content:'✗ ';color:#D55E00}
code{background:#f3f3f3;padding:0 .2rem}
"""


def _badge(verdict):
    return (f'<span class="badge" style="background:{_BADGE.get(verdict, "#666")}">'
            f"{html.escape(verdict)}</span>")


def _md_cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


def _inline_code(text):
    """`code` spans of the setup text as HTML (the rest escaped)."""
    parts = str(text).split("`")
    return "".join(html.escape(p) if i % 2 == 0 else f"<code>{html.escape(p)}</code>"
                   for i, p in enumerate(parts))


def write_report(sections, out, *, quick, seconds) -> dict:
    """Write report.html, report.md, results.json and figures/ into ``out``; return the results."""
    out = Path(out)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    mode = "quick" if quick else "full"
    results = {"mode": mode, "seconds": round(seconds, 1),
               "sections": [s.as_dict() for s in sections]}
    for s in sections:
        for f in s.figures:
            (figdir / f"{f.name}.png").write_bytes(f.png)

    intro = ("Each section takes one classic claim about gradient descent, runs an experiment "
             "on this machine and states a verdict computed from the measured numbers with the "
             "thresholds given in the section: supported (every check holds), not supported "
             "(none holds) or depends (some hold; the section says on what).")
    # ---- markdown
    md = [f"# gdlab tour ({mode} run, {seconds:.0f} s)", "", intro, "",
          "| # | claim | verdict |", "|---|---|---|"]
    for i, s in enumerate(sections, 1):
        md.append(f"| {i} | {_md_cell(s.title)} | **{s.verdict}** |")
    for i, s in enumerate(sections, 1):
        md += ["", f"## {i}. {s.title}", "", f"**Claim.** {s.claim}", "",
               f"**Experiment.** {s.setup}", ""]
        for f in s.figures:
            md += [f"![{_md_cell(f.caption)}](figures/{f.name}.png)", "", f"*{f.caption}*", ""]
        if s.rows:
            md += ["| " + " | ".join(_md_cell(c) for c in s.columns) + " |",
                   "|" + "---|" * len(s.columns)]
            md += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in s.rows]
            md.append("")
        if s.rule:
            md += [f"**Rule.** {s.rule}", ""]
        for c in s.checks:
            md.append(f"- {'✓' if c.passed else '✗'} {c.detail}")
        if s.checks:
            md.append("")
        md += [f"**Verdict: {s.verdict}.** {s.reason}", ""]
        if s.note and not s.skipped:
            md += [f"*Note.* {s.note}", ""]
        md += [f"*Section time: {s.seconds:.1f} s.*"]
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")

    # ---- HTML
    h = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
         '<meta name="viewport" content="width=device-width, initial-scale=1">',
         f"<title>gdlab tour ({mode})</title><style>{_CSS}</style></head><body>",
         f"<h1>gdlab tour <small>({mode} run, {seconds:.0f} s)</small></h1>",
         f"<p>{html.escape(intro)}</p>", '<div class="scroll"><table><tr><th>#</th><th>claim</th>'
         "<th>verdict</th></tr>"]
    for i, s in enumerate(sections, 1):
        h.append(f'<tr><td>{i}</td><td><a href="#{s.key}">{html.escape(s.title)}</a></td>'
                 f"<td>{_badge(s.verdict)}</td></tr>")
    h.append("</table></div>")
    for i, s in enumerate(sections, 1):
        h += [f'<section id="{s.key}"><h2>{i}. {html.escape(s.title)}</h2>',
              f"<p><strong>Claim.</strong> {html.escape(s.claim)}</p>",
              f"<p><strong>Experiment.</strong> {_inline_code(s.setup)}</p>"]
        for f in s.figures:
            data = base64.b64encode(f.png).decode("ascii")
            h.append(f'<figure><img alt="{html.escape(f.caption)}" src="data:image/png;base64,'
                     f'{data}"><figcaption>{html.escape(f.caption)}</figcaption></figure>')
        if s.rows:
            h.append('<div class="scroll"><table><tr>' + "".join(
                f"<th>{html.escape(str(c))}</th>" for c in s.columns) + "</tr>")
            for r in s.rows:
                h.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>")
            h.append("</table></div>")
        if s.rule:
            h.append(f'<p class="rule"><strong>Rule.</strong> {html.escape(s.rule)}</p>')
        if s.checks:
            h.append('<ul class="checks">' + "".join(
                f'<li class="{"pass" if c.passed else "fail"}">{html.escape(c.detail)}</li>'
                for c in s.checks) + "</ul>")
        h.append(f"<p><strong>Verdict:</strong> {_badge(s.verdict)} {html.escape(s.reason)}</p>")
        if s.note and not s.skipped:
            h.append(f"<p><em>Note.</em> {html.escape(s.note)}</p>")
        h.append(f'<p class="rule">Section time: {s.seconds:.1f} s.</p></section>')
    h.append("</body></html>")
    (out / "report.html").write_text("\n".join(h) + "\n", encoding="utf-8")
    (out / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False) + "\n",
                                      encoding="utf-8")
    return results
