"""Voice mode: the client's own voice comes in, and goes back out with a face that speaks it.

The incoming audio is placed on the session timeline a fixed delay after it arrives: the face network's look-ahead
plus what it takes to have each video frame's mouth ready before the frame is rendered. The session's audio then
plays it back at exactly that delay, and the video shows the mouth the network computed for it, so lips and voice
leave the server together. Voice activity (engines/vad) drives speech_started / speech_ended and lets the face
rest in silence.

The session's media runs on its clock and never waits for the client: lost packets leave silence on the
timeline, packets that come too late push the voice later until the next pause (where the extra delay is shed),
and a stalled or ended incoming voice is replaced by silence fed to the face (so its last word's frames come out
and the mouth closes) while the avatar idles. Which transport brings the voice does not matter here: it hands
over `VoiceChunk`s.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from engines.timebase import SAMPLES_PER_FRAME, seconds_to_samples
from engines.vad.base import Transition, VoiceActivityDetector
from server.config import MediaSettings, VoiceSettings
from server.pipeline import events
from server.pipeline.performer import Performer, Stage
from server.pipeline.tasks import cancel_tasks


@dataclass(frozen=True)
class VoiceChunk:
    """Incoming voice: int16 mono at 48 kHz, and its timestamp in 48 kHz samples of the sender's clock (None when
    the sender gives none)."""

    pts: int | None
    pcm: np.ndarray


# An incoming voice, as a transport delivers it: chunks in arrival order, ending when the sender's track ends.
AudioInput = AsyncIterator[VoiceChunk]


def voice_delay(lookahead_samples: int, media: MediaSettings, voice: VoiceSettings) -> int:
    """Timeline samples between a piece of voice arriving and its playback: the face network's look-ahead, then
    what a video frame's mouth needs beyond it (the frame is shown from its start, half a frame before its centre,
    and rendered render_ahead_s before that), then slack for inference time and arrival jitter."""
    face_deadline = SAMPLES_PER_FRAME // 2 + seconds_to_samples(media.render_ahead_s)
    return lookahead_samples + face_deadline + seconds_to_samples(voice.processing_margin_s)


@dataclass
class _Spurt:
    """One stretch of voice activity: an utterance of voice mode."""

    number: int
    start: int
    last_voiced: int | None = None  # known once the silence after it is confirmed
    started: bool = False
    ended: bool = False


@dataclass
class _Mute:
    """Timeline samples whose audio and mouth an interrupt removed; open-ended until the voice pauses."""

    start: int
    end: int | None = None

    def covers(self, sample: int) -> bool:
        return self.start <= sample and (self.end is None or sample < self.end)


class VoiceMirror(Performer):
    """The voice-mode performer: the avatar speaks with the client's voice."""

    def __init__(self, stage: Stage, *, voice: AudioInput, vad: VoiceActivityDetector, settings: VoiceSettings) -> None:
        super().__init__(stage)
        self._settings = settings
        self.delay = voice_delay(stage.animation.lookahead_samples, stage.settings, settings)
        self._max_lead = self.delay + seconds_to_samples(settings.max_backlog_s)
        self._shed_above = seconds_to_samples(settings.shed_above_s)
        self._mouth_lead = seconds_to_samples(settings.mouth_lead_s)
        self._mouth_tail = seconds_to_samples(settings.mouth_tail_s)
        self._vad = vad
        self._end = 0  # timeline sample up to which audio (or silence) went to the face and the VAD
        self._offset: int | None = None  # timeline sample minus the incoming pts, at 48 kHz
        self._spurts: list[_Spurt] = []
        self._count = 0
        self._mutes: list[_Mute] = []
        self._chunks: asyncio.Queue[VoiceChunk] = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._receive(voice)), asyncio.create_task(self._run())]
        for task in self._tasks:
            task.add_done_callback(self._report_failure)

    @property
    def speaking(self) -> bool:
        """A spurt of the incoming voice is being played back."""
        return any(spurt.started and not spurt.ended for spurt in self._spurts)

    def interrupt(self, received_at: float) -> None:
        """Silence the mirrored voice now, and keep it silent until the current spurt of speech ends."""
        cut, _ = self._media.cut(received_at)
        for spurt in [s for s in self._spurts if not s.ended]:
            if spurt.started:
                self._finish(spurt, interrupted=True)
            spurt.ended = True  # never heard: no events at all
        self._mutes.append(_Mute(cut, None if self._vad.speaking else self._end))

    async def close(self) -> None:
        await cancel_tasks(self._tasks)

    def _report_failure(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._log.error("voice pipeline failed; the avatar idles", exc_info=task.exception())

    async def _receive(self, voice: AudioInput) -> None:
        async for chunk in voice:
            self._chunks.put_nowait(chunk)
        self._log.info("the client's voice track ended; the avatar idles")

    async def _run(self) -> None:
        while True:
            chunk = None
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that arrives as
            # its timeout fires, and this loop would then outlive the session.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_s):
                    chunk = await self._chunks.get()
            if chunk is not None and len(chunk.pcm):
                await self._take(chunk.pts, chunk.pcm)
            await self._fill_silence()

    async def _take(self, pts: int | None, pcm: np.ndarray) -> None:
        start = self._position(pts, pcm)
        if start is None:
            return
        if not self._muted(start):
            self._media.timeline.place(pcm, start)
        await self._feed(start, pcm)

    def _position(self, pts: int | None, pcm: np.ndarray) -> int | None:
        """Where incoming audio goes on the timeline, or None to skip it.

        Packets follow each other by their timestamps (a lost packet leaves its hole) at the fixed delay. A packet
        that comes after its slot was played (the client or the network stalled) moves the voice later instead of
        being lost; the extra delay is then shed in the next pause, where a quiet packet is skipped and the next
        one takes its place. Beyond max_backlog_s of extra delay even speech is skipped, so the delay stays bounded.
        """
        now = self._clock.sample_now()
        expected = None if pts is None or self._offset is None else pts + self._offset
        if expected is None or expected < self._media.played:
            expected = now + self.delay
        start = max(expected, self._end)
        lead = start - now
        quiet = not self._vad.speaking and self._vad.is_quiet(pcm)
        if lead > self._max_lead or (lead > self.delay + self._shed_above and quiet):
            if pts is not None:
                self._offset = start - pts - len(pcm)
            return None
        if pts is not None:
            self._offset = start - pts
        return start

    async def _fill_silence(self) -> None:
        """Feed silence where no voice came in time to be played, so that the VAD and the face never wait on a
        stalled client: speech_ended comes and the last frames of a cut-off word come out."""
        behind = self._media.played - self._end
        if behind > 0:
            await self._feed(self._end, np.zeros(behind, dtype=np.int16))

    async def _feed(self, start: int, pcm: np.ndarray) -> None:
        """Hand audio at `start` (never before what was fed already) to the VAD and the face network."""
        for transition in self._vad.push(start, pcm):
            self._on_voice(transition)
        self._end = start + len(pcm)
        # The face moves where the voice is active and not interrupted; elsewhere it rests.
        await self._animation.feed(start, pcm, speaks=self._mouth_moves)

    def _mouth_moves(self, sample: int) -> bool:
        if self._muted(sample):
            return False
        for spurt in self._spurts:
            last = spurt.last_voiced if spurt.last_voiced is not None else self._vad.last_voiced
            if spurt.start - self._mouth_lead <= sample <= last + self._mouth_tail:
                return True
        return False

    def _muted(self, sample: int) -> bool:
        return any(mute.covers(sample) for mute in self._mutes)

    def _on_voice(self, transition: Transition) -> None:
        self._forget_before(self._media.played - self._max_face_gap)
        if transition.speaking:
            self._count += 1
            spurt = _Spurt(self._count, transition.sample)
            self._spurts.append(spurt)
            self._media.audio_cues.at(spurt.start, lambda: self._start(spurt))
            return
        for mute in self._mutes:
            if mute.end is None:
                mute.end = transition.sample
        for spurt in self._spurts:
            if spurt.last_voiced is None:
                spurt.last_voiced = transition.last_voiced
                if not spurt.ended:
                    self._media.audio_cues.at(transition.sample, lambda s=spurt: self._finish(s, interrupted=False))

    def _forget_before(self, sample: int) -> None:
        """Drop finished spurts and mutes that lie wholly in the past (the lists stay short)."""
        self._spurts = [s for s in self._spurts if s.last_voiced is None or s.last_voiced + self._mouth_tail >= sample]
        self._mutes = [m for m in self._mutes if m.end is None or m.end >= sample]

    def _start(self, spurt: _Spurt) -> None:
        if spurt.ended:
            return
        spurt.started = True
        self._emit(events.speech_started(spurt.number, None))

    def _finish(self, spurt: _Spurt, *, interrupted: bool) -> None:
        if spurt.ended:
            return
        spurt.ended = True
        self._emit(events.speech_ended(spurt.number, None, interrupted, ""))  # a live voice has no text
