"""Broadcasts, measured: the server's CPU per broadcast with 1, 2 and 3 outputs, the RTMP glass-to-glass delay
(text in -> first audio in the stream pulled back from the RTMP server), the A/V offset of the pulled RTMP stream
and of the MP4 recording, and the speed of `tools.render` as a multiple of real time.

    .venv/bin/python -m tools.bench_broadcast [--seconds 20] [--delays 10] [--phases cpu,delay,av,render]

The RTMP server is Debian's nginx-rtmp on loopback (harness/rtmp.py). For CPU and delay the server is its own
process (`python -m server`, default voice and avatar), its CPU read from /proc together with its children (each
output's writer process). The A/V offsets need the frames as the pipeline made them, so that phase runs the
server in this process: the offset is where the stream's audio and its pictures sit against the session's own
samples and frames (harness/stream_sync.py), so this process's load does not move it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import numpy as np

from engines.avatar import load_avatar
from harness.rtmp import NginxRtmp, RtmpPlayer
from harness.server_process import ServerProcess, sample_process
from harness.stream_sync import (
    SourceFrames,
    audio_offset,
    decode_file,
    mouth_follows_audio,
    video_offset,
)
from server.app import AvatarServer
from server.config import BroadcastSettings, ServerConfig
from tools.bench_common import SHORT_PHRASES, publish

TALK = "Welcome back to the show. Today we look at how a talking avatar reaches thousands of viewers at once."
RENDER_SCRIPT = "\n\n".join([
    "Hello and welcome. This video was rendered offline from a script, on the same pipeline as a live show.",
    "Each paragraph is one utterance, said right after the one before it, with the mouth following the voice.",
    "Rendering runs faster than real time, so a creator gets the finished file sooner than the talk would last.",
    "That is all for today. Thank you for watching, and see you next time.",
])
LOUD = 2000  # int16 sample level that is speech, far above the silence between utterances


def request(base: str, method: str, path: str, body: dict | None = None) -> dict | None:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def children_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and its living children (the outputs' writer processes)."""
    total = sample_process(pid).cpu_s
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    total += sample_process(int(entry)).cpu_s
            except (OSError, IndexError):
                continue
    return total


def keep_talking(base: str, broadcast: str, until: float) -> None:
    """Say sentences back to back until `until` (monotonic)."""
    while time.monotonic() < until:
        if not request(base, "GET", f"/v1/broadcasts/{broadcast}")["speaking"]:
            request(base, "POST", f"/v1/broadcasts/{broadcast}/say", {"text": TALK})
        time.sleep(0.2)


def measure_cpu(seconds: float) -> list[tuple[str, float, float]]:
    """(outputs, CPU % of one core idle, talking) per broadcast with 0-3 outputs, one broadcast at a time."""
    rows = []
    with tempfile.TemporaryDirectory() as recordings, NginxRtmp() as rtmp:
        with ServerProcess(["--recordings", recordings]) as server:
            base = server.base_url
            sets = [
                ("none (pipeline only)", []),
                ("rtmp", [{"rtmp": rtmp.url("a")}]),
                ("rtmp + file", [{"rtmp": rtmp.url("b")}, {"file": "b.mp4"}]),
                ("rtmp + rtmp + file", [{"rtmp": rtmp.url("c1")}, {"rtmp": rtmp.url("c2")}, {"file": "c.mp4"}]),
            ]
            for label, outputs in sets:
                broadcast = request(base, "POST", "/v1/broadcasts", {"outputs": outputs})["id"]
                time.sleep(3.0)  # outputs connected, encoder warm
                idle_from, idle_cpu = time.monotonic(), children_cpu_s(server.pid)
                time.sleep(seconds / 2)
                idle = 100 * (children_cpu_s(server.pid) - idle_cpu) / (time.monotonic() - idle_from)
                talk_from, talk_cpu = time.monotonic(), children_cpu_s(server.pid)
                keep_talking(base, broadcast, talk_from + seconds)
                talking = 100 * (children_cpu_s(server.pid) - talk_cpu) / (time.monotonic() - talk_from)
                states = [o["state"] for o in request(base, "GET", f"/v1/broadcasts/{broadcast}")["outputs"]]
                request(base, "DELETE", f"/v1/broadcasts/{broadcast}")
                print(f"  {label}: idle {idle:.1f} %, talking {talking:.1f} % (outputs {states})", flush=True)
                rows.append((label, idle, talking))
                time.sleep(2.0)
    return rows


def measure_delay(count: int) -> list[float]:
    """Seconds from each `say` request to the first loud audio packet pulled back from the RTMP server."""
    delays = []
    with NginxRtmp() as rtmp, ServerProcess() as server:
        base = server.base_url
        broadcast = request(base, "POST", "/v1/broadcasts", {"outputs": [{"rtmp": rtmp.url("live")}]})["id"]
        time.sleep(1.5)
        player = RtmpPlayer(rtmp.url("live")).start()
        player.connected.wait(20)
        time.sleep(1.0)
        try:
            for phrase in (SHORT_PHRASES * 3)[:count]:
                heard_before = len(player.audio)
                said = time.monotonic()
                request(base, "POST", f"/v1/broadcasts/{broadcast}/say", {"text": phrase})
                deadline = said + 10
                arrival = None
                while arrival is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                    arrival = next((a.arrival for a in player.audio[heard_before:] if np.abs(a.pcm).max() > LOUD), None)
                if arrival is not None:
                    delays.append(arrival - said)
                while request(base, "GET", f"/v1/broadcasts/{broadcast}")["speaking"]:
                    time.sleep(0.1)
                time.sleep(1.0)
        finally:
            player.stop()
            request(base, "DELETE", f"/v1/broadcasts/{broadcast}")
    return delays


