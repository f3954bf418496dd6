"""A Janus WebRTC server for the tests and benchmarks, and viewers that watch a VideoRoom feed through it.

`JanusServer` runs Debian's `janus` as a child process with a configuration folder of its own: the VideoRoom
plugin with the given rooms, the HTTP transport on a free loopback port, no other plugin, transport, event handler
or logger. Janus never gathers loopback ICE candidates (it skips loopback interfaces), so its media runs on one of
the machine's own addresses (`media_address()`); every peer that talks to it must offer that address too.

`JanusViewer` subscribes to a room's publisher with aiortc through Janus's HTTP API (the server's own client of
it), as a viewer's page would, and keeps what it receives (harness/reception.py).
"""
from __future__ import annotations

import asyncio
import glob
import json
import logging
import shutil
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import ifaddr
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from harness.child_server import ChildServer
from harness.reception import Reception
from harness.server_process import free_port
from server.transports.webrtc.janus_api import JanusHandle, JanusSession

VIDEOROOM = "janus.plugin.videoroom"
log = logging.getLogger(__name__)


def media_address() -> str | None:
    """An IPv4 address of this machine other than loopback, for Janus's media; None when there is none."""
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                return ip.ip
    return None


def _installed(pattern: str) -> Path:
    found = glob.glob(pattern)
    if not found:
        raise RuntimeError(f"Debian's janus is not installed (no {pattern}): tools/setup.sh installs it")
    return Path(found[0])


class JanusServer(ChildServer):
    """`janus` on a free loopback port until `stop` (or the end of a `with` block); `start` again after a stop
    brings it back on the same port, knowing nothing of its earlier sessions (a restart)."""

    name = "janus"

    def __init__(
        self,
        rooms: Sequence[int],
        media_ip: str,
        *,
        apisecret: str | None = None,
        pin: str | None = None,
        websockets: bool = False,
        session_timeout_s: int = 60,
        videocodec: str = "vp8",
    ) -> None:
        """`apisecret`: every request must carry it; `pin`: joining any of the rooms needs it; `websockets`: the
        WebSocket transport too, on another loopback port (`ws_url`), for clients of Janus that speak only that;
        `videocodec`: the rooms' video codecs, in Janus's order of preference ("vp8", "h264,vp8", ...)."""
        if shutil.which("janus") is None:
            raise RuntimeError("Debian's janus is not installed: tools/setup.sh installs it")
        super().__init__()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/janus"
        self.ws_url = f"ws://127.0.0.1:{free_port()}" if websockets else None
        self.apisecret = apisecret
        self._write_config(rooms, media_ip, pin, session_timeout_s, videocodec)

    async def publishers(self, http: aiohttp.ClientSession, room: int) -> list[dict]:
        """The room's publishers now, asked through a Janus session of its own."""
        session = JanusSession(http, self.url, request_timeout_s=5.0, keepalive_s=20.0, log=log,
                               apisecret=self.apisecret)
        await session.create()
        try:
            return await publishers(await session.attach(VIDEOROOM), room)
        finally:
            await session.destroy()

    def _write_config(
        self, rooms: Sequence[int], media_ip: str, pin: str | None, session_timeout_s: int, videocodec: str
    ) -> None:
        conf, plugins, transports, empty = (self.folder / name for name in ("conf", "plugins", "transports", "none"))
        for folder in (conf, plugins, transports, empty):
            folder.mkdir()
        (plugins / "libjanus_videoroom.so").symlink_to(_installed("/usr/lib/*/janus/plugins/libjanus_videoroom.so"))
        (transports / "libjanus_http.so").symlink_to(_installed("/usr/lib/*/janus/transports/libjanus_http.so"))
        secret = f'\n\tapi_secret = "{self.apisecret}"' if self.apisecret else ""
        (conf / "janus.jcfg").write_text(
            f'general: {{\n\tconfigs_folder = "{conf}"\n\tplugins_folder = "{plugins}"\n'
            f'\ttransports_folder = "{transports}"\n\tevents_folder = "{empty}"\n\tloggers_folder = "{empty}"\n'
            f"\tdebug_level = 4\n\tsession_timeout = {session_timeout_s}{secret}\n}}\n"
            f'nat: {{\n\tice_enforce_list = "{media_ip}"\n}}\n'
        )
        if self.ws_url is not None:
            (transports / "libjanus_websockets.so").symlink_to(
                _installed("/usr/lib/*/janus/transports/libjanus_websockets.so"))
            (conf / "janus.transport.websockets.jcfg").write_text(
                f'general: {{\n\tjson = "compact"\n\tws = true\n\tws_port = {self.ws_url.rsplit(":", 1)[1]}\n'
                f'\tws_ip = "127.0.0.1"\n\twss = false\n}}\nadmin: {{\n\tadmin_ws = false\n}}\n'
            )
        (conf / "janus.transport.http.jcfg").write_text(
            f'general: {{\n\tjson = "compact"\n\tbase_path = "/janus"\n\thttp = true\n\tport = {self.port}\n'
            f'\tip = "127.0.0.1"\n\thttps = false\n}}\nadmin: {{\n\tadmin_http = false\n}}\n'
        )
        room_pin = f'\tpin = "{pin}"\n' if pin else ""
        (conf / "janus.plugin.videoroom.jcfg").write_text(
            "general: {\n}\n"
            + "".join(
                f'room-{room}: {{\n\tdescription = "test room {room}"\n\tpublishers = 4\n\tbitrate = 2000000\n'
                f'\tfir_freq = 10\n\taudiocodec = "opus"\n\tvideocodec = "{videocodec}"\n{room_pin}}}\n'
                for room in rooms
            )
        )

    def command(self) -> list[str]:
        conf = self.folder / "conf"
        return ["janus", "-F", str(conf), "-C", str(conf / "janus.jcfg"), "--disable-colors"]

    def answers(self) -> bool:
        request = urllib.request.Request(self.url, data=json.dumps({"janus": "info", "transaction": "up"}).encode())
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return json.loads(response.read()).get("janus") == "server_info"
        except OSError:
            return False


