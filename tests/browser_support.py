"""Helpers for the real-browser tests: the server as a subprocess, Debian's chromium (harness/browser.py), and
in-page probes.

The probes measure what a viewer gets (frames painted by the <video>, sound coming out of the remote stream)
with the browser's own APIs, independently of the page's code, so a page that only pretends to play fails.
"""
from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from playwright.async_api import Page

from harness.browser import CHROMIUM, CHROMIUM_ARGS, launch_chromium, page_now_ms, wait_for_state

REPO = Path(__file__).resolve().parent.parent
SERVER_START_TIMEOUT_S = 120.0
# RMS level of the page's analyser on the remote audio: the server sends digital silence between utterances, and
# speech is far louder than this.
SPEECH_LEVEL = 0.01


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthz(base_url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@contextlib.contextmanager
def running_server(*extra_args: str, port: int | None = None) -> Iterator[str]:
    """Runs `python -m server` on `port` (default: a free one) until the block ends; yields its base URL. Avatar
    uploads go to a temporary folder."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as output, tempfile.TemporaryDirectory(prefix="avatar-uploads-") as uploads:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "--port", str(port), "--host", "127.0.0.1", "--avatar-uploads", uploads,
             *extra_args],
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while _healthz(base_url) is None:
                if process.poll() is not None or time.monotonic() > deadline:
                    output.seek(0)
                    raise RuntimeError(f"server did not come up:\n{output.read().decode(errors='replace')[-4000:]}")
                time.sleep(0.25)
            yield base_url
        finally:
            process.send_signal(signal.SIGINT)  # stop now; SIGTERM would drain (wait for the open sessions)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def painted_fps(page: Page, seconds: float) -> float:
    """Frames the <video> actually presented per second, counted with requestVideoFrameCallback."""
    return await page.evaluate(
        """(ms) => new Promise((resolve) => {
            const video = document.getElementById('video');
            let first = null, last = null, frames = 0;
            const count = (now, meta) => {
                if (first === null) first = meta.presentedFrames;
                last = meta.presentedFrames;
                frames++;
                video.requestVideoFrameCallback(count);
            };
            video.requestVideoFrameCallback(count);
            setTimeout(() => resolve((last - first) / (ms / 1000)), ms);
        })""",
        seconds * 1000,
    )


async def frame_signature(page: Page) -> list[float]:
    """Mean red, green and blue of the frame the <video> shows now: enough to tell one avatar from another."""
    return await page.evaluate(
        """() => {
            const video = document.getElementById('video');
            const canvas = new OffscreenCanvas(64, 64);
            const context = canvas.getContext('2d');
            context.drawImage(video, 0, 0, 64, 64);
            const pixels = context.getImageData(0, 0, 64, 64).data;
            const sums = [0, 0, 0];
            for (let i = 0; i < pixels.length; i += 4) for (let c = 0; c < 3; c++) sums[c] += pixels[i + c];
            return sums.map((sum) => sum / (pixels.length / 4));
        }"""
    )


async def start_audio_probe(page: Page) -> None:
    """Feeds the <video>'s remote stream into an AnalyserNode and records its RMS level every 20 ms."""
    await page.evaluate(
        """() => {
            const video = document.getElementById('video');
            const context = new AudioContext();
            const analyser = context.createAnalyser();
            analyser.fftSize = 1024;
            context.createMediaStreamSource(video.srcObject).connect(analyser);
            const samples = new Float32Array(analyser.fftSize);
            const levels = [];
            setInterval(() => {
                analyser.getFloatTimeDomainData(samples);
                let sum = 0;
                for (const s of samples) sum += s * s;
                levels.push([performance.now(), Math.sqrt(sum / samples.length)]);
            }, 20);
            window.__audioProbe = { context, levels };
        }"""
    )


async def peak_level(page: Page, since_ms: float, until_ms: float | None = None) -> float:
    """The highest RMS level the probe recorded in [since_ms, until_ms) of the page's clock."""
    return await page.evaluate(
        """([since, until]) => Math.max(0, ...window.__audioProbe.levels
            .filter(([t]) => t >= since && (until === null || t < until)).map(([, level]) => level))""",
        [since_ms, until_ms],
    )


async def wait_for_level(page: Page, threshold: float, since_ms: float, timeout_ms: float) -> float:
    """Waits until the probe hears the remote audio above `threshold` after `since_ms`; returns when it did."""
    handle = await page.wait_for_function(
        """([threshold, since]) => {
            const hit = window.__audioProbe.levels.find(([t, level]) => t >= since && level > threshold);
            return hit ? hit[0] : null;
        }""",
        arg=[threshold, since_ms],
        timeout=timeout_ms,
    )
    return await handle.json_value()
