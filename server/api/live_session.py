"""A viewer's session once its offer is answered, whichever signaling opened it (the /ws protocol, LiveTalking's
/offer or /whep): the session's pipeline, the WebRTC peer that plays it, and its conversation with the LLM when
the server has one. Also what every such session does around that: admission into the session table, and the
watchdog that ends a session whose peer never connects.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import numpy as np

from engines.avatar.bundle import AvatarBundle
from server.api.messages import Offer, over_limit
from server.config import SecuritySettings
from server.llm.conversation import Conversation
from server.pipeline.errors import ProtocolError
from server.pipeline.events import Listener
from server.pipeline.session import SessionPipeline
from server.services import Services
from server.sessions import OpenSession
from server.transports.webrtc.peer import WebRtcPeer


class LiveSession:
    def __init__(
        self,
        pipeline: SessionPipeline,
        peer: WebRtcPeer,
        conversation: Conversation | None,
        candidates: CandidateBudget,
    ) -> None:
        self.pipeline = pipeline
        self.peer = peer
        self.conversation = conversation
        self._candidates = candidates

    @classmethod
    async def open(
        cls,
        services: Services,
        session_id: str,
        log: logging.LoggerAdapter,
        offer: Offer,
        on_end: Callable[[str], None],
        listener: Listener | None = None,
    ) -> LiveSession:
        """Answer `offer`: a pipeline with the offer's avatar, voice and mode, played by a WebRTC peer. `listener`
        gets the session's events from the first; `on_end(reason)` runs when the peer connection fails or closes.
        ProtocolError (bad_offer, unknown_avatar, unknown_voice, too_large, ice_failed) when the offer cannot be
        served."""
        candidates = CandidateBudget(services.config.security)
        candidates.offer(offer.sdp)
        bundle = services.avatar(offer.avatar)
        voice = services.voice_id(offer.voice) if offer.voice else services.default_voice
        peer = await WebRtcPeer.answer(
            offer.sdp, services.encoding, services.ice_servers(session_id), services.relay_only, log
        )
        try:
            voice_input = peer.voice_input() if offer.mode == "voice" else None
        except ProtocolError:
            await peer.close()
            raise
        pipeline = SessionPipeline(services.pipeline, avatar=bundle, voice=voice, log=log, voice_input=voice_input)
        if listener is not None:
            pipeline.events.listen(listener)
        await peer.start(pipeline)
        conversation = None
        if services.llm is not None and pipeline.mode == "text":
            conversation = Conversation(services.llm, pipeline, services.config.llm, services.metrics, log)

        def state(value: str) -> None:
            log.info("peer connection %s", value)
            if value in ("failed", "closed"):
                on_end(f"peer connection {value}")

        peer.on_state(state)
        log.info("answered %s-mode offer: avatar %s, voice %s", offer.mode, bundle.name, voice)
        return cls(pipeline, peer, conversation, candidates)

    @property
    def connected(self) -> bool:
        return self.peer.connected

    async def add_candidate(self, candidate: dict) -> None:
        """A trickled remote candidate, within the session's budget (too_large beyond it)."""
        self._candidates.take(1)
        await self.peer.add_candidate(candidate)

    def text(self, delta: str, id: str | None = None, flush: bool = False) -> None:
        """The client's own text (`text`, `say`): refused while an LLM answer streams into the session."""
        self._own_speech()
        self.pipeline.text(delta, id, flush)

    def flush(self) -> None:
        self._own_speech()
        self.pipeline.flush()

    def audio(self, pcm: np.ndarray) -> None:
        """Speech audio the client brings (see SessionPipeline.audio), also refused while an answer streams."""
        self._own_speech()
        self.pipeline.audio(pcm)

    def _own_speech(self) -> None:
        if self.conversation is not None and self.conversation.answering:
            raise ProtocolError(
                "bad_message", "an LLM answer is being spoken: send interrupt first, or wait for its reply_ended"
            )

    def chat(self, text: str, id: str | None = None) -> str:
        """Send the user's message to the LLM; its answer is spoken as it streams in. Returns the answer's id."""
        if self.pipeline.mode == "voice":
            raise ProtocolError("bad_message", "in voice mode the avatar speaks with your audio, not an LLM's answers")
        if self.conversation is None:
            raise ProtocolError("no_llm", "this server has no LLM to chat with (start it with --llm-url)")
        return self.conversation.ask(text, id)

    def set(self, avatar: AvatarBundle | None = None, voice: str | None = None) -> None:
        self.pipeline.set(avatar, voice)

    def interrupt(self, received_at: float) -> None:
        """Stop speaking now, and stop the LLM's answer (and the messages waiting for one)."""
        self.pipeline.interrupt(received_at)
        if self.conversation is not None:
            self.conversation.interrupt()

    async def close(self) -> None:
        if self.conversation is not None:
            await self.conversation.close()
        await self.pipeline.close()
        await self.peer.close()


class CandidateBudget:
    """The bounds on what a client's offer may make the server do: the SDP's size, and the remote ICE candidates
    of a session (in its offer and trickled together), each one a connectivity check the server sends to an
    address the client chose."""

    def __init__(self, security: SecuritySettings) -> None:
        self._security = security
        self._taken = 0

    def offer(self, sdp: str) -> None:
        """ProtocolError too_large for an SDP over the size limit or with too many candidates; else they count."""
        if over_limit(sdp, self._security.max_sdp_bytes):
            raise ProtocolError("too_large", f"the offer's SDP is over {self._security.max_sdp_bytes} bytes")
        self.take(sum(line.startswith("a=candidate:") for line in sdp.splitlines()))

    def take(self, count: int) -> None:
        limit = self._security.max_ice_candidates
        if self._taken + count > limit:
            raise ProtocolError("too_large", f"more than {limit} ICE candidates in this session")
        self._taken += count


async def ice_watchdog(timeout_s: float, connected: Callable[[], bool], close: Callable[[str], None]) -> None:
    """End a session whose media has not connected `timeout_s` after it began."""
    await asyncio.sleep(timeout_s)
    if not connected():
        close(f"ICE did not connect within {timeout_s:g} s")


def refusal(services: Services, address: str) -> str | None:
    """Why a new session from `address` is refused now (counted as refused and busy), or None to admit it."""
    reason = services.sessions.refusal() or services.addresses.session_refusal(address)
    if reason is not None:
        services.metrics.sessions_refused.inc()
        services.metrics.errors.labels("busy").inc()
    return reason


def admit(services: Services, session: OpenSession, address: str) -> Callable[[], None]:
    """Put the session in the session table (and the session gauges, and its address's count) now; returns the
    call that takes it out."""
    services.sessions.add(session)
    services.addresses.opened(address)
    services.metrics.sessions_total.inc()
    services.metrics.sessions_active.set(len(services.sessions))

    def release() -> None:
        services.sessions.remove(session)
        services.addresses.closed(address)
        services.metrics.sessions_active.set(len(services.sessions))

    return release
