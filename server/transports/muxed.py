"""What the outputs that write the broadcast encoder's packets into a container share (RTMP, file): their
subscription to the encoded packets, one destination at a time (server/transports/destination.py), their state,
and a clean end."""
from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod

from server.config import BroadcastSettings
from server.pipeline.session import SessionPipeline
from server.transports.base import Output
from server.transports.destination import Destination, DestinationError
from server.transports.encoder import BroadcastEncoder
from server.transports.packets import PacketSubscription


class MuxedOutput(Output):
    format: str  # the container, by FFmpeg's name
    options: dict[str, str]  # the container's muxer options

    def __init__(self, encoder: BroadcastEncoder, settings: BroadcastSettings, log: logging.LoggerAdapter) -> None:
        self._encoder = encoder
        self._settings = settings
        self._log = log
        self._packets: PacketSubscription | None = None
        self._destination: Destination | None = None
        self._task: asyncio.Task | None = None
        self._state = "connecting"
        self._error: str | None = None
        self.frames_sent = 0

    async def start(self, pipeline: SessionPipeline) -> None:
        self._packets = self._encoder.subscribe()
        self._task = asyncio.create_task(self._run())

    @abstractmethod
    async def _run(self) -> None:
        """The output's life until it is closed: its destinations, one after the other."""

    def _went_live(self) -> None:
        """The destination has taken its first packet."""

    async def _write_to(self, target: str) -> None:
        """One destination, from the next packets on (starting at a keyframe) until it fails: DestinationError,
        with the destination already released. Frames count as sent once the destination has said it is live."""
        first = await self._packets.batch()
        encoder = self._encoder
        destination = await Destination.open(
            self.format, target, self.options, encoder.video_stream, encoder.audio_stream,
            self._settings.output_timeout_s,
        )
        self._destination = destination
        try:
            pending = await destination.write(first)
            while True:
                pending += await destination.write(await self._packets.batch())
                if destination.live:
                    self.frames_sent, pending = self.frames_sent + pending, 0
                    if self._state != "live":
                        self._state, self._error = "live", None
                        self._went_live()
        except DestinationError:
            self._destination = None
            await destination.abort()
            raise

    async def _end(self, timeout_s: float) -> str | None:
        """Stop, write what is queued and close the destination cleanly within `timeout_s`; the reason when
        that failed."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        destination, self._destination = self._destination, None
        failure = None
        if destination is not None:
            try:
                self.frames_sent += await destination.write(self._packets.drain())
                await destination.close(timeout_s)
            except DestinationError as exc:
                failure = str(exc)
        if self._packets is not None:
            self._packets.close()
        return failure
