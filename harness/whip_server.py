"""Janus's own WHIP server (Meetecho's simple-whip-server, as Debian packages it) in front of a `JanusServer`, for
testing the WHIP output against a WHIP server that is not ours.

It publishes what a WHIP client sends into a VideoRoom, talking to Janus over its WebSocket transport.
`tools/setup.sh` puts its two source files (from Debian's package) and their npm dependencies in `.whip-server/`:
Debian's own node-* packages need Debian's nodejs, which a machine with another Node.js cannot install. Each run
gets a folder of its own with those files and its `config.js`; the server listens on a free port (of every
interface: it has no setting for the address).
"""
from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Mapping

from harness.child_server import ChildServer
from harness.janus import JanusServer
from harness.server_process import ROOT, free_port

INSTALLED = ROOT / ".whip-server"


class JanusWhipServer(ChildServer):
    """simple-whip-server on a free port until the end of a `with` block; `endpoint` makes a WHIP endpoint."""

    name = "simple-whip-server"

    def __init__(self, janus: JanusServer) -> None:
        if janus.ws_url is None:
            raise ValueError("simple-whip-server talks to Janus over WebSockets: start Janus with websockets=True")
        if not (INSTALLED / "node_modules").is_dir() or shutil.which("node") is None:
            raise RuntimeError(f"simple-whip-server is not set up in {INSTALLED}: tools/setup.sh does it")
        super().__init__()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/whip"
        (self.folder / "src").mkdir()
        for name in ("server.js", "whip-janus.js"):
            shutil.copy(INSTALLED / "src" / name, self.folder / "src" / name)
        config = {"janus": {"address": janus.ws_url}, "port": self.port, "rest": "/whip", "allowTrickle": True,
                  "strictETags": False, "iceServers": []}
        (self.folder / "src" / "config.js").write_text(f"module.exports = {json.dumps(config)};\n")

    def command(self) -> list[str]:
        return ["node", "src/server.js"]

    def environment(self) -> Mapping[str, str]:
        return {**os.environ, "NODE_PATH": str(INSTALLED / "node_modules")}

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/healthcheck", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def endpoint(self, name: str, room: int, token: str) -> str:
        """A WHIP endpoint publishing into `room`, open to `token` (the server's own, non-standard `create`)."""
        request = urllib.request.Request(
            f"{self.base}/create",
            data=json.dumps({"id": name, "room": room, "token": token}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5):
            return f"{self.base}/endpoint/{name}"
