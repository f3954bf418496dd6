"""VP8 encoding cost and quality on rendered avatar frames: aiortc's stock encoder against the server's tuned one.

    .venv/bin/python -m tools.bench_vp8 [--frames 200] [--avatar astronaut]

Both encode the same talking frames (YUV 4:2:0, 512x512) at the same bitrate on one thread; the tool prints CPU
time per frame and the PSNR of the decoded frames against the rendered ones.
"""
from __future__ import annotations

import argparse
import fractions
import os
import time

import av
import cv2
import numpy as np
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame

from engines.avatar import AvatarRenderer, load_avatar
from server.transports.webrtc.vp8 import RenderedVp8Encoder

BITRATE = 1_000_000


def talking_frames(avatar: str, count: int) -> list[np.ndarray]:
    renderer = AvatarRenderer(load_avatar(avatar), seed=1)
    params = [np.array([0.5 * abs(np.sin(i / 3)), 0.1, 0, 0, 0], dtype=np.float32) for i in range(count)]
    return [cv2.cvtColor(renderer.render(i, p), cv2.COLOR_RGB2YUV_I420) for i, p in enumerate(params)]


def measure(encoder: Vp8Encoder, frames: list[np.ndarray]) -> tuple[float, float, float]:
    """(CPU ms per frame, mean PSNR in dB, kbit/s) for one encoder over the frames."""
    encoder.target_bitrate = BITRATE
    decoder = Vp8Decoder()
    cpu, quality, size = 0.0, [], 0
    for i, yuv in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = i * 3600, fractions.Fraction(1, 90000)
        began = time.thread_time()
        payloads, timestamp = encoder.encode(frame)
        cpu += time.thread_time() - began
        data = b"".join(vp8_depayload(p) for p in payloads)
        size += len(data)
        for decoded in decoder.decode(JitterFrame(data=data, timestamp=timestamp)):
            error = np.mean((decoded.to_ndarray(format="yuv420p").astype(np.float64) - yuv) ** 2)
            quality.append(10 * np.log10(255**2 / max(error, 1e-9)))
    return cpu / len(frames) * 1000, float(np.mean(quality[10:])), size * 8 * 25 / len(frames) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--avatar", default="astronaut")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    frames = talking_frames(args.avatar, args.frames)
    print(f"{args.frames} frames of {args.avatar}, 512x512, {BITRATE // 1000} kbit/s target, one thread; "
          f"1-minute load average {os.getloadavg()[0]:.2f}")
    print("| encoder | CPU ms / frame | PSNR (dB) | kbit/s |\n| --- | --- | --- | --- |")
    for name, encoder in (("aiortc Vp8Encoder", Vp8Encoder()), ("server RenderedVp8Encoder", RenderedVp8Encoder())):
        ms, psnr, kbps = measure(encoder, frames)
        print(f"| {name} | {ms:.2f} | {psnr:.1f} | {kbps:.0f} |")


if __name__ == "__main__":
    main()
