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
from server.transports.base import OutputStatus
from server.transports.destination import DestinationError
from server.transports.encoder import BroadcastEncoder
from server.transports.muxed import MuxedOutput
from server.transports.requests import OutputContext, bad_output, url_field

SCHEMES = ("rtmp", "rtmps")
# A live stream has no duration or size to write back at its end (FFmpeg would try to seek on the network).
FLV_OPTIONS = {"flvflags": "no_duration_filesize"}


def public_url(url: SplitResult) -> str:
    """The URL without what identifies the account: the stream key (last path segment), query and user info."""
    host = url.hostname + (f":{url.port}" if url.port else "")
    return f"{url.scheme}://{host}{url.path.rsplit('/', 1)[0]}/…"


class RtmpOutput(MuxedOutput):
    kind = "rtmp"
    format = "flv"
    options = FLV_OPTIONS

    def __init__(
        self, url: SplitResult, encoder: BroadcastEncoder, settings: BroadcastSettings, log: logging.LoggerAdapter
    ) -> None:
        super().__init__(encoder, settings, log)
        self._url = url.geturl()
        self.public_url = public_url(url)
        self.reconnects = 0

    @classmethod
    def from_request(cls, spec: Mapping[str, Any], context: OutputContext) -> RtmpOutput:
        url = url_field(spec, "rtmp", SCHEMES)
        if len([s for s in url.path.split("/") if s]) < 2:
            raise bad_output(
                f"an RTMP URL names an application and a stream key: rtmp://host/app/key, not {quote(url.geturl())}"
            )
        return cls(url, context.encoder, context.config.broadcast, context.log)

    def status(self) -> OutputStatus:
        return OutputStatus(self.kind, self.public_url, self._state, self.frames_sent, self.reconnects, self._error)

    async def _run(self) -> None:
        delay = self._settings.output_retry_min_s
        while True:
            self._packets.resync()  # every connection starts at a keyframe made for it
            try:
                await self._write_to(self._url)
            except DestinationError as exc:
                self._error = str(exc)
                if self._state == "live":
                    delay = self._settings.output_retry_min_s
            self._state = "retrying"
            self._log.warning("rtmp %s: %s; reconnecting in %.1f s", self.public_url, self._error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.output_retry_max_s)
            self.reconnects += 1

    def _went_live(self) -> None:
        self._log.info("rtmp %s: live", self.public_url)

    async def close(self) -> None:
        failure = await self._end(self._settings.output_timeout_s)
        if failure:
            self._log.warning("rtmp %s: could not end the stream cleanly: %s", self.public_url, failure)
        self._log.info("rtmp %s: ended after %d frames", self.public_url, self.frames_sent)
