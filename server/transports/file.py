"""File output (`{"file": "name.mp4"}`): an MP4 recording of the broadcast (its H.264 and AAC as encoded, not
encoded again) in the server's recordings folder, served by name at `GET /v1/recordings/<name>`.

The recording is written under a hidden working name and appears under its own name only once finalized (on
`DELETE` or at shutdown): the index is written and moved to the front (`faststart`), so a browser can play it
while it downloads. A name is a plain file name: anything with a path, `..` or an unusual character is refused.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engines.names import BadName, new_entry
from server.config import BroadcastSettings
from server.pipeline.errors import quote
from server.transports.base import OutputStatus
from server.transports.destination import DestinationError
from server.transports.encoder import BroadcastEncoder
from server.transports.muxed import MuxedOutput
from server.transports.requests import OutputContext, bad_output, text_field

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


class FileOutput(MuxedOutput):
    kind = "file"
    format = "mp4"
    options = MP4_OPTIONS

    def __init__(
        self,
        path: Path,
        encoder: BroadcastEncoder,
        settings: BroadcastSettings,
        log: logging.LoggerAdapter,
        url: str | None = None,
    ) -> None:
        super().__init__(encoder, settings, log)
        self.path = path
        self._url = url
        self._claimed = False

    @classmethod
    def from_request(cls, spec: Mapping[str, Any], context: OutputContext) -> FileOutput:
        name = recording_name(text_field(spec, "file", required=True))
        settings = context.config.broadcast
        if settings.recordings is None:
            raise bad_output("this server keeps no recordings (start it with --recordings DIR)")
        try:
            path = new_entry(Path(settings.recordings), name, NAME, "recording")
        except BadName as error:
            raise bad_output(str(error)) from None
        if path.exists() or working_path(path).exists():
            raise bad_output(f"a recording named {quote(name)} exists or is being made; choose another name")
        return cls(path, context.encoder, settings, context.log, url=f"/v1/recordings/{name}")

    def status(self) -> OutputStatus:
        return OutputStatus(self.kind, self._url or str(self.path), self._state, self.frames_sent, 0, self._error)

    def _fail(self, reason: str) -> None:
        self._state, self._error = "failed", reason
        self._log.error("recording %s failed: %s", self.path.name, reason)

    async def _run(self) -> None:
        """Take the working name (failing if another broadcast took it first), then write until closed."""
        working = working_path(self.path)
        try:
            working.parent.mkdir(parents=True, exist_ok=True)
            working.touch(exist_ok=False)
        except OSError as exc:
            self._fail(exc.strerror or str(exc))
            return
        self._claimed = True
        try:
            await self._write_to(str(working))
        except DestinationError as exc:  # a full disk, a vanished folder: this recording ends
            self._fail(str(exc))

    async def close(self) -> None:
        """Write what is queued, finalize the MP4 (index at the front) and give it its name."""
        failure = await self._end(self._settings.finalize_timeout_s)
        if failure:
            self._fail(f"could not be finalized: {failure}")
        if not self._claimed:
            return
        working = working_path(self.path)
        if self._state != "failed" and working.exists() and working.stat().st_size > 0:
            working.rename(self.path)
            self._log.info("recording %s finalized: %d frames", self.path.name, self.frames_sent)
        else:
            working.unlink(missing_ok=True)
