"""A session opened through the LiveTalking-compatible routes (/offer, /whep): there is no websocket, so its
requests name it by `sessionid`, its events go to whichever /sse streams are open on it, and it ends when its
WebRTC peer's connection ends or never connects (as a /ws session's watchdog does), or on DELETE /whep/<id>.
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import Callable

from server.api.live_session import LiveSession, ice_watchdog
from server.api.messages import Offer
from server.pipeline import events
from server.pipeline.events import Event
from server.services import Services
from server.sessions import session_log

# LiveTalking's clients keep the session id in a number (some versions parseInt it): ids are integers a
# JavaScript number holds exactly, drawn at random so that one client cannot guess another's.
_ID_LOW, _ID_HIGH = 10**14, 2**53


def new_session_id(services: Services) -> str:
    while True:
        candidate = str(_ID_LOW + secrets.randbelow(_ID_HIGH - _ID_LOW))
        if candidate not in services.sessions:
            return candidate


class EventStream:
    """The events of one /sse client, bounded: a client that stops reading loses its stream, never the session."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.end_reason: str | None = None

    def put(self, event: Event) -> None:
        if self.end_reason is not None:
            return
        if len(self._events) >= self._limit:
            self._events.clear()
            self.end(f"the client left {self._limit} events unread")
            return
        self._events.append(event)
        self._ready.set()

    def end(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            self._ready.set()

    async def take(self, wait_s: float) -> list[Event]:
        """The events waiting, once there are any (or the stream ended); none after `wait_s` of quiet."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self._ready.wait()
        self._ready.clear()
        taken = list(self._events)
        self._events.clear()
        return taken


class LiveTalkingSession:
    def __init__(self, services: Services, session_id: str) -> None:
        self.id = session_id
        self.log = session_log(session_id)
        self._services = services
        self.live: LiveSession | None = None
        self._streams: set[EventStream] = set()
        self._closed = asyncio.Event()
        self._reason = ""
        self._task: asyncio.Task | None = None

    async def open(self, offer: Offer, release: Callable[[], None]) -> LiveSession:
        """Answer the offer and run the session until it ends; `release` takes it out of the session table then.
        ProtocolError (and no session) when the offer cannot be served."""
        try:
            self.live = await LiveSession.open(
                self._services, self.id, self.log, offer, self.close, listener=self._publish
            )
        except BaseException:
            release()
            raise
        self._task = asyncio.create_task(self._run(release))
        return self.live

    def close(self, reason: str) -> None:
        """Ask the session to end (it tears itself down)."""
        if not self._closed.is_set():
            self.log.info("closing: %s", reason)
            self._reason = reason
            self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def subscribe(self) -> EventStream:
        """A new /sse client's stream of this session's events from now on."""
        stream = EventStream(self._services.config.limits.outbox_limit)
        self._streams.add(stream)
        return stream

    def unsubscribe(self, stream: EventStream) -> None:
        self._streams.discard(stream)

    def _publish(self, event: Event) -> None:
        for stream in list(self._streams):
            stream.put(event)

    def _connected(self) -> bool:
        return self.live is not None and self.live.connected

    async def _run(self, release: Callable[[], None]) -> None:
        watchdog = asyncio.create_task(
            ice_watchdog(self._services.config.limits.ice_timeout_s, self._connected, self.close)
        )
        try:
            await self._closed.wait()
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)
            live, self.live = self.live, None
            if live is not None:
                await live.close()
            for stream in list(self._streams):
                stream.put(events.session_ended(self._reason))
                stream.end(self._reason)
            self._streams.clear()
            release()
            self.log.info("session ended")
