"""A LiveKit voice agent with the avatar's face, in either of LiveKit's avatar shapes:

    AVATAR_MODE=local  .venv/bin/python examples/livekit_agent.py dev   # the face in the agent's process
    AVATAR_MODE=worker .venv/bin/python examples/livekit_agent.py dev   # a separate avatar worker per room

It needs a LiveKit server (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET; `livekit-server --dev` runs one
locally) and speech recognition, a language model and a voice of your choice. Here they are OpenAI-compatible
endpoints through LiveKit's OpenAI plugin (`pip install livekit-plugins-openai`; OPENAI_BASE_URL and
OPENAI_API_KEY point it at OpenAI, a local speaches / Kokoro-FastAPI server, Ollama, vLLM, ...); any other
LiveKit STT, LLM and TTS plugins fit in the same place. Join the room with LiveKit's Agents Playground or any
LiveKit client to talk to it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from livekit import api, rtc
from livekit.agents import Agent, AgentServer, AgentSession, JobContext, JobProcess, cli
from livekit.agents.voice.avatar import DataStreamAudioOutput
from livekit.agents.voice.room_io import ATTRIBUTE_PUBLISH_ON_BEHALF

from integrations.livekit import LocalAvatar
from integrations.runtime import AvatarRuntime

WORKER = Path(__file__).with_name("livekit_avatar_worker.py")
WORKER_IDENTITY = "avatar-worker"
INSTRUCTIONS = "You are a friendly assistant in a video call. Answer in one or two short spoken sentences."


def prewarm(process: JobProcess) -> None:
    """The face network and renderer, built once per job process before any room is joined."""
    if os.environ.get("AVATAR_MODE", "local") == "local":
        process.userdata["avatar_runtime"] = AvatarRuntime()


def voice_services() -> dict:
    from livekit.plugins import openai  # the STT, LLM and TTS of your choice

    return {
        "stt": openai.STT(model=os.environ.get("STT_MODEL", "whisper-1")),
        "llm": openai.LLM(model=os.environ.get("LLM_MODEL", "gpt-4.1-mini")),
        "tts": openai.TTS(model=os.environ.get("TTS_MODEL", "tts-1"), voice=os.environ.get("TTS_VOICE", "alloy")),
    }


def launch_worker(ctx: JobContext) -> subprocess.Popen:
    """The avatar worker for this room, joining with a token of its own that publishes on the agent's behalf."""
    token = (
        api.AccessToken()
        .with_identity(WORKER_IDENTITY)
        .with_kind("agent")
        .with_grants(api.VideoGrants(room_join=True, room=ctx.room.name))
        .with_attributes({ATTRIBUTE_PUBLISH_ON_BEHALF: ctx.room.local_participant.identity})
        .to_jwt()
    )
    url = os.environ["LIVEKIT_URL"]
    identity = ctx.room.local_participant.identity
    return subprocess.Popen(
        [sys.executable, str(WORKER), "--url", url, "--token", token, "--agent-identity", identity]
    )


server = AgentServer(setup_fnc=prewarm, initialize_process_timeout=60)


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    await ctx.connect()
    session = AgentSession(**voice_services())
    if os.environ.get("AVATAR_MODE", "local") == "local":
        avatar = LocalAvatar(runtime=ctx.proc.userdata["avatar_runtime"], avatar=os.environ.get("AVATAR"))
        await avatar.start(session, ctx.room)
        ctx.add_shutdown_callback(avatar.aclose)
    else:
        worker = launch_worker(ctx)
        ctx.add_shutdown_callback(lambda: worker.terminate())
        session.output.replace_audio_tail(
            DataStreamAudioOutput(
                ctx.room,
                destination_identity=WORKER_IDENTITY,
                wait_remote_track=rtc.TrackKind.KIND_VIDEO,
                wait_playback_start=True,
            )
        )
    await session.start(agent=Agent(instructions=INSTRUCTIONS), room=ctx.room)
    await session.generate_reply(instructions="Greet the user and offer your help.")


if __name__ == "__main__":
    cli.run_app(server)
