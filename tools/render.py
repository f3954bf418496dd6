"""Render a script to an MP4 offline, faster than real time: the same pipeline, encoder and MP4 writer as a live
broadcast's file output, driven by a virtual clock, so the lip sync is the one viewers of a live stream get.

    python -m tools.render --text script.txt -o talk.mp4 [--avatar grace_hopper] [--voice espeak:en-gb]
    echo "Hello there." | python -m tools.render -o hello.mp4

Each paragraph (text between blank lines) is said as one utterance, right after the previous one, as a client
that sends one `say` per paragraph would hear it live; the next paragraph is synthesized while the frames of the
one before are made. The clock only moves through speech that is synthesized and animated, and only as fast as
the encoder takes the frames, so nothing is ever skipped or dropped however fast the machine is. It prints the
media duration and the speed as a multiple of real time.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import re
import sys
import time
from pathlib import Path

from engines.timebase import FPS, TIMELINE_RATE
from server.config import BroadcastSettings, Limits, ServerConfig
from server.pipeline.clock import VirtualClock
from server.pipeline.errors import ProtocolError
from server.pipeline.session import SessionPipeline
from server.services import Services
from server.sessions import session_log
from server.transports.encoder import BroadcastEncoder
from server.transports.file import FileOutput, working_path

# Speech still ahead of playback when the next paragraph is handed over: it is placed right after, with no gap.
NEXT_PARAGRAPH_AHEAD_S = 0.3
UNBOUNDED = 1e9
# Offline nothing is live: a write is slow only when the machine is busy, so the file output waits this long, and a
# render whose encoder makes no progress for STALL_S ends with an error instead of waiting for ever.
OFFLINE_TIMEOUT_S = 60.0
STALL_S = 120.0
# The clock steps just past each frame's slot, so every frame and audio slot due by then wakes whatever the float
# rounding of its time.
SLOT_MARGIN_S = 1e-6


def paragraphs(script: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", script) if p.strip()]


def render_config(args: argparse.Namespace) -> ServerConfig:
    """The server's configuration for one offline session: only the engine it speaks with, no bound on the text
    waiting or the audio buffered (the whole script is the client's, and the clock waits for synthesis), and
    synthesis at the priority of the frames."""
    engine = args.voice.split(":")[0] if args.voice and ":" in args.voice else args.tts
    defaults = ServerConfig()
    return ServerConfig(
        tts=engine,
        tts_engines=(engine,),
        voice=args.voice,
        tts_setup=dataclasses.replace(defaults.tts_setup, tts_model=args.tts_model, tts_rate=args.rate),
        avatar=args.avatar,
        face_driver=args.face_driver,
        limits=dataclasses.replace(Limits(), max_pending_chars=int(UNBOUNDED), max_buffered_audio_s=UNBOUNDED),
        # Live, synthesis runs at a lower priority so frames are on time; here it runs beside the frames it feeds.
        workers=dataclasses.replace(defaults.workers, tts_nice=0),
        broadcast=dataclasses.replace(
            defaults.broadcast, output_buffer_s=UNBOUNDED, output_timeout_s=OFFLINE_TIMEOUT_S,
            h264_preset=args.h264_preset, h264_bitrate=args.h264_bitrate,
        ),
    )


class Render:
    def __init__(self, services: Services, output: Path) -> None:
        self.log = session_log("render")
        self.clock = VirtualClock()
        config = services.config
        self.pipeline = SessionPipeline(
            services.pipeline, avatar=services.default_avatar, voice=services.default_voice, log=self.log, clock=self.clock
        )
        self.encoder = BroadcastEncoder(config.broadcast, self.log)
        self.encoder.attach(self.pipeline)
        self.output = FileOutput(output, self.encoder, config.broadcast, self.log)
        self.ended = 0
        self._frames = 0
        self.pipeline.events.listen(self._event)

    def _event(self, event: dict) -> None:
        if event["type"] == "speech_ended":
            self.ended += 1
        elif event["type"] == "error":
            self.log.warning("%s: %s", event["code"], event["message"])

    async def advance(self) -> None:
        """One video frame of session time, once the encoder has every frame due a frame ago: it encodes one
        frame while the next is rendered, and never has more waiting than the pipeline's queues keep."""
        await self._caught_up(self.clock.now() - 1 / FPS)
        self._frames += 1
        self.clock.advance_to(self._frames / FPS + SLOT_MARGIN_S)

    async def run(self, script: list[str], tail_s: float) -> float:
        """Say every paragraph; returns the media duration (s). A paragraph is synthesized while the frames of
        the one before it are made: the clock only moves through speech that is already placed and animated."""
        working_path(self.output.path).unlink(missing_ok=True)  # left by a render that was killed
        await self.output.start(self.pipeline)
        self.pipeline.start()
        media, speaker = self.pipeline.media, self.pipeline.speaker
        self.pipeline.text(script[0], flush=True)
        for following in [*script[1:], None]:
            await speaker.synthesized()
            ready_until = media.timeline.end  # everything before it is placed and animated
            if following is not None:
                self.pipeline.text(following, flush=True)  # lands right at ready_until, which is still ahead
            while (ready_until - media.played) / TIMELINE_RATE > NEXT_PARAGRAPH_AHEAD_S:
                await self.advance()
        while self.ended < len(script):
            await self.advance()
        end = self.clock.now() + tail_s
        while self.clock.now() < end:
            await self.advance()
        await self._caught_up(self.clock.now())
        return self.clock.now()

    async def _caught_up(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(STALL_S):
                await self.encoder.caught_up(seconds)
        except TimeoutError:
            status = self.output.status()
            raise RenderError(f"no frame encoded for {STALL_S:g} s (the file output is {status.state}"
                              f"{': ' + status.error if status.error else ''})") from None

    def failure(self) -> str | None:
        """Why the MP4 was not written, once closed (None: it was)."""
        status = self.output.status()
        if status.state == "failed":
            return status.error
        return None if self.output.path.exists() else "no frames written"

    async def close(self) -> None:
        await self.encoder.finish()
        await self.output.close()
        await self.encoder.close()
        await self.pipeline.close()


async def render(config: ServerConfig, script: list[str], output: Path, tail_s: float) -> tuple[float, float]:
    """Render `script` into `output`; returns (media seconds, wall seconds of rendering). RenderError when the
    avatar, the voice or the file cannot be used."""
    try:
        services = Services(config)
    except ProtocolError as error:
        raise RenderError(error.message) from None
    except ValueError as error:  # an --avatar that is neither a registered name nor a bundle folder
        raise RenderError(str(error)) from None
    try:
        job = Render(services, output)
        began = time.perf_counter()
        try:
            duration = await job.run(script, tail_s)
        finally:
            await job.close()
        failure = job.failure()
        if failure:
            raise RenderError(f"could not write {output}: {failure}")
        return duration, time.perf_counter() - began
    finally:
        await services.close()


class RenderError(Exception):
    pass


def main(argv: list[str] | None = None) -> None:
    defaults = ServerConfig()
    broadcast = BroadcastSettings()
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", type=Path, help="the script (UTF-8 text; default: standard input)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the MP4 to write (replaced if it exists)")
    parser.add_argument("--avatar", default=defaults.avatar, help="a bundle name or folder (default %(default)s)")
    parser.add_argument("--voice", help="a voice id, e.g. piper:joe or espeak:en-gb (default: the engine's)")
    parser.add_argument("--tts", default=defaults.tts, help="speech engine when --voice names none (default %(default)s)")
    parser.add_argument("--tts-model", type=Path, help="a model of your own for the engine (piper: a voice .onnx)")
    parser.add_argument("--rate", type=float, default=defaults.tts_setup.tts_rate, help="speaking rate (default %(default)s)")
    parser.add_argument("--face-driver", default=defaults.face_driver, choices=("network", "phonemes"))
    parser.add_argument("--h264-preset", default=broadcast.h264_preset, help="x264 preset (default %(default)s)")
    parser.add_argument("--h264-bitrate", type=int, default=broadcast.h264_bitrate, help="bit/s (default %(default)s)")
    parser.add_argument("--tail-s", type=float, default=0.5, help="silence after the last word (default %(default)s)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    script = paragraphs(args.text.read_text(encoding="utf-8") if args.text else sys.stdin.read())
    if not script:
        parser.error("the script is empty")
    try:
        duration, wall = asyncio.run(render(render_config(args), script, args.output, args.tail_s))
    except RenderError as error:
        sys.exit(f"render: {error}")
    print(f"{args.output}: {duration:.2f} s of media in {wall:.2f} s ({duration / wall:.2f}x real time)")


if __name__ == "__main__":
    main()
