"""End-to-end benchmark at the client: how fast the avatar starts speaking, whether lips and voice stay together,
how steady the video is, how fast it stops, and how many sessions one machine carries.

Starts the server as a child process (or measures one at --url), connects clients with the project's Python
client over real WebRTC and measures what arrives. Server-side CPU and memory come from /proc (own server only);
/metrics is scraped around each phase and its numbers are printed beside the client's.

    .venv/bin/python -m tools.bench_e2e                      # latency, A/V offset, interrupt, 1 steady session
    .venv/bin/python -m tools.bench_e2e --phases steady --sessions 4
    .venv/bin/python -m tools.bench_e2e --phases sweep --sweep-max 10
    .venv/bin/python -m tools.bench_e2e --phases sweep --no-decode --talk-share 0.25   # load client, no decoding
    .venv/bin/python -m tools.bench_e2e --phases stream,wire --sessions 4   # first audio on the wire, A/V offset

The steady and sweep phases measure capacity; `--no-decode` makes their clients stamp RTP packets instead of
decoding (client/wire.py), so that the load client does not take the CPU it measures on the same machine.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from client import AvatarClient
from client.wire import loud
from engines.avatar import load_avatar
from harness.measure import (
    MouthWatch,
    VideoStats,
    av_onset,
    first_speech,
    silent_from,
    summary,
    video_stats,
    wire_av_offset_ms,
)
from harness.server_process import (
    ServerProcess,
    histogram_quantile,
    http_base,
    metrics_delta,
    sample_process,
    sample_tree,
    wait_healthy,
)
from harness.talking import TalkingSessions, Target, talking_sessions
from tools.bench_common import REPLIES_PUNCTUATED, REPLIES_UNPUNCTUATED, SHORT_PHRASES

SENTENCES = SHORT_PHRASES
VOWELS = ["Ah.", "Oh.", "Ah!", "Oh!", "Aah."]
LONG_TEXT = "This is a long answer that keeps on going, so that there is plenty of speech left to interrupt."
FPS_TARGET = 24.5  # 25 fps, allowing for the first and last frame of a window
MAX_LATE = 0.01
SPEECH_DBOV = 50  # an audio packet at least this loud (RFC 6464 level) carries speech
STREAM_CHARS, STREAM_INTERVAL_S = 4, 0.02  # an LLM at about 50 tokens per second


@contextlib.contextmanager
def target_for(args: argparse.Namespace) -> Any:
    if args.url:
        wait_healthy(http_base(args.url))
        yield Target(args.url, args.token, args.pid)
        return
    extra = ["--max-sessions", str(args.max_sessions), *args.server_arg]
    with ServerProcess(extra, log_path=args.server_log) as server:
        yield Target(f"ws://127.0.0.1:{server.port}/ws", None, server.pid)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def idle_calibrated(target: Target, idle_s: float = 1.5) -> tuple[AvatarClient, MouthWatch]:
    """One client whose mouth detector has learned the idle face."""
    watch = MouthWatch(load_avatar(target_avatar(target)).mouth_box)
    client = await target.connect(watch)
    began = time.monotonic()
    await asyncio.sleep(idle_s)
    watch.calibrate(began, time.monotonic())
    return client, watch


def target_avatar(target: Target) -> str:
    return wait_healthy(target.base)["default_avatar"]


async def speak_and_settle(client: AvatarClient, text: str, settle_s: float = 0.4) -> tuple[float, float]:
    """Say `text`; return when it was sent and when the client had everything of it."""
    sent = time.monotonic()
    await client.say(text)
    await client.wait_for("speech_ended", timeout=30)
    await asyncio.sleep(settle_s)
    return sent, time.monotonic()


async def latency_phase(target: Target) -> dict[str, Any]:
    """say -> first speech audio and -> first open-mouth frame, over short sentences, one at a time."""
    client, watch = await idle_calibrated(target)
    to_audio, to_mouth = [], []
    try:
        before = target.metrics()
        for sentence in SENTENCES:
            sent, done = await speak_and_settle(client, sentence)
            heard = first_speech(client.audio, sent)
            opened = watch.first_open(sent, done)
            if heard is not None and heard.arrival < done:
                to_audio.append(heard.arrival - sent)
            if opened is not None:
                to_mouth.append(opened.arrival - sent)
        delta = metrics_delta(before, target.metrics())
    finally:
        await client.close()
    return {
        "sentences": len(SENTENCES),
        "say_to_first_audio_ms": summary([ms(t) for t in to_audio]),
        "say_to_first_open_mouth_ms": summary([ms(t) for t in to_mouth]),
        "server_first_audio_ms": server_histogram(delta, "avatar_time_to_first_audio_seconds"),
        "server_first_frame_ms": server_histogram(delta, "avatar_time_to_first_frame_seconds"),
    }


def server_histogram(delta: dict[str, float], name: str) -> dict[str, float | None]:
    count = delta.get(f"{name}_count", 0.0)
    return {
        "n": count,
        "mean": ms(delta[f"{name}_sum"] / count) if count else None,
        "median_bucket_le": ms(histogram_quantile(delta, name, 0.5) or 0) if count else None,
    }


async def av_phase(target: Target, repeats: int) -> dict[str, Any]:
    """Mouth-opening onset against sound onset, on short isolated vowels."""
    client, watch = await idle_calibrated(target)
    try:
        offsets = await measure_av(client, watch, repeats)
    finally:
        await client.close()
    return {"vowels": len(offsets), "offsets_ms": offsets, "offset_ms": summary(offsets)}


async def measure_av(client: AvatarClient, watch: MouthWatch, repeats: int) -> list[float]:
    """A/V offsets (ms, positive = mouth after sound) of `repeats` rounds of isolated vowels."""
    offsets = []
    for vowel in VOWELS * repeats:
        sent, done = await speak_and_settle(client, vowel, settle_s=0.6)
        onset = av_onset(client.audio, watch, sent, done)
        if onset is not None:
            offsets.append(round(onset.offset_ms, 1))
    return offsets


async def interrupt_phase(target: Target, trials: int) -> dict[str, Any]:
    """interrupt -> audio silent and mouth closed at the client, after a second of speech."""
    client, watch = await idle_calibrated(target)
    to_silence, to_rest, to_event = [], [], []
    try:
        before = target.metrics()
        for _ in range(trials):
            await client.say(LONG_TEXT)
            await client.wait_for("speech_started", timeout=30)
            await asyncio.sleep(1.0)
            sent = time.monotonic()
            await client.interrupt()
            ended = await client.wait_for("speech_ended", timeout=10)
            await asyncio.sleep(1.0)
            settled = time.monotonic()
            silent = silent_from(client.audio, sent, settled)
            closed = watch.closed_from(sent, settled)
            to_event.append(ms(ended["_at"] - sent))
            if silent is not None:
                to_silence.append(ms(silent - sent))
            if closed is not None:
                to_rest.append(ms(closed - sent))
        delta = metrics_delta(before, target.metrics())
    finally:
        await client.close()
    return {
        "trials": trials,
        "to_silence_ms": summary(to_silence),
        "to_mouth_closed_ms": summary(to_rest),
        "to_speech_ended_event_ms": summary(to_event),
        "server_interrupt_ms": server_histogram(delta, "avatar_interrupt_latency_seconds"),
    }


async def steady_window(target: Target, sessions: TalkingSessions, seconds: float) -> dict[str, Any]:
    """Frame rate and lateness at every client, server late frames, and CPU and memory, over one window."""
    server_before = sample_tree(target.pid) if target.pid else None
    bench_before = sample_process(os.getpid())
    metrics_before = target.metrics()
    began = time.monotonic()
    await asyncio.sleep(seconds)
    ended = time.monotonic()
    delta = metrics_delta(metrics_before, target.metrics())
    bench_after = sample_process(os.getpid())
    stats = [video_stats(c.video_times, began, ended) for c in sessions.clients]
    sent = delta.get("avatar_video_frames_sent_total", 0.0)
    late = delta.get("avatar_video_frames_late_total", 0.0)
    result: dict[str, Any] = {
        "sessions": len(sessions.clients),
        "seconds": round(ended - began, 1),
        "client_fps_min": round(min(s.fps for s in stats), 2),
        "client_fps_median": round(statistics.median(s.fps for s in stats), 2),
        "client_missing_frames": sum(s.missing for s in stats),
        "client_late_frames": sum(s.late for s in stats),
        "client_frames": sum(s.frames for s in stats),
        "server_frames_sent": sent,
        "server_frames_late": late,
        "server_late_fraction": round(late / sent, 4) if sent else None,
        "server_render_ms_p50_bucket": ms(histogram_quantile(delta, "avatar_render_seconds", 0.5) or 0),
        "bench_process_cpu_percent": round(bench_after.cpu_percent_since(bench_before), 1),
    }
    if server_before is not None:
        server_after = sample_tree(target.pid)
        cpu = server_after.cpu_percent_since(server_before)
        result |= {
            "server_cpu_percent": round(cpu, 1),
            "server_cpu_percent_per_session": round(cpu / max(1, len(sessions.clients)), 1),
            "server_rss_mb": round(server_after.rss_mb, 1),
        }
    result["holds_25fps"] = holds_25fps(result, stats)
    result["holds_25fps_at_client"] = holds_25fps_at_client(stats)
    return result


def holds_25fps(window: dict[str, Any], stats: list[VideoStats]) -> bool:
    """The strict test: every client at 25 fps with at most 1% of frames missing, and at most 1% of frames
    rendered after their due time at the server (avatar_video_frames_late_total)."""
    late = window["server_late_fraction"]
    return (
        window["client_fps_min"] >= FPS_TARGET
        and all(s.missing / max(1, s.frames + s.missing) <= MAX_LATE for s in stats)
        and late is not None
        and late <= MAX_LATE
    )


def holds_25fps_at_client(stats: list[VideoStats]) -> bool:
    """What a viewer sees: every client at 25 fps with at most 1% of frames missing or arriving late."""
    return all(s.fps >= FPS_TARGET and s.missing_or_late_fraction <= MAX_LATE for s in stats)


async def steady_phase(
    target: Target, sessions_wanted: int, seconds: float, args: argparse.Namespace
) -> dict[str, Any]:
    idle = await idle_server(target)
    async with talking_sessions(target, not args.no_decode, args.talk_share) as sessions:
        for _ in range(sessions_wanted):
            await sessions.add()
        await asyncio.sleep(3.0)  # every session talking, warm caches
        window = await steady_window(target, sessions, seconds)
    return {"idle_server": idle, **window, **memory_per_session(idle, window)}


async def sweep_phase(
    target: Target, max_sessions: int, seconds: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Add talking sessions one at a time (from --sweep-from on); the answer is the last count that still held
    25 fps."""
    idle = await idle_server(target)
    steps = []
    async with talking_sessions(target, not args.no_decode, args.talk_share) as sessions:
        for _ in range(args.sweep_from - 1):
            await sessions.add()
        for _ in range(args.sweep_from, max_sessions + 1):
            await sessions.add()
            await asyncio.sleep(3.0)
            window = await steady_window(target, sessions, seconds)
            steps.append(window | memory_per_session(idle, window))
            print_step(window)
            if not (window["holds_25fps"] or window["holds_25fps_at_client"]):
                break
    return {
        "idle_server": idle,
        "steps": steps,
        "largest_sessions_at_25fps": _largest_held(steps, "holds_25fps", args.sweep_from),
        "largest_sessions_at_25fps_at_client": _largest_held(steps, "holds_25fps_at_client", args.sweep_from),
    }


