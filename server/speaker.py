"""Text to speech on a session's timeline: the chunker, the synthesis worker, placement, mouth animation, and
the speech_started / word / speech_ended events, with interrupts that drop everything queued or playing.

One worker per session synthesizes phrases in order, as fast as the engine allows, while earlier phrases play:
each new phrase lands right after the previous one, so there is no gap beyond the voice's own pauses.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from engines.face.base import FaceStream
from engines.resample import resample
from engines.timebase import SAMPLES_PER_FRAME, TIMELINE_RATE
from engines.tts.base import Speech, Timed
from engines.tts.registry import VoiceRegistry
from server.chunker import Chunker
from server.clock import MediaClock
from server.config import Limits
from server.metrics import Metrics
from server.protocol import quote
from server.stage import Stage
from server.timeline import seconds_to_samples
from server.utterance import PlacedWord, Utterance

# An interrupt fades the audio out over this many samples (5 ms): no click.
FADE_SAMPLES = TIMELINE_RATE // 200
# Silence up to this long between two pieces of speech is fed to the face stream (context for the network);
# a longer one restarts the stream at the new speech.
MAX_FACE_GAP = TIMELINE_RATE // 2
# Leading silence of an utterance's first phrase above this level counts as speech.
_SILENCE_LEVEL = 200

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class _Job:
    utterance: Utterance
    phrase: str | None  # None: the utterance is complete


class Speaker:
    def __init__(
        self,
        *,
        stage: Stage,
        clock: MediaClock,
        voices: VoiceRegistry,
        voice: str,
        face: FaceStream,
        tts_pool: Executor,
        metrics: Metrics,
        limits: Limits,
        lead_s: float,
        emit: Emit,
        log: logging.LoggerAdapter,
    ) -> None:
        self.voice = voice
        self._stage = stage
        self._clock = clock
        self._voices = voices
        self._face = face
        self._tts_pool = tts_pool
        self._metrics = metrics
        self._limits = limits
        self._lead = seconds_to_samples(lead_s)
        self._emit = emit
        self._log = log
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._chunker = Chunker()
        self._open: Utterance | None = None
        self._active: list[Utterance] = []
        self._count = 0
        self._queued_chars = 0
        self._face_pos = 0
        self._worker = asyncio.create_task(self._work())

    @property
    def pending_chars(self) -> int:
        """Text received and not yet synthesized."""
        return len(self._chunker.pending) + self._queued_chars

    def text(self, delta: str, id: str | None = None, flush: bool = False) -> None:
        utterance = self._open or self._open_utterance(id)
        utterance.text += delta
        for phrase in self._chunker.push(delta):
            self._enqueue(utterance, phrase)
        if flush:
            self.flush()

    def flush(self) -> None:
        utterance = self._open
        if utterance is None:
            return
        for phrase in self._chunker.flush():
            self._enqueue(utterance, phrase)
        self._queue.put_nowait(_Job(utterance, None))
        self._open = None

    def interrupt(self, received_at: float) -> None:
        """Drop every queued and playing utterance; audio fades out at the playback position."""
        self._worker.cancel()
        self._queue = asyncio.Queue()
        self._queued_chars = 0
        self._chunker = Chunker()
        self._open = None
        cut = self._stage.played
        end = self._stage.timeline.cut(cut, FADE_SAMPLES)
        self._stage.audio_cues.drop_from(cut)
        self._stage.video_cues.drop_from(cut)
        self._stage.mouth.clear_from(cut // SAMPLES_PER_FRAME)
        self._face.reset(end)
        self._face_pos = end
        for utterance in list(self._active):
            self._end(utterance, interrupted=True, spoken=utterance.heard_before(cut))
        loop = asyncio.get_running_loop()
        self._stage.audio_cues.at(end, lambda: self._metrics.interrupt_latency.observe(loop.time() - received_at))
        self._worker = asyncio.create_task(self._work())

    async def close(self) -> None:
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)

    def _open_utterance(self, id: str | None) -> Utterance:
        self._count += 1
        utterance = Utterance(self._count, id, self.voice, asyncio.get_running_loop().time())
        self._open = utterance
        self._active.append(utterance)
        return utterance

    def _enqueue(self, utterance: Utterance, phrase: str) -> None:
        self._queued_chars += len(phrase)
        self._queue.put_nowait(_Job(utterance, phrase))

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            if job.phrase is None:
                await self._finish(job.utterance)
                continue
            await self._wait_for_room()
            speech = await self._synthesize(job.utterance, job.phrase)
            self._queued_chars -= len(job.phrase)
            if speech is not None and len(speech.pcm):
                await self._place(job.utterance, speech)

    async def _wait_for_room(self) -> None:
        limit = seconds_to_samples(self._limits.max_buffered_audio_s)
        while self._stage.timeline.buffered(self._stage.played) > limit:
            await asyncio.sleep(0.1)

    async def _synthesize(self, utterance: Utterance, phrase: str) -> Speech | None:
        """The phrase's speech, already at the timeline's rate: resampling runs in the worker thread too, so the
        event loop that paces the tracks never waits on it."""
        engine, voice = self._voices.resolve(utterance.voice)
        began = time.perf_counter()
        loop = asyncio.get_running_loop()

        def synthesize() -> Speech:
            speech = engine.synthesize(phrase, voice)
            pcm = resample(speech.pcm, speech.sample_rate, TIMELINE_RATE)
            return replace(speech, pcm=pcm, sample_rate=TIMELINE_RATE)

        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow the cancellation of an interrupt.
            async with asyncio.timeout(self._limits.tts_timeout_s):
                speech = await loop.run_in_executor(self._tts_pool, synthesize)
        except Exception as exc:  # a failing engine costs one phrase, never the session
            reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            self._log.warning("TTS %s failed on %r: %s", engine.name, phrase, reason)
            self._error("tts_failed", f"could not synthesize {quote(phrase)}: {reason}; the phrase was skipped")
            return None
        if speech.duration > 0:
            self._metrics.tts_rtf.observe((time.perf_counter() - began) / speech.duration)
        return speech

    async def _place(self, utterance: Utterance, speech: Speech) -> None:
        skip = _leading_silence(speech.pcm) if utterance.first_sample is None else 0
        pcm = speech.pcm[skip:]
        start = self._stage.timeline.place(pcm, self._earliest_start()) - skip
        if utterance.first_sample is None:
            utterance.first_sample = start + skip
            self._cue_start(utterance)
        for word in speech.words:
            placed = PlacedWord(word.text, start + seconds_to_samples(word.start), start + seconds_to_samples(word.end))
            utterance.words.append(placed)
            self._stage.audio_cues.at(max(placed.start, start + skip), lambda w=placed: self._word(utterance, w))
        await self._animate(start + skip, pcm, speech, skip)

    def _earliest_start(self) -> int:
        return max(self._stage.played, self._clock.sample_now()) + self._lead

    async def _animate(self, start: int, pcm: np.ndarray, speech: Speech, skip: int) -> None:
        gap = start - self._face_pos
        if gap < 0 or gap > MAX_FACE_GAP:
            self._face.reset(start)
        elif gap:
            self._stage.mouth.add(await self._face.push(np.zeros(gap, dtype=np.int16)))
        self._face_pos = start + len(pcm)
        shift = skip / TIMELINE_RATE
        phonemes = [Timed(p.text, max(0.0, p.start - shift), p.end - shift) for p in speech.phonemes if p.end > shift]
        self._stage.mouth.add(await self._face.push(pcm, phonemes))

    async def _finish(self, utterance: Utterance) -> None:
        if utterance.first_sample is None:
            self._end(utterance, interrupted=False, spoken="")
            return
        end = self._stage.timeline.end
        self._stage.mouth.add(await self._face.flush())
        self._face_pos += self._face.lookahead_samples
        self._stage.timeline.reserve(self._face_pos)
        self._stage.audio_cues.at(end, lambda: self._end(utterance, interrupted=False, spoken=utterance.full_text()))

    def _cue_start(self, utterance: Utterance) -> None:
        loop = asyncio.get_running_loop()
        assert utterance.first_sample is not None

        def started() -> None:
            self._metrics.first_audio.observe(loop.time() - utterance.received_at)
            self._emit({"type": "speech_started", "utterance": utterance.number, "id": utterance.id})

        self._stage.audio_cues.at(utterance.first_sample, started)
        self._stage.video_cues.at(
            utterance.first_sample, lambda: self._metrics.first_frame.observe(loop.time() - utterance.received_at)
        )

    def _word(self, utterance: Utterance, word: PlacedWord) -> None:
        self._emit(
            {
                "type": "word",
                "utterance": utterance.number,
                "text": word.text,
                "start_ms": max(0, utterance.ms_from_start(word.start)),
                "end_ms": max(0, utterance.ms_from_start(word.end)),
            }
        )

    def _end(self, utterance: Utterance, *, interrupted: bool, spoken: str) -> None:
        if utterance.ended:
            return
        utterance.ended = True
        self._active.remove(utterance)
        self._emit(
            {
                "type": "speech_ended",
                "utterance": utterance.number,
                "id": utterance.id,
                "interrupted": interrupted,
                "spoken_text": spoken,
            }
        )

    def _error(self, code: str, message: str) -> None:
        self._metrics.errors.labels(code).inc()
        self._emit({"type": "error", "code": code, "message": message})


def _leading_silence(pcm: np.ndarray) -> int:
    """Samples of near-silence before the first sound: trimmed from an utterance's start to save latency."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > _SILENCE_LEVEL)
    if len(loud) == 0:
        return 0
    return max(0, int(loud[0]) - TIMELINE_RATE // 100)
