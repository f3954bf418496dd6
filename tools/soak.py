"""Soak: one session talking without pause for a given time, watched for what only shows over time.

Reported: frame rate and missing frames per interval, the server's late frames, A/V sync at the start and at the
end (drift), and the server's memory over the run (growth). Sync is measured two ways: the offset of mouth-opening
onsets from sound onsets on short vowels (what a viewer sees; quantized by the 40 ms video frame), and the skew
between the two tracks' playout lines (arrival minus media time, per track), which resolves drift to the
millisecond.

    .venv/bin/python -m tools.soak --seconds 600 --json /tmp/soak.json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from client import AvatarClient
from harness.measure import (
    AUDIO_RATE,
    VIDEO_CLOCK,
    MouthWatch,
    playout_origin,
    summary,
    video_stats,
)
from harness.server_process import metrics_delta, sample_process
from harness.talking import Target, keep_talking
from tools.bench_e2e import (
    holds_25fps,
    holds_25fps_at_client,
    idle_calibrated,
    measure_av,
    target_for,
)


async def sync_probe(client: AvatarClient, watch: MouthWatch, rounds: int) -> dict[str, Any]:
    """A/V offsets on vowels, and the skew of the video playout line against the audio one, from a fresh record."""
    client.audio.clear()
    watch.samples.clear()
    client.keep_audio = True
    offsets = await measure_av(client, watch, rounds)
    client.keep_audio = False
    audio = playout_origin([a.arrival for a in client.audio], [a.pts / AUDIO_RATE for a in client.audio])
    video = playout_origin([s.arrival for s in watch.samples], [s.pts / VIDEO_CLOCK for s in watch.samples])
    return {"offsets_ms": offsets, "offset_ms": summary(offsets), "playout_skew_ms": round((video - audio) * 1000, 2)}


async def talk_for(target: Target, client: AvatarClient, seconds: float, sample_s: float) -> list[dict[str, Any]]:
    """Talk without pause; every `sample_s`, the interval's frame rate, late frames and server memory."""
    talker = asyncio.create_task(keep_talking(client))
    intervals = []
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            began, before = time.monotonic(), target.metrics()
            await asyncio.sleep(min(sample_s, max(0.5, end - time.monotonic())))
            delta = metrics_delta(before, target.metrics())
            stats = video_stats(client.video_times, began, time.monotonic())
            sent = delta.get("avatar_video_frames_sent_total", 0.0)
            interval = {
                "at_s": round(time.monotonic() - (end - seconds), 1),
                "client_fps_min": round(stats.fps, 2),
                "client_missing_frames": stats.missing,
                "server_late_fraction": round(delta.get("avatar_video_frames_late_total", 0.0) / sent, 4)
                if sent else None,
                "server_rss_mb": round(sample_process(target.pid).rss_mb, 1) if target.pid else None,
            }
            interval["holds_25fps"] = holds_25fps(interval, [stats])
            interval["holds_25fps_at_client"] = holds_25fps_at_client([stats])
            intervals.append(interval)
            print(json.dumps(interval), flush=True)
    finally:
        talker.cancel()
        await asyncio.gather(talker, return_exceptions=True)
    return intervals


def memory_growth(intervals: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Growth from the first interval to the last, and the trend (least squares) over the second half, which
    leaves out the caches the first utterances fill."""
    points = [(i["at_s"], i["server_rss_mb"]) for i in intervals if i["server_rss_mb"] is not None]
    if len(points) < 2:
        return {"first_mb": None, "last_mb": None, "growth_mb": None, "trend_mb_per_min": None}
    half = points[len(points) // 2 :] if len(points) >= 4 else points
    slope = float(np.polyfit([t for t, _ in half], [m for _, m in half], 1)[0]) * 60 if len(half) >= 2 else 0.0
    return {
        "first_mb": points[0][1],
        "last_mb": points[-1][1],
        "growth_mb": round(points[-1][1] - points[0][1], 1),
        "trend_mb_per_min": round(slope, 3),
    }


async def soak(target: Target, seconds: float, sample_s: float, vowel_rounds: int) -> dict[str, Any]:
    client, watch = await idle_calibrated(target)
    try:
        client.keep_audio = False
        start = await sync_probe(client, watch, vowel_rounds)
        intervals = await talk_for(target, client, seconds, sample_s)
        end = await sync_probe(client, watch, vowel_rounds)
    finally:
        await client.close()
    errors = [e for e in client.events if e["type"] == "error"]
    return {
        "seconds": seconds,
        "intervals": intervals,
        "fps_min": min(i["client_fps_min"] for i in intervals),
        "fps_median": statistics.median(i["client_fps_min"] for i in intervals),
        "intervals_holding_25fps": sum(i["holds_25fps"] for i in intervals),
        "intervals_holding_25fps_at_client": sum(i["holds_25fps_at_client"] for i in intervals),
        "sync_start": start,
        "sync_end": end,
        "playout_skew_drift_ms": round(end["playout_skew_ms"] - start["playout_skew_ms"], 2),
        "onset_offset_drift_ms": _median_drift(start, end),
        "memory": memory_growth(intervals),
        "errors": errors,
    }


def _median_drift(start: dict[str, Any], end: dict[str, Any]) -> float | None:
    if not start["offsets_ms"] or not end["offsets_ms"]:
        return None
    return round(statistics.median(end["offsets_ms"]) - statistics.median(start["offsets_ms"]), 1)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=600.0, help="how long the session talks")
    p.add_argument("--sample-s", type=float, default=10.0, help="length of each measured interval")
    p.add_argument("--vowel-rounds", type=int, default=2, help="rounds of the vowel list per sync probe")
    p.add_argument("--url", help="soak a running server at this ws:// URL instead of starting one")
    p.add_argument("--token")
    p.add_argument("--pid", type=int, help="process id of the server at --url, for its memory")
    p.add_argument("--max-sessions", type=int, default=8)
    p.add_argument("--server-arg", action="append", default=[])
    p.add_argument("--server-log", type=Path)
    p.add_argument("--json", type=Path, help="also write the result to this file")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with target_for(args) as target:
        return await soak(target, args.seconds, args.sample_s, args.vowel_rounds)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    summary_keys = ("fps_min", "fps_median", "playout_skew_drift_ms", "onset_offset_drift_ms", "memory")
    print(json.dumps({k: result[k] for k in summary_keys}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
