"""Audio mode: speech synthesized elsewhere, spoken by the avatar. An agent framework's TTS (Pipecat's audio
frames, LiveKit's) hands over its audio as it makes it; the avatar speaks it on the session clock with the mouth
the face network computes from it, as text mode speaks what its own TTS made.

Audio is placed on the timeline as it comes, right after what is still to play. Each frame's mouth needs the face
network's look-ahead of audio before the frame is drawn, so speech that starts with little queued ahead of it
waits until that much of it has come (or its utterance is complete, or as long has passed): audio that comes in a
burst, as most TTS engines make it, starts speech_lead_s after it arrives, and audio that trickles in at
real-time speed still gets every mouth frame in time. When no more audio comes, the face stream is given silence
before the last frames are due, so the end of a sentence is animated even while the utterance stays open; audio
that comes after all the same follows on without a gap (the face stream then starts afresh at it).
"""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import numpy as np

from engines.timebase import (
    AUDIO_FRAME_SAMPLES,
    SAMPLES_PER_FRAME,
    TIMELINE_RATE,
    seconds_to_samples,
)
from server.config import AudioInputSettings
from server.pipeline import events
from server.pipeline.performer import Performer, Stage


@dataclass
class _Utterance:
    number: int
    id: str | None
    received_at: float  # event-loop time its first audio arrived
    first_sample: int | None = None
    ended: bool = False


@dataclass(frozen=True)
class _Audio:
    utterance: _Utterance
    pcm: np.ndarray


@dataclass(frozen=True)
class _End:
    utterance: _Utterance


@dataclass(frozen=True)
class _Mark:
    future: asyncio.Future[int]


class _Wake:
    """A deadline passed: held audio is placed, or the face is given its look-ahead of silence."""


class SpeechSpans:
    """Which timeline samples hold speech audio (not the silence between): kept from a little before the playback
    position on, for outputs that send audio only while the avatar speaks."""

    def __init__(self, keep_samples: int) -> None:
        self._keep = keep_samples
        self._spans: list[list[int]] = []

    def add(self, start: int, end: int) -> None:
        if self._spans and self._spans[-1][1] == start:
            self._spans[-1][1] = end
        else:
            self._spans.append([start, end])

    def cut(self, at: int) -> None:
        self._spans = [[start, min(end, at)] for start, end in self._spans if start < at]

    def forget_before(self, sample: int) -> None:
        self._spans = [span for span in self._spans if span[1] > sample - self._keep]

    def overlaps(self, start: int, end: int) -> bool:
        return any(s < end and start < e for s, e in self._spans)


