"""File output (`{"file": "name.mp4"}`): an MP4 recording of the broadcast (its H.264 and AAC as encoded, not
encoded again) in the server's recordings folder, served by name at `GET /v1/recordings/<name>`.

The recording is written under a hidden working name and appears under its own name only once finalized (on
`DELETE` or at shutdown): the index is written and moved to the front (`faststart`), so a browser can play it
while it downloads. A name is a plain file name: anything with a path, `..` or an unusual character is refused.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import av

from server.pipeline.errors import quote
from server.pipeline.session import SessionPipeline
from server.transports.base import Output, OutputStatus
from server.transports.encoder import BroadcastEncoder
from server.transports.mux import Muxer
from server.transports.packets import PacketSubscription
from server.transports.requests import OutputContext, bad_output, text_field
from server.transports.worker import Worker

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}\.mp4")
MP4_OPTIONS = {"movflags": "+faststart"}


def recording_name(name: str) -> str:
    """`name` if it is a valid recording name, else ProtocolError bad_output."""
    if "/" in name or "\\" in name or ".." in name:
        raise bad_output(f"a recording is named by a plain file name, without a path or '..': {quote(name)}")
    if not NAME.fullmatch(name):
        raise bad_output(
            f"a recording name is letters, digits, '.', '_' or '-' (at most 124), ending in .mp4: {quote(name)}"
        )
    return name


def working_path(path: Path) -> Path:
    """Where a recording is written until it is finalized: a hidden name no request can ask for."""
    return path.with_name(f".{path.name}.part")


class FileOutput(Output):
    kind = "file"

    def __init__(self, path: Path, encoder: BroadcastEncoder, log: logging.LoggerAdapter, url: str | None = None) -> None:
        self.path = path
        self._url = url
        self._encoder = encoder
        self._log = log
        self._worker = Worker("record")
        self._muxer: Muxer | None = None
        self._packets: PacketSubscription | None = None
        self._task: asyncio.Task | None = None
        self._state = "connecting"
        self._error: str | None = None
        self._claimed = False
        self.frames_sent = 0

    @classmethod
    def from_request(cls, spec: Mapping[str, Any], context: OutputContext) -> FileOutput:
        name = recording_name(text_field(spec, "file", required=True))
        folder = context.config.broadcast.recordings
        if folder is None:
            raise bad_output("this server keeps no recordings (start it with --recordings DIR)")
        path = Path(folder) / name
        if path.exists() or working_path(path).exists():
            raise bad_output(f"a recording named {quote(name)} exists or is being made; choose another name")
        return cls(path, context.encoder, context.log, url=f"/v1/recordings/{name}")

    async def start(self, pipeline: SessionPipeline) -> None:
        self._packets = self._encoder.subscribe()
        self._task = asyncio.create_task(self._run())

    def status(self) -> OutputStatus:
        return OutputStatus(self.kind, self._url or str(self.path), self._state, self.frames_sent, 0, self._error)

    async def _run(self) -> None:
        try:
            await self._worker.call(self._open)
            self._state = "live"
            while True:
                self.frames_sent += await self._worker.call(self._muxer.write, await self._packets.batch())
        except (av.error.FFmpegError, OSError) as exc:  # a full disk, a vanished folder: this recording ends
            self._state, self._error = "failed", exc.strerror or str(exc)
            self._log.error("recording %s failed: %s", self.path.name, self._error)

    def _open(self) -> None:
        """Take the working name (failing if another broadcast took it first) and open the MP4 there."""
        working = working_path(self.path)
        working.parent.mkdir(parents=True, exist_ok=True)
        working.touch(exist_ok=False)
        self._claimed = True
        encoder = self._encoder
        self._muxer = Muxer(str(working), "mp4", encoder.video_stream, encoder.audio_stream, MP4_OPTIONS)

    async def close(self) -> None:
        """Write what is queued, finalize the MP4 and give it its name."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            await self._worker.call(self._finish, self._packets.drain())
            self._packets.close()
        self._worker.shutdown()
        self._task = None

    def _finish(self, last: list) -> None:
        muxer, self._muxer = self._muxer, None
        working = working_path(self.path)
        try:
            if muxer is not None:
                if self._state == "live":
                    self.frames_sent += muxer.write(last)
                muxer.close()
        except (av.error.FFmpegError, OSError) as exc:
            self._state, self._error = "failed", exc.strerror or str(exc)
            self._log.error("recording %s could not be finalized: %s", self.path.name, self._error)
            self.frames_sent = 0
        if not self._claimed:
            return
        if self.frames_sent:
            working.rename(self.path)
            self._log.info("recording %s finalized: %d frames", self.path.name, self.frames_sent)
        else:
            working.unlink(missing_ok=True)