def _largest_held(steps: list[dict[str, Any]], key: str, first: int) -> int:
    """The largest N such that every count measured from `first` to N held (0: `first` did not)."""
    held = {s["sessions"] for s in steps if s[key]}
    largest = first - 1
    while largest + 1 in held:
        largest += 1
    return largest if largest >= first else 0


async def idle_server(target: Target, seconds: float = 2.0) -> dict[str, float] | None:
    """The server's own CPU and memory with no session open."""
    if target.pid is None:
        return None
    before = sample_tree(target.pid)
    await asyncio.sleep(seconds)
    after = sample_tree(target.pid)
    return {"cpu_percent": round(after.cpu_percent_since(before), 1), "rss_mb": round(after.rss_mb, 1)}


def memory_per_session(idle: dict[str, float] | None, window: dict[str, Any]) -> dict[str, float]:
    if idle is None or "server_rss_mb" not in window:
        return {}
    return {"server_rss_mb_per_session": round((window["server_rss_mb"] - idle["rss_mb"]) / window["sessions"], 1)}


def print_step(window: dict[str, Any]) -> None:
    print(
        f"  {window['sessions']:>2} sessions: client fps min {window['client_fps_min']:.2f}, "
        f"missing {window['client_missing_frames']}, server late {window['server_late_fraction']}, "
        f"server CPU {window.get('server_cpu_percent', '?')}%, bench CPU {window['bench_process_cpu_percent']}% "
        f"-> strict {'holds' if window['holds_25fps'] else 'FAILS'}, "
        f"at client {'holds' if window['holds_25fps_at_client'] else 'FAILS'}",
        flush=True,
    )


