"""The web chat page in headless Chromium (Debian's), driven by Playwright, on the real stack."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import API_KEY, STATE_DIR

pytestmark = pytest.mark.integration

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
    await expect(notice).to_contain_text("A person from our support team will take over")


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
