"""An RTMP server to push broadcasts to, and a player that pulls them back, for the tests and the benchmarks.

The server is Debian's nginx with libnginx-mod-rtmp, run as a child process on a loopback port with a
configuration of its own in a temporary folder (nothing of the machine's nginx is touched). The player is PyAV
reading the live stream on a thread: the arrival time and timestamps of every packet, the decoded audio, and
the decoded video frames' luma.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from engines.timebase import TIMELINE_RATE
from harness.server_process import free_port
from harness.stream_sync import Decoded, lay_out

NGINX = "/usr/sbin/nginx"
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
load_module {module};
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{
            live on;
            {record}
        }}
    }}
}}
"""


PROBE_US = 3_000_000
RECORD = "record all; record_path {folder}; record_unique on;"


class NginxRtmp:
    """nginx-rtmp on `127.0.0.1:<port>`, application `live`. With `record`, every publishing connection is also
    written to an FLV file of its own (`records()`): what the server received, connection by connection."""

    def __init__(self, port: int | None = None, record: bool = False) -> None:
        self.port = port or free_port()
        self._folder = Path(tempfile.mkdtemp(prefix="nginx-rtmp-"))
        self._records = self._folder / "records"
        self._records.mkdir()
        self._folder.chmod(0o755)  # nginx's worker runs as an unprivileged user
        self._records.chmod(0o777)
        record_line = RECORD.format(folder=self._records) if record else "record off;"
        config = CONFIG.format(folder=self._folder, module=RTMP_MODULE, port=self.port, record=record_line)
        (self._folder / "nginx.conf").write_text(config)
        self._proc: subprocess.Popen | None = None

    def records(self) -> list[Path]:
        """The recorded connections, oldest first."""
        return sorted(self._records.glob("*.flv"), key=lambda path: path.stat().st_mtime)

    def url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{key}"

    def start(self, timeout: float = 10.0) -> None:
        if not (Path(NGINX).exists() and RTMP_MODULE.exists()):
            raise RuntimeError("Debian's nginx and libnginx-mod-rtmp are needed: run tools/setup.sh")
        self._proc = subprocess.Popen(
            [NGINX, "-p", str(self._folder), "-e", str(self._folder / "error.log"), "-c", str(self._folder / "nginx.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx-rtmp did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def _listening(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
            return True
        return False

    def stop(self) -> None:
        """Stop nginx and its worker at once (every connection drops)."""
        if self._proc is None:
            return
        self._proc.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def log(self) -> str:
        path = self._folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> NginxRtmp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self._folder, ignore_errors=True)


@dataclass(frozen=True)
class PulledPacket:
    kind: str
    time: float  # pts in seconds
    keyframe: bool
    arrival: float  # time.monotonic()


@dataclass(frozen=True)
class PulledAudio:
    time: float
    pcm: np.ndarray  # int16 mono at TIMELINE_RATE
    arrival: float


@dataclass(frozen=True)
class PulledVideo:
    time: float
    luma: np.ndarray  # uint8, height x width
    arrival: float


@dataclass
class RtmpPlayer:
    """Plays `url` on a thread until `stop()`: what arrived, decoded. `connected` is set once the stream's
    header is read; a broken stream ends the play (`ended`, `error`)."""

    url: str
    open_timeout_s: float = 15.0
    packets: list[PulledPacket] = field(default_factory=list)
    audio: list[PulledAudio] = field(default_factory=list)
    video: list[PulledVideo] = field(default_factory=list)
    streams: list[tuple[str, str, str | None]] = field(default_factory=list)  # (type, codec, profile)
    error: str | None = None

    def __post_init__(self) -> None:
        self.connected = threading.Event()
        self.ended = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._play, name="rtmp-player", daemon=True)

    def start(self) -> RtmpPlayer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(15)

    def _play(self) -> None:
        try:
            # An RTMP server sends a new player video from the next keyframe on (at most 2 s away): the stream's
            # tracks are only all known once one came, and PyAV ignores tracks found later.
            options = {"rtmp_live": "live", "fflags": "nobuffer", "analyzeduration": str(PROBE_US)}
            with av.open(self.url, options=options, timeout=(self.open_timeout_s, 5.0)) as container:
                self.streams = [(s.type, s.codec_context.name, s.codec_context.profile) for s in container.streams]
                self.connected.set()
                resampler = av.AudioResampler(format="s16", layout="mono", rate=TIMELINE_RATE)
                for packet in container.demux():
                    if self._stopping.is_set():
                        return
                    if packet.dts is None:
                        continue
                    arrival = time.monotonic()
                    kind = packet.stream.type
                    time_of = float(packet.pts * packet.time_base)
                    self.packets.append(PulledPacket(kind, time_of, packet.is_keyframe, arrival))
                    for frame in packet.decode():
                        at = float(frame.pts * frame.time_base)
                        if kind == "audio":
                            pieces = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
                            self.audio.append(PulledAudio(at, np.concatenate(pieces or [np.zeros(0, np.int16)]), arrival))
                        elif kind == "video":
                            self.video.append(PulledVideo(at, frame.to_ndarray(format="gray"), arrival))
        except (av.error.FFmpegError, OSError) as exc:
            if not self._stopping.is_set():
                self.error = str(exc)
        finally:
            self.ended.set()

    def decoded(self) -> Decoded:
        """What was played, laid out by its timestamps."""
        audio, start = lay_out([(chunk.time, chunk.pcm) for chunk in self.audio])
        return Decoded(audio, start, [(frame.time, frame.luma) for frame in self.video])
