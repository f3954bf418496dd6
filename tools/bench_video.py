"""Video encoding cost and quality on rendered avatar frames: aiortc's stock VP8 and H.264 encoders against the
server's tuned ones, at the same bitrate, for talking and for idle frames.

    .venv/bin/python -m tools.bench_video [--frames 200] [--avatar astronaut] [--bitrate 1000000]

Every encoder gets the same frames (YUV 4:2:0, 512x512) at the same target bitrate; the tool prints the CPU time
of the encode call per frame (every thread of the process: the server's encoders use one, aiortc's H.264 several), the PSNR of the decoded frames against the rendered ones (all three
planes, after the first 10 frames) and the bitrate it produced.
"""
from __future__ import annotations

import argparse
import fractions
import os
import time
from collections.abc import Callable

import av
import cv2
import numpy as np
from aiortc.codecs.h264 import H264Decoder, H264Encoder, h264_depayload
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame

from engines.avatar import AvatarRenderer, load_avatar
from server.config import Workers
from server.transports.webrtc.encoders import RenderedH264Encoder, RenderedVp8Encoder

Encode = Callable[[np.ndarray, int], tuple[list[bytes], int]]


def rendered_frames(avatar: str, count: int, talking: bool) -> list[np.ndarray]:
    renderer = AvatarRenderer(load_avatar(avatar), seed=1)
    frames = []
    for i in range(count):
        jaw = 0.5 * abs(np.sin(i / 3)) if talking else 0.0
        params = np.array([jaw, 0.1 if talking else 0.0, 0, 0, 0], dtype=np.float32)
        frames.append(cv2.cvtColor(renderer.render(i, params), cv2.COLOR_RGB2YUV_I420))
    return frames


def stock(encoder: Vp8Encoder | H264Encoder) -> Encode:
    """aiortc's own encoder, fed the way its sender feeds it (a VideoFrame per call)."""

    def encode(yuv: np.ndarray, pts: int) -> tuple[list[bytes], int]:
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = pts, fractions.Fraction(1, 90000)
        return encoder.encode(frame)

    return encode


def tuned(encoder: RenderedVp8Encoder | RenderedH264Encoder) -> Encode:
    return lambda yuv, pts: encoder.pack(encoder.encode_yuv(yuv, pts))


def measure(encode: Encode, codec: str, frames: list[np.ndarray]) -> tuple[float, float, float]:
    """(CPU ms per frame, mean PSNR in dB, kbit/s) of one encoder over the frames."""
    decoder, depayload = (Vp8Decoder(), vp8_depayload) if codec == "VP8" else (H264Decoder(), h264_depayload)
    cpu, quality, size = 0.0, [], 0
    for i, yuv in enumerate(frames):
        began = time.process_time()  # all threads: aiortc's H.264 encoder runs x264 with several
        payloads, timestamp = encode(yuv, i * 3600)
        cpu += time.process_time() - began
        data = b"".join(depayload(p) for p in payloads)
        size += len(data)
        for decoded in decoder.decode(JitterFrame(data=data, timestamp=timestamp)):
            error = np.mean((decoded.to_ndarray(format="yuv420p").astype(np.float64) - yuv) ** 2)
            quality.append(10 * np.log10(255**2 / max(error, 1e-9)))
    return cpu / len(frames) * 1000, float(np.mean(quality[10:])), size * 8 * 25 / len(frames) / 1000


def encoders(bitrate: int) -> list[tuple[str, str, Encode]]:
    settings = Workers()
    made: list[tuple[str, str, Vp8Encoder | H264Encoder, Callable]] = [
        ("VP8", "aiortc Vp8Encoder (speed -6, denoiser)", Vp8Encoder(), stock),
        ("VP8", f"server VP8 (speed {settings.vp8_speed}, no denoiser, every macroblock)",
         RenderedVp8Encoder(settings.vp8_speed, 1), tuned),
        ("VP8", f"server VP8 (speed {settings.vp8_speed}, no denoiser, static threshold "
         f"{settings.vp8_static_threshold})", RenderedVp8Encoder(settings.vp8_speed, settings.vp8_static_threshold),
         tuned),
        ("H264", "aiortc H264Encoder (x264 default preset, zerolatency)", H264Encoder(), stock),
        ("H264", f"server H.264 (x264 {settings.webrtc_h264_preset}, zerolatency)",
         RenderedH264Encoder(settings.webrtc_h264_preset), tuned),
    ]
    for _, _, encoder, _ in made:
        encoder.target_bitrate = bitrate
    return [(codec, name, wrap(encoder)) for codec, name, encoder, wrap in made]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--avatar", default="astronaut")
    parser.add_argument("--bitrate", type=int, default=1_000_000)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(f"{args.frames} frames of {args.avatar}, 512x512, {args.bitrate // 1000} kbit/s target, one thread; "
          f"1-minute load average before {os.getloadavg()[0]:.2f}")
    print("| frames | encoder | CPU ms / frame | PSNR (dB) | kbit/s |\n| --- | --- | --- | --- | --- |")
    for talking in (True, False):
        frames = rendered_frames(args.avatar, args.frames, talking)
        for codec, name, encode in encoders(args.bitrate):
            ms, psnr, kbps = measure(encode, codec, frames)
            print(f"| {'talking' if talking else 'idle'} | {name} | {ms:.2f} | {psnr:.1f} | {kbps:.0f} |", flush=True)
    print(f"1-minute load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
