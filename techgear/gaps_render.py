"""The knowledge-gap report as a terminal table, a self-contained HTML page (with a bar
chart as an inline PNG) and JSON. Questions are customers' text, so hostile: the table
drops control characters (no terminal escape sequences), the page escapes everything and
its Content-Security-Policy allows no script or remote resource at all."""

from __future__ import annotations

import base64
import html
import io
import json
import textwrap

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only

import matplotlib.pyplot as plt  # noqa: E402

from techgear.gaps import GapGroup, GapReport  # noqa: E402

WIDTH = 100
_PREFIX = f"{'#':>3}  {'group':<12}  {'size':>4}  {'esc':>4}  {'down':>4}  "
_TEXT_WIDTH = WIDTH - len(_PREFIX)
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def render_table(report: GapReport) -> str:
    """A plain table at most ``WIDTH`` columns wide: per group its counts, example
    questions, the thumbs-down reasons and the documents cited."""
    lines = [*textwrap.wrap(_heading(report), WIDTH), ""]
    lines.append(_PREFIX + "examples / reasons / documents cited")
    for rank, group in enumerate(report.groups, 1):
        counts = (
            f"{rank:>3}  {group.id:<12}  {group.size:>4}  {group.escalations:>4}  "
            f"{group.thumbs_down:>4}  "
        )
        details = [_clip(example) for example in group.examples]
        if group.reasons:
            reasons = ", ".join(f"{reason} {n}" for reason, n in group.reasons.items())
            details.append(_clip(f"down: {reasons}"))
        details.append(_clip("docs: " + (_documents(group) or "none cited")))
        lines.append(counts + details[0])
        lines.extend(" " * len(_PREFIX) + detail for detail in details[1:])
    if not report.groups:
        lines.append("no escalation for missing knowledge and no thumbs-down in this window")
    return "\n".join(lines)


def render_html(report: GapReport) -> str:
    """One self-contained page: the chart and a table of every group with all its questions."""
    rows = "\n".join(_html_row(rank, group) for rank, group in enumerate(report.groups, 1))
    chart = (
        f'<img alt="questions per group" src="data:image/png;base64,{_chart_png(report)}">'
        if report.groups
        else "<p>No escalation for missing knowledge and no thumbs-down in this window.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>Knowledge gaps</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: .4em; vertical-align: top; text-align: left; }}
td.n {{ text-align: right; }}
code {{ font-size: .9em; white-space: nowrap; }}
</style>
</head>
<body>
<h1>Knowledge gaps</h1>
<p>{html.escape(_heading(report))}</p>
{chart}
<table>
<thead><tr><th>#</th><th>group</th><th>size</th><th>escalated</th><th>rated down</th>
<th>reasons</th><th>questions (most typical first)</th><th>documents cited</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def render_json(report: GapReport) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n"


def _heading(report: GapReport) -> str:
    shown = f"the {len(report.groups)} largest shown" if report.groups else "none"
    skipped = f"; {report.undecodable} undecodable records skipped" if report.undecodable else ""
    return (
        f"{report.questions} questions escalated for missing knowledge or rated down "
        f"from {report.window.since:%Y-%m-%d %H:%M} to {report.window.until:%Y-%m-%d %H:%M} "
        f"UTC, in groups of similar questions ({shown}){skipped}"
    )


def _documents(group: GapGroup) -> str:
    return ", ".join(f"{d.doc_id} ({d.count})" for d in group.documents)


def _clip(text: str) -> str:
    printable = "".join(c if c.isprintable() else " " for c in text)
    return printable if len(printable) <= _TEXT_WIDTH else printable[: _TEXT_WIDTH - 1] + "…"


def _html_row(rank: int, group: GapGroup) -> str:
    questions = "".join(f"<li>{html.escape(q.text)}</li>" for q in group.questions)
    reasons = "<br>".join(f"{html.escape(r)}: {n}" for r, n in group.reasons.items())
    documents = "<br>".join(
        f"{html.escape(d.title)} <code>{html.escape(d.doc_id)}</code>: {d.count}"
        for d in group.documents
    )
    return (
        f'<tr><td class="n">{rank}</td><td><code>{html.escape(group.id)}</code></td>'
        f'<td class="n">{group.size}</td><td class="n">{group.escalations}</td>'
        f'<td class="n">{group.thumbs_down}</td><td>{reasons}</td>'
        f"<td><ol>{questions}</ol></td><td>{documents}</td></tr>"
    )


def _chart_png(report: GapReport) -> str:
    """Base64 PNG of one horizontal bar per group, largest on top, split into questions
    that escalated and those only rated down. Labelled by rank and id, never by customer
    text (which matplotlib would parse for mathtext and may lack glyphs for)."""
    groups = report.groups
    labels = [f"#{rank} {group.id}" for rank, group in enumerate(groups, 1)]
    escalated = [group.escalations for group in groups]
    down_only = [group.size - group.escalations for group in groups]
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.35 * len(groups)))
    try:
        axes.barh(labels, escalated, label="escalated: no relevant knowledge", color="#c0504d")
        axes.barh(labels, down_only, left=escalated, label="rated down only", color="#4f81bd")
        axes.invert_yaxis()
        axes.set_xlabel("questions")
        axes.legend(loc="lower right")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()
