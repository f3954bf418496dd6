"""The avatar as a LiveKit Agents `VideoGenerator`, for LiveKit's `AvatarRunner`: the agent's speech comes in
through `push_audio` (audio frames of a segment, then `AudioSegmentEnd`), and the iterator gives the avatar's
video frames at 25 fps, always (idle motion while silent), with the speech's audio frames in between while it
plays and `AudioSegmentEnd` after a segment's last one, all paced in real time by the session pipeline (audio
mode). `clear_buffer` (the agent was interrupted) stops the audio at once and lets the mouth ease to rest.

The runner counts the audio frames it is given as played: only speech is given (not the silence around it), so
the playback position it reports back to the agent is what the user heard of the segment.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents.voice.avatar import AudioSegmentEnd, AvatarOptions, VideoGenerator

from engines.timebase import AUDIO_FRAME_SAMPLES, FPS, TIMELINE_RATE
from integrations.media import media_units
from integrations.runtime import AvatarRuntime


class AvatarVideoGenerator(VideoGenerator):
    """`runtime`: the engines to run on (built here when not given; share one between the avatars of a process).
    `avatar`: a committed avatar or a bundle folder (default: the runtime's)."""

    def __init__(self, *, runtime: AvatarRuntime | None = None, avatar: str | None = None) -> None:
        self._owns_runtime = runtime is None
        self._runtime = runtime or AvatarRuntime()
        self._bundle = self._runtime.avatar(avatar)
        self._session = self._runtime.open(self._bundle)
        self._subscription = self._session.subscribe()
        self._speaker = self._session.audio_speaker
        self._resampler: rtc.AudioResampler | None = None
        self._resampling: tuple[int, int] | None = None  # (rate, channels) the resampler was made for
        self._ends: deque[asyncio.Future[int]] = deque()  # segment ends, due once their audio has gone out
        self._in_segment = False  # audio came since the last segment end or clear_buffer
        self._skip_before = 0  # audio made before the last clear_buffer is never given out
        self._av_sync: rtc.AVSynchronizer | None = None

    @property
    def options(self) -> AvatarOptions:
        """What the AvatarRunner publishes: the avatar's picture size, 25 fps, 48 kHz mono."""
        width, height = self._bundle.size
        return AvatarOptions(
            video_width=width, video_height=height, video_fps=FPS, audio_sample_rate=TIMELINE_RATE, audio_channels=1
        )

    def use_av_sync(self, av_sync: rtc.AVSynchronizer) -> None:
        """Let clear_buffer also drop what the runner's synchronizer has queued (`runner.av_sync`)."""
        self._av_sync = av_sync

    async def push_audio(self, frame: rtc.AudioFrame | AudioSegmentEnd) -> None:
        if isinstance(frame, AudioSegmentEnd):
            if self._resampler is not None:
                self._speak(self._resampler.flush())
            self._session.flush()
            if self._in_segment:  # the end of a cleared (or empty) segment is not the runner's to hear
                self._ends.append(self._speaker.mark())
            self._in_segment = False
            return
        self._in_segment = True
        self._speak(self._to_timeline_rate(frame))

    def clear_buffer(self) -> Any:
        """Interrupted: drop the segment's audio; its end is not reported (the runner reports the interruption)."""
        self._session.interrupt(asyncio.get_running_loop().time())
        self._skip_before = self._session.media.timeline.end
        self._ends.clear()
        self._in_segment = False
        self._resampler = self._resampling = None
        return self._av_sync.clear_queue() if self._av_sync is not None else None

    def __aiter__(self) -> AsyncIterator[rtc.VideoFrame | rtc.AudioFrame | AudioSegmentEnd]:
        return self._frames()

    async def aclose(self) -> None:
        self._subscription.close()
        await self._session.close()
        if self._owns_runtime:
            await self._runtime.close()

    def _to_timeline_rate(self, frame: rtc.AudioFrame) -> list[rtc.AudioFrame]:
        if (frame.sample_rate, frame.num_channels) == (TIMELINE_RATE, 1):
            return [frame]
        if self._resampling != (frame.sample_rate, frame.num_channels):
            if self._resampler is not None:
                self._speak(self._resampler.flush())
            self._resampler = rtc.AudioResampler(
                input_rate=frame.sample_rate, output_rate=TIMELINE_RATE, num_channels=frame.num_channels
            )
            self._resampling = (frame.sample_rate, frame.num_channels)
        return self._resampler.push(frame)

    def _speak(self, frames: list[rtc.AudioFrame]) -> None:
        for frame in frames:
            pcm = np.frombuffer(frame.data, dtype=np.int16).reshape(-1, frame.num_channels)
            self._session.audio(pcm.mean(axis=1).astype(np.int16) if frame.num_channels > 1 else pcm[:, 0])

    async def _frames(self) -> AsyncIterator[rtc.VideoFrame | rtc.AudioFrame | AudioSegmentEnd]:
        self._session.start()
        width, height = self._bundle.size
        async for unit in media_units(self._subscription):
            yield rtc.VideoFrame(width, height, rtc.VideoBufferType.I420, unit.video.yuv.tobytes())
            for audio in unit.audio:
                start = audio.index * AUDIO_FRAME_SAMPLES
                end = start + AUDIO_FRAME_SAMPLES
                if start >= self._skip_before and self._speaker.speech.overlaps(start, end):
                    yield rtc.AudioFrame(audio.pcm.tobytes(), TIMELINE_RATE, 1, AUDIO_FRAME_SAMPLES)
                while self._ends and self._ends[0].done() and self._ends[0].result() <= end:
                    self._ends.popleft()
                    yield AudioSegmentEnd()
