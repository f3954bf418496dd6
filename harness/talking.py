"""Sessions that talk: a target server, clients that say one text after another, and groups of them, for the
benchmarks, the soak and the load tests."""
from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from client import AvatarClient
from harness.measure import MouthWatch
from harness.server_process import http_base, scrape_metrics

TALK = [
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
    "Streaming avatars have to start speaking fast and keep their lips in sync with the voice.",
    "Every session gets its own timeline, and both tracks are paced from one origin.",
]


@dataclass
class Target:
    """The server being measured: its websocket URL, and its process id when it is ours."""

    url: str
    token: str | None
    pid: int | None

    @property
    def base(self) -> str:
        return http_base(self.url)

    def metrics(self) -> dict[str, float]:
        return scrape_metrics(self.base, self.token)

    async def connect(
        self, watch: MouthWatch | None = None, keep_audio: bool = True, decode: bool = True
    ) -> AvatarClient:
        """A session with media flowing; `decode=False`: RTP arrivals only (client/wire.py), no decoding."""
        client = await AvatarClient.connect(self.url, token=self.token, decode=decode)
        client.keep_audio = keep_audio
        client.on_video = watch
        await client.wait_for_media(timeout=30)
        return client


async def keep_talking(
    client: AvatarClient, texts: Sequence[str] = TALK, talk_share: float = 1.0, rng: random.Random | None = None
) -> None:
    """Say one text after another, forever (cancel to stop); refused phrases do not stop it. With `talk_share`
    below 1, each utterance is followed by a pause of random length (0.5 to 1.5 times what makes the time from
    `say` to `speech_ended` that share of the whole on average), as a person answering questions would; with 0 the
    session stays silent (idle frames only)."""
    if talk_share <= 0:
        await asyncio.Event().wait()
    rng = rng or random.Random(0)
    index = 0
    while True:
        said = time.monotonic()
        await client.say(texts[index % len(texts)])
        ended = await client.wait_for("speech_ended", timeout=60, raise_errors=False)
        index += 1
        if talk_share < 1.0:
            await asyncio.sleep((ended["_at"] - said) * (1.0 - talk_share) / talk_share * rng.uniform(0.5, 1.5))


class TalkingSessions:
    """N clients, each talking (without pause, or `talk_share` of the time); more can be added while the
    others talk. `decode=False` clients do not decode what they receive (client/wire.py)."""

    def __init__(self, target: Target, decode: bool = True, talk_share: float = 1.0) -> None:
        self.target = target
        self.decode = decode
        self.talk_share = talk_share
        self.clients: list[AvatarClient] = []
        self._talkers: list[asyncio.Task] = []

    async def add(self) -> None:
        client = await self.target.connect(keep_audio=False, decode=self.decode)
        self.clients.append(client)
        self._talkers.append(asyncio.create_task(keep_talking(client, talk_share=self.talk_share)))

    async def close(self) -> None:
        for task in self._talkers:
            task.cancel()
        await asyncio.gather(*self._talkers, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


@contextlib.asynccontextmanager
async def talking_sessions(
    target: Target, decode: bool = True, talk_share: float = 1.0
) -> AsyncIterator[TalkingSessions]:
    sessions = TalkingSessions(target, decode, talk_share)
    try:
        yield sessions
    finally:
        await sessions.close()


