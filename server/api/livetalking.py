"""LiveTalking-compatible routes (docs/protocol.md, "LiveTalking-compatible routes"), so that clients written for
LiveTalking's API (its web pages, scripts, apps) work unchanged against this server.

Every JSON route answers HTTP 200 with `{"code": 0, "msg": "ok", "data"?}` or, refused, `{"code": -1, "msg": why,
"error": one of docs/protocol.md's codes}`, as LiveTalking does; only /whep, a standard, answers with HTTP
statuses. Session ids are integers (LiveTalking's clients hold them in numbers); requests may send them as a
number or a string. Pages on other origins may call these routes (CORS, --cors-origin), as they may LiveTalking's.
"""
from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiohttp import web

from engines.audio_file import AudioFileError, AudioTooLong, read_audio
from engines.timebase import TIMELINE_RATE, seconds_to_samples
from server.api.addresses import request_address
from server.api.auth import token_ok
from server.api.live_session import LiveSession, admit, refusal
from server.api.livetalking_session import LiveTalkingSession, new_session_id
from server.api.messages import Offer, encode, typed_field
from server.api.v1 import read_form
from server.pipeline.errors import ProtocolError, quote
from server.services import Services

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_EXPOSED_HEADERS = "X-Session-ID, Location"
_BODY = "the request"
_UNSUPPORTED = {
    "/record": "recording is not supported here: record the client side, or use an MP4 file output of a broadcast",
    "/set_audiotype": "custom idle motions (audiotype) are not supported: the avatar has one idle behaviour",
}


def ok(data: Any = None) -> web.Response:
    body: dict[str, Any] = {"code": 0, "msg": "ok"}
    if data is not None:
        body["data"] = data
    return web.json_response(body)


