"""RTMP output (`{"rtmp": "rtmp://host/app/key"}`): FLV with the broadcast's H.264 and AAC, pushed to a streaming
platform or any RTMP server (tested against nginx-rtmp).

The broadcast never waits for the server. A connection that cannot be made, breaks, or stalls (nothing taken for
`output_timeout_s`) is dropped and made again with exponential backoff, `state` saying `retrying` meanwhile;
every connection starts with a keyframe asked of the encoder for it, its timestamps start near zero, and audio
and video keep the session clock's timing. Closing ends the stream cleanly (FLV trailer, RTMP deleteStream).
Each connection is a child process (server/transports/destination.py), so no server can stall this one.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult

from server.config import BroadcastSettings
from server.pipeline.errors import quote
from server.pipeline.session import SessionPipeline
from server.transports.base import Output, OutputStatus
from server.transports.destination import Destination, DestinationError
from server.transports.encoder import BroadcastEncoder
from server.transports.packets import PacketSubscription
from server.transports.requests import OutputContext, bad_output, url_field

SCHEMES = ("rtmp", "rtmps")
# A live stream has no duration or size to write back at its end (FFmpeg would try to seek on the network).
FLV_OPTIONS = {"flvflags": "no_duration_filesize"}


def public_url(url: SplitResult) -> str:
    """The URL without what identifies the account: the stream key (last path segment), query and user info."""
    host = url.hostname + (f":{url.port}" if url.port else "")
    return f"{url.scheme}://{host}{url.path.rsplit('/', 1)[0]}/…"


class RtmpOutput(Output):
    kind = "rtmp"

    def __init__(
        self, url: SplitResult, encoder: BroadcastEncoder, settings: BroadcastSettings, log: logging.LoggerAdapter
    ) -> None:
        self._url = url.geturl()
        self.public_url = public_url(url)
        self._encoder = encoder
        self._settings = settings
        self._log = log
        self._packets: PacketSubscription | None = None
        self._destination: Destination | None = None
        self._task: asyncio.Task | None = None
        self._state = "connecting"
        self._error: str | None = None
        self.frames_sent = 0
        self.reconnects = 0

    @classmethod
    def from_request(cls, spec: Mapping[str, Any], context: OutputContext) -> RtmpOutput:
        url = url_field(spec, "rtmp", SCHEMES)
        if len([s for s in url.path.split("/") if s]) < 2:
            raise bad_output(
                f"an RTMP URL names an application and a stream key: rtmp://host/app/key, not {quote(url.geturl())}"
            )
        return cls(url, context.encoder, context.config.broadcast, context.log)

    async def start(self, pipeline: SessionPipeline) -> None:
        self._packets = self._encoder.subscribe()
        self._task = asyncio.create_task(self._run())

    def status(self) -> OutputStatus:
        return OutputStatus(self.kind, self.public_url, self._state, self.frames_sent, self.reconnects, self._error)

    async def _run(self) -> None:
        delay = self._settings.retry_min_s
        while True:
            try:
                await self._connection()
            except DestinationError as exc:
                self._error = str(exc)
                if self._state == "live":
                    delay = self._settings.retry_min_s
            self._state = "retrying"
            self._log.warning("rtmp %s: %s; reconnecting in %.1f s", self.public_url, self._error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.retry_max_s)
            self.reconnects += 1

    async def _connection(self) -> None:
        """One connection, from the next keyframe until it fails."""
        packets = self._packets
        packets.resync()
        first = await packets.batch()
        encoder = self._encoder
        destination = await Destination.open(
            "flv", self._url, FLV_OPTIONS, encoder.video_stream, encoder.audio_stream, self._settings.output_timeout_s
        )
        self._destination = destination
        try:
            pending = await destination.write(first)  # frames count as sent once the server has taken them
            while True:
                pending += await destination.write(await packets.batch())
                if destination.live:
                    self.frames_sent, pending = self.frames_sent + pending, 0
                    if self._state != "live":
                        self._state, self._error = "live", None
                        self._log.info("rtmp %s: live", self.public_url)
        except DestinationError:
            self._destination = None
            await destination.abort()
            raise

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        destination, self._destination = self._destination, None
        if destination is not None:
            try:
                await destination.close(self._settings.output_timeout_s)
            except DestinationError as exc:
                self._log.warning("rtmp %s: could not end the stream cleanly: %s", self.public_url, exc)
        if self._packets is not None:
            self._packets.close()
        self._log.info("rtmp %s: ended after %d frames", self.public_url, self.frames_sent)
