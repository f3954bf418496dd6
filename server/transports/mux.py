"""Writing a broadcast's encoded packets into a container (FLV to an RTMP server, MP4 to a file) with PyAV, without
encoding anything again: the streams copy the shared encoder's codec parameters.

Timestamps are the session clock's, less one origin per container: the time of the keyframe it starts at, so a
new RTMP connection starts near zero while audio and video keep their relative timing exactly. Every call blocks
(file or network I/O): an output runs them on its own worker thread.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import av

from server.transports.packets import EncodedPacket


class Muxer:
    def __init__(
        self,
        target: str,
        format: str,
        video: av.video.stream.VideoStream,
        audio: av.audio.stream.AudioStream,
        options: dict[str, str] | None = None,
    ) -> None:
        self.target = target
        self._container = av.open(target, "w", format=format, container_options=options or {})
        self._streams: dict[str, Any] = {
            "video": self._container.add_stream_from_template(video, opaque=True),
            "audio": self._container.add_stream_from_template(audio, opaque=True),
        }
        self._origin: Fraction | None = None
        self.video_frames = 0

    def write(self, packets: list[EncodedPacket]) -> int:
        """Mux `packets` (the first one written must be a video keyframe); returns the video frames written.
        The first call writes the header, which for a network target opens the connection."""
        written = 0
        for packet in packets:
            if self._origin is None:
                self._origin = packet.pts * packet.time_base
            offset = round(self._origin / packet.time_base)
            out = av.Packet(packet.data)
            out.pts, out.dts = packet.pts - offset, packet.dts - offset
            out.time_base = packet.time_base
            out.is_keyframe = packet.keyframe
            out.stream = self._streams[packet.kind]
            self._container.mux(out)
            written += packet.kind == "video"
        self.video_frames += written
        return written

    def close(self) -> None:
        """Write the trailer (the end of an RTMP stream; an MP4's index) and close the target."""
        self._container.close()
