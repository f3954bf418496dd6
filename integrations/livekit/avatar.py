"""The two ways a LiveKit agent gets the avatar, in LiveKit's own shape (an `AvatarRunner` driving the
`VideoGenerator`):

- `LocalAvatar`: in the agent's process. The agent's speech goes to a `QueueAudioOutput`, and the runner publishes
  the avatar's audio and video on the agent's own participant.
- `serve_avatar`: a separate avatar worker (another process, another machine) that joins the room as its own
  participant. The agent sends its speech with LiveKit's `DataStreamAudioOutput` (the `lk.audio_stream` byte
  stream, answered with `lk.playback_started` / `lk.playback_finished` and told `lk.clear_buffer`); the worker
  receives it with LiveKit's `DataStreamAudioReceiver` and publishes the avatar's tracks.
"""
from __future__ import annotations

import asyncio
import logging

from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.voice.avatar import (
    AvatarRunner,
    DataStreamAudioReceiver,
    QueueAudioOutput,
)

from engines.timebase import TIMELINE_RATE
from integrations.livekit.generator import AvatarVideoGenerator
from integrations.runtime import AvatarRuntime

log = logging.getLogger(__name__)


def avatar_runner(room: rtc.Room, receiver, generator: AvatarVideoGenerator) -> AvatarRunner:
    """LiveKit's runner for the generator, its clear_buffer reaching into the runner's synchronizer too."""
    runner = AvatarRunner(room, audio_recv=receiver, video_gen=generator, options=generator.options)
    generator.use_av_sync(runner.av_sync)
    return runner


class LocalAvatar:
    """`runtime`: the engines to run on (share one between the agents of a process); `avatar`: a committed
    avatar or a bundle folder."""

    def __init__(self, *, runtime: AvatarRuntime | None = None, avatar: str | None = None) -> None:
        self._runtime = runtime
        self._avatar = avatar
        self.generator: AvatarVideoGenerator | None = None
        self.runner: AvatarRunner | None = None

    async def start(self, agent_session: AgentSession, room: rtc.Room) -> None:
        """Route the agent's speech to the avatar and start publishing it (before `agent_session.start`)."""
        self.generator = AvatarVideoGenerator(runtime=self._runtime, avatar=self._avatar)
        output = QueueAudioOutput(sample_rate=TIMELINE_RATE)
        agent_session.output.replace_audio_tail(output)
        self.runner = avatar_runner(room, output, self.generator)
        await self.runner.start()

    async def aclose(self) -> None:
        if self.runner is not None:
            await self.runner.aclose()
        if self.generator is not None:
            await self.generator.aclose()


async def serve_avatar(
    room: rtc.Room,
    *,
    runtime: AvatarRuntime | None = None,
    avatar: str | None = None,
    agent_identity: str | None = None,
) -> None:
    """Be the avatar of the agent in `room` (connected) until the agent leaves or the room disconnects.
    `agent_identity`: the agent to take speech from (default: the first agent participant that joins)."""
    generator = AvatarVideoGenerator(runtime=runtime, avatar=avatar)
    runner = avatar_runner(room, DataStreamAudioReceiver(room, sender_identity=agent_identity), generator)
    done = asyncio.Event()

    def agent_left(participant: rtc.RemoteParticipant) -> None:
        if participant.identity == agent_identity or (
            agent_identity is None and participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        ):
            log.info("agent %s left; the avatar stops", participant.identity)
            done.set()

    room.on("participant_disconnected", agent_left)
    room.on("disconnected", lambda *_: done.set())
    try:
        await runner.start()
        await done.wait()
    finally:
        room.off("participant_disconnected", agent_left)
        await runner.aclose()
        await generator.aclose()
