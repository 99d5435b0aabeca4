"""Prometheus metrics of ``techgear helpdesk`` (``HELPDESK_METRICS_PORT``)."""

from __future__ import annotations

from prometheus_client import Counter

DEAD_LETTERS = Counter(
    "techgear_helpdesk_dead_letters_total",
    "Escalations the helpdesk bridge put on support.helpdesk-deadletter, by target and reason "
    "(undecodable, refused, invalid_ticket_id, rate_limited).",
    ["target", "reason"],
)
ESCALATIONS = Counter(
    "techgear_helpdesk_escalations_total",
    "Escalations the helpdesk bridge settled, by target, kind (new, follow_up, "
    "customer_message) and outcome: written (a ticket, note or customer reply made), found "
    "(made by an earlier try that was not recorded, found at the helpdesk), redelivered "
    "(already recorded; nothing sent), dead_lettered. Undecodable records have no kind and "
    "count only in techgear_helpdesk_dead_letters_total.",
    ["target", "kind", "outcome"],
)