async def publishers(handle: JanusHandle, room: int) -> list[dict]:
    """The room's publishers now (`listparticipants`): each with its `id` and `display`."""
    data, _ = await handle.message({"request": "listparticipants", "room": room})
    return [p for p in data.get("participants", []) if p.get("publisher")]


class JanusViewer(Reception):
    """One viewer of a room's first publisher: what it received (`video`, `audio`), and when."""

    def __init__(self, session: JanusSession, handle: JanusHandle, pc: RTCPeerConnection) -> None:
        super().__init__()
        self._session = session
        self._handle = handle
        self.pc = pc

    @classmethod
    async def join(
        cls, http: aiohttp.ClientSession, url: str, room: int, *, apisecret: str | None = None, timeout: float = 20.0
    ) -> JanusViewer:
        session = JanusSession(http, url, request_timeout_s=10.0, keepalive_s=20.0, log=log, apisecret=apisecret)
        await session.create()
        try:
            handle = await session.attach(VIDEOROOM)
            async with asyncio.timeout(timeout):
                while not (feeds := await publishers(handle, room)):
                    await asyncio.sleep(0.2)
            join = {"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feeds[0]["id"]}]}
            _, offer = await handle.message(join)
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        except BaseException:
            await session.destroy()
            raise
        viewer = cls(session, handle, pc)
        try:
            pc.on("track", viewer.read)
            await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await handle.message({"request": "start"}, jsep={"type": "answer", "sdp": pc.localDescription.sdp})
        except BaseException:
            await viewer.close()
            raise
        return viewer

    async def close(self) -> None:
        await self.stop()
        await self.pc.close()
        await self._handle.detach()
        await self._session.destroy()
