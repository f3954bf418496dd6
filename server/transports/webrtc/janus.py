"""Janus VideoRoom output (`{"janus": "http://host:8088/janus", "room": 1234, "pin"?, "display"?, "apisecret"?,
"token"?, "iceServers"?}`): the session published into a room of a Janus WebRTC server through Janus's own HTTP API, so that any
number of viewers subscribe through Janus and this server sends one stream whatever their number.

Each attempt creates a Janus session, attaches `janus.plugin.videoroom`, joins the room as a publisher and sends
`configure` with the offer (every candidate in it: no trickle); the answer comes back through the long poll, and
keep-alives hold the session. The publication ends when the peer's connection does, or when Janus hangs it up,
detaches it, destroys the room or loses the session (Janus restarted, went away or timed it out); the output then
detaches, destroys the session and tries again with backoff. A refused secret or token, an unknown room or a wrong
PIN fail the output with Janus's reason. Closing detaches the handle (the feed leaves the room) and destroys the
session.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from server.transports.encoder import BroadcastEncoder
from server.transports.requests import OutputContext, bad_output, known_fields, text_field, url_field
from server.transports.webrtc.encoders import Encoding
from server.transports.webrtc.ice import IceConfig, publishing_ice
from server.transports.webrtc.janus_api import JanusError, JanusHandle, JanusSession
from server.transports.webrtc.publishing import (
    PublishingOutput,
    PublishSettings,
    Refused,
    Unavailable,
    origin,
    shared_encoder,
)

SCHEMES = ("http", "https")
FIELDS = ("janus", "room", "pin", "display", "apisecret", "token", "iceServers")
PLUGIN = "janus.plugin.videoroom"
# Janus core errors that no retry mends: 403 wrong or missing API secret or token, 405 plugin not allowed for the
# token, 460 no such plugin (VideoRoom not loaded).
REFUSING_CORE = {403, 405, 460}
# VideoRoom errors that no retry mends: 426 no such room, 429 missing and 430 invalid element (a request this
# Janus does not understand), 433 unauthorized (wrong PIN).
REFUSING_VIDEOROOM = {426, 429, 430, 433}


class JanusOutput(PublishingOutput):
    kind = "janus"

    def __init__(
        self,
        api_url: str,
        room: int | str,
        *,
        display: str,
        pin: str | None,
        apisecret: str | None,
        token: str | None,
        keepalive_s: float,
        ice: IceConfig,
        settings: PublishSettings,
        log: logging.LoggerAdapter,
        encoding: Encoding,
        encoder: BroadcastEncoder | None = None,
    ) -> None:
        url = urlsplit(api_url)
        super().__init__(origin(url) + url.path, ice, settings, log, encoding, encoder)  # no user info, query or fragment
        self._api_url = api_url
        self.room = room
        self._display = display
        self._pin = pin
        self._credentials = {"apisecret": apisecret, "token": token}
        self._keepalive_s = keepalive_s
        self._session: JanusSession | None = None
        self._handle: JanusHandle | None = None

    @classmethod
    def from_request(cls, spec: Mapping[str, Any], context: OutputContext) -> JanusOutput:
        """The output a broadcast request asks for, or ProtocolError bad_output. The feed's name in the room is
        "avatar <broadcast id>" unless the request names one."""
        known_fields(spec, FIELDS)
        url = url_field(spec, "janus", SCHEMES)
        room = _room(spec.get("room"))
        return cls(
            url.geturl(),
            room,
            display=text_field(spec, "display", max_chars=256) or f"avatar {context.broadcast_id}",
            pin=text_field(spec, "pin", max_chars=256),
            apisecret=text_field(spec, "apisecret", max_chars=1024),
            token=text_field(spec, "token", max_chars=4096),
            keepalive_s=context.config.publishing.janus_keepalive_s,
            ice=publishing_ice(spec.get("iceServers"), context.config.ice, context.broadcast_id),
            settings=PublishSettings.of(context.config),
            log=context.log,
            encoding=context.webrtc_encoding,
            encoder=shared_encoder(context),
        )

    async def _signal(self, offer: str) -> str:
        try:
            session = self._session = JanusSession(
                self.http,
                self._api_url,
                request_timeout_s=self._settings.request_timeout_s,
                keepalive_s=self._keepalive_s,
                log=self._log,
                **self._credentials,
            )
            await session.create()
            handle = self._handle = await session.attach(PLUGIN)
            join = {"request": "join", "ptype": "publisher", "room": self.room, "display": self._display}
            if self._pin is not None:
                join["pin"] = self._pin
            joined, _ = await handle.message(join)
            self._log.info("janus %s: joined room %s as publisher %s", self.public_url, self.room, joined.get("id"))
            _, jsep = await handle.message({"request": "configure", "audio": True, "video": True},
                                           jsep={"type": "offer", "sdp": offer})
        except JanusError as exc:
            raise (Refused if _refusing(exc) else Unavailable)(str(exc)) from None
        if not jsep or jsep.get("type") != "answer" or not isinstance(jsep.get("sdp"), str):
            raise Unavailable("Janus answered the configure request without an SDP answer")
        return jsep["sdp"]

    async def _watch(self) -> str:
        assert self._handle is not None
        return await self._handle.ended

    async def _release(self) -> None:
        if self._handle is not None:
            await self._handle.detach()
            self._handle = None
        if self._session is not None:
            await self._session.destroy()
            self._session = None


def _refusing(error: JanusError) -> bool:
    """Whether no retry can mend this: Janus's refusal, or an HTTP answer that says the URL is not Janus's API."""
    if error.http_status is not None:
        return 400 <= error.http_status < 500 or error.http_status == 200  # 200: answered, but not Janus
    return error.code in (REFUSING_VIDEOROOM if error.plugin else REFUSING_CORE)


def _room(value: Any) -> int | str:
    """A VideoRoom id: a positive integer, or a string where Janus is set up with string_ids."""
    valid_int = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63
    valid_str = isinstance(value, str) and 0 < len(value) <= 256
    if not (valid_int or valid_str):
        raise bad_output("a Janus output needs 'room': the VideoRoom's id, a positive integer (or a string where "
                         "Janus has string_ids)")
    return value
