"""What a viewer gets in Chromium: `say` -> speech heard, lip sync, and interrupt -> mouth at rest, measured in the
page with the browser's own clocks (harness/browser.py): the sound the page plays (an AudioWorklet, 128-sample
blocks), the mouth in each painted frame (requestVideoFrameCallback) and each track's playout position.

    .venv/bin/python -m tools.bench_browser [--url http://127.0.0.1:8080] [--server-arg=--workers=1]

- say -> heard: from the click on Say (the page sends `say` on its websocket) to the first played audio block
  louder than speech, over the benchmark's short phrases, one at a time.
- lip sync: (a) the playout offset: what the browser plays of the audio minus what it plays of the video, in
  the sender's clock (getStats' estimatedPlayoutTimestamp, mapped by the RTCP sender reports), sampled every
  100 ms while speaking; (b) the onsets of isolated vowels: the first painted frame with the mouth open minus the
  first played block of the sound (quantized by the 40 ms frame).
- interrupt -> mouth at rest: from the click on Interrupt to the first painted frame from which the mouth stays
  closed, after a second of speech.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from engines.avatar import load_avatar
from harness.browser import live_page, page_now_ms, probes, start_probes
from harness.measure import DARK_LUMA, OPEN_MARGIN, summary
from harness.server_process import ServerProcess, wait_healthy
from tools.bench_common import SHORT_PHRASES

SPEECH_LEVEL = 0.02  # played RMS (full scale 1) of speech; the silence between utterances is digital zero
SILENT_LEVEL = 0.002
VOWELS = ("Ah.", "Oh.", "Ah!", "Oh!", "Aah.")
LONG_TEXT = "This is a long answer that keeps on going, so that there is plenty of speech left to interrupt."


@contextlib.contextmanager
def server_for(args: argparse.Namespace) -> Iterator[str]:
    if args.url:
        wait_healthy(args.url)
        yield args.url
        return
    with ServerProcess(args.server_arg) as server:
        yield server.base_url


async def send(page: Page, text: str) -> float:
    """Say `text` through the page's own form; the page time of the click as the page saw it (Playwright's
    checks before it clicks take tens of milliseconds that no user waits for)."""
    await page.locator(".segmented input[value=say]").check(force=True)
    await page.fill("#text", text)
    await page.evaluate("document.getElementById('send').addEventListener("
                        "'click', () => { window.__clicked = performance.now(); }, { once: true })")
    await page.click("#send")
    return await page.evaluate("window.__clicked")


async def until_quiet(page: Page, settle_ms: float = 600) -> None:
    await page.wait_for_function("document.body.dataset.speaking === 'false'", timeout=30_000)
    await page.wait_for_timeout(settle_ms)


async def say_and_wait(page: Page, text: str) -> float:
    """Say `text` and wait until it has been spoken (started, then ended): the next one must not be sent while
    this one still plays, or its first loud block would be this one's. The page time of the click."""
    sent = await send(page, text)
    await page.wait_for_function("document.body.dataset.speaking === 'true'", timeout=30_000)
    await until_quiet(page)
    return sent


def first_loud(sound: list[list[float]], after: float) -> float | None:
    return next((t for t, level in sound if t >= after and level > SPEECH_LEVEL), None)


def open_level(mouth: list[list[float]], start: float, end: float) -> float:
    """The idle face's darkest mouth box in [start, end) plus a margin: above it, the mouth is open."""
    return max(share for t, _, share in mouth if start <= t < end) + OPEN_MARGIN


async def measure(page: Page, phrases: int, vowels: int, interrupts: int) -> dict[str, Any]:
    await page.wait_for_timeout(1500)
    idle_from, idle_to = await page_now_ms(page) - 1200, await page_now_ms(page)
    heard, onsets, rest = [], [], []
    for text in SHORT_PHRASES[:phrases]:
        sent = await say_and_wait(page, text)
        at = first_loud((await probes(page))["sound"], sent)
        if at is not None:
            heard.append(round(at - sent, 1))
    state = await probes(page)
    level = open_level(state["mouth"], idle_from, idle_to)
    for vowel in VOWELS * vowels:
        sent = await say_and_wait(page, vowel)
        state = await probes(page)
        sound = first_loud(state["sound"], sent)
        opened = next((t for t, _, share in state["mouth"] if t >= sent and share > level), None)
        if sound is not None and opened is not None:
            onsets.append(round(opened - sound, 1))
    for _ in range(interrupts):
        await send(page, LONG_TEXT)
        await page.wait_for_function("document.body.dataset.speaking === 'true'", timeout=30_000)
        await page.wait_for_timeout(1000)
        clicked = await page_now_ms(page)
        await page.click("#interrupt")
        await page.wait_for_timeout(1200)
        frames = [(t, share > level) for t, _, share in (await probes(page))["mouth"] if t >= clicked]
        last_open = max((i for i, (_, is_open) in enumerate(frames) if is_open), default=-1)
        if last_open + 1 < len(frames):
            rest.append(round(frames[last_open + 1][0] - clicked, 1))
        await until_quiet(page)
    playout = (await probes(page))["playout"]
    offsets = [round(audio - video, 1) for _, audio, video in playout]
    return {
        "say_to_heard_ms": summary(heard) | {"all": heard},
        "playout_offset_audio_minus_video_ms": summary(offsets) | {
            "mean": round(statistics.fmean(offsets), 1) if offsets else None},
        "vowel_onset_mouth_minus_sound_ms": summary(onsets) | {"all": onsets},
        "interrupt_to_mouth_at_rest_ms": summary(rest) | {"all": rest},
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with server_for(args) as url:
        health = wait_healthy(url)
        box = load_avatar(health["default_avatar"]).mouth_box
        async with live_page(url) as page:
            await page.wait_for_function("document.getElementById('video').videoWidth > 0")
            await start_probes(page, box, DARK_LUMA)
            before = os.getloadavg()
            result = await measure(page, args.phrases, args.vowel_rounds, args.interrupts)
    return {"load_average_before": [round(x, 2) for x in before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()], **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="measure a running server (http://host:port) instead of starting one")
    parser.add_argument("--server-arg", action="append", default=[], help="extra argument for the server it starts")
    parser.add_argument("--phrases", type=int, default=len(SHORT_PHRASES))
    parser.add_argument("--vowel-rounds", type=int, default=2)
    parser.add_argument("--interrupts", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
