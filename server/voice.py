"""Voice mode: the client's own voice comes in, and goes back out with a face that speaks it.

The incoming audio is placed on the session timeline a fixed delay after it arrives: the face network's look-ahead
plus what it takes to have each video frame's mouth ready before the frame is rendered. The outgoing audio track
then plays it back at exactly that delay, and the video shows the mouth the network computed for it, so lips and
voice leave the server together. Voice activity (server/vad.py) drives speech_started / speech_ended and lets the
face rest in silence.

The outgoing tracks run on the session clock and never wait for the client: lost packets leave silence on the
timeline, packets that come too late push the voice later until the next pause (where the extra delay is shed),
and a stalled or ended client track is replaced by silence fed to the face (so its last word's frames come out
and the mouth closes) while the avatar idles.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from engines.face.base import FaceStream
from engines.timebase import SAMPLES_PER_FRAME, TIMELINE_RATE, FrameParams, frame_center
from engines.vad.base import Transition
from engines.vad.registry import create_vad
from server.clock import MediaClock
from server.metrics import Metrics
from server.protocol import ProtocolError
from server.speaker import FADE_SAMPLES, MAX_FACE_GAP
from server.stage import Stage
from server.timeline import seconds_to_samples
from server.tracks import RENDER_AHEAD_S

# What a video frame's mouth needs beyond the network's look-ahead: the frame is shown from its start, half a
# frame before its centre, and it is rendered RENDER_AHEAD_S before that.
FACE_DEADLINE = SAMPLES_PER_FRAME // 2 + seconds_to_samples(RENDER_AHEAD_S)
# Slack for inference time and arrival jitter on top of that: the fixed delay is look-ahead + FACE_DEADLINE + this.
PROCESSING_MARGIN_S = 0.025
# Extra delay (after a stall, or from a client clock running fast) is shed in pauses once it exceeds SHED_ABOVE;
# speech is skipped only beyond MAX_BACKLOG_S of it.
SHED_ABOVE = seconds_to_samples(0.01)
MAX_BACKLOG_S = 0.3
# How often the pipeline looks for audio that never came (to feed silence in its place).
POLL_S = 0.02
# The mouth follows the network from a little before speech starts until a little after the last voiced sound;
# the rest of the time the face rests (the renderer keeps it alive).
MOUTH_LEAD = seconds_to_samples(0.06)
MOUTH_TAIL = seconds_to_samples(0.1)

Emit = Callable[[dict[str, Any]], None]
log = logging.getLogger(__name__)


def incoming_voice(pc: RTCPeerConnection) -> MediaStreamTrack:
    """The client's audio track of an answered voice-mode offer, or ProtocolError bad_offer when it sends none."""
    for transceiver in pc.getTransceivers():
        if (
            transceiver.kind == "audio"
            and transceiver.receiver.track is not None
            and transceiver.currentDirection == "sendrecv"
        ):
            _shorten_jitter_buffer(transceiver.receiver)
            return transceiver.receiver.track
    raise ProtocolError("bad_offer", "voice mode needs an audio transceiver the client sends on (sendrecv)")


def _shorten_jitter_buffer(receiver: RTCRtpReceiver) -> None:
    """Release each incoming audio packet as soon as the next one arrives, instead of four packets (80 ms) later.

    aiortc holds audio back by a fixed four packets and has no setting for it. Voice mode places packets by their
    timestamps and its fixed delay already absorbs arrival jitter, so that hold would only add 60 ms to the delay
    the user sees. The receiver keeps its buffer in a private attribute; if a future aiortc renames it, the
    default buffer stays and a warning says so."""
    attribute = "_RTCRtpReceiver__jitter_buffer"
    if not hasattr(receiver, attribute):
        log.warning("aiortc's receiver has no %s: the incoming voice keeps its 80 ms jitter buffer", attribute)
        return
    setattr(receiver, attribute, JitterBuffer(capacity=16, prefetch=0))


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


