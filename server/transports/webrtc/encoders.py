"""The encoders of a viewer's tracks, run by the tracks themselves ahead of each frame's slot so that the packets
of audio and video of one media time leave together, tuned for rendered frames and synthetic speech.

aiortc encodes a frame only when its track hands it over and then sends it, so the encode time (a few ms, more
under load, plus a hop through its thread pool) delays every video packet against the audio of the same time,
and a browser, which lip-syncs by the sender's clock, holds its audio back by as much. Here the video track
encodes each frame in an encoder thread as soon as the pacer publishes it (`encode_lead_s` before its slot) and
hands aiortc the finished packet at the slot; aiortc only packetizes it (the encoders below keep the `pack` of
aiortc's own, and its RTCP-driven bitrate and keyframe requests reach them through `attach`).

- VP8 (libvpx): aiortc's camera settings run libvpx's temporal denoiser, which on a rendered face only blurs;
  without it, at a faster real-time speed step and skipping macroblocks that did not change, a frame costs
  about 60 % less CPU at a higher PSNR (`tools/bench_video.py`, docs/benchmarks.md).
- H.264 (libx264, `ultrafast`, `zerolatency`, constrained baseline): used when the offer prefers H.264.
- Opus: mono (the voice is mono; aiortc upmixes to stereo), low-delay mode. Audio frames still go to aiortc as frames, at
  their slot: it encodes them in its thread pool (a fraction of a millisecond) and stamps each packet with its
  level (RFC 6464), which browsers show as the speaker's audio level.
"""
from __future__ import annotations

import fractions
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
from aiortc import RTCRtpSender
from aiortc.codecs.base import Encoder
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import convert_timebase
from aiortc.sdp import SessionDescription

from engines.timebase import AUDIO_FRAME_SAMPLES, FPS, TIMELINE_RATE
from server.config import Workers
from server.transports.codecs import AUDIO_TIME_BASE, VIDEO_TIME_BASE, x264_options

# A bitrate change smaller than this share keeps the running encoder (reopening costs a keyframe).
REOPEN_BITRATE_CHANGE = 0.1
KEYFRAME_INTERVAL = 3000  # frames: keyframes only when the receiver asks for one


class _RenderedVideo(ABC):
    """What the two video encoders share: one libav encoder context, reopened when the size or the target
    bitrate (set by aiortc from the receiver's estimate) changes, and keyframes on request."""

    codec: av.video.codeccontext.VideoCodecContext | None
    target_bitrate: int

    def __init__(self) -> None:
        self._keyframe = False

    def request_keyframe(self) -> None:
        """The receiver lost a picture (PLI/FIR): the next frame is a keyframe."""
        self._keyframe = True

    def encode_yuv(self, yuv: np.ndarray, pts: int) -> av.Packet:
        """One frame (planar YUV 4:2:0) with its 90 kHz pts -> the frame's bitstream as one packet."""
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = pts, VIDEO_TIME_BASE  # rate control spreads the bitrate by the frames' times
        if self._needs_new_codec(frame):
            self.codec = self._open(frame.width, frame.height)
            self._keyframe = True
        frame.pict_type = av.video.frame.PictureType.I if self._keyframe else av.video.frame.PictureType.NONE
        self._keyframe = False
        packet = av.Packet(b"".join(bytes(p) for p in self.codec.encode(frame)))
        packet.pts, packet.time_base = pts, VIDEO_TIME_BASE
        return packet

    def _needs_new_codec(self, frame: av.VideoFrame) -> bool:
        codec = self.codec
        if codec is None:
            return True
        resized = (frame.width, frame.height) != (codec.width, codec.height)
        return resized or abs(self.target_bitrate - codec.bit_rate) / codec.bit_rate > REOPEN_BITRATE_CHANGE

    @abstractmethod
    def _open(self, width: int, height: int) -> av.video.codeccontext.VideoCodecContext:
        """A new encoder context for frames of this size at the current target bitrate."""

    def _context(self, name: str, width: int, height: int) -> av.video.codeccontext.VideoCodecContext:
        """An encoder of libav's `name` for these frames: the target bitrate, keyframes only on request, one
        thread (the encoder pool runs one frame per thread, so sessions encode side by side)."""
        codec = av.CodecContext.create(name, "w")
        codec.width, codec.height = width, height
        codec.pix_fmt = "yuv420p"
        codec.bit_rate = self.target_bitrate
        codec.gop_size = KEYFRAME_INTERVAL
        codec.thread_count = 1
        return codec


