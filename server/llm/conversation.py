"""One session's conversation with the LLM: the user's messages and the answers so far, one answer at a time.

The answer's deltas go into the session as `text` the moment they arrive (the chunker makes phrases of them, so
the avatar starts speaking on the answer's first phrase), and out to the session's clients as `reply` events so
a page can show it. An interrupt cancels the running request, which closes its upstream connection, and drops
the messages waiting behind it. A failing LLM costs its answer an `llm_failed` error, never the session.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from server.config import LlmSettings
from server.llm.client import LlmClient, LlmError, Message
from server.metrics import Metrics
from server.pipeline import events
from server.pipeline.errors import ProtocolError
from server.pipeline.session import SessionPipeline


@dataclass
class _Ask:
    id: str
    text: str
    received: list[str] = field(default_factory=list)

    @property
    def answer(self) -> str:
        return "".join(self.received)


class Conversation:
    def __init__(
        self,
        llm: LlmClient,
        pipeline: SessionPipeline,
        settings: LlmSettings,
        metrics: Metrics,
        log: logging.LoggerAdapter,
    ) -> None:
        self._llm = llm
        self._pipeline = pipeline
        self._settings = settings
        self._metrics = metrics
        self._log = log
        self._history: list[Message] = []
        self._count = 0
        self._waiting: asyncio.Queue[_Ask] = asyncio.Queue()
        self._current: _Ask | None = None
        self._worker = asyncio.create_task(self._work())

    @property
    def answering(self) -> bool:
        """An answer is streaming into the session (its utterance is open)."""
        return self._current is not None

    def ask(self, text: str, id: str | None = None) -> str:
        """Queue the user's message; its answer is spoken after those before it. Returns the id its `reply`
        events and its utterance carry (the client's, or `chat-N`). too_large when too many are waiting."""
        unanswered = self._waiting.qsize() + (self._current is not None)
        if unanswered > self._settings.llm_queue_limit:
            raise ProtocolError(
                "too_large", f"more than {self._settings.llm_queue_limit} chat messages would be waiting for answers"
            )
        self._count += 1
        ask = _Ask(id or f"chat-{self._count}", text)
        self._waiting.put_nowait(ask)
        return ask.id

    def interrupt(self) -> None:
        """Stop the answer being received (its upstream request is closed) and drop the messages waiting."""
        self._worker.cancel()
        stopped = [self._current] if self._current is not None else []
        while not self._waiting.empty():
            stopped.append(self._waiting.get_nowait())
        self._current = None
        for ask in stopped:
            self._remember(ask)
            self._pipeline.events.emit(events.reply_ended(ask.id, ask.answer, "interrupted"))
        self._worker = asyncio.create_task(self._work())

    async def close(self) -> None:
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            self._current = await self._waiting.get()
            await self._answer(self._current)
            self._current = None

    async def _answer(self, ask: _Ask) -> None:
        def on_delta(delta: str) -> None:
            self._pipeline.text(delta, ask.id)  # too_large here ends the request
            ask.received.append(delta)
            self._pipeline.events.emit(events.reply(ask.id, delta))

        self._pipeline.flush()  # an utterance the client left open is not part of the answer
        reason = "done"
        try:
            await self._llm.stream(self._messages(ask.text), on_delta)
        except LlmError as error:
            self._log.warning("LLM answer %s failed: %s", ask.id, error)
            reason = "error"
            self._refuse(ProtocolError("llm_failed", f"{error}; the answer stops here"))
        except ProtocolError as error:
            reason = "error"
            self._refuse(error)
        except Exception as exc:  # a bug costs this answer, never the session's later ones
            self._log.exception("LLM answer %s failed", ask.id)
            reason = "error"
            self._refuse(ProtocolError("llm_failed", f"{type(exc).__name__}: {exc}; the answer stops here"))
        self._pipeline.flush()
        self._remember(ask)
        self._pipeline.events.emit(events.reply_ended(ask.id, ask.answer, reason))

    def _messages(self, text: str) -> list[Message]:
        system = [{"role": "system", "content": self._settings.llm_system}] if self._settings.llm_system else []
        return [*system, *self._history, {"role": "user", "content": text}]

    def _remember(self, ask: _Ask) -> None:
        """An answer that never began is not history: the next request keeps user and assistant turns alternating."""
        if ask.answer:
            self._history += [{"role": "user", "content": ask.text}, {"role": "assistant", "content": ask.answer}]
            del self._history[: max(0, len(self._history) - self._settings.llm_history_messages)]

    def _refuse(self, error: ProtocolError) -> None:
        self._metrics.errors.labels(error.code).inc()
        self._pipeline.events.emit(error.event())
