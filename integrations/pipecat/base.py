"""What both Pipecat avatar services share, in the shape of Pipecat's own (Simli, Tavus, HeyGen): the service sits
after the TTS, takes its `TTSAudioRawFrame`s, and puts out the avatar's video as `OutputImageRawFrame`s together
with the speech as `SpeechOutputAudioRawFrame`s, 25 pictures a second and each picture's 40 ms of audio pushed at
once, paced in real time, so that the output transport plays both as they come and in sync (set its
`video_out_is_live=True`, `video_out_framerate=25` and the avatar's size; `audio_out_10ms_chunks` at most 4).

The TTS hands its audio over faster than real time; the avatar speaks it on its own clock. Every other frame going
downstream is held until the audio handed over before it has gone out, so the output transport and whatever
follows it (the assistant's context) see the end of a turn, its text and the end of the stream where they would
without an avatar. `InterruptionFrame` (and, unless told otherwise, the user starting to speak) drops everything
buffered: the avatar's audio stops at once and its mouth eases to rest.
"""
from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputImageRawFrame,
    SpeechOutputAudioRawFrame,
    StartFrame,
    SystemFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.ai_service import AIService
from pipecat.services.settings import ServiceSettings

from engines.timebase import TIMELINE_RATE
from integrations.held import Held

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Picture:
    """One video frame of the avatar and the audio it shows."""

    rgb: np.ndarray  # height x width x 3, uint8
    pts: float  # seconds on the avatar's clock
    pcm: np.ndarray  # int16 mono at 48 kHz; empty where none came with it


class AvatarServiceBase(AIService):
    """An avatar behind Pipecat's avatar-service shape; subclasses bring the avatar (in this process or remote)."""

    def __init__(self, *, interrupt_on_user_speech: bool = True, **kwargs) -> None:
        kwargs.setdefault("settings", ServiceSettings(model=None))  # an avatar has no model to name
        super().__init__(**kwargs)
        self._interrupt_on_user_speech = interrupt_on_user_speech
        self._resampler = create_stream_resampler()
        self._held: Held[Frame | asyncio.Event] = Held()
        self._emitter: asyncio.Task | None = None
        self._started = False  # the avatar was opened and not yet closed
        self._live = False  # frames go through the avatar (it is open and its pictures flow)

    # What a subclass brings.

    @abstractmethod
    async def open_avatar(self) -> None:
        """Start the avatar; its pictures flow from now on."""

    @abstractmethod
    async def close_avatar(self) -> None:
        """Stop it and release what it holds."""

    @abstractmethod
    def speak(self, pcm48: np.ndarray, context_id: str | None) -> None:
        """The next piece of speech, int16 mono at 48 kHz."""

    @abstractmethod
    def end_utterance(self) -> None:
        """The TTS finished a turn's audio."""

    @abstractmethod
    def interrupt_avatar(self) -> None:
        """Drop everything buffered: silence now, the mouth to rest."""

    @abstractmethod
    def mark(self) -> Callable[[], bool]:
        """A test that turns true once the audio handed over so far has gone out of this service."""

    @abstractmethod
    def pictures(self) -> AsyncIterator[Picture]:
        """The avatar's frames, paced in real time, for as long as it is open."""

    # Pipecat's side.

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        try:
            await self.open_avatar()
        except Exception as error:  # the bot goes on without a face: its TTS audio passes straight through
            await self.push_error(error_msg=f"{self}: the avatar could not start: {error}", exception=error)
            return
        self._started = self._live = True

    async def stop(self, frame: EndFrame) -> None:
        """A graceful end: the audio handed over plays out first."""
        await super().stop(frame)
        if self._live:
            drained = asyncio.Event()
            self._held.hold(drained, self.mark())
            await drained.wait()
        await self._shut()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._shut()

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._shut()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame) or (
            isinstance(frame, UserStartedSpeakingFrame) and self._interrupt_on_user_speech
        ):
            await self._interrupt()
            await self.push_frame(frame, direction)
        elif isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            if self._live:  # pictures go out after the StartFrame, which every processor must see first
                self._emitter = self.create_task(self._emit())
        elif isinstance(frame, (EndFrame, CancelFrame, SystemFrame)) or direction == FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
        elif not self._live:
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSAudioRawFrame):
            await self._take_audio(frame)
        else:
            if isinstance(frame, TTSStoppedFrame):
                tail = await self._resampler.flush()
                if tail:
                    self.speak(np.frombuffer(tail, dtype=np.int16), frame.context_id)
                self.end_utterance()
            self._held.hold(frame, self.mark())

    async def _take_audio(self, frame: TTSAudioRawFrame) -> None:
        pcm = np.frombuffer(frame.audio, dtype=np.int16)
        if frame.num_channels > 1:
            pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
        audio = await self._resampler.resample(pcm.tobytes(), frame.sample_rate, TIMELINE_RATE)
        if audio:
            self.speak(np.frombuffer(audio, dtype=np.int16), frame.context_id)

    async def _interrupt(self) -> None:
        if not self._live:
            return
        self.interrupt_avatar()
        await self._resampler.reset()
        for item in self._held.drop():
            if isinstance(item, asyncio.Event):
                item.set()  # an ending stream does not wait for audio that will never play
            elif not item.interruptible:
                await self.push_frame(item)

    async def _emit(self) -> None:
        async for picture in self.pictures():
            height, width = picture.rgb.shape[:2]
            image = OutputImageRawFrame(image=picture.rgb.tobytes(), size=(width, height), format="RGB")
            image.pts = round(picture.pts * NS_PER_S)
            await self.push_frame(image)
            if len(picture.pcm):
                audio = SpeechOutputAudioRawFrame(audio=picture.pcm.tobytes(), sample_rate=TIMELINE_RATE, num_channels=1)
                audio.pts = image.pts
                await self.push_frame(audio)
            await self._release(self._held.due())
        # The avatar stopped on its own (a remote server went away): what was held goes on, later frames pass.
        self._live = False
        await self._release(self._held.drop())

    async def _release(self, items: list[Frame | asyncio.Event]) -> None:
        for item in items:
            if isinstance(item, asyncio.Event):
                item.set()
            else:
                await self.push_frame(item)

    async def _shut(self) -> None:
        if not self._started:
            return
        self._started = self._live = False
        if self._emitter is not None:
            await self.cancel_task(self._emitter)
            self._emitter = None
        for item in self._held.drop():
            if isinstance(item, asyncio.Event):
                item.set()
        await self.close_avatar()