class AudioSpeaker(Performer):
    """The audio performer: speaks speech audio handed over by the caller; takes the place of the Speaker."""

    def __init__(self, stage: Stage, *, settings: AudioInputSettings) -> None:
        super().__init__(stage)
        media_settings = stage.settings
        self._lead = seconds_to_samples(media_settings.speech_lead_s)
        self._hold = self._animation.lookahead_samples + seconds_to_samples(settings.audio_margin_s)
        # Session seconds before a frame is due by which its look-ahead must have been fed to the face.
        self._feed_ahead_s = media_settings.render_ahead_s + settings.face_deadline_s
        # Spans are kept as long as a subscriber's queue may still hold their audio.
        self.speech = SpeechSpans(keep_samples=(media_settings.audio_queue_frames + 1) * AUDIO_FRAME_SAMPLES)
        self._count = 0
        self._open: _Utterance | None = None
        self._active: list[_Utterance] = []
        self._held: list[np.ndarray] = []
        self._held_for: _Utterance | None = None
        self._held_since = 0.0  # session time the first held audio arrived
        self._marks: list[asyncio.Future[int]] = []  # waiting for the held audio to be placed
        self._speech_end = 0  # timeline sample after the last speech placed
        self._fed_to_end = True  # the face has had its look-ahead past the last speech placed
        self._queue: asyncio.Queue = asyncio.Queue()
        self._idle = asyncio.Event()
        self._timer: asyncio.Task | None = None
        self._worker = asyncio.create_task(self._work())

    @property
    def speaking(self) -> bool:
        """An utterance is open or its audio is still playing."""
        return bool(self._active)

    def audio(self, pcm48: np.ndarray, id: str | None = None) -> None:
        """The next piece of the current utterance's audio (a new utterance if none is open): int16 mono at
        48 kHz. `id` names a new utterance in its events."""
        pcm = np.asarray(pcm48, dtype=np.int16).reshape(-1)
        if not len(pcm):
            return
        utterance = self._open or self._open_utterance(id)
        self._put(_Audio(utterance, pcm))

    def flush(self) -> None:
        """The current utterance is complete: its last frames are animated and speech_ended follows its audio."""
        if self._open is not None:
            self._put(_End(self._open))
            self._open = None

    def mark(self) -> asyncio.Future[int]:
        """The timeline sample after all the audio handed over so far, once it is placed: an output that holds
        something back until that audio has played (the end of an agent's turn) waits for this. An interrupt
        resolves it with where the audio stopped."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._put(_Mark(future))
        return future

    def interrupt(self, received_at: float) -> None:
        """Drop every queued and playing utterance; audio fades out at the playback position."""
        self._worker.cancel()
        self._cancel_timer()
        pending, self._queue = self._queue, asyncio.Queue()
        marks = self._marks + [job.future for job in _drain(pending) if isinstance(job, _Mark)]
        self._held, self._held_for, self._marks, self._open = [], None, [], None
        cut, end = self._media.cut(received_at)
        self._animation.reset(end)
        self._fed_to_end = True
        self._speech_end = min(self._speech_end, end)
        self.speech.cut(end)
        for utterance in list(self._active):
            self._end(utterance, interrupted=True)
        for future in marks:
            _resolve(future, end)
        self._worker = asyncio.create_task(self._work())

    async def placed(self) -> None:
        """Wait until everything handed over so far is placed and animated (or held for its look-ahead): what
        drives the session in fake time waits for this before it moves the clock on."""
        await self._idle.wait()

    async def close(self) -> None:
        self._worker.cancel()
        self._cancel_timer()
        await asyncio.gather(self._worker, return_exceptions=True)

    def _open_utterance(self, id: str | None) -> _Utterance:
        self._count += 1
        utterance = _Utterance(self._count, id, asyncio.get_running_loop().time())
        self._open = utterance
        self._active.append(utterance)
        return utterance

    def _put(self, job: object) -> None:
        self._idle.clear()
        self._queue.put_nowait(job)

    async def _work(self) -> None:
        while True:
            if self._queue.empty():
                self._idle.set()
            job = await self._queue.get()
            if isinstance(job, _Audio):
                await self._take(job)
            elif isinstance(job, _End):
                await self._place_held()
                await self._finish(job.utterance)
            elif isinstance(job, _Mark):
                if self._held:
                    self._marks.append(job.future)
                else:
                    _resolve(job.future, self._speech_end)
            else:
                await self._on_wake()
            self._schedule_wake()

    def _earliest_start(self) -> int:
        return max(self._media.played, self._clock.sample_now()) + self._lead

    async def _take(self, job: _Audio) -> None:
        if self._held_for is not job.utterance:
            await self._place_held()
            self._held_for, self._held_since = job.utterance, self._clock.now()
        self._held.append(job.pcm)
        earliest = self._earliest_start()
        queued_ahead = max(self._media.timeline.end, earliest) - earliest
        if queued_ahead + sum(map(len, self._held)) >= self._hold:
            await self._place_held()

    async def _place_held(self) -> None:
        if not self._held:
            return
        utterance, pcm = self._held_for, np.concatenate(self._held)
        self._held, self._held_for = [], None
        start = self._media.timeline.place(pcm, self._earliest_start())
        if utterance.first_sample is None:
            utterance.first_sample = start
            self._cue_start(utterance)
        self._speech_end = start + len(pcm)
        self.speech.forget_before(self._media.played)
        self.speech.add(start, self._speech_end)
        for future in self._marks:
            _resolve(future, self._speech_end)
        self._marks = []
        self._fed_to_end = False
        await self._animation.feed(start, pcm)

    async def _feed_silence(self) -> None:
        """Give the face its look-ahead of silence after the last speech, so that its last frames come out."""
        await self._animation.flush()
        self._fed_to_end = True

    async def _finish(self, utterance: _Utterance) -> None:
        if utterance.first_sample is None:
            self._end(utterance, interrupted=False)
            return
        if not self._fed_to_end:
            await self._feed_silence()
        self._media.audio_cues.at(self._speech_end, lambda: self._end(utterance, interrupted=False))

    def _hold_deadline(self) -> float | None:
        return self._held_since + self._hold / TIMELINE_RATE if self._held else None

    def _silence_deadline(self) -> float | None:
        """Session time by which the face must have the silence after the last speech, if no more comes."""
        if self._fed_to_end:
            return None
        centre_offset = SAMPLES_PER_FRAME // 2
        first_missing = (self._speech_end - self._animation.lookahead_samples - centre_offset) // SAMPLES_PER_FRAME + 1
        return first_missing * SAMPLES_PER_FRAME / TIMELINE_RATE - self._feed_ahead_s

    async def _on_wake(self) -> None:
        now = self._clock.now()
        hold = self._hold_deadline()
        if hold is not None and now >= hold:
            self._log.debug("speech audio comes slower than real time: it starts before the face's look-ahead came")
            await self._place_held()
        silence = self._silence_deadline()
        if silence is not None and now >= silence and not self._held:
            await self._feed_silence()

    def _schedule_wake(self) -> None:
        self._cancel_timer()
        deadlines = [d for d in (self._hold_deadline(), self._silence_deadline()) if d is not None]
        if deadlines:
            self._timer = asyncio.create_task(self._wake_at(min(deadlines)))

    async def _wake_at(self, seconds: float) -> None:
        await self._clock.sleep_until(seconds)
        self._timer = None
        self._put(_Wake())

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _cue_start(self, utterance: _Utterance) -> None:
        assert utterance.first_sample is not None
        self._media.cue_start(
            utterance.first_sample,
            utterance.received_at,
            lambda: self._emit(events.speech_started(utterance.number, utterance.id)),
        )

    def _end(self, utterance: _Utterance, *, interrupted: bool) -> None:
        if utterance.ended:
            return
        utterance.ended = True
        self._active.remove(utterance)
        self._emit(events.speech_ended(utterance.number, utterance.id, interrupted, ""))  # audio brings no text


def _drain(queue: asyncio.Queue) -> list:
    jobs = []
    with contextlib.suppress(asyncio.QueueEmpty):
        while True:
            jobs.append(queue.get_nowait())
    return jobs


def _resolve(future: asyncio.Future[int], sample: int) -> None:
    if not future.done():
        future.set_result(sample)
