"""Several worker processes behind the one port (real server processes): new sessions spread to the worker with
the most headroom, /healthz and /metrics count every worker, a worker that dies ends its own sessions with close
code 1012 and a reason while the others go on and is started again, and SIGTERM drains the node."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request

import pytest

from client import AvatarClient, ServerError
from harness.server_process import ServerProcess, scrape_metrics

pytestmark = pytest.mark.slow

WORKER_LOST_CLOSE = 1012


def health(server: ServerProcess) -> dict:
    with urllib.request.urlopen(server.base_url + "/healthz", timeout=10) as response:
        return json.loads(response.read())


async def until(condition, timeout: float = 60.0, step: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(step)


async def connect(server: ServerProcess) -> AvatarClient:
    client = await AvatarClient.connect(f"ws://127.0.0.1:{server.port}/ws", decode=False)
    await client.wait_for_media(timeout=30)
    return client


async def speaks(client: AvatarClient, text: str = "Still here.") -> None:
    await client.say(text)
    await client.wait_for("speech_ended", timeout=30)


@pytest.fixture(scope="module")
def node():
    with ServerProcess(["--workers", "2", "--max-sessions", "4", "--tts", "espeak"]) as server:
        yield server


def test_http_requests_pass_through_the_front_with_their_status(node):
    with urllib.request.urlopen(node.base_url + "/", timeout=10) as response:
        assert response.status == 200 and b"<video" in response.read()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(node.base_url + "/no-such-file.js", timeout=10)
    assert missing.value.code == 404 and b"not found" in missing.value.read()


async def test_sessions_spread_over_workers_and_the_node_counts_them(node):
    clients = [await connect(node) for _ in range(4)]
    try:
        await until(lambda: health(node)["sessions"] == 4)
        state = health(node)
        assert state["status"] == "ok" and state["max_sessions"] == 4
        assert sorted(w["sessions"] for w in state["workers"]) == [2, 2]
        with pytest.raises(ServerError) as refused:
            await connect(node)
        assert refused.value.code == "busy"
        metrics = scrape_metrics(node.base_url)
        assert metrics["avatar_sessions_active"] == 4 and metrics["avatar_workers{state=\"ready\"}"] == 2
        assert metrics["avatar_sessions_refused_total"] == 1
        assert [metrics[f'avatar_worker_sessions{{worker="{i}"}}'] for i in (0, 1)] == [2, 2]
        await asyncio.gather(*(speaks(c) for c in clients))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    await until(lambda: health(node)["sessions"] == 0)


async def test_a_dead_worker_ends_its_sessions_with_a_reason_and_is_started_again(node):
    clients = [await connect(node) for _ in range(2)]
    try:
        await until(lambda: health(node)["sessions"] == 2)
        workers = health(node)["workers"]
        assert [w["sessions"] for w in workers] == [1, 1]
        os.kill(workers[0]["pid"], signal.SIGKILL)
        await until(lambda: any(e["type"] == "closed" for c in clients for e in c.events), timeout=15)
        closed = [(i, e) for i, c in enumerate(clients) for e in c.events if e["type"] == "closed"]
        assert len(closed) == 1 and closed[0][1]["code"] == WORKER_LOST_CLOSE and "reconnect" in closed[0][1]["reason"]
        survivor = clients[1 - closed[0][0]]
        await speaks(survivor, "The other worker goes on.")
        await until(lambda: health(node)["status"] == "ok", timeout=90)
        restarted = health(node)["workers"][0]
        assert restarted["pid"] != workers[0]["pid"] and restarted["restarts"] == 1
        fresh = await connect(node)
        await speaks(fresh)
        await fresh.close()
    finally:
        await asyncio.gather(*(c.close() for c in clients))


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_takes_no_new_session_lets_the_open_one_finish_and_exits(workers):
    with ServerProcess(["--workers", str(workers), "--tts", "espeak"]) as server:
        client = await connect(server)
        os.kill(server.pid, signal.SIGTERM)
        await until(lambda: health(server)["draining"], timeout=10)
        with pytest.raises(ServerError) as refused:
            await connect(server)
        assert refused.value.code == "busy" and "shutting down" in refused.value.message
        await speaks(client, "I finish what I was saying.")
        await client.close()
        assert await asyncio.to_thread(server.wait, 30) == 0
