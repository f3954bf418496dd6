"""LLM bridge benchmark: from the LLM's first token to the answer's first audio at the client, with a local
OpenAI-compatible endpoint (harness/fake_llm.py) streaming each answer at a fixed rate.

The endpoint runs in this process and the server in a child process (`--llm-url` pointing at the endpoint); one
Python client (real WebRTC on loopback) sends `chat` messages one at a time and waits for each answer to be spoken.
Both ends of the measure are on this process's monotonic clock: when the endpoint wrote the first content token,
and when the first 20 ms audio frame with speech arrived at the client. Each answer is also sent whole as a `say`
right after, so the same load shows what the bridge adds to plain text (mostly the tokens of the first phrase).

    .venv/bin/python -m tools.bench_llm [--tokens-per-s 50] [--append docs/benchmarks.md]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from pathlib import Path
from typing import Any

from client import AvatarClient
from harness.fake_llm import Answer, FakeLlm, tokens
from harness.measure import first_speech, summary
from harness.server_process import ServerProcess
from tools.bench_common import SHORT_PHRASES, publish

# After each opening phrase, about two seconds more of tokens at 50/s: speech must start long before the end.
FOLLOW_UP = (
    "I will go through the details one by one, so that nothing important gets lost on the way. First, the "
    "overview of what you asked; then the steps, each with what it needs; and last, what to watch out for."
)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def measure(tokens_per_s: float) -> dict[str, Any]:
    async with FakeLlm() as llm:
        # Starting the server blocks this loop until /healthz answers; the endpoint is only asked after that.
        with ServerProcess(["--llm-url", llm.url, "--llm-model", "bench"]) as server:
            client = await AvatarClient.connect(f"ws://127.0.0.1:{server.port}/ws")
            try:
                await client.wait_for_media(timeout=30)
                await asyncio.sleep(1.0)
                return await rounds(client, llm, tokens_per_s)
            finally:
                await client.close()


async def rounds(client: AvatarClient, llm: FakeLlm, tokens_per_s: float) -> dict[str, Any]:
    to_audio, stream_s, sent_to_audio, say_to_audio = [], [], [], []
    load_before = os.getloadavg()[0]
    for number, opening in enumerate(SHORT_PHRASES, 1):
        answer = f"{opening} {FOLLOW_UP}"
        llm.script(Answer(answer, tokens_per_s=tokens_per_s))
        sent = time.monotonic()
        await client.chat(f"Question {number}?", id=f"q{number}")
        await client.wait_for("reply_ended", timeout=60)
        await client.wait_for("speech_ended", timeout=60)
        await asyncio.sleep(0.4)
        served = llm.served[-1]
        heard = first_speech(client.audio, sent)
        said = time.monotonic()
        await client.say(answer)
        await client.wait_for("speech_ended", timeout=60)
        await asyncio.sleep(0.4)
        heard_say = first_speech(client.audio, said)
        if heard is None or heard_say is None:
            raise RuntimeError(f"no speech heard for answer {number}")
        to_audio.append(ms(heard.arrival - served.token_times[0]))
        sent_to_audio.append(ms(heard.arrival - sent))
        say_to_audio.append(ms(heard_say.arrival - said))
        stream_s.append(ms(served.token_times[-1] - served.token_times[0]))
    return {
        "answers": len(SHORT_PHRASES),
        "tokens_per_answer": summary([len(tokens(f"{o} {FOLLOW_UP}")) for o in SHORT_PHRASES]),
        "first_token_to_first_audio_ms": summary(to_audio),
        "chat_sent_to_first_audio_ms": summary(sent_to_audio),
        "first_to_last_token_ms": summary(stream_s),
        "say_to_first_audio_ms": summary(say_to_audio),
        "values_ms": to_audio,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def row(name: str, stats: dict[str, float]) -> str:
    return f"| {name} | {stats['median']:.0f} ms | {stats['p95']:.0f} ms | {stats['max']:.0f} ms | {stats['n']} |"


def markdown(result: dict[str, Any], tokens_per_s: float, command: str) -> str:
    lines = [
        "",
        "",
        "## LLM bridge",
        "",
        f"Command: `{command}`. Machine: 2-core CPU dev box, no GPU ({platform.machine()}). 1-minute load average "
        f"{result['load_before']:.1f} before and {result['load_after']:.1f} after the run (other work shares the "
        "cores). A local OpenAI-compatible endpoint (harness/fake_llm.py, in the benchmark's process) streams each "
        f"answer at {tokens_per_s:g} tokens/s (tokens of at most 4 characters, "
        f"median {result['tokens_per_answer']['median']:.0f} per answer); the server (child process, piper:joe, face "
        "network on ONNX Runtime, CPU) speaks it as it streams; one Python client over WebRTC on loopback. "
        "First audio = arrival of the first 20 ms frame with speech, including the client's 80 ms aiortc receive "
        "buffer.",
        "",
        "| measure | median | p95 | max | n |",
        "| --- | --- | --- | --- | --- |",
        row("LLM's first token -> first audio at the client", result["first_token_to_first_audio_ms"]),
        row("`chat` sent -> first audio at the client", result["chat_sent_to_first_audio_ms"]),
        row("LLM's first -> last token (the answer still streaming)", result["first_to_last_token_ms"]),
        row("control: the same answer as one `say` -> first audio", result["say_to_first_audio_ms"]),
        "",
        f"Each answer, first token -> first audio: {', '.join(f'{v:.0f}' for v in result['values_ms'])} ms.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens-per-s", type=float, default=50.0)
    parser.add_argument("--append", type=Path, help="append the results as a markdown section to this file")
    args = parser.parse_args()
    result = asyncio.run(measure(args.tokens_per_s))
    command = f"python -m tools.bench_llm --tokens-per-s {args.tokens_per_s:g}"
    publish(markdown(result, args.tokens_per_s, command), args.append)


if __name__ == "__main__":
    main()
