"""More clients than the server takes: the extra ones are told `busy` (and the websocket closes with 1013) while
the admitted sessions keep streaming at 25 fps; with --admit-by-headroom, a server whose sessions render late
refuses newcomers until it is on time again."""
from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from client import AvatarClient, ServerError
from engines.avatar import AvatarRenderer
from harness.measure import video_stats
from harness.talking import TalkingSessions, Target

ADMITTED = 2
EXTRA = 4
# The admitted sessions' frame rate while the extra clients knock. The box is shared, so allow a little below 25.
MIN_FPS = 23.0
MAX_MISSING = 0.02


async def knock(ws_url: str) -> tuple[str, int | None]:
    """A client that tries to open a session: the events it got and the websocket close code."""
    events = []
    async with connect(ws_url) as ws:
        with contextlib.suppress(ConnectionClosedError):  # 1013 is not a normal closure
            async with asyncio.timeout(10):
                async for message in ws:
                    events.append(message)
        return events, ws.close_code


@pytest.mark.parametrize("server_options", [{"max_sessions": ADMITTED}])
async def test_extra_clients_get_busy_and_admitted_keep_25_fps(server, ws_url):
    sessions = TalkingSessions(Target(ws_url, token=None, pid=None))
    try:
        for _ in range(ADMITTED):
            await sessions.add()
        await asyncio.sleep(2.0)
        began = time.monotonic()
        refusals = await asyncio.gather(*(knock(ws_url) for _ in range(EXTRA)))
        await asyncio.sleep(max(0.0, began + 6.0 - time.monotonic()))
        ended = time.monotonic()
    finally:
        await sessions.close()

    for events, close_code in refusals:
        assert len(events) == 1 and '"busy"' in events[0] and close_code == 1013, (events, close_code)
    assert server.services.metrics.registry.get_sample_value("avatar_sessions_refused_total") == EXTRA
    for client in sessions.clients:
        stats = video_stats(client.video_times, began, ended)
        assert stats.fps >= MIN_FPS and stats.missing <= MAX_MISSING * stats.frames, stats
        assert [e for e in client.events if e["type"] == "word" and e["_at"] > began], "admitted session went quiet"


@pytest.mark.parametrize("server_options", [{"admit_by_headroom": True, "max_sessions": 16}])
async def test_admission_by_headroom_refuses_while_frames_are_late(server, ws_url, monkeypatch):
    first = await AvatarClient.connect(ws_url)
    try:
        await first.wait_for_media()
        render = AvatarRenderer.render

        def overloaded(self, frame, params, motion_frame=None):
            time.sleep(0.06)  # longer than a frame lasts: every frame is late, as on a machine out of CPU
            return render(self, frame, params, motion_frame)

        monkeypatch.setattr(AvatarRenderer, "render", overloaded)
        await asyncio.sleep(1.5)
        events, close_code = await knock(ws_url)
        assert len(events) == 1 and "headroom" in events[0] and close_code == 1013, (events, close_code)
        monkeypatch.setattr(AvatarRenderer, "render", render)
        await asyncio.sleep(8.0)  # the 5 s lateness window forgets the late frames, and the backlog is gone
        second = await AvatarClient.connect(ws_url)
        await second.close()
    finally:
        await first.close()


@pytest.mark.parametrize("server_options", [{"max_sessions": 1}])
async def test_python_client_reports_busy(ws_url):
    first = await AvatarClient.connect(ws_url)
    try:
        with pytest.raises(ServerError) as info:
            await AvatarClient.connect(ws_url)
        assert info.value.code == "busy"
    finally:
        await first.close()
