"""The web chat page in headless Chromium (Debian's), driven by Playwright, on the real stack."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Browser, Page, WebSocket, async_playwright, expect

from schemas.topics import FEEDBACK
from tests.conftest import API_KEY, STATE_DIR
from tests.integration.conftest import (
    as_the_agent,
    customer_replied,
    customer_replies,
    deliver_webhooks_to,
    end_marks,
    wait_until,
    zendesk_ticket,
)
from tests.integration.handoff_stand_in import StandInGateway, bot_answer, serving
from tests.integration.test_feedback import ratings_of

pytestmark = pytest.mark.integration

ANSWER_TEXTS = ".message--bot:not(.message--streaming) .message__text"
"""The bot's answers' texts, without the sources and the rating buttons under them."""
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = STATE_DIR / "artifacts"
# Without the background-networking flags Chromium keeps dialling Google on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser, gateway_url: str) -> AsyncIterator[Page]:
    page = await browser.new_page()
    await page.goto(f"{gateway_url}/#key={API_KEY}")
    await expect(page.locator("#status")).to_have_text("Online", timeout=15_000)
    yield page
    await page.close()


async def ask(page: Page, question: str) -> None:
    await page.fill("#question", question)
    await page.press("#question", "Enter")


async def test_question_typed_gets_a_streamed_answer_with_source_links(page: Page) -> None:
    await ask(page, "What is the price of SmartWatch Pro X?")

    answer = page.locator(".message--bot:not(.message--streaming)").last
    await expect(answer).to_contain_text("₹15,999", timeout=20_000)
    link = answer.locator('a[href="/kb/product-smartwatch-pro-x"]')
    await expect(link).to_have_text("SmartWatch Pro X")
    assert "#key=" not in page.url  # the credential left the address bar
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "chat-page.png", full_page=True)


async def test_escalation_shows_a_visible_notice(page: Page) -> None:
    await ask(page, "I want to talk to a human")

    notice = page.locator(".notice")
    await expect(notice).to_be_visible(timeout=20_000)
    await expect(notice).to_contain_text(re.compile("person", re.IGNORECASE))  # the server's words


async def test_page_reconnects_after_a_dropped_connection_and_keeps_the_conversation(
    page: Page,
) -> None:
    await ask(page, "Tell me about the FitBand 3")
    await expect(page.locator(".message--bot:not(.message--streaming)")).to_have_count(
        1, timeout=20_000
    )

    await page.evaluate("socket.close(4000, 'dropped by test')")
    await expect(page.locator("#status")).to_have_text("Reconnecting…")
    await expect(page.locator("#status")).to_have_text("Online", timeout=15_000)
    await ask(page, "how much is it?")

    await expect(page.locator(".message--bot:not(.message--streaming)").last).to_contain_text(
        "₹2,999", timeout=20_000
    )


async def test_source_link_opens_the_cited_document(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        document = await client.get("/kb/product-smartwatch-pro-x")
        missing = await client.get("/kb/..%2F..%2Fetc%2Fpasswd")
    assert document.status_code == 200 and "₹15,999" in document.text
    assert document.headers["content-type"].startswith("text/markdown")
    assert missing.status_code == 404


async def test_chat_page_sends_the_key_as_a_subprotocol_never_in_the_url(
    browser: Browser, gateway_url: str
) -> None:
    page = await browser.new_page()
    socket_urls: list[str] = []
    page.on("websocket", lambda socket: socket_urls.append(socket.url))
    await page.goto(f"{gateway_url}/#key={API_KEY}")
    await expect(page.locator("#status")).to_have_text("Online", timeout=15_000)

    assert await page.evaluate("socket.protocol") == "techgear.v1"
    assert socket_urls and all(API_KEY not in url and "api_key" not in url for url in socket_urls)
    await page.close()


async def test_a_person_from_zendesk_takes_over_the_page_and_hands_back_to_the_bot(
    browser: Browser, gateway_url: str, zendesk_bridge: subprocess.Popen[bytes]
) -> None:
    """The real stack: session gateway and worker, the helpdesk bridge, the fake Zendesk
    delivering its signed webhooks to the gateway."""
    deliver_webhooks_to(gateway_url)
    page = await browser.new_page()
    conversations: list[str] = []

    def on_socket(socket: WebSocket) -> None:
        def on_frame(frame: str | bytes) -> None:
            message = json.loads(frame)
            if message["type"] == "ready":
                conversations.append(message["conversation_id"])

        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    await page.goto(f"{gateway_url}/#key={API_KEY}")
    await expect(page.locator("#status")).to_have_text("Online", timeout=15_000)
    status = page.locator("#handoff-status")

    await ask(page, "I want to talk to a human")
    await expect(status).to_have_attribute("data-state", "awaiting_agent", timeout=20_000)
    await expect(page.locator(".notice--handoff[data-state=awaiting_agent]")).to_have_count(1)
    ticket = await zendesk_ticket(conversations[0])
    deliveries = await as_the_agent(
        f"zendesk/tickets/{ticket['id']}/comment",
        deliver=2,
        body="Hi, Asha here. Which order is it?",
        author_name="Asha",
    )
    agent = page.locator(".message--agent")
    await expect(agent.locator(".author")).to_have_text("Asha", timeout=15_000)
    await expect(agent.locator(".avatar")).to_have_text("A")
    await expect(agent.locator(".message__text")).to_have_text("Hi, Asha here. Which order is it?")
    await expect(status).to_have_attribute("data-state", "agent")

    await ask(page, "Order TG-48213, please")
    await expect(page.locator(".message--forwarded .delivery")).to_have_text(
        "Passed on to Asha; they will reply here.", timeout=20_000
    )
    await customer_replied(ticket)
    solved = await as_the_agent(f"zendesk/tickets/{ticket['id']}/status", status="solved")
    await expect(page.locator(".notice--handoff[data-state=bot]")).to_have_text(
        "You are back with the TechGear assistant; ask me anything.", timeout=15_000
    )
    await expect(status).to_be_hidden()
    await ask(page, "What is the price of SmartWatch Pro X?")
    await expect(page.locator(".message--bot:not(.message--streaming)").last).to_contain_text(
        "₹15,999", timeout=20_000
    )

    assert deliveries == [202, 202] and solved == [202]
    await expect(agent).to_have_count(1)  # the webhook came twice
    [reply] = await customer_replies(ticket)
    assert reply["body"].startswith("Order TG-48213, please")
    assert reply["author_id"] == ticket["requester_id"]
    assert len(set(conversations)) == 1  # one connection's conversation throughout
    await page.close()


# Human handoff, against a stand-in for the gateway's side (tests/integration/handoff_stand_in.py).

WAITING_NOTICE = "A person from TechGear support will reply here."
EXPECTED_BY = datetime(2030, 1, 7, 4, 30, tzinfo=UTC)
EXPECTED_BY_IN_KOLKATA = "Monday 7 January at 10:00"
"""EXPECTED_BY as a visitor in India with an en-GB browser reads it."""


@pytest.fixture
def stand_in() -> StandInGateway:
    return StandInGateway(waiting_notice=WAITING_NOTICE, expected_response_by=EXPECTED_BY)


@pytest.fixture
async def handoff_page(browser: Browser, stand_in: StandInGateway) -> AsyncIterator[Page]:
    async with serving(stand_in) as url:
        page = await browser.new_page(locale="en-GB", timezone_id="Asia/Kolkata")
        await page.goto(f"{url}/#key={API_KEY}")
        await expect(page.locator("#status")).to_have_text("Online", timeout=15_000)
        yield page
        await page.close()


async def ask_for_a_person(page: Page) -> None:
    await ask(page, "I want to talk to a human")
    await expect(page.locator("#handoff-status")).to_have_attribute("data-state", "awaiting_agent")


async def test_escalation_shows_the_servers_notice_and_a_waiting_state_with_local_time(
    handoff_page: Page,
) -> None:
    await ask_for_a_person(handoff_page)

    # The answer's escalation and the handoff event tell the same wait: one notice.
    notice = handoff_page.locator(".notice")
    await expect(notice).to_have_count(1)
    await expect(notice).to_contain_text(WAITING_NOTICE)
    await expect(notice.locator("time")).to_have_text(EXPECTED_BY_IN_KOLKATA)
    status = handoff_page.locator("#handoff-status")
    await expect(status).to_be_visible()
    await expect(status).to_contain_text(
        f"Waiting for a person · expected by {EXPECTED_BY_IN_KOLKATA}"
    )
    assert await status.get_attribute("role") == "status"


async def test_agent_message_shows_the_agents_name_and_initial(
    handoff_page: Page, stand_in: StandInGateway
) -> None:
    await ask_for_a_person(handoff_page)

    await stand_in.agent_says("Asha", "Hi, I am looking at your order now.")

    message = handoff_page.locator(".message--agent")
    await expect(message.locator(".author")).to_have_text("Asha")
    await expect(message.locator(".avatar")).to_have_text("A")
    await expect(message.locator(".message__text")).to_have_text(
        "Hi, I am looking at your order now."
    )
    await expect(handoff_page.locator("#handoff-status")).to_contain_text(
        "You are chatting with Asha"
    )
    await expect(handoff_page.locator(".notice").last).to_have_text(
        "Asha from TechGear support joined the conversation."
    )


async def test_question_to_a_person_is_shown_as_passed_on_not_answered_by_the_bot(
    handoff_page: Page, stand_in: StandInGateway
) -> None:
    await ask_for_a_person(handoff_page)
    await stand_in.agent_says("Asha", "Which order is it?")
    await expect(handoff_page.locator(".message--agent")).to_have_count(1)

    await ask(handoff_page, "Order 1234, please hurry")

    question = handoff_page.locator(".message--user").last
    await expect(question.locator(".delivery")).to_have_text(
        "Passed on to Asha; they will reply here."
    )
    await expect(handoff_page.locator(".message--bot")).to_have_count(1)  # the escalation's


async def test_handback_is_announced_and_the_bot_answers_again(
    handoff_page: Page, stand_in: StandInGateway
) -> None:
    await ask_for_a_person(handoff_page)
    await stand_in.agent_says("Asha", "Refund issued.")

    await stand_in.hand_back()

    await expect(handoff_page.locator(".notice").last).to_have_text(
        "You are back with the TechGear assistant; ask me anything."
    )
    await expect(handoff_page.locator("#handoff-status")).to_be_hidden()
    await ask(handoff_page, "What is the price of SmartWatch Pro X?")
    await expect(handoff_page.locator(ANSWER_TEXTS).last).to_have_text(
        bot_answer("What is the price of SmartWatch Pro X?")
    )


async def test_reconnect_catches_up_on_what_was_said_while_offline_each_once(
    handoff_page: Page, stand_in: StandInGateway
) -> None:
    await ask_for_a_person(handoff_page)  # transcript 1-3: question, answer, handoff
    status = handoff_page.locator("#status")

    async with stand_in.offline():
        await expect(status).to_have_text("Reconnecting…")
        await stand_in.remind("Still waiting for a person, expected by 10:00.")
        await stand_in.agent_says("Asha", "Sorry for the wait.")
        await stand_in.agent_says("Asha", "Your refund is on its way.")
    await expect(status).to_have_text("Online", timeout=15_000)

    await expect(handoff_page.locator(".message--agent .message__text")).to_have_text(
        ["Sorry for the wait.", "Your refund is on its way."]
    )
    await expect(handoff_page.locator(".notice--system")).to_have_text(
        "Still waiting for a person, expected by 10:00."
    )
    await expect(handoff_page.locator("#handoff-status")).to_contain_text(
        "You are chatting with Asha"
    )
    assert await handoff_page.evaluate("shownThrough") == 7

    async with stand_in.offline():
        await expect(status).to_have_text("Reconnecting…")
    await expect(status).to_have_text("Online", timeout=15_000)
    await handoff_page.reload()
    await expect(status).to_have_text("Online", timeout=15_000)

    # A reloaded page has shown nothing: the whole conversation again, each entry once.
    assert stand_in.resumed_after == [None, 3, 7, 0]
    await expect(handoff_page.locator(".message--agent .message__text")).to_have_text(
        ["Sorry for the wait.", "Your refund is on its way."]
    )
    await expect(handoff_page.locator("#messages > li")).to_have_count(7)


async def test_reload_shows_who_answers_from_ready_alone(
    handoff_page: Page, stand_in: StandInGateway
) -> None:
    status = handoff_page.locator("#handoff-status")
    # As if the handoff events were trimmed from the transcript: only ready tells.
    stand_in.state = "awaiting_agent"
    await handoff_page.reload()
    await expect(status).to_contain_text(
        f"Waiting for a person · expected by {EXPECTED_BY_IN_KOLKATA}"
    )

    stand_in.state, stand_in.agent_name = "agent", "Asha"
    await handoff_page.reload()
    await expect(status).to_contain_text("You are chatting with Asha")


async def test_reconnect_shows_questions_asked_elsewhere_and_answers_lost_with_the_connection(
    handoff_page: Page, stand_in: StandInGateway
) -> None:
    status = handoff_page.locator("#status")
    stand_in.drop_next_answer = True

    await ask(handoff_page, "Do you ship to Pune?")  # transcript 1-2
    await expect(status).to_have_text("Reconnecting…")
    async with stand_in.offline():
        await stand_in.asked_elsewhere("And to Goa?")  # 3-4
    await expect(status).to_have_text("Online", timeout=15_000)

    await expect(handoff_page.locator(".message--user")).to_have_text(
        ["Do you ship to Pune?", "And to Goa?"]
    )
    await expect(handoff_page.locator(ANSWER_TEXTS)).to_have_text(
        [bot_answer("Do you ship to Pune?"), bot_answer("And to Goa?")]
    )
    assert stand_in.resumed_after == [None, 0]
    assert await handoff_page.evaluate("shownThrough") == 4


async def test_agent_name_and_text_are_shown_as_text_never_as_markup(
    handoff_page: Page, stand_in: StandInGateway
) -> None:
    dialogs: list[str] = []
    handoff_page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    name = "<img src=x onerror=alert(1)>"
    await ask_for_a_person(handoff_page)

    await stand_in.agent_says(name, "<b>bold?</b>")

    message = handoff_page.locator(".message--agent")
    await expect(message.locator(".author")).to_have_text(name)
    await expect(message.locator(".message__text")).to_have_text("<b>bold?</b>")
    await expect(handoff_page.locator("#handoff-status .author")).to_have_text(name)
    await expect(handoff_page.locator(".chat img, .chat b")).to_have_count(0)
    assert dialogs == []


async def test_closed_conversation_refuses_questions_and_offers_a_new_one(
    handoff_page: Page, stand_in: StandInGateway
) -> None:
    await ask_for_a_person(handoff_page)

    await stand_in.close()

    status = handoff_page.locator("#handoff-status")
    await expect(status).to_contain_text("This conversation is closed.")
    await expect(handoff_page.locator(".notice").last).to_have_text(
        "This conversation was closed. Start a new chat any time."
    )
    await expect(handoff_page.locator("#question")).to_be_disabled()
    await expect(handoff_page.locator("#send")).to_be_disabled()

    await status.get_by_role("button", name="Start a new chat").click()

    await expect(handoff_page.locator("#status")).to_have_text("Online")
    await expect(handoff_page.locator("#messages > li")).to_have_count(0)
    await expect(status).to_be_hidden()
    await ask(handoff_page, "Hello again")
    await expect(handoff_page.locator(ANSWER_TEXTS)).to_have_text(bot_answer("Hello again"))
    assert stand_in.resumed_after == [None, None]


async def test_a_thumbs_down_with_a_reason_chosen_is_a_feedback_event(
    page: Page, kafka_bootstrap: str
) -> None:
    since = await end_marks(kafka_bootstrap, [FEEDBACK])
    await ask(page, "What is the price of SmartWatch Pro X?")
    answer = page.locator(".message--bot:not(.message--streaming)").last
    await expect(answer).to_contain_text("₹15,999", timeout=20_000)
    down = answer.get_by_role("button", name="Not helpful")
    await expect(answer.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "false"
    )

    async def pressed() -> bool:
        await down.press("Enter")  # from the keyboard
        with contextlib.suppress(AssertionError):
            await expect(down).to_have_attribute("aria-pressed", "true", timeout=1_000)
            return True
        return False  # not rateable yet: the gateways store the answer a moment after it

    await wait_until(pressed, "the thumbs-down to be taken", timeout_s=20)
    outdated = answer.get_by_role("button", name="Outdated")
    await outdated.click()
    await expect(outdated).to_have_attribute("aria-pressed", "true")
    await expect(answer.get_by_role("status")).to_have_text("Thanks for your feedback")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "chat-page-feedback.png", full_page=True)
    [request_id] = await page.evaluate("Array.from(ratings.keys())")

    published = await ratings_of(kafka_bootstrap, request_id, since)
    assert [(e.revision, e.rating, e.reason, e.channel) for _, e in published] == [
        (1, "down", None, "chat"),
        (2, "down", "outdated", "chat"),
    ]
