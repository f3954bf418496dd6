"""A broadcast (docs/protocol.md, "Broadcasts"): a session without a viewer peer of its own. Its pipeline starts at
once; its audio and video go to its outputs (RTMP, WHIP, Janus, file: several at once), to the few WHEP viewers
that ask for them, and its events to the control websockets that listen.

One H.264 + AAC encoder serves every output that muxes encoded media. A broadcast counts against the session
limit like any session. An output that fails or retries never ends the broadcast; `DELETE` (or the server's
shutdown) ends it, closing every output cleanly, and releases everything it holds.
"""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from server.api.connection import WsConnection
from server.api.control import control
from server.api.live_session import CandidateBudget
from server.api.messages import Ice, Message, Offer
from server.pipeline.errors import ProtocolError
from server.pipeline.session import SessionPipeline
from server.services import Services
from server.sessions import SessionLog, session_log
from server.transports.base import Output
from server.transports.encoder import BroadcastEncoder
from server.transports.registry import build_outputs
from server.transports.requests import OutputContext
from server.transports.webrtc.peer import WebRtcPeer


def _name(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise ProtocolError("bad_message", f"'{field}' must be a string")
    return value


class Broadcast:
    def __init__(
        self,
        services: Services,
        broadcast_id: str,
        log: SessionLog,
        pipeline: SessionPipeline,
        encoder: BroadcastEncoder,
        outputs: list[Output],
    ) -> None:
        self.id = broadcast_id
        self.log = log
        self.pipeline = pipeline
        self.outputs = outputs
        self._services = services
        self._encoder = encoder
        self._viewers: dict[str, WebRtcPeer] = {}
        self._viewer_tasks: set[asyncio.Task] = set()
        self._controls: set[BroadcastControl] = set()
        self._ending: asyncio.Task | None = None

    @classmethod
    async def create(cls, services: Services, body: dict[str, Any]) -> Broadcast:
        """Check the request (`{"avatar"?, "voice"?, "outputs": [...]}`), then start the broadcast; ProtocolError
        (busy, bad_message, unknown_avatar, unknown_voice, bad_output) with nothing started when it is refused."""
        refusal = services.sessions.refusal()
        if refusal is not None:
            services.metrics.sessions_refused.inc()
            raise ProtocolError("busy", refusal)
        bundle = services.avatar(_name(body, "avatar"))
        voice_name = _name(body, "voice")
        voice = services.voice_id(voice_name) if voice_name else services.default_voice
        if "outputs" not in body:
            raise ProtocolError("bad_message", "a broadcast needs the field 'outputs' (a list, possibly empty)")
        broadcast_id = uuid.uuid4().hex[:12]
        log = session_log(broadcast_id)
        encoder = BroadcastEncoder(services.config.broadcast, log)
        outputs = build_outputs(body["outputs"], OutputContext(broadcast_id, services.config, encoder, log, services.encoding))
        pipeline = SessionPipeline(services.pipeline, avatar=bundle, voice=voice, log=log)
        encoder.attach(pipeline)
        broadcast = cls(services, broadcast_id, log, pipeline, encoder, outputs)
        services.sessions.add(broadcast)
        services.metrics.sessions_total.inc()
        services.metrics.sessions_active.set(len(services.sessions))
        for output in outputs:
            try:
                await output.start(pipeline)
            except Exception:  # an output's own failure to start costs that output, never the broadcast
                log.exception("the %s output could not start", output.status().kind)
        pipeline.start()
        log.info("broadcast started: avatar %s, voice %s, outputs %s", bundle.name, voice,
                 ", ".join(o.status().kind for o in outputs) or "none")
        return broadcast

    @property
    def ended(self) -> bool:
        return self._ending is not None

    @property
    def viewer_count(self) -> int:
        return len(self._viewers)

    def describe(self) -> dict[str, Any]:
        """What `GET /v1/broadcasts/<id>` (and /healthz) says about it."""
        return {
            "id": self.id,
            "speaking": self.pipeline.speaking,
            "outputs": [output.status().as_dict() for output in self.outputs],
            "viewers": self.viewer_count,
        }

    def close(self, reason: str) -> None:
        """Begin ending the broadcast (from anywhere; `end` waits until it has)."""
        if self._ending is None:
            self.log.info("ending broadcast: %s", reason)
            self._ending = asyncio.create_task(self._teardown())

    async def end(self, reason: str) -> None:
        self.close(reason)
        await asyncio.shield(self._ending)

    async def _teardown(self) -> None:
        for connection in list(self._controls):
            connection.close("broadcast ended")
        for task in self._viewer_tasks:
            task.cancel()
        await asyncio.gather(*self._viewer_tasks, return_exceptions=True)
        viewers, self._viewers = list(self._viewers.values()), {}
        await self._encoder.finish()  # the last encoded samples go out with the outputs' ends
        await asyncio.gather(*(self._close_quietly(output) for output in [*self.outputs, *viewers]))
        await self._encoder.close()
        await self.pipeline.close()
        self._services.sessions.remove(self)
        self._services.metrics.sessions_active.set(len(self._services.sessions))
        self.log.info("broadcast ended")

    async def _close_quietly(self, output: Output) -> None:
        try:
            await output.close()
        except Exception:  # one output that cannot close cleanly must not keep the others open
            self.log.exception("could not close the %s output", output.status().kind)

    async def add_viewer(self, sdp: str) -> tuple[str, str]:
        """A WHEP viewer: its id and the SDP answer; ProtocolError bad_offer, busy, too_large or ice_failed."""
        limit = self._services.config.broadcast.max_whep_viewers
        if len(self._viewers) >= limit:
            raise ProtocolError("busy", f"this broadcast has its {limit} WHEP viewers; more viewers go through an SFU output")
        services = self._services
        CandidateBudget(services.config.security).offer(sdp)
        viewer_id = uuid.uuid4().hex[:12]
        servers = services.ice_servers(f"{self.id}-{viewer_id}")
        peer = await WebRtcPeer.answer(sdp, services.encoding, servers, services.relay_only, self.log)
        if self.ended:
            await peer.close()
            raise ProtocolError("not_found", "the broadcast has ended")
        await peer.start(self.pipeline)
        self._viewers[viewer_id] = peer

        def state(value: str) -> None:
            if value in ("failed", "closed"):
                self._spawn(self.remove_viewer(viewer_id, f"peer connection {value}"))

        peer.on_state(state)
        self._spawn(self._ice_watchdog(viewer_id, peer))
        self.log.info("WHEP viewer %s joined (%d viewing)", viewer_id, len(self._viewers))
        return viewer_id, peer.local_sdp

    async def remove_viewer(self, viewer_id: str, reason: str) -> bool:
        """End one WHEP viewer; False when there is no such viewer."""
        peer = self._viewers.pop(viewer_id, None)
        if peer is None:
            return False
        await peer.close()
        self.log.info("WHEP viewer %s left: %s", viewer_id, reason)
        return True

    async def _ice_watchdog(self, viewer_id: str, peer: WebRtcPeer) -> None:
        timeout = self._services.config.limits.ice_timeout_s
        await asyncio.sleep(timeout)
        if not peer.connected:
            await self.remove_viewer(viewer_id, f"ICE did not connect within {timeout:g} s")

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._viewer_tasks.add(task)
        task.add_done_callback(self._viewer_tasks.discard)

    def control_connection(self, request: web.Request, ws: web.WebSocketResponse) -> BroadcastControl:
        connection = BroadcastControl(request, ws, self._services, self)
        self._controls.add(connection)
        return connection

    def forget(self, connection: BroadcastControl) -> None:
        self._controls.discard(connection)


class BroadcastControl(WsConnection):
    """The control websocket of a broadcast (`/ws?broadcast=<id>`): the session's messages except `offer`, and its
    events. `bye` or closing it ends this connection only; the broadcast goes on until `DELETE`."""

    what = "control websocket"

    def __init__(
        self, request: web.Request, ws: web.WebSocketResponse, services: Services, broadcast: Broadcast
    ) -> None:
        super().__init__(request, ws, services, session_log(f"{broadcast.id} control"))
        self._broadcast = broadcast
        self._stop_listening = broadcast.pipeline.events.listen(self.emit)

    async def _handle(self, message: Message, received_at: float) -> None:
        if isinstance(message, Offer):
            whep = f"/v1/broadcasts/{self._broadcast.id}/whep"
            raise ProtocolError("bad_offer", f"a broadcast takes no offer: watch it over WHEP at {whep}")
        if isinstance(message, Ice):
            raise ProtocolError("bad_message", "a broadcast's control websocket has no peer connection for ICE candidates")
        if self._broadcast.ended:
            raise ProtocolError("not_found", "the broadcast has ended")
        control(self._broadcast.pipeline, message, self._services, received_at)

    async def _release(self) -> None:
        self._stop_listening()
        self._broadcast.forget(self)
