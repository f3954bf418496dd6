"""The open sessions of this process (websocket sessions, broadcasts) and whether another may open now."""
from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from server.admission import Admission

logger = logging.getLogger("server.session")

# Ids of the sessions opened while one HTTP request is handled: its response names them (server/api/affinity.py).
opened_here: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("opened_here", default=None)
DRAINING = "the server is shutting down and takes no new session; retry (another server will take it)"


class SessionLog(logging.LoggerAdapter):
    """Every line of a session's log starts with its id."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[session {self.extra['session']}] {msg}", kwargs


def session_log(session_id: str) -> SessionLog:
    return SessionLog(logger, {"session": session_id})


class OpenSession(Protocol):
    id: str

    def close(self, reason: str) -> None:
        """Ask the session to end (it tears itself down)."""


class SessionTable(Mapping[str, "OpenSession"]):
    """Open sessions by id (a read-only mapping), with `add`/`remove` and the admission decision. Once
    `draining`, every new session is refused and the open ones run to their end."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.draining = False
        self.decisions = 0  # admission decisions so far, admitted or refused (a supervisor's in-flight count)
        self._open: dict[str, OpenSession] = {}
        self._empty = asyncio.Event()
        self._empty.set()

    def refusal(self) -> str | None:
        """Why a new session would be refused now, or None to admit it."""
        self.decisions += 1
        if self.draining:
            return DRAINING
        return self.admission.refusal(len(self._open))

    def add(self, session: OpenSession) -> None:
        self._open[session.id] = session
        self._empty.clear()
        opened = opened_here.get()
        if opened is not None:
            opened.append(session.id)

    def remove(self, session: OpenSession) -> None:
        self._open.pop(session.id, None)
        if not self._open:
            self._empty.set()

    async def drained(self) -> None:
        """Until every session has left the table: each removes itself once torn down, whether its teardown
        runs in a request handler (/ws) or in a task of its own (the LiveTalking routes)."""
        await self._empty.wait()

    def __getitem__(self, session_id: str) -> OpenSession:
        return self._open[session_id]

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._open))
