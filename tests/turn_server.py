"""Debian's coturn on loopback for the NAT-traversal tests: a config written for the test, turnserver started on
free ports, stopped afterwards. Relaying between two loopback allocations needs `allow-loopback-peers`, which a
production TURN server must never have."""
from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.server_process import free_port

TURNSERVER = "/usr/bin/turnserver"
REALM = "avatar.test"
USER, PASSWORD = "avatar", "turn-pass"
SECRET = "turn-rest-secret"


@dataclass(frozen=True)
class TurnServer:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _config(folder: Path, port: int, credentials: str) -> str:
    relay_from = random.randrange(20000, 60000, 200)
    # coturn takes either static users or the REST API's shared secret, not both at once.
    auth = ["use-auth-secret", f"static-auth-secret={SECRET}"] if credentials == "rest" else [f"user={USER}:{PASSWORD}"]
    return "\n".join([
        "listening-ip=127.0.0.1", "relay-ip=127.0.0.1", f"listening-port={port}",
        f"min-port={relay_from}", f"max-port={relay_from + 199}", f"realm={REALM}", "fingerprint",
        "lt-cred-mech", *auth, "no-tls", "no-dtls", "no-cli", "no-multicast-peers", "allow-loopback-peers",
        "simple-log", "verbose",
        f"log-file={folder / 'turn.log'}", f"pidfile={folder / 'turn.pid'}", f"userdb={folder / 'turndb'}", "",
    ])


def _answers(port: int) -> bool:
    """A STUN binding request on the TURN port gets an answer."""
    request = bytes.fromhex("0001 0000 2112a442") + random.randbytes(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(request, ("127.0.0.1", port))
        try:
            return len(sock.recv(512)) >= 20
        except OSError:
            return False


@contextlib.contextmanager
def turn_server(folder: Path, credentials: str = "static") -> Iterator[TurnServer]:
    """`credentials`: "static" (USER, PASSWORD) or "rest" (time-limited ones from SECRET)."""
    if shutil.which(TURNSERVER) is None:
        raise RuntimeError(f"{TURNSERVER} is missing: install Debian's coturn (tools/setup.sh does)")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = folder / "turnserver.conf"
    config.write_text(_config(folder, port, credentials))
    process = subprocess.Popen([TURNSERVER, "-c", str(config)], cwd=folder, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"turnserver did not start: {(folder / 'turn.log').read_text(errors='replace')}")
        yield TurnServer(port, folder / "turn.log")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
