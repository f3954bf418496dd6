"""Broadcasts in a real browser (Debian's chromium through Playwright): the viewer page plays a broadcast over
WHEP with moving pictures and sound, and the page's Broadcast panel starts a recording, shows its output's state,
makes it speak and stops it."""
from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.broadcast_support import SENTENCE
from tests.browser_support import (
    SPEECH_LEVEL,
    page_now_ms,
    painted_fps,
    running_server,
    start_audio_probe,
    wait_for_level,
    wait_for_state,
)
from tests.test_browser import browser  # noqa: F401 (the fixture: Debian's chromium)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("recordings")


@pytest.fixture(scope="module")
def server_url(recordings) -> Iterator[str]:
    with running_server("--tts", "espeak", "--recordings", str(recordings)) as url:
        yield url


def call(url: str, method: str = "GET", body: dict | None = None) -> tuple[int, dict | None]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return response.status, json.loads(text) if text else None


async def test_viewer_page_plays_a_broadcast_over_whep(browser: Browser, server_url: str) -> None:
    status, created = call(f"{server_url}/v1/broadcasts", "POST", {"outputs": []})
    assert status == 201
    broadcast = created["id"]
    try:
        page = await browser.new_page()
        await page.goto(f"{server_url}/viewer.html?broadcast={broadcast}")
        await wait_for_state(page, "live")
        assert call(f"{server_url}/v1/broadcasts/{broadcast}")[1]["viewers"] == 1
        assert await painted_fps(page, 3.0) > 15
        await start_audio_probe(page)
        since = await page_now_ms(page)
        call(f"{server_url}/v1/broadcasts/{broadcast}/say", "POST", {"text": SENTENCE})
        await wait_for_level(page, SPEECH_LEVEL, since, 15_000)
        await page.close()  # the page deletes its viewer as it goes
        await wait_for_viewers(server_url, broadcast, 0)
    finally:
        call(f"{server_url}/v1/broadcasts/{broadcast}", "DELETE")


async def wait_for_viewers(server_url: str, broadcast: str, count: int) -> None:
    async with asyncio.timeout(10):
        while call(f"{server_url}/v1/broadcasts/{broadcast}")[1]["viewers"] != count:
            await asyncio.sleep(0.1)


async def test_broadcast_panel_records_and_speaks(browser: Browser, server_url: str, recordings) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 1000})
    await page.goto(server_url)
    panel = page.locator("#broadcast-panel")
    await panel.locator("select[aria-label='Output kind']").select_option("file")
    await panel.locator("input[aria-label='Output URL or file name']").fill("panel.mp4")
    await page.click("#broadcast-start")
    await page.wait_for_selector("#broadcast-states .output-state[data-state='live']", timeout=20_000)
    assert await page.locator("#broadcast-links a", has_text="Watch").count() == 1
    await page.fill("#broadcast-text", "Hello from the broadcast panel.")
    await page.click("#broadcast-say")
    await page.wait_for_function("document.getElementById('broadcast-panel').dataset.speaking === 'true'",
                                 timeout=15_000)
    await page.wait_for_function("document.getElementById('broadcast-panel').dataset.speaking === 'false'",
                                 timeout=20_000)
    await page.click("#broadcast-stop")
    await page.wait_for_function("document.getElementById('broadcast-panel').dataset.running === 'false'")
    assert (await page.text_content("#broadcast-message")) == "Broadcast ended."
    assert (recordings / "panel.mp4").stat().st_size > 10_000

    await page.click("#broadcast-start")  # the same name again: refused, and the panel says why
    await page.wait_for_function("document.getElementById('broadcast-message').textContent.startsWith('bad_output')")
    await page.close()
