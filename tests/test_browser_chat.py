"""Chat mode of the page in a real browser: with an LLM behind the server (harness/fake_llm.py), the composer
offers Chat, the answer appears in the conversation as it streams and is spoken; a failing LLM is shown, and the
page goes on."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import async_playwright

from harness.fake_llm import Answer, FakeLlm
from tests.browser_support import (
    SPEECH_LEVEL,
    launch_chromium,
    page_now_ms,
    running_server,
    start_audio_probe,
    wait_for_level,
    wait_for_state,
)

pytestmark = pytest.mark.browser
ANSWER = "Hello! I am the language model behind this page, and I speak as I write."


@pytest.fixture
async def chat_server() -> AsyncIterator[tuple[str, FakeLlm]]:
    async with FakeLlm() as llm:
        with running_server("--llm-url", llm.url, "--llm-model", "fake-model") as url:
            yield url, llm


async def test_chat_mode_shows_and_speaks_the_streamed_answer(chat_server) -> None:
    url, llm = chat_server
    llm.script(Answer(ANSWER, tokens_per_s=20), Answer(http_status=503))
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        page = await browser.new_page()
        await page.goto(url)
        await wait_for_state(page, "live")
        assert await page.inner_text("#chat-title") == "CONVERSATION · FAKE-MODEL"  # the card title is upper-cased
        await start_audio_probe(page)

        await page.locator(".segmented input[value=chat]").check(force=True)
        assert await page.inner_text("#send") == "Ask"
        sent_at = await page_now_ms(page)
        await page.fill("#text", "Who are you?")
        await page.click("#send")
        assert await page.input_value("#text") == ""
        assert await page.inner_text(".chat-message.user") == "Who are you?"
        # the answer shows while it streams, before it is complete
        await page.wait_for_function(
            "(full) => { const t = document.querySelector('.chat-message.assistant .chat-text').textContent;"
            " return t.length > 0 && t.length < full.length; }",
            arg=ANSWER,
            timeout=10_000,
        )
        await wait_for_level(page, SPEECH_LEVEL, since_ms=sent_at, timeout_ms=15_000)
        await page.wait_for_function(
            "(full) => document.querySelector('.chat-message.assistant .chat-text').textContent === full",
            arg=ANSWER,
            timeout=15_000,
        )

        await page.fill("#text", "And now?")
        await page.click("#send")
        await page.wait_for_selector(".chat-message.assistant[data-reason=error]", timeout=15_000)
        assert "llm_failed" in " ".join(await page.locator("#errors .error").all_inner_texts())
        assert await page.inner_text("#status-text") == "Live"
        await browser.close()
