"""CPU of the avatar server publishing into a Janus VideoRoom, with 1 and with 10 (or any numbers of) viewers.

    .venv/bin/python -m tools.bench_janus [--viewers 1 10] [--seconds 30] [--append docs/benchmarks.md]

This process is the avatar server's side of a broadcast: the server's Services, one session pipeline talking
without pause, and its Janus output (the same classes the server runs). Debian's janus runs as a child, as in the
tests (harness/janus.py). The viewers (aiortc, subscribed through Janus's HTTP API, decoding what they receive)
run in a second child process at the lowest priority (nice 19), so that neither their cost nor Janus's lands in
the figure: the tool reports this process's CPU, Janus's CPU and what the viewers received, for each number of
viewers.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from harness.janus import JanusServer, JanusViewer, media_address
from harness.server_process import sample_process
from harness.talking import TALK
from server.config import ServerConfig
from server.pipeline.session import SessionPipeline
from server.services import Services
from server.sessions import session_log
from server.transports.encoder import BroadcastEncoder
from server.transports.requests import OutputContext
from server.transports.webrtc.ice import restrict_ice_hosts
from server.transports.webrtc.janus import JanusOutput
from tools.bench_common import publish

ROOM = 1234
READY_TIMEOUT_S = 60.0


async def watch(url: str, count: int, seconds: float) -> None:
    """The viewers' process: `count` viewers join, say READY, watch for `seconds`, print what they received."""
    os.setpriority(os.PRIO_PROCESS, 0, 19)
    async with aiohttp.ClientSession() as http:
        viewers = [await JanusViewer.join(http, url, ROOM) for _ in range(count)]
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                while not all(v.video for v in viewers):
                    await asyncio.sleep(0.1)
            print("READY", flush=True)
            start = time.monotonic()
            await asyncio.sleep(seconds)
            end = time.monotonic()
            fps = [len([t for t, _ in v.video if start <= t < end]) / (end - start) for v in viewers]
            print(json.dumps({"fps": fps}), flush=True)
        finally:
            await asyncio.gather(*(v.close() for v in viewers))


async def keep_talking(pipeline: SessionPipeline) -> None:
    ended = asyncio.Event()
    pipeline.events.listen(lambda event: ended.set() if event["type"] == "speech_ended" else None)
    index = 0
    while True:
        ended.clear()
        pipeline.text(TALK[index % len(TALK)], flush=True)
        await ended.wait()
        index += 1


async def measure(janus: JanusServer, media_ip: str, viewer_counts: list[int], seconds: float) -> list[dict]:
    config = ServerConfig(ice_hosts=(media_ip,))
    restrict_ice_hosts(config.ice_hosts)
    services = Services(config)
    log = session_log("bench-janus")
    pipeline = SessionPipeline(services.pipeline, avatar=services.default_avatar, voice=services.default_voice, log=log)
    context = OutputContext("bench-janus", config, BroadcastEncoder(config.broadcast, log), log, services.encoding)
    output = JanusOutput.from_request({"janus": janus.url, "room": ROOM}, context)
    await output.start(pipeline)
    pipeline.start()
    talker = asyncio.create_task(keep_talking(pipeline))
    rows = []
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            while output.status().state != "live":
                await asyncio.sleep(0.1)
        for count in viewer_counts:
            rows.append(await measure_with(janus, count, seconds, services))
    finally:
        talker.cancel()
        await asyncio.gather(talker, return_exceptions=True)
        await output.close()
        await pipeline.close()
        await services.close()
    return rows


async def measure_with(janus: JanusServer, count: int, seconds: float, services: Services) -> dict:
    viewers = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools.bench_janus", "--watch", janus.url,
        "--viewers", str(count), "--seconds", str(seconds),
        stdout=subprocess.PIPE,
    )
    assert viewers.stdout is not None
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            while (await viewers.stdout.readline()).strip() != b"READY":
                pass
        sent_before, late_before = frame_counts(services)
        own, sfu = sample_process(os.getpid()), sample_process(janus.pid)
        received = json.loads(await viewers.stdout.readline())
        own_after, sfu_after = sample_process(os.getpid()), sample_process(janus.pid)
        sent_after, late_after = frame_counts(services)
        sent, late_frames = sent_after - sent_before, late_after - late_before
    finally:
        await viewers.wait()
    return {
        "viewers": count,
        "avatar_cpu": own_after.cpu_percent_since(own),
        "avatar_rss_mb": own_after.rss_mb,
        "janus_cpu": sfu_after.cpu_percent_since(sfu),
        "late": late_frames / max(1, sent),
        "fps": received["fps"],
    }


def frame_counts(services: Services) -> tuple[float, float]:
    """Video frames sent and sent late so far (the server's own counters)."""
    sample = services.metrics.registry.get_sample_value
    return sample("avatar_video_frames_sent_total") or 0.0, sample("avatar_video_frames_late_total") or 0.0


def report(rows: list[dict], seconds: float) -> str:
    lines = [
        f"Avatar publishing into a Janus VideoRoom, talking without pause, {seconds:g} s per row; 1-minute load "
        f"average {os.getloadavg()[0]:.2f}.",
        "",
        "| viewers | avatar server CPU (% of a core) | avatar RSS (MB) | frames late | janus CPU (% of a core) "
        "| viewers' fps (min / mean) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        fps = row["fps"]
        lines.append(
            f"| {row['viewers']} | {row['avatar_cpu']:.0f} | {row['avatar_rss_mb']:.0f} | {100 * row['late']:.1f} % "
            f"| {row['janus_cpu']:.0f} | {min(fps):.1f} / {sum(fps) / len(fps):.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--append", type=Path, help="append the report to this markdown file")
    parser.add_argument("--watch", metavar="URL", help=argparse.SUPPRESS)  # the viewers' child process
    args = parser.parse_args()
    media_ip = media_address()
    if media_ip is None:
        sys.exit("Janus gathers no loopback candidates, and this machine has no other address")
    restrict_ice_hosts([media_ip])
    if args.watch:
        asyncio.run(watch(args.watch, args.viewers[0], args.seconds))
        return
    with JanusServer([ROOM], media_ip) as janus:
        rows = asyncio.run(measure(janus, media_ip, args.viewers, args.seconds))
    publish(report(rows, args.seconds), args.append)


if __name__ == "__main__":
    main()
