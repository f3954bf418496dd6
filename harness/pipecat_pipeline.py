"""A real Pipecat pipeline around an avatar service, with no network: frames go in at its start as a TTS service
would push them, and a sink at its end records every frame that comes out, with the pipeline clock's time."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
from pipecat.frames.frames import (
    EndFrame,
    Frame,
    OutputImageRawFrame,
    SpeechOutputAudioRawFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from harness.speech import chunks

NS = 1_000_000_000


@dataclass(frozen=True)
class Received:
    at: float  # pipeline clock, seconds
    frame: Frame


class Sink(FrameProcessor):
    """Records what reaches the end of the pipeline."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Received] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            self.received.append(Received(self.get_clock().get_time() / NS, frame))
        await self.push_frame(frame, direction)

    def of(self, kind: type) -> list[Received]:
        return [r for r in self.received if isinstance(r.frame, kind)]

    def images(self) -> list[Received]:
        return self.of(OutputImageRawFrame)

    def audio(self) -> list[Received]:
        return self.of(SpeechOutputAudioRawFrame)


class PipecatRun:
    """The service between a source (the worker's queue) and a Sink, running until `finish`."""

    def __init__(self, service: FrameProcessor) -> None:
        self.sink = Sink()
        self.worker = PipelineWorker(
            Pipeline([service, self.sink]), params=PipelineParams(), cancel_on_idle_timeout=False
        )
        self.runner = WorkerRunner()
        self._started = asyncio.Event()
        self.worker.event_handler("on_pipeline_started")(self._on_started)
        self._task: asyncio.Task | None = None

    async def _on_started(self, worker: PipelineWorker, frame: Frame) -> None:
        self._started.set()

    async def start(self) -> None:
        await self.runner.add_workers(self.worker)
        self._task = asyncio.create_task(self.runner.run())
        await asyncio.wait_for(self._started.wait(), 30)

    def now(self) -> float:
        return self.sink.get_clock().get_time() / NS

    async def send(self, frame: Frame) -> None:
        await self.worker.queue_frame(frame)

    async def say(self, pcm: np.ndarray, rate: int, chunk_s: float = 0.04, context_id: str = "turn") -> float:
        """Push one TTS turn the way Pipecat's TTS services do: started, the audio in small frames as fast as it
        comes, stopped. Returns the pipeline time its first audio went in."""
        await self.send(TTSStartedFrame(context_id=context_id))
        sent_at = self.now()
        for chunk in chunks(pcm, round(rate * chunk_s)):
            await self.send(TTSAudioRawFrame(audio=chunk.tobytes(), sample_rate=rate, num_channels=1, context_id=context_id))
        await self.send(TTSStoppedFrame(context_id=context_id))
        return sent_at

    async def finish(self) -> None:
        await self.send(EndFrame())
        await asyncio.wait_for(self._task, 30)
