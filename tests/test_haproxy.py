"""Scale-out on a real load balancer: Debian's haproxy with the shipped deploy/haproxy.cfg in front of two server
processes on loopback ports, each with its agent-check. New sessions go where the headroom is, a full node gets
none, a session's later requests stick to its node, and a node sent SIGTERM finishes its session and exits."""
from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from client import AvatarClient
from harness.server_process import ServerProcess, free_port, wait_healthy
from tests.livetalking_client import LiveTalkingClient

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "deploy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
NODE_SESSIONS = 3
AGENT_SETTLE_S = 2.5  # the shipped agent-inter is 1 s: two polls


class Balancer:
    def __init__(self, port: int, stats: Path) -> None:
        self.port = port
        self._stats = stats

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def servers(self) -> dict[str, dict[str, str]]:
        """`show stat` of the backend, by server name: status (UP, DRAIN, DOWN, ...) and weight."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self._stats))
            sock.sendall(b"show stat\n")
            data = b"".join(iter(lambda: sock.recv(65536), b""))
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == "avatar_nodes" and row["svname"] != "BACKEND"}

    def health(self, headers: dict[str, str] | None = None, query: str = "") -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/healthz{query}", headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


def balancer_config(port: int, stats: Path, nodes: list[tuple[int, int]]) -> str:
    """The shipped configuration, on loopback: its bind port, a stats socket for the test, the two nodes."""
    text = CONFIG.read_text()
    text = re.sub(r"^    bind :8080$", f"    bind 127.0.0.1:{port}", text, flags=re.M)
    text = text.replace("global\n", f"global\n    stats socket {stats} level admin\n", 1)
    text = re.sub(r"^    server .*\n", "", text, flags=re.M)
    return text + "".join(f"    server node{i} 127.0.0.1:{p} agent-port {a}\n" for i, (p, a) in enumerate(nodes, 1))


@contextlib.contextmanager
def haproxy(nodes: list[tuple[int, int]]) -> Iterator[Balancer]:
    with tempfile.TemporaryDirectory() as folder:
        port, stats, config = free_port(), Path(folder) / "stats.sock", Path(folder) / "haproxy.cfg"
        config.write_text(balancer_config(port, stats, nodes))
        log = open(Path(folder) / "haproxy.log", "w")
        process = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            balancer = Balancer(port, stats)
            wait_healthy(f"http://127.0.0.1:{port}", process, timeout=30)
            yield balancer
        finally:
            process.terminate()
            process.wait(10)
            log.close()


def node_of(state: dict) -> str:
    """Which node answered: the two run different default avatars."""
    return {"astronaut": "node1", "grace_hopper": "node2"}[state["default_avatar"]]


async def settle(balancer: Balancer, **wanted: str) -> None:
    """Wait until HAProxy shows the wanted status of these servers (`node1="DRAIN"` matches "DRAIN (agent)"),
    then two more agent polls."""
    deadline = time.monotonic() + 20
    while any(not balancer.servers()[name]["status"].startswith(status) for name, status in wanted.items()):
        assert time.monotonic() < deadline, balancer.servers()
        await asyncio.sleep(0.2)
    await asyncio.sleep(AGENT_SETTLE_S)


async def connect(url: str) -> AvatarClient:
    client = await AvatarClient.connect(url, decode=False)
    await client.wait_for_media(timeout=30)
    return client


def sessions(node: ServerProcess) -> int:
    return wait_healthy(node.base_url)["sessions"]


@pytest.fixture(scope="module")
def cluster():
    assert Path(HAPROXY).exists(), "Debian's haproxy is needed (tools/setup.sh installs it)"
    subprocess.run([HAPROXY, "-c", "-q", "-f", str(CONFIG)], check=True)
    agents = [free_port(), free_port()]
    common = ["--workers", "1", "--tts", "espeak", "--max-sessions", str(NODE_SESSIONS)]
    with (
        ServerProcess([*common, "--agent-port", str(agents[0])]) as first,
        ServerProcess([*common, "--agent-port", str(agents[1]), "--avatar", "grace_hopper"]) as second,
        haproxy([(first.port, agents[0]), (second.port, agents[1])]) as balancer,
    ):
        yield balancer, first, second


async def test_new_sessions_go_where_the_headroom_is(cluster):
    balancer, first, second = cluster
    await settle(balancer, node1="UP", node2="UP")
    direct = await connect(f"ws://127.0.0.1:{first.port}/ws")  # node1 is busier, behind HAProxy's back
    clients = [direct]
    try:
        await settle(balancer)
        assert int(balancer.servers()["node1"]["weight"]) < int(balancer.servers()["node2"]["weight"])
        owners = {}
        for _ in range(3):
            before = sessions(first)
            clients.append(await connect(balancer.ws_url))
            owners[clients[-1].session_id] = "node1" if sessions(first) > before else "node2"
            await settle(balancer)
        assert (sessions(first), sessions(second)) == (2, 2), "node2 took two of the three, node1 one"
        for session_id, owner in owners.items():  # a session's requests stick to its node, by header or query
            assert node_of(balancer.health({"X-Session-ID": session_id})) == owner
            assert node_of(balancer.health(query=f"?sessionid={session_id}")) == owner
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_a_full_node_gets_no_new_session(cluster):
    balancer, first, second = cluster
    fillers = [await connect(f"ws://127.0.0.1:{first.port}/ws") for _ in range(NODE_SESSIONS)]
    clients = []
    try:
        await settle(balancer, node1="DRAIN")
        for _ in range(2):
            clients.append(await connect(balancer.ws_url))
        assert (sessions(first), sessions(second)) == (NODE_SESSIONS, 2)
    finally:
        await asyncio.gather(*(c.close() for c in [*fillers, *clients]))
    await settle(balancer, node1="UP")


async def on_both_nodes(cluster, open_one) -> list:
    """Sessions opened through HAProxy (`open_one()`) until each node holds at least one (a node of three slots
    is full after three, so at most four)."""
    balancer, first, second = cluster
    opened = []
    while 0 in (sessions(first), sessions(second)):
        assert len(opened) < 2 * NODE_SESSIONS, (sessions(first), sessions(second))
        opened.append(await open_one())
        await settle(balancer)
    return opened


async def test_a_broadcast_sticks_to_its_node_by_its_path(cluster):
    """With a broadcast on each node, a request HAProxy sent to the other node would get not_found (each request
    on a connection of its own: HAProxy balances it alone)."""
    balancer = cluster[0]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:

        async def create() -> str:
            async with http.post(balancer.base_url + "/v1/broadcasts", json={"outputs": []}) as response:
                assert response.status == 201, await response.text()
                return (await response.json())["id"]

        broadcasts = []
        try:
            broadcasts = await on_both_nodes(cluster, create)
            for broadcast in broadcasts:  # one after another: alternating between the nodes would miss one
                for _ in range(3):
                    async with http.post(f"{balancer.base_url}/v1/broadcasts/{broadcast}/say", json={"text": "Hi."}) as r:
                        assert r.status == 202, await r.text()
        finally:
            for broadcast in broadcasts:
                async with http.delete(f"{balancer.base_url}/v1/broadcasts/{broadcast}") as response:
                    assert response.status == 204
    await settle(balancer)


async def test_a_livetalking_session_sticks_to_its_node_by_its_json_body(cluster):
    balancer, first, second = cluster
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        clients: list[LiveTalkingClient] = []

        async def offer() -> LiveTalkingClient:
            client = LiveTalkingClient(balancer.base_url, http)
            clients.append(client)
            await client.start()
            return client

        try:
            await on_both_nodes(cluster, offer)
            for client in clients:
                for _ in range(3):
                    assert (await client.post("/is_speaking", {"sessionid": client.sessionid}))["code"] == 0
        finally:
            for client in clients:
                await client.stop()
    deadline = time.monotonic() + 30
    while sessions(first) + sessions(second):  # a closed peer connection ends its session
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    await settle(balancer)


async def test_a_drained_node_finishes_its_session_and_exits(cluster):
    balancer, first, second = cluster
    client = await connect(balancer.ws_url)
    try:
        node, other = (first, second) if sessions(first) == 1 else (second, first)
        name = "node1" if node is first else "node2"
        os.kill(node.pid, signal.SIGTERM)
        await settle(balancer, **{name: "DRAIN"})
        newcomer = await connect(balancer.ws_url)
        assert sessions(other) == 1, "the new session went to the node that is not draining"
        await newcomer.close()
        await client.say("I finish my sentence first.")
        ended = await client.wait_for("speech_ended", timeout=30)
        assert not ended["interrupted"]
    finally:
        await client.close()
    assert await asyncio.to_thread(node.wait, 30) == 0
