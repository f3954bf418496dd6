"""Memory and CPU of piper synthesis on worker threads, as the server's TTS threads run it: what the longest phrase
(the chunker's --phrase-max-chars) and the malloc arena limit (--malloc-arenas) cost.

Phrases of `--chars` characters are synthesized `--threads` at a time; reported are the process's CPU seconds
per phrase (not wall time, so other work on the machine matters less), its resident memory afterwards (ONNX
Runtime keeps the high-water mark of its arena) and glibc's view of its heap.

    .venv/bin/python -m tools.bench_allocator --chars 180 --malloc-arenas 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engines.tts.piper_engine import PiperEngine
from harness.server_process import sample_process
from server.allocator import limit_malloc_arenas
from tools.memory_watch import allocator

TEXT = ("The quick brown fox jumps over the lazy dog, and then it runs away into the forest far beyond the hills, "
        "where nobody sees it again until the sun goes down behind the old grey mountains. ") * 4


def run(args: argparse.Namespace) -> dict[str, Any]:
    limit_malloc_arenas(args.malloc_arenas)
    phrase = TEXT[: args.chars].rsplit(" ", 1)[0] + "."
    engine = PiperEngine()
    before = sample_process(os.getpid()).rss_mb
    with ThreadPoolExecutor(args.threads) as pool:
        rounds = []
        for _ in range(args.rounds):
            cpu = time.process_time()
            audio = sum(s.duration for s in pool.map(lambda _: engine.synthesize(phrase), range(args.threads)))
            rounds.append((time.process_time() - cpu) / args.threads)
    return {
        "chars": len(phrase),
        "audio_s_per_phrase": round(audio / args.threads, 2),
        "threads": args.threads,
        "malloc_arenas": args.malloc_arenas,
        "cpu_s_per_phrase_median": round(statistics.median(rounds), 3),
        "rss_mb_loaded": round(before, 1),
        "rss_mb_after": round(sample_process(os.getpid()).rss_mb, 1),
        "heap": allocator(),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chars", type=int, default=180, help="phrase length, cut at a word")
    p.add_argument("--malloc-arenas", type=int, default=2, help="0: glibc's default")
    p.add_argument("--threads", type=int, default=2, help="syntheses at a time")
    p.add_argument("--rounds", type=int, default=6)
    result = run(p.parse_args(argv))
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
