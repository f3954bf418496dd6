"""A broadcast's one H.264 + AAC encoder (PyAV: libx264 and FFmpeg's AAC), shared by every output that muxes
encoded media: the session's frames are encoded once, whatever the number of such outputs.

Encoding runs on one worker thread of its own (PyAV releases the GIL in the codecs), never on the event loop.
Timestamps come from the frames' slots on the session clock (video pts = n * 3600 at 90 kHz, audio pts = k * 960
at 48 kHz), so audio and video stay in step however late a frame is encoded or written. The audio is fed to the
encoder without gaps (a frame lost by falling behind is encoded as silence), so that every AAC packet's timestamp
matches the samples it holds. Keyframes come at every multiple of `h264_keyframe_interval_s` of session time
(whatever frames were lost before) and whenever an output asks for one.

The encoder is made before its session's pipeline (outputs are built, and checked, with it before anything is
started), is given the pipeline with `attach`, and starts with its first subscription (a broadcast with no
muxing output never encodes). Its codec parameters (`video_stream`, `audio_stream`) are templates for the
outputs' muxers.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import av
import numpy as np
from av.codec.context import Flags

from engines.timebase import AUDIO_FRAME_SAMPLES, FPS, TIMELINE_RATE
from server.config import BroadcastSettings
from server.transports.codecs import AUDIO_TIME_BASE, VIDEO_TIME_BASE, x264_options
from server.pipeline.bus import Subscription
from server.pipeline.frames import AudioFrame, VideoFrame
from server.pipeline.session import SessionPipeline
from server.transports.packets import EncodedPacket, PacketFanout, PacketSubscription

AUDIO_CHANNELS = "mono"
Frame = TypeVar("Frame", AudioFrame, VideoFrame)


class BroadcastEncoder:
    def __init__(self, settings: BroadcastSettings, log: logging.LoggerAdapter) -> None:
        self._pipeline: SessionPipeline | None = None
        self._settings = settings
        self._log = log
        self._fanout = PacketFanout()
        self._thread: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task] = []
        self._frames: Subscription | None = None
        self._codecs: av.container.OutputContainer | None = None
        self.video_stream: av.video.stream.VideoStream | None = None
        self.audio_stream: av.audio.stream.AudioStream | None = None
        self._keyframe_requested = False
        self._keyframe_frames = max(1, round(settings.h264_keyframe_interval_s * FPS))
        self._keyframe_interval = -1  # the keyframe interval of the last keyframe
        self._encoded = {"video": -1, "audio": -1}  # index of the last frame encoded
        self._progress = asyncio.Event()
        self._next_audio: int | None = None

    def attach(self, pipeline: SessionPipeline) -> None:
        """The session whose frames this encoder encodes (before the first subscription)."""
        self._pipeline = pipeline

    def subscribe(self) -> PacketSubscription:
        """The encoded packets from the next keyframe on, for one output; the first subscription starts encoding."""
        if not self._tasks:
            self._start()
        subscription = self._fanout.subscribe(self._settings.output_buffer_s, self.request_keyframe)
        self.request_keyframe()
        return subscription

    def request_keyframe(self) -> None:
        """Make the next video frame a keyframe (an output reconnected or fell behind)."""
        self._keyframe_requested = True

    def _start(self) -> None:
        if self._pipeline is None:
            raise RuntimeError("the encoder has no pipeline: attach one before subscribing")
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broadcast-encode")
        # The frames are taken from now on, before the codecs open: a frame made while x264 opens waits in the
        # subscription. An offline render's clock waits for the encoder, so a frame lost there would stop it.
        self._frames = self._pipeline.subscribe()
        self._tasks = [asyncio.create_task(self._run(self._pipeline))]

    async def _run(self, pipeline: SessionPipeline) -> None:
        # Opening x264 takes tens of milliseconds (seconds on a busy machine): on the encoder's thread, not on the
        # event loop.
        await asyncio.get_running_loop().run_in_executor(self._thread, self._open_codecs, pipeline.avatar.size)
        await asyncio.gather(
            self._encode_loop("video", self._frames.video, self._encode_video),
            self._encode_loop("audio", self._frames.audio, self._encode_audio),
        )

    def _open_codecs(self, size: tuple[int, int]) -> None:
        """The two encoders, as streams of a container that is never written: its streams hold the codec
        parameters (with the SPS/PPS and AudioSpecificConfig headers) that the outputs' muxers copy."""
        settings = self._settings
        codecs = av.open(io.BytesIO(), "w", format="null")
        video = codecs.add_stream("libx264", rate=FPS)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        context = video.codec_context
        context.time_base = VIDEO_TIME_BASE
        context.bit_rate = settings.h264_bitrate
        context.flags |= Flags.global_header
        context.options = x264_options(
            settings.h264_preset,
            settings.h264_profile,
            threads=str(settings.h264_threads),
            # Keyframes are the encoder's own decision (`_encode_video`), on the session clock: x264 adds none, not
            # even at scene cuts. The parameter sets come before each keyframe as well as in the header, for
            # receivers that join mid-stream.
            **{"x264-params": "keyint=infinite:scenecut=0:repeat-headers=1"},
        )
        audio = codecs.add_stream("aac", rate=TIMELINE_RATE)
        audio.layout = AUDIO_CHANNELS
        audio.codec_context.bit_rate = settings.aac_bitrate
        audio.codec_context.flags |= Flags.global_header
        codecs.start_encoding()
        self._codecs, self.video_stream, self.audio_stream = codecs, video, audio

    async def _encode_loop(
        self, kind: str, source: Callable[[], Awaitable[Frame]], encode: Callable[[Frame], list[EncodedPacket]]
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            frame = await source()
            try:
                packets = await loop.run_in_executor(self._thread, encode, frame)
            except (av.error.FFmpegError, ValueError):  # costs that frame, never the broadcast's stream
                self._log.exception("could not encode %s %d", type(frame).__name__, frame.index)
                continue
            self._fanout.publish(packets)
            self._encoded[kind] = frame.index
            self._progress.set()

    async def caught_up(self, seconds: float) -> None:
        """Wait until every frame due by session time `seconds` is encoded: offline rendering moves its virtual
        clock on by this, so that no frame is lost however much faster than real time it runs."""
        due = {"video": int(seconds * FPS + 1e-9), "audio": int(seconds * TIMELINE_RATE / AUDIO_FRAME_SAMPLES + 1e-9)}
        while any(self._encoded[kind] < index for kind, index in due.items()):
            self._progress.clear()
            await self._progress.wait()

    def _encode_video(self, frame: VideoFrame) -> list[EncodedPacket]:
        picture = av.VideoFrame.from_ndarray(frame.yuv, format="yuv420p")
        context = self.video_stream.codec_context
        if (picture.width, picture.height) != (context.width, context.height):  # an avatar of another size
            picture = picture.reformat(width=context.width, height=context.height)
        picture.pts = frame.pts
        picture.time_base = VIDEO_TIME_BASE
        interval = frame.index // self._keyframe_frames  # keyframes at 0, 2, 4, ... s of session time
        if self._keyframe_requested or interval != self._keyframe_interval:
            self._keyframe_requested, self._keyframe_interval = False, interval
            picture.pict_type = av.video.frame.PictureType.I
        packets = context.encode(picture)
        return [_packet("video", p) for p in packets]

    def _encode_audio(self, frame: AudioFrame) -> list[EncodedPacket]:
        expected = frame.index if self._next_audio is None else self._next_audio
        if frame.index < expected:
            return []
        pcm = frame.pcm
        if frame.index > expected:  # frames this encoder fell behind on: silence, so later timestamps stay true
            pcm = np.concatenate([np.zeros((frame.index - expected) * AUDIO_FRAME_SAMPLES, np.int16), pcm])
        self._next_audio = frame.index + 1
        sound = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout=AUDIO_CHANNELS)
        sound.sample_rate = TIMELINE_RATE
        sound.pts = expected * AUDIO_FRAME_SAMPLES
        sound.time_base = AUDIO_TIME_BASE
        return [_packet("audio", p) for p in self.audio_stream.codec_context.encode(sound)]

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._frames is not None:
            self._frames.close()
            self._frames = None

    async def finish(self) -> None:
        """Stop taking frames and publish what the codecs still hold (AAC keeps its last samples back), so that
        the outputs closing next end with everything encoded."""
        await self._stop()
        if self._thread is not None:
            self._fanout.publish(await asyncio.get_running_loop().run_in_executor(self._thread, self._flush))

    def _flush(self) -> list[EncodedPacket]:
        if self._codecs is None:
            return []
        video, audio = self.video_stream.codec_context, self.audio_stream.codec_context
        return [*(_packet("video", p) for p in video.encode(None)), *(_packet("audio", p) for p in audio.encode(None))]

    async def close(self) -> None:
        """Stop encoding and release the encoders and their thread (after the frame being encoded, if any)."""
        await self._stop()
        if self._thread is None:
            return
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_codecs)
        self._thread.shutdown(wait=True)
        self._thread = None

    def _close_codecs(self) -> None:
        codecs, self._codecs = self._codecs, None
        self.video_stream = self.audio_stream = None
        if codecs is not None:
            with contextlib.suppress(av.error.FFmpegError):
                codecs.close()


def _packet(kind: str, packet: av.Packet) -> EncodedPacket:
    return EncodedPacket(kind, bytes(packet), packet.pts, packet.dts, packet.time_base, packet.is_keyframe)