class LiveTalkingApi:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._settings = services.config.livetalking

    def routes(self) -> list[web.RouteDef]:
        handlers: dict[str, tuple[str, Handler]] = {
            "/offer": ("POST", self.offer),
            "/whep": ("POST", self.whep),
            "/whep/{sessionid}": ("DELETE", self.whep_delete),
            "/human": ("POST", self.human),
            "/humanaudio": ("POST", self.humanaudio),
            "/interrupt_talk": ("POST", self.interrupt_talk),
            "/is_speaking": ("POST", self.is_speaking),
            "/sse": ("GET", self.sse),
            **{path: ("POST", self._unsupported) for path in _UNSUPPORTED},
        }
        routes = [web.route(method, path, self._guarded(handler)) for path, (method, handler) in handlers.items()]
        return routes + [web.options(path, self._preflight) for path in handlers]

    # --- the routes ---------------------------------------------------------------------------------------------

    async def offer(self, request: web.Request) -> web.Response:
        """`{"sdp", "type": "offer", "avatar"?, "voice"?}` -> `{"sdp", "type": "answer", "sessionid"}`."""
        try:
            params = await _json(request)
            if params.get("type", "offer") != "offer":
                raise ProtocolError("bad_offer", f"'type' must be 'offer', not {quote(str(params['type']))}")
            sdp = typed_field(params, "sdp", str, required=True, of=_BODY)
            avatar, voice = typed_field(params, "avatar", str, of=_BODY), typed_field(params, "voice", str, of=_BODY)
            offer = Offer(sdp, avatar, voice)
            session, live = await self._open(offer, request_address(request))
        except ProtocolError as error:
            return self._refused(error)
        return web.json_response({"sdp": live.peer.local_sdp, "type": "answer", "sessionid": int(session.id)})

    async def whep(self, request: web.Request) -> web.Response:
        """WHEP: an SDP offer in, `201` with the answer, `X-Session-ID` and the resource's `Location` out."""
        if request.content_type != "application/sdp":
            return self._refused(ProtocolError("bad_offer", "send the offer as application/sdp"), status=415)
        try:
            offer = Offer(await _body_text(request), request.query.get("avatar"), request.query.get("voice"))
            session, live = await self._open(offer, request_address(request))
        except ProtocolError as error:
            return self._refused(error, status=503 if error.code == "busy" else 400)
        return web.Response(
            status=201,
            text=live.peer.local_sdp,
            content_type="application/sdp",
            headers={"X-Session-ID": session.id, "Location": f"/whep/{session.id}"},
        )

    async def whep_delete(self, request: web.Request) -> web.Response:
        try:
            session = self._session(request.match_info["sessionid"])
        except ProtocolError as error:
            return self._refused(error, status=404)
        session.close("the client deleted its WHEP resource")
        return ok()

    async def human(self, request: web.Request) -> web.Response:
        """`{"sessionid", "text", "type": "echo" | "chat", "interrupt"?}`: speak the text, or the LLM's answer."""
        try:
            params = await _json(request)
            live = self._live(params.get("sessionid"))
            text = typed_field(params, "text", str, required=True, of=_BODY)
            kind = params.get("type")
            if kind not in ("echo", "chat"):
                raise ProtocolError("bad_message", f"'type' must be 'echo' or 'chat', not {quote(str(kind))}")
            if params.get("interrupt"):
                live.interrupt(asyncio.get_running_loop().time())
            if kind == "chat":
                return ok({"id": live.chat(text)})
            live.text(text, flush=True)
        except ProtocolError as error:
            return self._refused(error)
        return ok()

    async def humanaudio(self, request: web.Request) -> web.Response:
        """Multipart `sessionid` + `file` (any format FFmpeg reads): the avatar speaks that audio."""
        try:
            fields = await self._form(request)
            live = self._live(fields.get("sessionid"))
            if not isinstance(fields.get("file"), bytes):
                raise ProtocolError("bad_message", "a /humanaudio upload needs the file in the form field 'file'")
            pcm = await self._decode(fields["file"])
            speaker = live.pipeline.speaker
            limit = seconds_to_samples(self._settings.max_audio_s)
            if speaker is not None and speaker.pending_audio + len(pcm) > limit:
                raise ProtocolError(
                    "too_large", f"more than {self._settings.max_audio_s:g} s of audio would be waiting to be spoken"
                )
            chunk = max(1, seconds_to_samples(self._settings.audio_chunk_s))
            for start in range(0, len(pcm), chunk):
                live.audio(pcm[start : start + chunk])
            live.flush()
        except ProtocolError as error:
            return self._refused(error)
        return ok()

    async def interrupt_talk(self, request: web.Request) -> web.Response:
        try:
            self._live((await _json(request)).get("sessionid")).interrupt(asyncio.get_running_loop().time())
        except ProtocolError as error:
            return self._refused(error)
        return ok()

    async def is_speaking(self, request: web.Request) -> web.Response:
        try:
            return ok(self._live((await _json(request)).get("sessionid")).pipeline.speaking)
        except ProtocolError as error:
            return self._refused(error)

    async def sse(self, request: web.Request) -> web.StreamResponse:
        """The session's events as server-sent events, one JSON object per `data:` line, until the session ends
        (its last event is `session_ended`); a comment line keeps an idle stream open through proxies."""
        try:
            session = self._session(request.query.get("sessionid"))
        except ProtocolError as error:
            return self._refused(error, status=404)
        stream = session.subscribe()
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                **self._cors_headers(request),
            }
        )
        try:
            await response.prepare(request)
            await response.write(b": connected\n\n")
            while stream.end_reason is None:
                taken = await stream.take(self._settings.sse_heartbeat_s)
                payload = "".join(f"data: {encode(event)}\n\n" for event in taken) or ": keep-alive\n\n"
                await response.write(payload.encode())
        except ConnectionError:
            session.log.info("an /sse client went away")
        finally:
            session.unsubscribe(stream)
        return response

    async def _unsupported(self, request: web.Request) -> web.Response:
        return self._refused(ProtocolError("not_supported", _UNSUPPORTED[request.path]))

    def _refused(self, error: ProtocolError, status: int = 200) -> web.Response:
        """A refusal in LiveTalking's shape, counted by code like the websocket's (busy is counted on admission)."""
        if error.code != "busy":
            self._services.metrics.errors.labels(error.code).inc()
        return web.json_response({"code": -1, "msg": error.message, "error": error.code}, status=status)

    # --- sessions -----------------------------------------------------------------------------------------------

    async def _open(self, offer: Offer, address: str) -> tuple[LiveTalkingSession, LiveSession]:
        services = self._services
        reason = refusal(services, address)
        if reason is not None:
            raise ProtocolError("busy", reason)
        session = LiveTalkingSession(services, new_session_id(services))
        live = await session.open(offer, admit(services, session, address))
        session.log.info("opened through the LiveTalking routes from %s", address)
        return session, live

    def _session(self, sessionid: Any) -> LiveTalkingSession:
        """The open LiveTalking session a request names (a number, or a string of digits), or ProtocolError."""
        if sessionid is None or sessionid == "":
            raise ProtocolError("bad_message", "the request needs a 'sessionid' (from the /offer answer)")
        if isinstance(sessionid, bool) or not isinstance(sessionid, (int, str)):
            raise ProtocolError("bad_message", "'sessionid' must be a number or a string")
        key = str(sessionid).strip()
        session = self._services.sessions.get(key)
        if not isinstance(session, LiveTalkingSession) or session.closed:
            raise ProtocolError("no_session", f"session {quote(key)} not found: open one with /offer")
        return session

    def _live(self, sessionid: Any) -> LiveSession:
        live = self._session(sessionid).live
        if live is None:
            raise ProtocolError("no_session", "the session is still starting or already ending")
        return live

    # --- request bodies -----------------------------------------------------------------------------------------

    async def _form(self, request: web.Request) -> dict[str, str | bytes]:
        """A multipart form: text fields as str, the file as bytes, all bounded by max_upload_bytes."""
        return await read_form(request, ("file",), "'sessionid' and 'file'", self._settings.max_upload_bytes)

    async def _decode(self, data: bytes) -> np.ndarray:
        """The upload as int16 mono at the timeline's rate (decoded in a worker thread: the loop paces media)."""
        try:
            pcm, _ = await asyncio.to_thread(read_audio, io.BytesIO(data), TIMELINE_RATE, self._settings.max_audio_s)
        except AudioFileError as error:
            code = "too_large" if isinstance(error, AudioTooLong) else "bad_message"
            raise ProtocolError(code, f"could not use the uploaded audio: {error}") from None
        if not len(pcm):
            raise ProtocolError("bad_message", "the uploaded audio is empty")
        return pcm

    # --- access and CORS ----------------------------------------------------------------------------------------

    def _guarded(self, handler: Handler) -> Handler:
        """The access token when the server has one (`?token=` or `Authorization: Bearer`), and CORS headers."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            if not token_ok(self._services.config.token, _given_token(request)):
                response: web.StreamResponse = self._refused(
                    ProtocolError("unauthorized", "missing or wrong access token"), status=401
                )
            else:
                response = await handler(request)
            if not response.prepared:
                response.headers.update(self._cors_headers(request))
            return response

        return guarded

    async def _preflight(self, request: web.Request) -> web.Response:
        headers = self._cors_headers(request)
        if headers:
            headers.update({
                "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
                "Access-Control-Allow-Headers": request.headers.get(
                    "Access-Control-Request-Headers", "Content-Type, Authorization"
                ),
                "Access-Control-Max-Age": "600",
            })
        return web.Response(status=204, headers=headers)

    def _cors_headers(self, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        origins = self._settings.cors_origins
        if origin is None or ("*" not in origins and origin not in origins):
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": _EXPOSED_HEADERS,
            "Vary": "Origin",
        }


def _given_token(request: web.Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else request.query.get("token", "")


async def _body_text(request: web.Request) -> str:
    try:
        return await request.text()
    except web.HTTPRequestEntityTooLarge:
        raise ProtocolError("too_large", f"a request body is limited to {request.client_max_size} bytes") from None


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        params = json.loads(await _body_text(request))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise ProtocolError("bad_message", "the body must be a JSON object")
    return params