class RenderedVp8Encoder(_RenderedVideo, Vp8Encoder):
    def __init__(self, speed: int, static_threshold: int) -> None:
        """`speed`: libvpx real-time speed step, -16 (fastest) .. -1 (best quality); aiortc uses -6.
        `static_threshold`: macroblocks that changed less than this are not encoded again (rendered frames have
        no noise, so most of a face that is not speaking stays as it was)."""
        Vp8Encoder.__init__(self)
        _RenderedVideo.__init__(self)
        self.speed = speed
        self.static_threshold = static_threshold

    def _open(self, width: int, height: int) -> av.video.codeccontext.VideoCodecContext:
        bitrate = self.target_bitrate
        codec = self._context("libvpx", width, height)
        codec.qmin, codec.qmax = 2, 56
        codec.options = {
            "deadline": "realtime",
            "cpu-used": str(self.speed),
            "noise-sensitivity": "0",
            "lag-in-frames": "0",
            "static-thresh": str(self.static_threshold),
            "partitions": "0",
            # constant bitrate with a one-second buffer, as WebRTC receivers expect
            "minrate": str(bitrate),
            "maxrate": str(bitrate),
            "bufsize": str(bitrate),
            "undershoot-pct": "100",
            "overshoot-pct": "15",
        }
        return codec


class RenderedH264Encoder(_RenderedVideo, H264Encoder):
    def __init__(self, preset: str) -> None:
        """`preset`: x264's speed preset (ultrafast .. medium); no look-ahead and no B-frames in any case."""
        H264Encoder.__init__(self)
        _RenderedVideo.__init__(self)
        self.preset = preset

    def _open(self, width: int, height: int) -> av.video.codeccontext.VideoCodecContext:
        bitrate = self.target_bitrate
        codec = self._context("libx264", width, height)
        codec.framerate = fractions.Fraction(FPS, 1)
        codec.time_base = fractions.Fraction(1, FPS)
        # Baseline (x264 writes it as constrained baseline) at level 3.1: what every WebRTC H.264 decoder takes.
        codec.options = x264_options(self.preset, "baseline", level="31", maxrate=str(bitrate), bufsize=str(bitrate))
        return codec


class MonoOpusEncoder(Encoder):
    """Opus of the mono voice (aiortc's upmixes it to stereo first), one packet per 20 ms frame, stamped with
    the frame's own pts."""

    def __init__(self, bitrate: int) -> None:
        self.codec = av.CodecContext.create("libopus", "w")
        self.codec.format = "s16"
        self.codec.layout = "mono"
        self.codec.sample_rate = TIMELINE_RATE
        self.codec.bit_rate = bitrate
        self.codec.time_base = AUDIO_TIME_BASE
        # CELT only ("restricted low delay"): half the CPU of the speech (SILK) mode on synthetic voices, and
        # 2.5 ms of algorithmic delay instead of 6.5 ms.
        self.codec.options = {"application": "lowdelay"}

    def encode(self, frame: av.AudioFrame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        """A 20 ms frame (s16 mono at 48 kHz) -> its Opus packet and the frame's pts. libopus reports its
        look-ahead as a negative start; RTP stamps the frame's own first sample."""
        assert frame.samples == AUDIO_FRAME_SAMPLES and frame.layout.name == "mono"
        return [b"".join(bytes(p) for p in self.codec.encode(frame))], frame.pts

    def pack(self, packet: av.Packet) -> tuple[list[bytes], int]:
        return [bytes(packet)], convert_timebase(packet.pts, packet.time_base, AUDIO_TIME_BASE)


VideoEncoder = RenderedVp8Encoder | RenderedH264Encoder


class Encoding:
    """The encoders of this process's viewers and the threads that run the video ones."""

    def __init__(self, settings: Workers) -> None:
        self._settings = settings
        self.pool = ThreadPoolExecutor(max_workers=settings.encode_pool_size(), thread_name_prefix="encode")

    def video(self, codec: str) -> VideoEncoder:
        """The encoder for a negotiated video codec ("VP8" or "H264")."""
        if codec.lower() == "h264":
            return RenderedH264Encoder(self._settings.webrtc_h264_preset)
        if codec.lower() == "vp8":
            return RenderedVp8Encoder(self._settings.vp8_speed, self._settings.vp8_static_threshold)
        raise ValueError(f"no encoder for video codec {codec}")

    def audio(self) -> MonoOpusEncoder:
        return MonoOpusEncoder(self._settings.opus_bitrate)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def negotiated_codec(sdp: str, kind: str) -> str:
    """The codec a local description sends `kind` with: the first of its m-line (what aiortc's sender uses)."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind == kind and media.rtp.codecs:
            return media.rtp.codecs[0].mimeType.split("/", 1)[1]
    raise ValueError(f"the description sends no {kind}")


def attach(sender: RTCRtpSender, encoder: VideoEncoder | MonoOpusEncoder) -> None:
    """Make `sender` packetize with `encoder` (so aiortc's bitrate estimate sets its target) and pass it the
    receiver's keyframe requests. aiortc has no public way to give a sender its encoder; it keeps it in a private
    attribute, so a newer aiortc that renames it fails here loudly instead of encoding twice."""
    attribute = "_RTCRtpSender__encoder"
    if not hasattr(sender, attribute):
        raise RuntimeError(f"aiortc's RTCRtpSender has no {attribute}: cannot hand it pre-encoded frames")
    setattr(sender, attribute, encoder)
    if isinstance(encoder, _RenderedVideo):
        sender._send_keyframe = encoder.request_keyframe
