"""RTMP output (`{"rtmp": "rtmp://host/app/key"}`): FLV with the broadcast's H.264 and AAC, pushed to a streaming
platform or any RTMP server (tested against nginx-rtmp).

The broadcast never waits for the server. A connection that cannot be made, breaks, or stalls (no write
completes within `output_timeout_s`) is dropped and made again with exponential backoff, `state` saying
`retrying` meanwhile; every connection starts with a keyframe asked of the encoder for it, its timestamps start
near zero and audio and video keep the session clock's timing. Closing ends the stream cleanly (FLV trailer,
RTMP deleteStream).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult

import av

from server.config import BroadcastSettings
from server.pipeline.errors import quote
from server.pipeline.session import SessionPipeline
from server.transports.base import Output, OutputStatus
from server.transports.encoder import BroadcastEncoder
from server.transports.mux import Muxer
from server.transports.native_sockets import ConnectionSockets
from server.transports.packets import PacketSubscription
from server.transports.requests import OutputContext, bad_output, url_field
from server.transports.worker import Worker

SCHEMES = ("rtmp", "rtmps")
DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}
# A live stream has no duration or size to write back at its end (FFmpeg would try to seek on the network).
FLV_OPTIONS = {"flvflags": "no_duration_filesize"}
ERRORS = (av.error.FFmpegError, OSError)


def public_url(url: SplitResult) -> str:
    """The URL without what identifies the account: the stream key (last path segment), query and user info."""
    segments = url.path.split("/")
    host = url.hostname + (f":{url.port}" if url.port else "")
    return f"{url.scheme}://{host}{'/'.join(segments[:-1])}/…"


def _describe(exc: Exception) -> str:
    if isinstance(exc, av.error.FFmpegError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__


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
        self._sockets = ConnectionSockets(url.port or DEFAULT_PORTS[url.scheme.lower()])
        self._worker = Worker("rtmp")
        self._muxer: Muxer | None = None  # set and cleared on the worker thread
        self._packets: PacketSubscription | None = None
        self._tasks: list[asyncio.Task] = []
        self._state = "connecting"
        self._error: str | None = None
        self._stalled = False
        self.frames_sent = 0
        self.reconnects = 0

    @classmethod
    def from_request(cls, spec: Mapping[str, Any], context: OutputContext) -> RtmpOutput:
        url = url_field(spec, "rtmp", SCHEMES)
        if len([s for s in url.path.split("/") if s]) < 2:
            raise bad_output(f"an RTMP URL names an application and a stream key: rtmp://host/app/key, not {quote(url.geturl())}")
        return cls(url, context.encoder, context.config.broadcast, context.log)

    async def start(self, pipeline: SessionPipeline) -> None:
        self._packets = self._encoder.subscribe()
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._watchdog())]

    def status(self) -> OutputStatus:
        return OutputStatus(self.kind, self.public_url, self._state, self.frames_sent, self.reconnects, self._error)

    async def _run(self) -> None:
        delay = self._settings.retry_min_s
        while True:
            try:
                await self._stream()
            except Exception as exc:  # whatever broke this connection, the next one may work
                stalled = self._stalled
                self._stalled = False
                self._error = f"no progress for {self._settings.output_timeout_s:g} s" if stalled else _describe(exc)
                if self._state == "live":
                    delay = self._settings.retry_min_s
                await self._worker.call(self._drop)
            self._state = "retrying"
            self._log.warning("rtmp %s: %s; reconnecting in %.1f s", self.public_url, self._error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.retry_max_s)
            self.reconnects += 1

    async def _stream(self) -> None:
        """One connection: opened with the next keyframe, then every packet until it breaks."""
        packets = self._packets
        packets.resync()
        self.frames_sent += await self._worker.call(self._open, await packets.batch())
        self._state, self._error = "live", None
        self._log.info("rtmp %s: live", self.public_url)
        while True:
            self.frames_sent += await self._worker.call(self._muxer.write, await packets.batch())

    def _open(self, first: list) -> int:
        with self._sockets.connecting():
            encoder = self._encoder
            self._muxer = Muxer(self._url, "flv", encoder.video_stream, encoder.audio_stream, FLV_OPTIONS)
            return self._muxer.write(first)  # the header: connect, handshake, publish

    def _drop(self) -> None:
        """Close the connection (cleanly if it still works)."""
        muxer, self._muxer = self._muxer, None
        if muxer is not None:
            try:
                muxer.close()
            except ERRORS:
                pass
        self._sockets.forget()

    async def _watchdog(self) -> None:
        timeout = self._settings.output_timeout_s
        while True:
            await asyncio.sleep(timeout / 4)
            if self._worker.busy_for() > timeout and self._sockets.shut_down():
                self._stalled = True
                self._log.warning("rtmp %s: no progress for %.0f s, dropping the connection", self.public_url, timeout)

    async def close(self) -> None:
        run, watchdog = self._tasks or (None, None)
        if run is not None:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            await self._worker.call(self._drop)  # the watchdog still unblocks a stalled last write
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)
        if self._packets is not None:
            self._packets.close()
        self._worker.shutdown()
        self._tasks = []
        self._log.info("rtmp %s: ended after %d frames", self.public_url, self.frames_sent)
