"""The child process that writes one destination of a broadcast (an RTMP server, an MP4 file):
`python -m server.transports.remux`, with the destination in its environment (never on its command line, which
every local user can read: an RTMP URL holds the stream key).

It reads the NUT stream its parent muxes on standard input and remuxes it, packet by packet and without decoding,
into AVATAR_REMUX_FORMAT at AVATAR_REMUX_TARGET (AVATAR_REMUX_OPTIONS: the muxer's options as JSON). It prints
`live` once the first packet is written (for a network destination: connected, handshake done), and at the end
of its input writes the trailer (an RTMP stream's end, an MP4's index) and exits 0; on any failure it prints
`error: <reason>` and exits 1.

Why a process: PyAV opens an output (connects, handshakes) and writes its trailer holding the GIL and without
any timeout, so a server that answers slowly or never, or the long rewrite of a big MP4's index, would freeze
every session of the server. Here only this process waits, and its parent kills it when it stalls.
"""
from __future__ import annotations

import json
import os
import sys

import av

TARGET, FORMAT, OPTIONS = "AVATAR_REMUX_TARGET", "AVATAR_REMUX_FORMAT", "AVATAR_REMUX_OPTIONS"


def remux(target: str, format: str, options: dict[str, str]) -> None:
    with av.open("pipe:0", format="nut") as source:
        out = av.open(target, "w", format=format, container_options=options)
        try:
            streams = {s.index: out.add_stream_from_template(s, opaque=True) for s in source.streams}
            live = False
            for packet in source.demux():
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
                if not live:
                    live = True
                    print("live", flush=True)
        finally:
            out.close()


def main() -> int:
    try:
        remux(os.environ[TARGET], os.environ[FORMAT], json.loads(os.environ.get(OPTIONS, "{}")))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        print(f"error: {getattr(exc, 'strerror', None) or exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
