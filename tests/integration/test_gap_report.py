"""``techgear report gaps`` on the real broker: escalations and ratings seeded with record
timestamps inside and outside the window, read back, grouped and written out."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from runtime.envelope import envelope
from runtime.kafka import KafkaConnection
from runtime.topics import ensure_topics
from schemas import EscalationReason, FeedbackRating, FeedbackReason
from schemas.topics import ESCALATIONS, FEEDBACK, TOPICS
from tests.conftest import REPO, process_env
from tests.gap_events import escalation, rating, source

pytestmark = pytest.mark.integration


def window_start() -> datetime:
    """A few minutes of their own, weeks back (the topics keep 30 days): the test broker
    keeps its data between sessions, and an earlier run's records must fall outside."""
    weeks_back = timedelta(days=18, seconds=random.randrange(5 * 86_400))
    return (datetime.now(UTC) - weeks_back).replace(microsecond=0)


async def seed(
    producer: AIOKafkaProducer, topic: str, event: BaseModel, at: datetime, key: str
) -> None:
    sealed = envelope(event, source="/tests/gap-report", key=key)
    await producer.send_and_wait(
        topic,
        value=sealed.value,
        key=sealed.key,
        headers=list(sealed.headers.items()),
        timestamp_ms=int(at.timestamp() * 1000),
    )


def report_gaps(kafka_bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "techgear", "report", "gaps", *args],
        env=process_env(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in {"meta", "img", "br"}:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag


async def test_the_report_groups_the_window_s_gaps_with_counts_examples_and_documents(
    kafka_bootstrap: str, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    await ensure_topics(
        KafkaConnection(kafka_bootstrap),
        specs=tuple(spec for spec in TOPICS if spec.name in {ESCALATIONS, FEEDBACK}),
    )
    since = window_start()
    until = since + timedelta(minutes=3)
    inside = [since + timedelta(seconds=10 * i) for i in range(1, 12)]
    payments, returns = source("faq-payments", "Payments FAQ"), source("policy-returns")
    wallet = source("policy-payments", "<Payment> policy")
    for at, escalated in zip(
        inside,
        [
            escalation("gap-e1", "Do you sell gift cards?", sources=[payments]),
            escalation(
                "gap-e2",
                "Can I buy a TechGear gift voucher for my friend?",
                sources=[payments, returns],
            ),
            escalation("gap-e4", "Do you accept cryptocurrency payments?"),
            escalation(
                "gap-e7", "I want to talk to a person", reason=EscalationReason.HUMAN_REQUESTED
            ),
        ],
        strict=False,
    ):
        await seed(producer, ESCALATIONS, escalated, at, escalated.conversation_id)
    for at, rated in zip(
        inside[4:],
        [
            rating(
                "gap-f3",
                "Is there a gift card I can purchase as a present?",
                reason=FeedbackReason.WRONG,
                sources=[payments],
            ),
            rating(
                "gap-f5",
                "Can I pay with Bitcoin?",
                reason=FeedbackReason.OTHER,
                sources=[wallet],
            ),
            rating(
                "gap-f5",
                "Can I pay with Bitcoin?",
                reason=FeedbackReason.OUTDATED,
                sources=[wallet],
                revision=2,
            ),
            rating("gap-f6", "Do you ship to the United States?", reason=FeedbackReason.WRONG),
            rating(
                "gap-f6",
                "Do you ship to the United States?",
                rating=FeedbackRating.UP,
                revision=2,
            ),
        ],
        strict=False,
    ):
        await seed(producer, FEEDBACK, rated, at, rated.conversation_id)
    await producer.send_and_wait(
        FEEDBACK, value=b"{not json", key=b"x", timestamp_ms=int(inside[-1].timestamp() * 1000)
    )
    before, after = since - timedelta(seconds=30), until + timedelta(seconds=30)
    await seed(producer, ESCALATIONS, escalation("gap-e8", "Gift cards, anyone?"), before, "k")
    await seed(producer, FEEDBACK, rating("gap-f9", "Can I buy a gift card?"), after, "k")
    html_path, json_path = tmp_path / "gaps.html", tmp_path / "gaps.json"

    result = report_gaps(
        kafka_bootstrap,
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
        "--html",
        str(html_path),
        "--json",
        str(json_path),
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(json_path.read_text())
    assert (report["since"], report["until"]) == (since.isoformat(), until.isoformat())
    assert (report["questions"], report["undecodable"]) == (5, 1)
    gifts, crypto = report["groups"]
    assert sorted(gifts["questions"]) == [
        "Can I buy a TechGear gift voucher for my friend?",
        "Do you sell gift cards?",
        "Is there a gift card I can purchase as a present?",
    ]
    assert (gifts["size"], gifts["escalations"], gifts["thumbs_down"]) == (3, 2, 1)
    assert gifts["reasons"] == {"wrong": 1} and sorted(gifts["examples"]) == sorted(
        gifts["questions"]
    )
    assert gifts["documents"] == [
        {"doc_id": "faq-payments", "title": "Payments FAQ", "count": 3},
        {"doc_id": "policy-returns", "title": "Policy Returns", "count": 1},
    ]
    assert sorted(crypto["questions"]) == [
        "Can I pay with Bitcoin?",
        "Do you accept cryptocurrency payments?",
    ]
    assert (crypto["escalations"], crypto["thumbs_down"], crypto["reasons"]) == (
        1,
        1,
        {"outdated": 1},
    )
    assert crypto["documents"] == [
        {"doc_id": "policy-payments", "title": "<Payment> policy", "count": 1}
    ]
    assert len({gifts["id"], crypto["id"]}) == 2 and gifts["id"].startswith("g-")

    assert gifts["id"] in result.stdout and "Do you sell gift cards?" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 100
    page = html_path.read_text()
    elements = Elements()
    elements.feed(page)
    elements.close()
    assert elements.open == [] and elements.tags.count("img") == 1
    assert "&lt;Payment&gt; policy" in page and "Can I pay with Bitcoin?" in page
