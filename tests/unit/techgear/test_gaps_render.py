"""The knowledge-gap report as a table, an HTML page and JSON: hostile questions stay text."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from html.parser import HTMLParser

from techgear.gaps import GapGroup, GapQuestion, GapReport, Window
from techgear.gaps_render import WIDTH, render_html, render_json, render_table
from tests.gap_events import MOMENT, source

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)> $\\frac{'
TERMINAL_ESCAPE = "\x1b[2J\x1b]0;pwned\x07 Can I pay with Bitcoin?"


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def report(*groups: GapGroup) -> GapReport:
    window = Window(MOMENT - timedelta(days=7), MOMENT)
    return GapReport(MOMENT, window, list(groups), sum(g.size for g in groups), undecodable=2)


def group(group_id: str, *texts: str, title: str = "FAQ: payments") -> GapGroup:
    return GapGroup(
        group_id,
        [
            GapQuestion(
                f"{group_id}-{i}",
                text,
                escalated=i == 0,
                down_reason="wrong" if i else None,
                sources=[source("faq-payments", title)],
            )
            for i, text in enumerate(texts)
        ],
    )


def test_the_page_shows_a_hostile_question_as_text_and_runs_nothing() -> None:
    page = render_html(report(group("g-1", HOSTILE, "gift card?", title="<b>FAQ</b>")))

    tags = Tags()
    tags.feed(page)
    assert [t for t, _ in tags.tags if t in {"script", "b"}] == []
    assert [(attrs.get("src") or "")[:22] for t, attrs in tags.tags if t == "img"] == [
        "data:image/png;base64,"
    ]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x" in page
    assert "&lt;b&gt;FAQ&lt;/b&gt;" in page
    assert "default-src 'none'; img-src data:" in page


def test_the_chart_is_an_inline_png_with_a_bar_per_group() -> None:
    page = render_html(report(group("g-1", "a", "b"), group("g-2", "c")))

    encoded = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert encoded is not None
    assert base64.b64decode(encoded.group(1)).startswith(b"\x89PNG\r\n\x1a\n")


def test_the_table_fits_the_width_and_drops_terminal_control_characters() -> None:
    table = render_table(report(group("g-1", TERMINAL_ESCAPE, "x" * 300, HOSTILE)))

    assert "\x1b" not in table and "\x07" not in table
    assert max(len(line) for line in table.splitlines()) <= WIDTH
    assert "Can I pay with Bitcoin?" in table
    assert "docs: faq-payments (3)" in table and "down: wrong 2" in table


def test_an_empty_window_says_so() -> None:
    assert "no escalation for missing knowledge" in render_table(report())
    assert "<img" not in render_html(report())


def test_json_has_the_shape_the_approve_command_reads() -> None:
    data = json.loads(render_json(report(group("g-1", "gift card?", "a voucher?"))))

    assert data["since"] == (MOMENT - timedelta(days=7)).isoformat()
    assert data["until"] == data["generated_at"] == MOMENT.isoformat()
    assert data["groups"] == [
        {
            "id": "g-1",
            "size": 2,
            "escalations": 1,
            "thumbs_down": 1,
            "reasons": {"wrong": 1},
            "questions": ["gift card?", "a voucher?"],
            "examples": ["gift card?", "a voucher?"],
            "documents": [{"doc_id": "faq-payments", "title": "FAQ: payments", "count": 2}],
        }
    ]