class VoiceMirror:
    """One session's voice-mode pipeline; takes the place of the text-mode Speaker."""

    def __init__(
        self,
        *,
        stage: Stage,
        clock: MediaClock,
        track: MediaStreamTrack,
        face: FaceStream,
        metrics: Metrics,
        emit: Emit,
        log: logging.LoggerAdapter,
        margin_s: float = PROCESSING_MARGIN_S,
    ) -> None:
        self._stage = stage
        self._clock = clock
        self._face = face
        self._metrics = metrics
        self._emit = emit
        self._log = log
        self.delay = face.lookahead_samples + FACE_DEADLINE + seconds_to_samples(margin_s)
        self._max_lead = self.delay + seconds_to_samples(MAX_BACKLOG_S)
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=TIMELINE_RATE)
        self._vad = create_vad("energy")
        self._end = 0  # timeline sample up to which audio (or silence) went to the face and the VAD
        self._offset: int | None = None  # timeline sample minus the incoming pts, at 48 kHz
        self._spurts: list[_Spurt] = []
        self._count = 0
        self._mutes: list[_Mute] = []
        self._frames: asyncio.Queue[av.AudioFrame] = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._receive(track)), asyncio.create_task(self._run())]
        for task in self._tasks:
            task.add_done_callback(self._report_failure)

    def interrupt(self, received_at: float) -> None:
        """Silence the mirrored voice now, and keep it silent until the current spurt of speech ends."""
        cut = self._stage.played
        end = self._stage.timeline.cut(cut, FADE_SAMPLES)
        self._stage.audio_cues.drop_from(cut)
        self._stage.video_cues.drop_from(cut)
        self._stage.mouth.clear_from(cut // SAMPLES_PER_FRAME)
        for spurt in [s for s in self._spurts if not s.ended]:
            if spurt.started:
                self._finish(spurt, interrupted=True)
            spurt.ended = True  # never heard: no events at all
        self._mutes.append(_Mute(cut, None if self._vad.speaking else self._end))
        loop = asyncio.get_running_loop()
        self._stage.audio_cues.at(end, lambda: self._metrics.interrupt_latency.observe(loop.time() - received_at))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _report_failure(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._log.error("voice pipeline failed; the avatar idles", exc_info=task.exception())

    async def _receive(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                self._frames.put_nowait(await track.recv())
        self._log.info("the client's voice track ended; the avatar idles")

    async def _run(self) -> None:
        while True:
            frame = None
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that arrives as
            # its timeout fires, and this loop would then outlive the session.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    frame = await self._frames.get()
            if frame is not None:
                await self._take(frame)
            await self._fill_silence()

    async def _take(self, frame: av.AudioFrame) -> None:
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)] or [_EMPTY])
        if len(pcm) == 0:
            return
        pts = None if frame.pts is None else round(frame.pts * frame.time_base * TIMELINE_RATE)
        start = self._position(pts, pcm)
        if start is None:
            return
        if not self._muted(start):
            self._stage.timeline.place(pcm, start)
        await self._feed(start, pcm)

    def _position(self, pts: int | None, pcm: np.ndarray) -> int | None:
        """Where incoming audio goes on the timeline, or None to skip it.

        Packets follow each other by their timestamps (a lost packet leaves its hole) at the fixed delay. A packet
        that comes after its slot was played (the client or the network stalled) moves the voice later instead of
        being lost; the extra delay is then shed in the next pause, where a quiet packet is skipped and the next
        one takes its place. Beyond MAX_BACKLOG_S of extra delay even speech is skipped, so the delay stays bounded.
        """
        now = self._clock.sample_now()
        expected = None if pts is None or self._offset is None else pts + self._offset
        if expected is None or expected < self._stage.played:
            expected = now + self.delay
        start = max(expected, self._end)
        lead = start - now
        quiet = not self._vad.speaking and self._vad.is_quiet(pcm)
        if lead > self._max_lead or (lead > self.delay + SHED_ABOVE and quiet):
            if pts is not None:
                self._offset = start - pts - len(pcm)
            return None
        if pts is not None:
            self._offset = start - pts
        return start

    async def _fill_silence(self) -> None:
        """Feed silence where no voice came in time to be played, so that the VAD and the face never wait on a
        stalled client: speech_ended comes and the last frames of a cut-off word come out."""
        behind = self._stage.played - self._end
        if behind > 0:
            await self._feed(self._end, np.zeros(behind, dtype=np.int16))

    async def _feed(self, start: int, pcm: np.ndarray) -> None:
        """Hand audio at `start` (never before what was fed already) to the VAD and the face network."""
        for transition in self._vad.push(start, pcm):
            self._on_voice(transition)
        gap, end = start - self._end, start + len(pcm)
        if gap > MAX_FACE_GAP:
            self._face.reset(start)
        elif gap > 0:
            pcm = np.concatenate([np.zeros(gap, dtype=np.int16), pcm])
        self._end = end
        self._show(await self._face.push(pcm))

    def _show(self, frames: FrameParams) -> None:
        """Schedule the network's mouth where the voice is active and not interrupted; elsewhere the face rests."""
        for offset in range(len(frames)):
            frame = frames.first_frame + offset
            if self._mouth_moves(frame_center(frame)):
                self._stage.mouth.add(FrameParams(frame, frames.params[offset : offset + 1]))

    def _mouth_moves(self, sample: int) -> bool:
        if self._muted(sample):
            return False
        for spurt in self._spurts:
            last = spurt.last_voiced if spurt.last_voiced is not None else self._vad.last_voiced
            if spurt.start - MOUTH_LEAD <= sample <= last + MOUTH_TAIL:
                return True
        return False

    def _muted(self, sample: int) -> bool:
        return any(mute.covers(sample) for mute in self._mutes)

    def _on_voice(self, transition: Transition) -> None:
        self._forget_before(self._stage.played - MAX_FACE_GAP)
        if transition.speaking:
            self._count += 1
            spurt = _Spurt(self._count, transition.sample)
            self._spurts.append(spurt)
            self._stage.audio_cues.at(spurt.start, lambda: self._start(spurt))
            return
        for mute in self._mutes:
            if mute.end is None:
                mute.end = transition.sample
        for spurt in self._spurts:
            if spurt.last_voiced is None:
                spurt.last_voiced = transition.last_voiced
                if not spurt.ended:
                    self._stage.audio_cues.at(transition.sample, lambda s=spurt: self._finish(s, interrupted=False))

    def _forget_before(self, sample: int) -> None:
        """Drop finished spurts and mutes that lie wholly in the past (the lists stay short)."""
        self._spurts = [s for s in self._spurts if s.last_voiced is None or s.last_voiced + MOUTH_TAIL >= sample]
        self._mutes = [m for m in self._mutes if m.end is None or m.end >= sample]

    def _start(self, spurt: _Spurt) -> None:
        if spurt.ended:
            return
        spurt.started = True
        self._emit({"type": "speech_started", "utterance": spurt.number, "id": None})

    def _finish(self, spurt: _Spurt, *, interrupted: bool) -> None:
        if spurt.ended:
            return
        spurt.ended = True
        self._emit(
            {
                "type": "speech_ended",
                "utterance": spurt.number,
                "id": None,
                "interrupted": interrupted,
                "spoken_text": "",  # a live voice has no text
            }
        )


_EMPTY = np.zeros(0, dtype=np.int16)