def first_loud_packet(client: AvatarClient, after: float) -> float | None:
    """Arrival of the first speech packet on the wire after `after` (the utterance must have ended)."""
    return next((a.at for a in client.wire["audio"].arrivals if a.at >= after and loud(a, SPEECH_DBOV)), None)


def first_pause_ms(client: AvatarClient, after: float) -> float | None:
    """The first pause in the speech after `after`: the longest run of quiet packets (at least 60 ms) in the
    first 2 s of speech, in ms. Where a reply was cut after a few words, it is the pause at that seam."""
    packets = [a for a in client.wire["audio"].arrivals if a.at >= after]
    start = next((i for i, a in enumerate(packets) if loud(a, SPEECH_DBOV)), None)
    if start is None:
        return None
    runs, quiet = [], 0
    for packet in packets[start : start + 100]:
        if loud(packet, SPEECH_DBOV):
            if quiet >= 3:
                runs.append(quiet)
            quiet = 0
        else:
            quiet += 1
    return 20.0 * runs[0] if runs else None


async def stream_phase(target: Target) -> dict[str, Any]:
    """First delta (or `say`) -> first speech packet on the wire, with a client that does not decode: replies
    streamed in 4-character deltas every 20 ms with and without early punctuation, and short `say`s. Also the
    first pause in each reply's speech: at the comma or full stop of a punctuated one, at the seam after the
    first few words of an unpunctuated one (how much the early cut breaks the flow)."""
    client = await target.connect(decode=False)
    results: dict[str, list[float]] = {"say": [], "streamed_punctuated": [], "streamed_unpunctuated": []}
    pauses: dict[str, list[float]] = {kind: [] for kind in results}
    texts = [("say", t) for t in SENTENCES] + [("streamed_punctuated", t) for t in REPLIES_PUNCTUATED] + [
        ("streamed_unpunctuated", t) for t in REPLIES_UNPUNCTUATED]
    try:
        before = target.metrics()
        for kind, text in texts:
            sent = time.monotonic()
            if kind == "say":
                await client.say(text)
            else:
                await client.stream(text, chunk_chars=STREAM_CHARS, interval_s=STREAM_INTERVAL_S)
            await client.wait_for("speech_ended", timeout=30)
            await asyncio.sleep(0.4)
            heard = first_loud_packet(client, sent)
            if heard is not None:
                results[kind].append(ms(heard - sent))
            pause = first_pause_ms(client, sent)
            if pause is not None:
                pauses[kind].append(pause)
        delta = metrics_delta(before, target.metrics())
    finally:
        await client.close()
    return {
        **{f"{kind}_to_first_audio_on_the_wire_ms": summary(values) | {"all": values}
           for kind, values in results.items()},
        **{f"{kind}_first_pause_ms": summary(values) | {"all": values} for kind, values in pauses.items()},
        "server_first_audio_ms": server_histogram(delta, "avatar_time_to_first_audio_seconds"),
    }


