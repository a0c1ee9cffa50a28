"""Write the tour: a self-contained ``report.html`` (figures embedded as base64 PNG, no external
file or URL, readable on a phone), ``report.md`` (figures in ``figures/``) and ``results.json``.

The HTML and Markdown come from :class:`gdlab.report.Report`, the writer that ``gdlab compare``
uses too; this module only says what a tour section shows, in which order.
"""

from __future__ import annotations

import json
from pathlib import Path

from gdlab.lab.tour.common import DEPENDS, NOT_SUPPORTED, SUPPORTED
from gdlab.report.document import (
    Badge,
    CheckList,
    Em,
    Link,
    Paragraph,
    Report,
    Strong,
    Table,
    Verdict,
    code_spans,
)

TONE = {SUPPORTED: "good", NOT_SUPPORTED: "bad", DEPENDS: "mixed", "skipped": "neutral"}
"""The badge tone of each verdict."""

INTRO = ("Each section takes one classic claim about gradient descent, runs an experiment "
         "on this machine and states a verdict computed from the measured numbers with the "
         "thresholds given in the section: supported (every check holds), not supported "
         "(none holds) or depends (some hold; the section says on what).")


def build_report(sections, *, quick: bool, seconds: float) -> Report:
    """The tour as a :class:`gdlab.report.Report`: the intro, a summary table, one section each."""
    mode = "quick" if quick else "full"
    report = Report(f"gdlab tour ({mode} run, {seconds:.0f} s)", intro=[INTRO, summary_table(sections)])
    for i, s in enumerate(sections, 1):
        report.section(f"{i}. {s.title}", *section_items(s), anchor=s.key)
    return report


def summary_table(sections) -> Table:
    """One row per section: its number, its title (a link to it) and its verdict as a badge."""
    return Table("", ["#", "claim", "verdict"],
                 [[i, Link(s.title, s.key), Badge(s.verdict, TONE.get(s.verdict, "neutral"))]
                  for i, s in enumerate(sections, 1)])


def section_items(s) -> list:
    """What a section shows, in order: claim, experiment, figures, table, rule, checks,
    verdict with its reason, note (unless skipped, where the note is the reason) and time."""
    items = [Paragraph(Strong("Claim."), " " + s.claim),
             Paragraph(Strong("Experiment."), " ", *code_spans(s.setup))]
    items += s.figures
    if s.rows:
        # the cells as the section wrote them (str(), not the report's number format), so the
        # Markdown, the HTML and results.json show the same text
        items.append(Table("", list(s.columns), [[str(c) for c in r] for r in s.rows]))
    if s.rule:
        items.append(Paragraph(Strong("Rule."), " " + s.rule, small=True))
    if s.checks:
        items.append(CheckList([(bool(c.passed), c.detail) for c in s.checks]))
    items.append(Verdict(s.verdict, s.reason, TONE.get(s.verdict, "neutral")))
    if s.note and not s.skipped:
        items.append(Paragraph(Em("Note."), " " + s.note))
    items.append(Paragraph(Em(f"Section time: {s.seconds:.1f} s."), small=True))
    return items


def write_report(sections, out, *, quick, seconds) -> dict:
    """Write report.html, report.md, results.json and figures/ into ``out``; return the results."""
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    results = {"mode": "quick" if quick else "full", "seconds": round(seconds, 1),
               "sections": [s.as_dict() for s in sections]}
    build_report(sections, quick=quick, seconds=seconds).write(out)
    (out / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False) + "\n",
                                      encoding="utf-8")
    return results
