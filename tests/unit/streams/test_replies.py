"""Notices for customers who write in a language the assistant does not answer in."""

from __future__ import annotations

from streams import replies

PROMISE = "A person will reply here, usually within 15 minutes."


def test_a_hindi_speaker_is_told_in_hindi_and_english_that_a_hindi_reader_will_reply() -> None:
    notice = replies.language_escalation_notice("hi", "r-1", PROMISE)
    assert notice.startswith("मैंने आपका संदेश हमारी सहायता टीम को भेज दिया है")
    assert "a person who reads Hindi will reply here." in notice
    assert notice.endswith(f"{PROMISE} Your reference is r-1.")


def test_a_language_the_team_may_not_read_is_promised_no_reader() -> None:
    notice = replies.language_escalation_notice("ta", "r-2", None)
    assert notice == (
        "I can answer in English only, so I've passed your message in Tamil to our support "
        "team. Your reference is r-2."
    )
    assert "in und" not in replies.language_escalation_notice("und", "r-3", None)
