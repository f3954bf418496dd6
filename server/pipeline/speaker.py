"""Text to speech on a session's timeline: the chunker, the synthesis worker, placement, mouth animation, and
the speech_started / word / speech_ended events, with interrupts that drop everything queued or playing. Speech
audio made elsewhere (an uploaded file) takes the same way from placement on.

One worker per session synthesizes phrases in order, as fast as the engine allows, while earlier phrases play:
each new phrase lands right after the previous one, so there is no gap beyond the voice's own pauses. A phrase
comes from its engine in pieces (TTSEngine.stream), each placed as it arrives: an engine that streams starts a long
phrase playing before it has made the end.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, replace

import numpy as np

from engines.resample import StreamResampler
from engines.timebase import TIMELINE_RATE, seconds_to_samples
from engines.tts.base import Speech, Timed
from engines.tts.registry import VoiceRegistry
from server.config import Limits, TextSettings
from server.pipeline import events
from server.pipeline.chunker import Chunker
from server.pipeline.errors import ProtocolError, quote
from server.pipeline.performer import Performer, Stage
from server.pipeline.tasks import cancel_tasks
from server.pipeline.utterance import PlacedWord, Utterance

# Leading silence of an utterance's first phrase above this level counts as speech.
_SILENCE_LEVEL = 200


@dataclass(frozen=True)
class _Job:
    """A phrase to synthesize, or speech audio ready to place; neither: the utterance is complete."""

    utterance: Utterance
    phrase: str | None = None
    speech: Speech | None = None


class Speaker(Performer):
    """The text performer: makes the avatar speak streamed text."""

    def __init__(
        self,
        stage: Stage,
        *,
        voices: VoiceRegistry,
        voice: str,
        tts_pool: Executor,
        limits: Limits,
        text_settings: TextSettings,
    ) -> None:
        super().__init__(stage)
        self.voice = voice
        self._voices = voices
        self._tts_pool = tts_pool
        self._limits = limits
        self._text_settings = text_settings
        self._lead = seconds_to_samples(stage.settings.speech_lead_s)
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._idle = asyncio.Event()  # set while the worker waits for work
        self._chunker = Chunker(text_settings)
        self._open: Utterance | None = None
        self._active: list[Utterance] = []
        self._count = 0
        self._queued_chars = 0
        self._queued_audio = 0
        self._workers = [asyncio.create_task(self._work())]  # one at a time; a list for cancel_tasks

    @property
    def speaking(self) -> bool:
        """An utterance is open, queued or playing."""
        return bool(self._active)

    @property
    def pending_chars(self) -> int:
        """Text received and not yet synthesized."""
        return len(self._chunker.pending) + self._queued_chars

    @property
    def pending_audio(self) -> int:
        """Timeline samples of speech not yet played: audio waiting to be placed, and placed audio ahead."""
        return self._queued_audio + self._media.timeline.buffered(self._media.played)

    def text(self, delta: str, id: str | None = None, flush: bool = False) -> None:
        """A delta of the current utterance (a new one if none is open); ProtocolError too_large when the text
        waiting to be spoken would pass the limit (nothing of it is taken then)."""
        if self.pending_chars + len(delta) > self._limits.max_pending_chars:
            raise ProtocolError(
                "too_large", f"more than {self._limits.max_pending_chars} characters of text would be pending"
            )
        utterance = self._open or self._open_utterance(id)
        utterance.text += delta
        for phrase in self._chunker.push(delta):
            self._enqueue(utterance, phrase)
        if flush:
            self.flush()

    def audio(self, pcm: np.ndarray, id: str | None = None) -> None:
        """Speech audio (int16 mono at the timeline's rate) as the next piece of the current utterance (a new one
        if none is open), spoken after any text before it; the face network animates it like synthesized speech.
        Long audio should come in pieces of a second or so, so that each piece's mouth is ready as it plays. The
        caller bounds how much it hands over (`pending_audio`)."""
        utterance = self._open or self._open_utterance(id)
        for phrase in self._chunker.flush():
            self._enqueue(utterance, phrase)
        self._queued_audio += len(pcm)
        self._put(_Job(utterance, speech=Speech(np.asarray(pcm, dtype=np.int16), TIMELINE_RATE)))

    def flush(self) -> None:
        utterance = self._open
        if utterance is None:
            return
        for phrase in self._chunker.flush():
            self._enqueue(utterance, phrase)
        self._put(_Job(utterance))
        self._open = None

    def interrupt(self, received_at: float) -> None:
        """Drop every queued and playing utterance; audio fades out at the playback position."""
        for worker in self._workers:
            worker.cancel()
        self._queue = asyncio.Queue()
        self._queued_chars = 0
        self._queued_audio = 0
        self._chunker = Chunker(self._text_settings)
        self._open = None
        cut, end = self._media.cut(received_at)
        self._animation.reset(end)
        for utterance in list(self._active):
            self._end(utterance, interrupted=True, spoken=utterance.heard_before(cut))
        self._workers = [asyncio.create_task(self._work())]

    async def close(self) -> None:
        await cancel_tasks(self._workers)

    def _open_utterance(self, id: str | None) -> Utterance:
        self._count += 1
        utterance = Utterance(self._count, id, self.voice, asyncio.get_running_loop().time())
        self._open = utterance
        self._active.append(utterance)
        return utterance

    def _enqueue(self, utterance: Utterance, phrase: str) -> None:
        self._queued_chars += len(phrase)
        self._put(_Job(utterance, phrase=phrase))

    def _put(self, job: _Job) -> None:
        self._idle.clear()
        self._queue.put_nowait(job)

    async def synthesized(self) -> None:
        """Wait until every phrase handed out so far is synthesized, placed on the timeline and animated: what
        drives the session in fake or faster-than-real time waits for this before it moves the clock on."""
        await self._idle.wait()

    async def _work(self) -> None:
        while True:
            if self._queue.empty():
                self._idle.set()
            job = await self._queue.get()
            if job.phrase is None and job.speech is None:
                await self._finish(job.utterance)
                continue
            await self._wait_for_room()
            if job.speech is not None:
                self._queued_audio -= len(job.speech.pcm)
                if len(job.speech.pcm):
                    await self._place(job.utterance, job.speech)
            else:
                await self._speak(job.utterance, job.phrase)
                self._queued_chars -= len(job.phrase)

    async def _wait_for_room(self) -> None:
        limit = seconds_to_samples(self._limits.max_buffered_audio_s)
        while self._media.timeline.buffered(self._media.played) > limit:
            await asyncio.sleep(0.1)

    async def _speak(self, utterance: Utterance, phrase: str) -> None:
        """Synthesize the phrase piece by piece (the engine's `stream`) and place each piece as it comes, so a long
        phrase starts playing before its end is synthesized. Each piece is one job of the shared synthesis pool,
        under the TTS deadline: a hung engine costs this phrase (tts_failed), never the pool's other sessions."""
        engine, voice = self._voices.resolve(utterance.voice)
        pieces = _Pieces(engine.stream(phrase, voice))
        loop = asyncio.get_running_loop()
        busy = duration = 0.0
        try:
            while True:
                began = time.perf_counter()
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow the cancellation of an interrupt.
                async with asyncio.timeout(self._limits.tts_timeout_s):
                    speech = await loop.run_in_executor(self._tts_pool, pieces.next)
                busy += time.perf_counter() - began
                if speech is None:
                    break
                duration += speech.duration
                await self._place(utterance, speech)
        except Exception as exc:  # a failing engine costs one phrase, never the session
            reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            self._log.warning("TTS %s failed on %r: %s", engine.name, phrase, reason)
            self._error("tts_failed", f"could not synthesize {quote(phrase)}: {reason}; the phrase was skipped")
        finally:
            if not pieces.done:  # an interrupt, a failure: the engine stops (in the pool: closing may block)
                with contextlib.suppress(RuntimeError):  # a pool already shut down with the server
                    self._tts_pool.submit(pieces.close)
        if duration > 0:
            self._metrics.tts_rtf.observe(busy / duration)

    async def _place(self, utterance: Utterance, speech: Speech) -> None:
        if not len(speech.pcm):  # a stream's last piece may carry only words, timed from the end of its audio
            if utterance.first_sample is not None:
                self._place_words(utterance, speech, self._media.timeline.end, utterance.first_sample)
            return
        skip = _leading_silence(speech.pcm) if utterance.first_sample is None else 0
        pcm = speech.pcm[skip:]
        start = self._media.timeline.place(pcm, self._earliest_start()) - skip
        if utterance.first_sample is None:
            utterance.first_sample = start + skip
            self._cue_start(utterance)
        self._place_words(utterance, speech, start, start + skip)
        await self._animate(start + skip, pcm, speech, skip)

    def _place_words(self, utterance: Utterance, speech: Speech, start: int, earliest: int) -> None:
        for word in speech.words:
            placed = PlacedWord(word.text, start + seconds_to_samples(word.start), start + seconds_to_samples(word.end))
            utterance.words.append(placed)
            self._media.audio_cues.at(max(placed.start, earliest), lambda w=placed: self._word(utterance, w))

    def _earliest_start(self) -> int:
        return max(self._media.played, self._clock.sample_now()) + self._lead

    async def _animate(self, start: int, pcm: np.ndarray, speech: Speech, skip: int) -> None:
        shift = skip / TIMELINE_RATE
        phonemes = [Timed(p.text, max(0.0, p.start - shift), p.end - shift) for p in speech.phonemes if p.end > shift]
        await self._animation.feed(start, pcm, phonemes)

    async def _finish(self, utterance: Utterance) -> None:
        if utterance.first_sample is None:
            self._end(utterance, interrupted=False, spoken="")
            return
        end = self._media.timeline.end
        self._media.timeline.reserve(await self._animation.flush())
        self._media.audio_cues.at(end, lambda: self._end(utterance, interrupted=False, spoken=utterance.full_text()))

    def _cue_start(self, utterance: Utterance) -> None:
        assert utterance.first_sample is not None
        self._media.cue_start(
            utterance.first_sample,
            utterance.received_at,
            lambda: self._emit(events.speech_started(utterance.number, utterance.id)),
        )

    def _word(self, utterance: Utterance, word: PlacedWord) -> None:
        self._emit(
            events.word(
                utterance.number,
                word.text,
                max(0, utterance.ms_from_start(word.start)),
                max(0, utterance.ms_from_start(word.end)),
            )
        )

    def _end(self, utterance: Utterance, *, interrupted: bool, spoken: str) -> None:
        if utterance.ended:
            return
        utterance.ended = True
        self._active.remove(utterance)
        self._emit(events.speech_ended(utterance.number, utterance.id, interrupted, spoken))

    def _error(self, code: str, message: str) -> None:
        self._metrics.errors.labels(code).inc()
        self._emit(events.error(code, message))


class _Pieces:
    """An engine's stream of one phrase, read one piece at a time in the synthesis pool's threads and resampled
    to the timeline's rate as one signal (no seam between pieces)."""

    def __init__(self, stream: Iterator[Speech]) -> None:
        self._stream = stream
        self._resampler: StreamResampler | None = None
        self.done = False

    def next(self) -> Speech | None:
        """The next piece at the timeline's rate, or None after the last (blocks: runs in a pool thread)."""
        speech = next(self._stream, None)
        if speech is None:
            self.done = True
            rest = self._resampler.finish() if self._resampler is not None else np.zeros(0, dtype=np.int16)
            self._resampler = None
            return Speech(rest, TIMELINE_RATE, [], []) if len(rest) else None
        if self._resampler is None:
            self._resampler = StreamResampler(speech.sample_rate, TIMELINE_RATE)
        return replace(speech, pcm=self._resampler.feed(speech.pcm), sample_rate=TIMELINE_RATE)

    def close(self) -> None:
        """Stop the engine's synthesis; a no-op while a pool thread still runs `next` (a hung engine)."""
        with contextlib.suppress(ValueError):  # "generator already executing"
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()


def _leading_silence(pcm: np.ndarray) -> int:
    """Samples of near-silence before the first sound: trimmed from an utterance's start to save latency."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > _SILENCE_LEVEL)
    if len(loud) == 0:
        return 0
    return max(0, int(loud[0]) - TIMELINE_RATE // 100)
