"""Prometheus metrics of ``techgear helpdesk`` (``HELPDESK_METRICS_PORT``)."""

from __future__ import annotations

from prometheus_client import Counter

DEAD_LETTERS = Counter(
    "techgear_helpdesk_dead_letters_total",
    "Escalations the helpdesk bridge put on support.helpdesk-deadletter, by target and reason "
    "(undecodable, refused, invalid_ticket_id, rate_limited).",
    ["target", "reason"],
)
