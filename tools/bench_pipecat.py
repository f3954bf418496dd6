"""The avatar as a Pipecat video service in the bot's process (integrations.pipecat.AvatarVideoService), measured in
real Pipecat pipelines with no network: CPU per avatar, and the delay from TTS audio in to picture out.

- delay: for each phrase (piper's joe voice), the time from the TTS frame holding the phrase's first loud sample
  entering the pipeline to the picture carrying that sample (with its 40 ms of audio) leaving the avatar service.
  "burst": the phrase's audio pushed at once in 40 ms frames, as Pipecat's TTS services push a synthesized
  sentence; "real time": one 40 ms frame every 40 ms, as a TTS that streams at real-time speed.
- CPU: the process's CPU time (every thread: face inference, rendering, Pipecat) over wall time, while N avatars,
  each in its own pipeline, talk without pause (or idle), divided by N; and the pictures lost (timestamp gaps).

    .venv/bin/python -m tools.bench_pipecat [--avatars 1 2 3] [--seconds 20] [--append docs/benchmarks.md]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from pathlib import Path

import numpy as np
from pipecat.frames.frames import TTSAudioRawFrame

from harness.pipecat_pipeline import NS, PipecatRun
from harness.speech import chunks, piper_utterance, speech_bounds
from integrations.pipecat import AvatarVideoService
from integrations.runtime import AvatarRuntime
from tools.bench_common import SHORT_PHRASES, publish

FRAME_S = 0.04
LEVEL = 500  # the speech_bounds level: the first sample above it is where the phrase's speech starts


async def phrase_delays(runtime: AvatarRuntime, real_time: bool) -> list[float]:
    run = PipecatRun(AvatarVideoService(runtime=runtime))
    await run.start()
    await asyncio.sleep(1.0)
    entries = []
    for text in SHORT_PHRASES:
        pcm, rate = piper_utterance(text)
        loud_frame = speech_bounds(pcm, LEVEL)[0] // round(rate * FRAME_S)
        if real_time:
            for index, chunk in enumerate(chunks(pcm, round(rate * FRAME_S))):
                if index == loud_frame:
                    entries.append(run.now())
                await run.send(TTSAudioRawFrame(audio=chunk.tobytes(), sample_rate=rate, num_channels=1))
                await asyncio.sleep(FRAME_S)
        else:
            entries.append(await run.say(pcm, rate))
            await asyncio.sleep(len(pcm) / rate)
        await asyncio.sleep(0.8)
    await run.finish()
    out = [(r.at, np.abs(np.frombuffer(r.frame.audio, np.int16)).max()) for r in run.sink.audio()]
    return [next(at for at, peak in out if at >= entry and peak > LEVEL) - entry for entry in entries]


async def cpu_per_avatar(runtime: AvatarRuntime, count: int, talking: bool, seconds: float) -> tuple[float, int]:
    """(CPU share of one core per avatar, pictures lost in all) while `count` avatars talk or idle."""
    runs = [PipecatRun(AvatarVideoService(runtime=runtime)) for _ in range(count)]
    for run in runs:
        await run.start()
    pcm, rate = piper_utterance("Sure, I can help with that. Let me check a few things and come back to you.")

    async def talk(run: PipecatRun) -> None:
        while True:
            await run.say(pcm, rate)
            await asyncio.sleep(len(pcm) / rate + 0.2)

    talkers = [asyncio.create_task(talk(run)) for run in runs] if talking else []
    await asyncio.sleep(2.0)
    began_cpu, began = time.process_time(), time.monotonic()
    marks = [len(run.sink.images()) for run in runs]
    await asyncio.sleep(seconds)
    share = (time.process_time() - began_cpu) / (time.monotonic() - began) / count
    lost = 0
    for run, mark in zip(runs, marks):
        pts = np.array([r.frame.pts for r in run.sink.images()[mark:]]) / NS
        lost += int(np.sum(np.round(np.diff(pts) / FRAME_S) - 1))
    for task in talkers:
        task.cancel()
    await asyncio.gather(*talkers, return_exceptions=True)
    for run in runs:
        await run.finish()
    return share, lost


def ms(values: list[float]) -> str:
    return f"{np.median(values) * 1000:.0f} / {np.percentile(values, 95) * 1000:.0f}"


async def main(avatars: list[int], seconds: float) -> str:
    load_before = os.getloadavg()[0]
    runtime = AvatarRuntime()
    for text in SHORT_PHRASES:  # synthesize before measuring
        piper_utterance(text)
    burst = await phrase_delays(runtime, real_time=False)
    streamed = await phrase_delays(runtime, real_time=True)
    rows = []
    for count in avatars:
        for talking in (True, False):
            share, lost = await cpu_per_avatar(runtime, count, talking, seconds)
            rows.append(f"| {count} | {'talking' if talking else 'idle'} | {share * 100:.0f} % | {lost} |")
    await runtime.close()
    media = runtime.config.media
    return "\n".join([
        "",
        "## Pipecat, avatar in the bot's process",
        "",
        f"Command: `python -m tools.bench_pipecat --avatars {' '.join(map(str, avatars))} --seconds {seconds:g}`. "
        f"Machine: 2-core CPU dev box, no GPU ({platform.machine()}). 1-minute load average {load_before:.1f} "
        f"before and {os.getloadavg()[0]:.1f} after the run.",
        "Real Pipecat 1.14 pipelines (PipelineWorker, no transport) around AvatarVideoService; face network on ONNX "
        "Runtime (CPU), warp renderer, astronaut 512x512, pictures converted to RGB for Pipecat.",
        "",
        "Delay from the TTS frame holding a phrase's first loud sample entering the pipeline to the picture "
        f"carrying it leaving the avatar service, {len(SHORT_PHRASES)} phrases of piper:joe:",
        "",
        "| TTS audio arrives | delay median / p95 (ms) |",
        "| --- | --- |",
        f"| in a burst (whole phrase at once, 40 ms frames) | {ms(burst)} |",
        f"| at real-time speed (one 40 ms frame every 40 ms) | {ms(streamed)} |",
        "",
        f"(Audio mode places speech speech_lead_s = {media.speech_lead_s * 1000:.0f} ms ahead of playback, and "
        "a picture leaves once its 40 ms of audio is made; audio that trickles in waits for the face network's "
        "look-ahead and audio_margin_s first.)",
        "",
        f"CPU per avatar over {seconds:g} s (process CPU time of every thread / wall time / avatars; 100 % = one "
        "core), talking without pause or idle:",
        "",
        "| avatars | state | CPU per avatar | pictures lost |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
    ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--avatars", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--append", type=Path, default=None)
    args = parser.parse_args()
    publish(asyncio.run(main(args.avatars, args.seconds)), args.append)
