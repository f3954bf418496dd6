"""Debian's Chromium driven by Playwright, and in-page probes of what a viewer gets, shared by the browser tests and
the browser benchmark: the sound the page plays (an AudioWorklet on the remote stream, timed to a 128-sample block),
the mouth in every painted video frame (requestVideoFrameCallback, dark share of the mouth box), and the
playout position of each track (getStats' estimatedPlayoutTimestamp, the sender's clock of what plays now).

Times are the page's `performance.now()` in ms.
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Page, Playwright, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
# The flags docs/design.md lists for headless chromium on a loopback-only machine; the profile is a fresh temp dir
# that Playwright creates for every launch.
CHROMIUM_ARGS = [
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
]

# Keeps every RTCPeerConnection the page makes, for getStats.
KEEP_PEER_CONNECTIONS = """
(() => {
  const Original = window.RTCPeerConnection;
  window.__peerConnections = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.__peerConnections.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
})();
"""

_PROBES = """
async ([x0, y0, x1, y1, darkLuma]) => {
  const video = document.getElementById('video');
  const probe = { sound: [], mouth: [], playout: [] };
  window.__probe = probe;

  const context = new AudioContext();
  const worklet = `class Level extends AudioWorkletProcessor {
    constructor() { super(); this.batch = []; }
    process(inputs) {
      const channel = inputs[0][0];
      if (channel) {
        let sum = 0;
        for (const s of channel) sum += s * s;
        this.batch.push([currentTime, Math.sqrt(sum / channel.length)]);
        if (this.batch.length >= 16) { this.port.postMessage(this.batch); this.batch = []; }
      }
      return true;
    }
  }
  registerProcessor('level', Level);`;
  await context.audioWorklet.addModule(URL.createObjectURL(new Blob([worklet], { type: 'text/javascript' })));
  const node = new AudioWorkletNode(context, 'level');
  context.createMediaStreamSource(video.srcObject).connect(node);
  node.port.onmessage = ({ data }) => {
    const stamp = context.getOutputTimestamp();
    for (const [time, level] of data) probe.sound.push([stamp.performanceTime + (time - stamp.contextTime) * 1000, level]);
  };

  const canvas = new OffscreenCanvas(x1 - x0, y1 - y0);
  const paint = canvas.getContext('2d', { willReadFrequently: true });
  const onFrame = (now, meta) => {
    paint.drawImage(video, x0, y0, x1 - x0, y1 - y0, 0, 0, x1 - x0, y1 - y0);
    const pixels = paint.getImageData(0, 0, x1 - x0, y1 - y0).data;
    let dark = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2] < darkLuma) dark++;
    }
    probe.mouth.push([meta.expectedDisplayTime, meta.rtpTimestamp, dark / (pixels.length / 4)]);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);

  setInterval(async () => {
    const pc = window.__peerConnections[window.__peerConnections.length - 1];
    if (!pc) return;
    const playing = {};
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.estimatedPlayoutTimestamp) playing[s.kind] = s.estimatedPlayoutTimestamp;
    });
    if (playing.audio && playing.video) probe.playout.push([performance.now(), playing.audio, playing.video]);
  }, 100);
}
"""


async def launch_chromium(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@contextlib.asynccontextmanager
async def live_page(url: str) -> AsyncIterator[Page]:
    """Chromium showing the page at `url` once its session is live, its peer connections kept for inspection."""
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            page = await browser.new_page()
            await page.add_init_script(KEEP_PEER_CONNECTIONS)
            await page.goto(url)
            await wait_for_state(page, "live")
            yield page
        finally:
            await browser.close()


async def wait_for_state(page: Page, state: str, timeout_ms: float = 30_000) -> None:
    """Waits until the page shows `state` (connecting, live, busy, disconnected)."""
    await page.wait_for_function("(s) => document.body.dataset.state === s", arg=state, timeout=timeout_ms)


async def start_probes(page: Page, mouth_box: tuple[int, int, int, int], dark_luma: int) -> None:
    """Start recording sound levels, painted mouths and playout positions (`await probes(page)` reads them).
    The page must be live (the <video> has its stream) and must have been opened after KEEP_PEER_CONNECTIONS
    was added as an init script."""
    await page.evaluate(_PROBES, [*mouth_box, dark_luma])


async def probes(page: Page) -> dict[str, list[list[float]]]:
    """{"sound": [[ms, rms]], "mouth": [[ms, rtp timestamp, dark share]], "playout": [[ms, audio, video]]}."""
    return await page.evaluate("window.__probe")


async def page_now_ms(page: Page) -> float:
    return await page.evaluate("performance.now()")
