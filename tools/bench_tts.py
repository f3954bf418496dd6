"""Time to audio and real-time factor of each TTS engine, for the short first phrases that set the latency.

Synthesis is not streamed within a phrase, so a phrase's first sample exists when `synthesize` returns: time to
audio is that call's duration. Each engine is built (and warmed up) first, and its build time is reported too.

    .venv/bin/python -m tools.bench_tts [--append docs/benchmarks.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from engines.tts.registry import VoiceRegistry
from tools.bench_common import SHORT_PHRASES, publish

ENGLISH = SHORT_PHRASES
MANDARIN = ["你好！", "今天天气很好。", "请稍等一下。", "谢谢你的耐心。", "我可以帮你。",
            "早上好，大家好。", "这是个好问题。", "我们走吧。", "我马上回来。", "这是我找到的。"]
CASES = {"piper:joe": ENGLISH, "espeak:en-us": ENGLISH, "espeak:cmn": MANDARIN}


@dataclass
class Result:
    voice_id: str
    build_s: float
    latencies_s: list[float]
    audio_s: float

    @property
    def real_time_factor(self) -> float:
        return sum(self.latencies_s) / self.audio_s


def measure(voice_id: str, phrases: list[str], build_s: float, registry: VoiceRegistry) -> Result:
    engine, voice = registry.resolve(voice_id)
    latencies, audio = [], 0.0
    for phrase in phrases:
        assert len(phrase) <= 40, phrase
        started = time.perf_counter()
        speech = engine.synthesize(phrase, voice)
        latencies.append(time.perf_counter() - started)
        audio += speech.duration
    return Result(voice_id, build_s, latencies, audio)


def report(results: list[Result], command: str, load: tuple[float, float]) -> str:
    lines = [
        "",
        "## TTS",
        "",
        f"Command: `{command}`. Machine: 2-core CPU dev box, no GPU ({platform.machine()}).",
        f"1-minute load average {load[0]:.1f} before and {load[1]:.1f} after the run (other work shares the cores).",
        "Time to audio = one `synthesize` call for a phrase of <= 40 characters (10 phrases per voice, engines built",
        "and warmed up first); real-time factor = synthesis time / audio time.",
        "",
        "| voice | engine build + warm-up (s) | time to audio median (ms) | max (ms) | real-time factor |",
        "| --- | --- | --- | --- | --- |",
    ]
    for result in results:
        ms = [1000 * value for value in result.latencies_s]
        lines.append(
            f"| {result.voice_id} | {result.build_s:.2f} | {statistics.median(ms):.0f} | {max(ms):.0f} "
            f"| {result.real_time_factor:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--append", type=Path, help="append the results as a markdown section to this file")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    results = []
    for engine_name in ("piper", "espeak"):
        started = time.perf_counter()
        registry = VoiceRegistry([engine_name], default=engine_name)
        build_s = time.perf_counter() - started
        for voice_id, phrases in CASES.items():
            if voice_id.startswith(engine_name + ":"):
                results.append(measure(voice_id, phrases, build_s, registry))
    command = "python -m tools.bench_tts" + (f" --append {args.append}" if args.append else "")
    text = report(results, command, (load_before, os.getloadavg()[0]))
    publish(text, args.append)


if __name__ == "__main__":
    main()
