"""The broadcast routes of the HTTP API (docs/protocol.md, "Broadcasts"), the control websocket behind
`/ws?broadcast=<id>`, WHEP viewing, the recordings, and what /healthz and /metrics say about broadcasts.

The token rule and the error shape are the /v1/ middleware's (server/api/v1.py): a handler raises ProtocolError.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from engines.names import find_entry
from server.api.broadcast import Broadcast
from server.api.control import control
from server.api.messages import parse_object
from server.api.v1 import error_response, read_json
from server.pipeline.errors import ProtocolError
from server.services import Services
from server.transports.base import STATES
from server.transports.file import NAME as RECORDING_NAME
from server.transports.registry import OUTPUTS

SDP = "application/sdp"


def open_broadcasts(services: Services, *, ending: bool = False) -> list[Broadcast]:
    """The broadcasts in the session table; with `ending`, also those whose end has begun."""
    return [s for s in services.sessions.values() if isinstance(s, Broadcast) and (ending or not s.ended)]


def find_broadcast(services: Services, broadcast_id: str) -> Broadcast:
    broadcast = services.sessions.get(broadcast_id)
    if not isinstance(broadcast, Broadcast) or broadcast.ended:
        raise ProtocolError("not_found", f"no broadcast {broadcast_id[:40]!r}")
    return broadcast


class BroadcastRoutes:
    def __init__(self, services: Services) -> None:
        self._services = services

    def routes(self) -> list[web.RouteDef]:
        base = "/v1/broadcasts/{id}"
        return [
            web.post("/v1/broadcasts", self.create),
            web.get(base, self.describe),
            web.delete(base, self.delete),
            web.post(base + "/say", self.steer("say")),
            web.post(base + "/text", self.steer("text")),
            web.post(base + "/flush", self.steer("flush")),
            web.post(base + "/interrupt", self.steer("interrupt")),
            web.post(base + "/whep", self.whep_offer),
            web.delete(base + "/whep/{viewer}", self.whep_end),
            web.get("/v1/recordings/{name}", self.recording),
        ]

    def _broadcast(self, request: web.Request) -> Broadcast:
        return find_broadcast(self._services, request.match_info["id"])

    async def create(self, request: web.Request) -> web.Response:
        broadcast = await Broadcast.create(self._services, await read_json(request))
        location = f"/v1/broadcasts/{broadcast.id}"
        body = {"id": broadcast.id, "ws": f"/ws?broadcast={broadcast.id}", "whep": f"{location}/whep"}
        return web.json_response(body, status=201, headers={"Location": location})

    async def describe(self, request: web.Request) -> web.Response:
        return web.json_response(self._broadcast(request).describe(), headers={"Cache-Control": "no-cache"})

    async def delete(self, request: web.Request) -> web.Response:
        await self._broadcast(request).end("DELETE")
        return web.Response(status=204)

    def steer(self, kind: str):
        """The handler of `/say`, `/text`, `/flush` or `/interrupt`: the websocket message of that type, its fields
        from the body."""

        async def handle(request: web.Request) -> web.Response:
            received_at = asyncio.get_running_loop().time()
            broadcast = self._broadcast(request)
            message = parse_object({**await read_json(request), "type": kind})
            control(broadcast.pipeline, message, self._services, received_at)
            return web.json_response({}, status=202)

        return handle

    async def whep_offer(self, request: web.Request) -> web.Response:
        broadcast = self._broadcast(request)
        if request.content_type != SDP:
            raise ProtocolError("bad_offer", f"a WHEP offer is sent as {SDP}, not {request.content_type[:60]!r}")
        viewer, answer = await broadcast.add_viewer(await request.text())
        headers = {"Location": f"/v1/broadcasts/{broadcast.id}/whep/{viewer}", "Cache-Control": "no-store"}
        return web.Response(status=201, text=answer, content_type=SDP, headers=headers)

    async def whep_end(self, request: web.Request) -> web.Response:
        if not await self._broadcast(request).remove_viewer(request.match_info["viewer"], "DELETE"):
            raise ProtocolError("not_found", "no such WHEP viewer of this broadcast")
        return web.Response(status=204)

    async def recording(self, request: web.Request) -> web.StreamResponse:
        """A finished recording, by its name only (never a path), with range requests for seeking."""
        folder = self._services.config.broadcast.recordings
        name = request.match_info["name"]
        path = find_entry(Path(folder), name, RECORDING_NAME) if folder is not None else None
        if path is None or path.is_symlink() or not path.is_file():  # a link planted there leads elsewhere
            raise ProtocolError("not_found", f"no recording {name[:60]!r}")
        return web.FileResponse(path, headers={"Content-Type": "video/mp4", "Cache-Control": "no-cache"})


async def control_websocket(request: web.Request, services: Services) -> web.StreamResponse:
    """`/ws?broadcast=<id>` (its token already checked): the broadcast's control connection."""
    try:
        broadcast = find_broadcast(services, request.query["broadcast"])
    except ProtocolError as error:
        return error_response(error.code, error.message)
    limits = services.config.limits
    ws = web.WebSocketResponse(max_msg_size=limits.ws_max_frame_bytes, heartbeat=limits.ws_heartbeat_s)
    await ws.prepare(request)
    connection = broadcast.control_connection(request, ws)
    connection.log.info("opened from %s", request.remote)
    await connection.run()
    return ws


class BroadcastMetrics(Collector):
    """/metrics lines of the open broadcasts' outputs, read from their states at each scrape."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[Any]:
        broadcasts = open_broadcasts(self._services)
        active = GaugeMetricFamily("avatar_broadcasts_active", "Broadcasts currently open")
        active.add_metric([], len(broadcasts))
        states = GaugeMetricFamily(
            "avatar_broadcast_outputs", "Outputs of open broadcasts, by kind and state", labels=["kind", "state"]
        )
        frames = CounterMetricFamily(
            "avatar_broadcast_output_frames_sent", "Video frames an output has sent", labels=["broadcast", "output", "kind"]
        )
        reconnects = CounterMetricFamily(
            "avatar_broadcast_output_reconnects", "Times an output has reconnected", labels=["broadcast", "output", "kind"]
        )
        viewers = GaugeMetricFamily("avatar_broadcast_whep_viewers", "WHEP viewers of open broadcasts")
        counts: Counter[tuple[str, str]] = Counter()
        for broadcast in broadcasts:
            for index, output in enumerate(broadcast.outputs):
                status = output.status()
                counts[status.kind, status.state] += 1
                labels = [broadcast.id, str(index), status.kind]
                frames.add_metric(labels, status.frames_sent)
                reconnects.add_metric(labels, status.reconnects)
        for kind in OUTPUTS:
            for state in STATES:
                states.add_metric([kind, state], counts[kind, state])
        viewers.add_metric([], sum(b.viewer_count for b in broadcasts))
        yield from (active, states, frames, reconnects, viewers)


def setup(app: web.Application, services: Services) -> None:
    """The broadcast routes, their lines in /healthz and /metrics, and their end at the server's shutdown (every
    output closed cleanly, every recording finalized)."""
    app.add_routes(BroadcastRoutes(services).routes())
    services.health_parts["broadcasts"] = lambda: [b.describe() for b in open_broadcasts(services)]
    services.metrics.registry.register(BroadcastMetrics(services))

    async def end_all(app: web.Application) -> None:
        await asyncio.gather(*(b.end("server stopping") for b in open_broadcasts(services, ending=True)))

    app.on_shutdown.append(end_all)
