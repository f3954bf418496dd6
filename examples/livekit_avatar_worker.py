"""The avatar as its own participant in a LiveKit room: it takes the agent's speech from LiveKit's
DataStreamAudioOutput and publishes the talking face (video and audio) for everyone in the room.

    .venv/bin/python examples/livekit_avatar_worker.py --url wss://your.livekit.host --token <token>

examples/livekit_agent.py starts it with a token of its own (identity `avatar-worker`, kind agent, publishing on
the agent's behalf); run it by hand the same way on another machine (a GPU box) to keep the face off the agent's.
"""
from __future__ import annotations

import argparse
import asyncio
import logging

from livekit import rtc

from integrations.livekit import serve_avatar
from integrations.runtime import AvatarRuntime


async def run(url: str, token: str, avatar: str | None, agent_identity: str | None) -> None:
    runtime = AvatarRuntime()
    room = rtc.Room()
    await room.connect(url, token)
    logging.info("avatar joined room %s as %s", room.name, room.local_participant.identity)
    try:
        await serve_avatar(room, runtime=runtime, avatar=avatar, agent_identity=agent_identity)
    finally:
        await room.disconnect()
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the LiveKit server")
    parser.add_argument("--token", required=True, help="a token to join the agent's room")
    parser.add_argument("--avatar", default=None, help="a committed avatar or a bundle folder")
    parser.add_argument("--agent-identity", default=None, help="whose speech to take (default: the first agent)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run(args.url, args.token, args.avatar, args.agent_identity))


if __name__ == "__main__":
    main()
