"""One destination of a broadcast's encoded media (an RTMP connection, an MP4 file), written by a child process
of its own (server/transports/remux.py) so that nothing it waits for can stall the server.

The packets are muxed here into NUT, in memory (microseconds a packet), and piped to the child, which remuxes them
into the destination's container. Timestamps are the session clock's less one origin per destination: the time
of the keyframe it starts at, so a new RTMP connection starts near zero while audio and video keep their timing
exactly. The child that stops taking data (its server stalled), never says it is live, or exits, fails the
destination with the reason; the output then decides what comes next (a new connection, or the end).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from fractions import Fraction

import av

from server.transports import remux
from server.transports.packets import EncodedPacket


class DestinationError(Exception):
    pass


class _Chunks:
    """The file PyAV's NUT muxer writes into: what it wrote since the last `take`."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


class Destination:
    def __init__(self, process: asyncio.subprocess.Process, video, audio, timeout_s: float) -> None:
        self._process = process
        self._timeout_s = timeout_s
        self._chunks = _Chunks()
        self._nut = av.open(self._chunks, "w", format="nut")
        self._streams = {
            "video": self._nut.add_stream_from_template(video, opaque=True),
            "audio": self._nut.add_stream_from_template(audio, opaque=True),
        }
        self._origin: Fraction | None = None
        self._opened_at = asyncio.get_running_loop().time()
        self._live = asyncio.Event()
        self._error: str | None = None
        self._reader = asyncio.create_task(self._read_reports())

    @classmethod
    async def open(
        cls,
        format: str,
        target: str,
        options: dict[str, str],
        video: av.video.stream.VideoStream,
        audio: av.audio.stream.AudioStream,
        timeout_s: float,
    ) -> Destination:
        """Start the child that writes `target`; `video` and `audio` are the encoder's streams (codec parameters)."""
        env = {**os.environ, remux.TARGET: target, remux.FORMAT: format, remux.OPTIONS: json.dumps(options)}
        spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
            sys.executable, "-m", remux.__name__,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            start_new_session=True,  # a Ctrl-C at the terminal is the server's to handle: it ends this cleanly
        ))
        try:
            process = await asyncio.shield(spawn)
        except asyncio.CancelledError:  # the output closed while the child started: it must not outlive this
            process = await spawn
            process.kill()
            await process.wait()
            raise
        return cls(process, video, audio, timeout_s)

    @property
    def live(self) -> bool:
        """The child has written its first packet (for a network destination: it is connected)."""
        return self._live.is_set()

    async def _read_reports(self) -> None:
        async for line in self._process.stdout:
            text = line.decode(errors="replace").strip()
            if text == "live":
                self._live.set()
            elif text.startswith("error: "):
                self._error = text.removeprefix("error: ")

    def _failure(self) -> str:
        return self._error or f"the writer exited with code {self._process.returncode}"

    async def write(self, packets: list[EncodedPacket]) -> int:
        """Send `packets` (the first one sent must be a video keyframe); returns the video frames among them.
        DestinationError when the child is gone, has not said it is live within the timeout, or takes nothing
        for that long."""
        for packet in packets:
            if self._origin is None:
                self._origin = packet.pts * packet.time_base
            offset = round(self._origin / packet.time_base)
            out = av.Packet(packet.data)
            out.pts, out.dts = packet.pts - offset, packet.dts - offset
            out.time_base = packet.time_base
            out.is_keyframe = packet.keyframe
            out.stream = self._streams[packet.kind]
            self._nut.mux(out)
        await self._send(self._chunks.take())
        if not self.live and asyncio.get_running_loop().time() - self._opened_at > self._timeout_s:
            raise DestinationError(self._error or f"no answer within {self._timeout_s:g} s")
        return sum(packet.kind == "video" for packet in packets)

    async def _send(self, data: bytes) -> None:
        if self._process.returncode is not None:
            await self._reader
            raise DestinationError(self._failure())
        try:
            self._process.stdin.write(data)
            async with asyncio.timeout(self._timeout_s):
                await self._process.stdin.drain()
        except TimeoutError:
            raise DestinationError(f"no progress for {self._timeout_s:g} s") from None
        except ConnectionError:
            await self._process.wait()
            await self._reader
            raise DestinationError(self._failure()) from None

    async def close(self, timeout_s: float) -> None:
        """End the destination cleanly: the rest of the stream, then the trailer written by the child (an RTMP
        stream's end, an MP4's index). DestinationError when that fails or takes longer than `timeout_s`."""
        try:
            self._nut.close()
            await self._send(self._chunks.take())
            self._process.stdin.close()
            async with asyncio.timeout(timeout_s):
                await self._process.wait()
                await self._reader
        except TimeoutError:
            raise DestinationError(f"the writer did not finish within {timeout_s:g} s") from None
        finally:
            await self.abort()
        if self._process.returncode != 0:
            raise DestinationError(self._failure())

    async def abort(self) -> None:
        """Stop the child at once (a broken or stalled destination) and release everything."""
        if self._process.returncode is None:
            self._process.kill()
        with contextlib.suppress(ProcessLookupError):
            await self._process.wait()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        with contextlib.suppress(av.error.FFmpegError):
            self._nut.close()
        transport = self._process.stdin.transport if self._process.stdin else None
        if transport is not None:
            transport.close()
