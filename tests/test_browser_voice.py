"""The browser's voice switch in a real browser: Chromium's fake microphone plays synthesized speech, the page
reconnects in voice mode, and the avatar answers with that voice (speech events, audible returned audio)."""
from __future__ import annotations

import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.async_api import Browser, async_playwright

from engines.tts.registry import VoiceRegistry
from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SPEECH_LEVEL,
    page_now_ms,
    running_server,
    start_audio_probe,
    wait_for_level,
    wait_for_state,
)

pytestmark = pytest.mark.browser

# Each (re)connection logs the server's answer: switching mode reconnects.
ANSWERS_AT_LEAST = "(n) => document.querySelectorAll('#log li[data-kind=answer]').length >= n"


@pytest.fixture(scope="module")
def microphone_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Speech with a pause after it, as the fake microphone's input (Chromium plays the file in a loop)."""
    engine, voice = VoiceRegistry(["espeak"], default="espeak").resolve("espeak:en-gb")
    speech = engine.synthesize("Hello, this is my own voice, coming from the microphone.", voice)
    pcm = np.concatenate([speech.pcm, np.zeros(speech.sample_rate, dtype=np.int16)])
    path = tmp_path_factory.mktemp("microphone") / "speech.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speech.sample_rate)
        out.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with running_server() as url:
        yield url


@pytest.fixture
async def browser(microphone_file: Path) -> AsyncIterator[Browser]:
    microphone = ["--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={microphone_file}"]
    args = [*CHROMIUM_ARGS, *microphone]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield browser
        await browser.close()


async def test_voice_switch_makes_the_avatar_speak_with_the_microphone(server_url: str, browser: Browser) -> None:
    page = await browser.new_page()
    await page.goto(server_url)
    await wait_for_state(page, "live")
    await page.check("#voice-mode")
    await page.wait_for_function(ANSWERS_AT_LEAST, arg=2)
    await wait_for_state(page, "live")
    assert await page.locator("#send").is_disabled()  # voice mode speaks the microphone, not text

    await start_audio_probe(page)
    since = await page_now_ms(page)
    await page.wait_for_function(
        "[...document.querySelectorAll('#log li[data-kind=speech]')]"
        ".some(li => li.textContent.includes('speech_started'))",
        timeout=15_000,
    )
    await wait_for_level(page, SPEECH_LEVEL, since_ms=since, timeout_ms=15_000)
    assert await page.locator("#errors .error").all_inner_texts() == []

    await page.uncheck("#voice-mode")
    await page.wait_for_function(ANSWERS_AT_LEAST, arg=3)
    await wait_for_state(page, "live")
    assert await page.locator("#send").is_enabled()
