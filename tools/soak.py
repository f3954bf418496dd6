"""Soak: several sessions talking with pauses for a long time, one of them reconnecting every minute, watched for
what only shows over time.

Reported per interval: every session's frame rate and missing frames, the server's late frames and memory (RSS of
the server and its worker processes together), and the skew between the measured session's two playout lines
(arrival minus media time, per track), which resolves A/V drift to the millisecond. Vowel onsets (mouth opening
against sound, what a viewer sees; quantized by the 40 ms frame) are probed at the start and at the end. Memory is
judged after a settling time (caches, allocator arenas): from then on it must stay flat.

    .venv/bin/python -m tools.soak --seconds 3600 --json /tmp/soak.json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from client import AvatarClient, ReceivedAudio
from harness.measure import (
    AUDIO_RATE,
    VIDEO_CLOCK,
    MouthWatch,
    playout_origin,
    summary,
    video_stats,
)
from harness.server_process import metrics_delta, sample_tree
from harness.talking import Target, keep_talking
from tools.bench_e2e import (
    holds_25fps_at_client,
    idle_calibrated,
    measure_av,
    target_for,
)


class AudioTimes:
    """(arrival, pts) of every audio frame of a client: the audio playout line, without keeping the audio."""

    def __init__(self) -> None:
        self.times: list[tuple[float, int]] = []

    def __call__(self, received: ReceivedAudio) -> None:
        self.times.append((received.arrival, received.pts))


def playout_skew_ms(audio: Sequence[tuple[float, int]], video: Sequence[tuple[float, int]], start: float,
                    end: float) -> float | None:
    """Video playout origin minus audio playout origin, from the frames that arrived in [start, end)."""
    a = [(t, p) for t, p in audio if start <= t < end]
    v = [(t, p) for t, p in video if start <= t < end]
    if len(a) < 10 or len(v) < 10:
        return None
    audio_origin = playout_origin([t for t, _ in a], [p / AUDIO_RATE for _, p in a])
    video_origin = playout_origin([t for t, _ in v], [p / VIDEO_CLOCK for _, p in v])
    return round((video_origin - audio_origin) * 1000, 2)


async def sync_probe(client: AvatarClient, watch: MouthWatch, rounds: int) -> dict[str, Any]:
    """A/V offsets on isolated vowels, from a fresh record (the mouth watch runs only while probing)."""
    client.audio.clear()
    watch.samples.clear()
    client.keep_audio, client.on_video = True, watch
    offsets = await measure_av(client, watch, rounds)
    client.keep_audio, client.on_video = False, None
    client.audio.clear()
    return {"offsets_ms": offsets, "offset_ms": summary(offsets)}


class Reconnector:
    """A session that talks with pauses and is replaced by a new one every `every_s` seconds."""

    def __init__(self, target: Target, every_s: float, talk_share: float) -> None:
        self.target, self.every_s, self.talk_share = target, every_s, talk_share
        self.client: AvatarClient | None = None
        self.connected_at = 0.0
        self.reconnects = 0
        self.failures: list[str] = []
        self.errors: list[dict[str, Any]] = []

    async def run(self) -> None:
        rng = random.Random(99)
        while True:
            try:
                self.client = await self.target.connect(keep_audio=False)
            except Exception as exc:  # counted and reported: a soak must say when a reconnect failed
                self.failures.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(5)
                continue
            self.connected_at = time.monotonic()
            talker = asyncio.create_task(keep_talking(self.client, talk_share=self.talk_share, rng=rng))
            try:
                await asyncio.sleep(self.every_s)
            finally:
                talker.cancel()
                await asyncio.gather(talker, return_exceptions=True)
                self.errors += [e for e in self.client.events if e["type"] == "error"]
                await self.client.close()
                self.client = None
            self.reconnects += 1


def _interval(target: Target, measured: AvatarClient, audio: AudioTimes, steady: Sequence[AvatarClient],
              reconnector: Reconnector, began: float, now: float, at_s: float,
              delta: dict[str, float]) -> dict[str, Any]:
    stats = [video_stats(c.video_times, began, now) for c in steady]
    fresh = reconnector.client
    if fresh is not None and reconnector.connected_at + 1.0 < began:  # only a whole interval of one connection
        stats.append(video_stats(fresh.video_times, began, now))
    sent = delta.get("avatar_video_frames_sent_total", 0.0)
    interval = {
        "at_s": round(at_s, 1),
        "sessions_measured": len(stats),
        "client_fps_min": round(min(s.fps for s in stats), 2),
        "client_missing_frames": sum(s.missing for s in stats),
        "server_late_fraction": round(delta.get("avatar_video_frames_late_total", 0.0) / sent, 4) if sent else None,
        "playout_skew_ms": playout_skew_ms(audio.times, measured.video_times, began, now),
        "server_rss_mb": round(sample_tree(target.pid).rss_mb, 1) if target.pid else None,
        "reconnects": reconnector.reconnects,
    }
    interval["holds_25fps_at_client"] = holds_25fps_at_client(stats)
    return interval


def _forget_before(clients: Sequence[AvatarClient], audio: AudioTimes, moment: float) -> None:
    """Frame times older than the current interval are not needed again: an hour of them stays small."""
    for client in clients:
        client.video_times[:] = [(t, p) for t, p in client.video_times if t >= moment]
    audio.times[:] = [(t, p) for t, p in audio.times if t >= moment]


async def watch_for(target: Target, measured: AvatarClient, audio: AudioTimes, steady: Sequence[AvatarClient],
                    reconnector: Reconnector, seconds: float, sample_s: float) -> list[dict[str, Any]]:
    intervals = []
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        began, before = time.monotonic(), target.metrics()
        await asyncio.sleep(min(sample_s, max(0.5, end - time.monotonic())))
        now = time.monotonic()
        delta = metrics_delta(before, target.metrics())
        interval = _interval(target, measured, audio, steady, reconnector, began, now, now - start, delta)
        intervals.append(interval)
        print(json.dumps(interval), flush=True)
        _forget_before([*steady, *([reconnector.client] if reconnector.client else [])], audio, now)
    return intervals


def memory_summary(intervals: Sequence[dict[str, Any]], settle_s: float) -> dict[str, Any]:
    """Growth over the whole run, and how flat memory stays once the first `settle_s` seconds are over (the
    range and the least-squares trend of the intervals after it)."""
    points = [(i["at_s"], i["server_rss_mb"]) for i in intervals if i["server_rss_mb"] is not None]
    if len(points) < 2:
        return {"first_mb": None, "last_mb": None, "growth_mb": None, "settled": None}
    settled = [(t, m) for t, m in points if t >= settle_s]
    result: dict[str, Any] = {
        "first_mb": points[0][1],
        "last_mb": points[-1][1],
        "growth_mb": round(points[-1][1] - points[0][1], 1),
        "settled": None,
    }
    if len(settled) >= 2:
        slope = float(np.polyfit([t for t, _ in settled], [m for _, m in settled], 1)[0]) * 60
        result["settled"] = {
            "from_s": settle_s,
            "min_mb": min(m for _, m in settled),
            "max_mb": max(m for _, m in settled),
            "range_mb": round(max(m for _, m in settled) - min(m for _, m in settled), 1),
            "trend_mb_per_min": round(slope, 3),
        }
    return result


async def soak(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    measured, watch = await idle_calibrated(target)
    measured.keep_audio = False
    audio = AudioTimes()
    others: list[AvatarClient] = []
    talkers: list[asyncio.Task] = []
    reconnector = Reconnector(target, args.reconnect_s, args.talk_share)
    try:
        start = await sync_probe(measured, watch, args.vowel_rounds)
        measured.on_audio = audio
        for _ in range(args.sessions - 2):
            others.append(await target.connect(keep_audio=False))
        steady = [measured, *others]
        talkers = [asyncio.create_task(keep_talking(c, talk_share=args.talk_share, rng=random.Random(i)))
                   for i, c in enumerate(steady)]
        talkers.append(asyncio.create_task(reconnector.run()))
        intervals = await watch_for(target, measured, audio, steady, reconnector, args.seconds, args.sample_s)
        for task in talkers:
            task.cancel()
        await asyncio.gather(*talkers, return_exceptions=True)
        talkers = []
        measured.on_audio = None
        end = await sync_probe(measured, watch, args.vowel_rounds)
    finally:
        for task in talkers:
            task.cancel()
        await asyncio.gather(*talkers, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in [measured, *others]), return_exceptions=True)
    skews = [i["playout_skew_ms"] for i in intervals if i["playout_skew_ms"] is not None]
    errors = [e for c in [measured, *others] for e in c.events if e["type"] == "error"] + reconnector.errors
    return {
        "seconds": args.seconds,
        "sessions": args.sessions,
        "talk_share": args.talk_share,
        "intervals": intervals,
        "fps_min": min(i["client_fps_min"] for i in intervals),
        "fps_median": statistics.median(i["client_fps_min"] for i in intervals),
        "intervals_holding_25fps_at_client": sum(i["holds_25fps_at_client"] for i in intervals),
        "server_late_fraction_median": statistics.median(
            i["server_late_fraction"] for i in intervals if i["server_late_fraction"] is not None),
        "playout_skew_drift_ms": round(skews[-1] - skews[0], 2) if len(skews) >= 2 else None,
        "playout_skew_range_ms": round(max(skews) - min(skews), 2) if skews else None,
        "sync_start": start,
        "sync_end": end,
        "onset_offset_drift_ms": _median_drift(start, end),
        "memory": memory_summary(intervals, args.settle_s),
        "reconnects": reconnector.reconnects,
        "reconnect_failures": reconnector.failures,
        "errors": errors,
    }


def _median_drift(start: dict[str, Any], end: dict[str, Any]) -> float | None:
    if not start["offsets_ms"] or not end["offsets_ms"]:
        return None
    return round(statistics.median(end["offsets_ms"]) - statistics.median(start["offsets_ms"]), 1)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=600.0, help="how long the sessions talk")
    p.add_argument("--sessions", type=int, default=3, help="sessions, the reconnecting one included (at least 2)")
    p.add_argument("--talk-share", type=float, default=0.6, help="share of the time each session speaks")
    p.add_argument("--reconnect-s", type=float, default=60.0, help="the reconnecting session's lifetime")
    p.add_argument("--settle-s", type=float, default=600.0, help="memory must be flat from this time on")
    p.add_argument("--sample-s", type=float, default=20.0, help="length of each measured interval")
    p.add_argument("--vowel-rounds", type=int, default=2, help="rounds of the vowel list per sync probe")
    p.add_argument("--url", help="soak a running server at this ws:// URL instead of starting one")
    p.add_argument("--token")
    p.add_argument("--pid", type=int, help="process id of the server at --url, for its memory")
    p.add_argument("--max-sessions", type=int, default=8)
    p.add_argument("--server-arg", action="append", default=[])
    p.add_argument("--server-log", type=Path)
    p.add_argument("--json", type=Path, help="also write the result to this file")
    args = p.parse_args(argv)
    if args.sessions < 2:
        p.error("--sessions counts the measured session and the reconnecting one: at least 2")
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with target_for(args) as target:
        return await soak(target, args)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    summary_keys = ("fps_min", "fps_median", "server_late_fraction_median", "playout_skew_drift_ms",
                    "playout_skew_range_ms", "onset_offset_drift_ms", "memory", "reconnects", "reconnect_failures")
    print(json.dumps({k: result[k] for k in summary_keys}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
