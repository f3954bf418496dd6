"""VP8 encoding tuned for rendered frames.

aiortc's encoder is set up for cameras: it runs libvpx's temporal denoiser, which on a rendered face has no noise
to remove and only blurs it, and it uses a slower real-time speed step. `tools/bench_vp8.py` compares the two on
the default avatar (docs/benchmarks.md, "VP8 encoding"): about a third less CPU per frame and a higher PSNR here.
Rate control, keyframe requests and RTP packetization stay aiortc's own.
"""
from __future__ import annotations

import aiortc.rtcrtpsender
import av
from aiortc.codecs import get_encoder as aiortc_get_encoder
from aiortc.codecs.base import Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import VIDEO_TIME_BASE, convert_timebase
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

# A bitrate change smaller than this share keeps the running encoder (reopening costs a keyframe).
REOPEN_BITRATE_CHANGE = 0.1


class RenderedVp8Encoder(Vp8Encoder):
    # libvpx real-time speed step: -16 (fastest) .. -1 (best quality); aiortc uses -6. Set by use_rendered_vp8.
    speed = -10

    def encode(self, frame: av.Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        assert isinstance(frame, av.VideoFrame)
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        if self._needs_new_codec(frame):
            self.codec = self._open(frame.width, frame.height)
        if force_keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        data = b"".join(bytes(packet) for packet in self.codec.encode(frame))
        payloads = self._packetize(data, self.picture_id)
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        return payloads, convert_timebase(frame.pts, frame.time_base, VIDEO_TIME_BASE)

    def _needs_new_codec(self, frame: av.VideoFrame) -> bool:
        codec = self.codec
        if codec is None:
            return True
        resized = (frame.width, frame.height) != (codec.width, codec.height)
        return resized or abs(self.target_bitrate - codec.bit_rate) / codec.bit_rate > REOPEN_BITRATE_CHANGE

    def _open(self, width: int, height: int) -> av.video.codeccontext.VideoCodecContext:
        bitrate = self.target_bitrate
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height = width, height
        codec.pix_fmt = "yuv420p"
        codec.bit_rate = bitrate
        codec.gop_size = 3000  # keyframes only when the receiver asks for one
        codec.qmin, codec.qmax = 2, 56
        codec.thread_count = 1
        codec.options = {
            "deadline": "realtime",
            "cpu-used": str(self.speed),
            "noise-sensitivity": "0",
            "lag-in-frames": "0",
            "static-thresh": "1",
            "partitions": "0",
            # constant bitrate with a one-second buffer, as WebRTC receivers expect
            "minrate": str(bitrate),
            "maxrate": str(bitrate),
            "bufsize": str(bitrate),
            "undershoot-pct": "100",
            "overshoot-pct": "15",
        }
        return codec


def _get_encoder(codec: RTCRtpCodecParameters) -> Encoder:
    if codec.mimeType.lower() == "video/vp8":
        return RenderedVp8Encoder()
    return aiortc_get_encoder(codec)


def use_rendered_vp8(speed: int) -> None:
    """Make every RTP sender of this process encode VP8 with RenderedVp8Encoder at libvpx speed step `speed`.
    aiortc picks encoders through this module-level function and has no other way to configure them."""
    RenderedVp8Encoder.speed = speed
    aiortc.rtcrtpsender.get_encoder = _get_encoder