async def measure_av() -> dict[str, tuple[float, int, float]]:
    """Audio lag behind the video (ms) and the mouth-to-loudness lag (frames) and correlation, for the pulled
    RTMP stream and the MP4 recording of the same broadcast."""
    with tempfile.TemporaryDirectory() as folder, NginxRtmp() as rtmp:
        recordings = Path(folder)
        server = AvatarServer(ServerConfig(port=0, broadcast=BroadcastSettings(recordings=recordings)))
        await server.start()
        base = f"http://127.0.0.1:{server.port}"
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{base}/v1/broadcasts",
                                     json={"outputs": [{"rtmp": rtmp.url("av")}, {"file": "av.mp4"}]}) as response:
                    broadcast = (await response.json())["id"]
                source, recorder = SourceFrames.record(server.services.sessions[broadcast].pipeline)
                await asyncio.sleep(1.5)
                player = RtmpPlayer(rtmp.url("av")).start()
                await asyncio.to_thread(player.connected.wait, 20)
                for _ in range(3):
                    await http.post(f"{base}/v1/broadcasts/{broadcast}/say", json={"text": TALK})
                    await asyncio.sleep(0.5)
                    while (await (await http.get(f"{base}/v1/broadcasts/{broadcast}")).json())["speaking"]:
                        await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(player.stop)
                recorder.cancel()
                await http.delete(f"{base}/v1/broadcasts/{broadcast}")
        finally:
            await server.stop()
        box = load_avatar("astronaut").mouth_box
        results = {}
        for label, decoded in (("RTMP (pulled from nginx-rtmp)", player.decoded()),
                               ("MP4 recording", decode_file(recordings / "av.mp4"))):
            lag_ms = 1000 * (video_offset(decoded, source) - audio_offset(decoded, source))
            mouth_lag, correlation = mouth_follows_audio(decoded, box)
            results[label] = (lag_ms, mouth_lag, correlation)
    return results


def measure_render() -> tuple[float, float, str]:
    """(media s, wall s, its line) of one `tools.render` run on RENDER_SCRIPT with the default voice and avatar."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "render.mp4"
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "tools.render", "-o", str(out)], input=RENDER_SCRIPT, text=True,
                              capture_output=True, check=True)
        total = time.monotonic() - began
        line = done.stdout.strip().splitlines()[-1]
        media = float(line.split(": ")[1].split(" s of media")[0])
        wall = float(line.split(" in ")[1].split(" s ")[0])
    print(f"  {line} (the whole command, loading included: {total:.1f} s)")
    return media, wall, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="talking time per CPU measurement")
    parser.add_argument("--delays", type=int, default=10, help="sentences timed for the glass-to-glass delay")
    parser.add_argument("--phases", default="cpu,delay,av,render")
    parser.add_argument("--append", type=Path, help="append the report to this markdown file")
    args = parser.parse_args()
    phases = args.phases.split(",")
    lines = [f"1-minute load average at the start: {os.getloadavg()[0]:.2f}", ""]
    if "cpu" in phases:
        print("CPU per broadcast", flush=True)
        rows = measure_cpu(args.seconds)
        lines += ["| outputs | server CPU idle (% of a core) | talking |", "| --- | --- | --- |"]
        lines += [f"| {label} | {idle:.1f} | {talking:.1f} |" for label, idle, talking in rows]
        lines.append("")
    if "delay" in phases:
        print("RTMP glass-to-glass delay", flush=True)
        delays = measure_delay(args.delays)
        lines.append(f"RTMP glass-to-glass (say -> first loud audio pulled back), {len(delays)} sentences: median "
                     f"{1000 * statistics.median(delays):.0f} ms, max {1000 * max(delays):.0f} ms")
        lines.append("")
    if "av" in phases:
        print("A/V offset", flush=True)
        lines += ["| stream | audio behind video (ms) | mouth vs loudness: best lag (frames), correlation |",
                  "| --- | --- | --- |"]
        for label, (lag_ms, mouth_lag, correlation) in asyncio.run(measure_av()).items():
            lines.append(f"| {label} | {lag_ms:+.1f} | {mouth_lag:+d}, {correlation:.2f} |")
        lines.append("")
    if "render" in phases:
        print("tools.render speed", flush=True)
        media, wall, _ = measure_render()
        lines.append(f"tools.render: {media:.1f} s of media in {wall:.1f} s = {media / wall:.2f}x real time")
        lines.append("")
    lines.append(f"1-minute load average at the end: {os.getloadavg()[0]:.2f}")
    publish("\n".join(lines) + "\n", args.append)


if __name__ == "__main__":
    main()