async def wire_phase(target: Target, sessions_wanted: int, seconds: float) -> dict[str, Any]:
    """How much later video packets arrive than the audio of the same media time, per session, with
    `sessions_wanted` sessions talking (no decoding)."""
    async with talking_sessions(target, decode=False) as sessions:
        for _ in range(sessions_wanted):
            await sessions.add()
        await asyncio.sleep(seconds)
        offsets = [round(wire_av_offset_ms(c.wire["audio"].arrivals, c.wire["video"].arrivals), 2)
                   for c in sessions.clients]
    return {"sessions": sessions_wanted, "seconds": seconds, "video_after_audio_ms": summary(offsets),
            "per_session_ms": offsets}


PHASES: dict[str, Callable[[Target, argparse.Namespace], Any]] = {
    "latency": lambda target, args: latency_phase(target),
    "av": lambda target, args: av_phase(target, args.av_repeats),
    "interrupt": lambda target, args: interrupt_phase(target, args.interrupts),
    "steady": lambda target, args: steady_phase(target, args.sessions, args.seconds, args),
    "sweep": lambda target, args: sweep_phase(target, args.sweep_max, args.seconds, args),
    "stream": lambda target, args: stream_phase(target),
    "wire": lambda target, args: wire_phase(target, args.sessions, args.seconds),
}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with target_for(args) as target:
        health = wait_healthy(target.base)
        results: dict[str, Any] = {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "server": {k: health.get(k) for k in ("tts", "face_driver", "face_backend", "default_avatar")},
            "target": asdict(target) | {"token": None},
        }
        for phase in args.phases.split(","):
            print(f"phase {phase} ...", flush=True)
            results[phase] = await PHASES[phase](target, args)
            print(json.dumps(results[phase], indent=1), flush=True)
        results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"1/5/15-minute load average before {results['load_average_before']}, after {results['load_average_after']}")
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="measure a running server at this ws:// URL instead of starting one")
    p.add_argument("--token", help="access token of the server at --url")
    p.add_argument("--pid", type=int, help="process id of the server at --url, for CPU and memory")
    p.add_argument("--phases", default="latency,av,interrupt,steady", help=f"comma list of {', '.join(PHASES)}")
    p.add_argument("--sessions", type=int, default=1, help="talking sessions in the steady phase")
    p.add_argument("--seconds", type=float, default=20.0, help="measurement window of steady and sweep steps")
    p.add_argument("--sweep-max", type=int, default=10, help="most sessions the sweep tries")
    p.add_argument("--sweep-from", type=int, default=1, help="sessions of the sweep's first step")
    p.add_argument("--no-decode", action="store_true",
                   help="steady and sweep clients stamp RTP arrivals and count frames without decoding")
    p.add_argument("--talk-share", type=float, default=1.0,
                   help="share of the time each steady/sweep session talks (1: without pause)")
    p.add_argument("--av-repeats", type=int, default=2, help="rounds of the vowel list in the A/V phase")
    p.add_argument("--interrupts", type=int, default=5)
    p.add_argument("--max-sessions", type=int, default=32, help="--max-sessions of the server this tool starts")
    p.add_argument("--server-arg", action="append", default=[], help="extra argument for the server it starts")
    p.add_argument("--server-log", type=Path, help="write the started server's log here")
    p.add_argument("--json", type=Path, help="also write every result to this file")
    args = p.parse_args(argv)
    unknown = set(args.phases.split(",")) - set(PHASES)
    if unknown:
        p.error(f"unknown phases: {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    results = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if "sweep" in results:
        sweep = results["sweep"]
        print(f"largest N holding 25 fps with <= 1% late frames: {sweep['largest_sessions_at_25fps']} "
              f"(server's late-frame count); {sweep['largest_sessions_at_25fps_at_client']} (as the clients saw it)")
    return results


if __name__ == "__main__":
    main()
