"""The avatar API (docs/protocol.md, "Avatars") through real HTTP: a face photo becomes an avatar that sessions
render at once, every photo or name that cannot is refused with its documented code, names are never paths, the
shipped avatars cannot be deleted, and a live session keeps its frame rate while a photo is prepared."""
from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest
import pytest_asyncio

from client import AvatarClient, ServerError
from server.app import AvatarServer
from tests.conftest import make_config
from tests.photos import encoded, portrait

in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the tests share one server (and its preparer)


GRACE = "grace_hopper"


def two_faces() -> bytes:
    return encoded(np.hstack([portrait(GRACE), portrait()]))


def tiny_face() -> bytes:
    canvas = np.full((600, 600, 3), 200, np.uint8)
    canvas[240:360, 240:360] = cv2.resize(portrait(GRACE), (120, 120), interpolation=cv2.INTER_AREA)
    return encoded(canvas)


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("site") / "uploads"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(uploads) -> AsyncIterator[AvatarServer]:
    srv = AvatarServer(make_config(tts="espeak", tts_engines=("espeak",), uploads={"avatar_uploads": uploads}))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def base(server: AvatarServer) -> str:
    return f"http://127.0.0.1:{server.port}"


async def upload(server: AvatarServer, name: str, data: bytes, field: str = "photo") -> tuple[int, dict]:
    form = aiohttp.FormData()
    form.add_field("name", name)
    form.add_field(field, data, filename="me.jpg", content_type="image/jpeg")
    async with aiohttp.ClientSession() as http, http.post(f"{base(server)}/v1/avatars", data=form) as response:
        return response.status, await response.json()


async def get_json(server: AvatarServer, path: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(base(server) + path) as response:
        return response.status, await response.json()


async def delete(server: AvatarServer, path: str) -> int:
    async with aiohttp.ClientSession() as http, http.delete(base(server) + path) as response:
        return response.status


def ws_url(server: AvatarServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


@in_module_loop
async def test_a_photo_becomes_an_avatar_that_sessions_render_at_once(server, uploads):
    status, body = await upload(server, "grace2", encoded(portrait(GRACE), ".png"))
    assert (status, body) == (201, {"name": "grace2"})
    status, listed = await get_json(server, "/v1/avatars")
    assert status == 200 and listed["default"] == "astronaut"
    assert {"name": "grace2", "preview": "/v1/avatars/grace2/preview.jpg"} in listed["avatars"]
    assert "grace2" in server.services.health()["avatars"]
    async with aiohttp.ClientSession() as http, http.get(base(server) + "/v1/avatars/grace2/preview.jpg") as response:
        assert response.status == 200 and response.content_type == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(await response.read(), np.uint8), cv2.IMREAD_COLOR) is not None

    client = await AvatarClient.connect(ws_url(server), avatar="grace2", keep_video=True)
    try:
        await client.wait_for_media()
        await asyncio.sleep(1.0)
        frame = client.video[-1].image
        await client.set(avatar="astronaut")
        await client.say("Back to the astronaut.")
        await client.wait_for("speech_ended", timeout=30)
    finally:
        await client.close()
    # The frames show the uploaded face: nearer its own photo than the default avatar's.
    own, other = (cv2.resize(cv2.cvtColor(portrait(n), cv2.COLOR_BGR2RGB), frame.shape[1::-1]).astype(float)
                  for n in ("grace_hopper", "astronaut"))
    assert np.abs(frame - own).mean() < np.abs(frame - other).mean()
    assert (uploads / "grace2" / "avatar.json").is_file()


@pytest.mark.parametrize(("data", "code", "status"), [
    (encoded(np.full((400, 400, 3), 128, np.uint8)), "no_face", 400),
    (two_faces(), "several_faces", 400),
    (tiny_face(), "face_too_small", 400),
    (b"these bytes are no image at all" * 10, "bad_image", 400),
    (encoded(portrait(GRACE)) + bytes(11 * 1024 * 1024), "too_large", 413),
], ids=["blank", "two-faces", "tiny-face", "garbage", "11-MB"])
@in_module_loop
async def test_photos_that_cannot_become_avatars_are_refused_with_their_code(server, uploads, data, code, status):
    before = sorted(uploads.iterdir())
    answer = await upload(server, "refused", data)
    assert answer[0] == status and answer[1]["error"]["code"] == code, answer
    assert answer[1]["error"]["message"]
    assert sorted(uploads.iterdir()) == before, "nothing is left behind"


@pytest.mark.parametrize("name", ["Bad Name!", "", "a" * 41, "../escape", "/tmp/escape", "x.y", "..", "ÿ"])
@in_module_loop
async def test_bad_names_are_refused_and_never_reach_the_disk(server, uploads, name):
    site = uploads.parent
    before = sorted(site.rglob("*"))
    status, body = await upload(server, name, encoded(portrait(GRACE)))
    assert (status, body["error"]["code"]) == (400, "bad_name"), body
    assert sorted(site.rglob("*")) == before
    assert not Path("/tmp/escape").exists()


@in_module_loop
async def test_names_taken_and_shipped_avatars(server):
    assert (await upload(server, "astronaut", encoded(portrait(GRACE))))[0] == 409
    assert (await upload(server, "twice", encoded(portrait(GRACE))))[0] == 201
    status, body = await upload(server, "twice", encoded(portrait(GRACE)))
    assert (status, body["error"]["code"]) == (409, "exists")
    status, body = await upload(server, "nophoto", encoded(portrait(GRACE)), field="picture")
    assert (status, body["error"]["code"]) == (400, "bad_message")
    assert await delete(server, "/v1/avatars/astronaut") == 403
    assert await delete(server, "/v1/avatars/grace_hopper") == 403
    assert await delete(server, "/v1/avatars/nobody") == 404
    for path in ["/v1/avatars/..%2F..%2Fetc/preview.jpg", "/v1/avatars/%2Fetc/preview.jpg", "/v1/avatars/.."]:
        async with aiohttp.ClientSession() as http, http.get(base(server) + path) as response:
            assert response.status == 404 and (await response.json())["error"]["code"] == "not_found", path


@in_module_loop
async def test_a_deleted_avatar_is_gone_and_its_name_free_again(server, uploads):
    assert (await upload(server, "brief", encoded(portrait())))[0] == 201
    assert await delete(server, "/v1/avatars/brief") == 204
    assert not (uploads / "brief").exists()
    assert "brief" not in (await get_json(server, "/v1/avatars"))[1]["avatars"]
    assert "brief" not in server.services.health()["avatars"]
    with pytest.raises(ServerError) as refused:
        await AvatarClient.connect(ws_url(server), avatar="brief")
    assert refused.value.code == "unknown_avatar"
    assert (await upload(server, "brief", encoded(portrait(GRACE))))[0] == 201, "the name can be used again"
    assert server.services.avatars.load("brief").image.shape == (512, 512, 3)


@in_module_loop
async def test_a_live_session_keeps_its_frame_rate_while_a_photo_is_prepared(server):
    client = await AvatarClient.connect(ws_url(server))
    try:
        await client.wait_for_media()
        await client.say("I keep talking while somebody uploads a photo of themselves to this server.")
        began = len(client.video_times)
        started = asyncio.get_running_loop().time()
        status, _ = await upload(server, "while-live", encoded(portrait(GRACE)))
        elapsed = asyncio.get_running_loop().time() - started
        arrivals = [t for t, _ in client.video_times[began:]]
    finally:
        await client.close()
    assert status == 201
    intervals = np.diff(arrivals)
    # Loose bounds for a loaded 2-core machine: the pace holds, and no frame waits anywhere near a preparation.
    assert len(arrivals) / elapsed > 20, (len(arrivals), elapsed)
    assert statistics.median(intervals) < 0.06 and intervals.max() < 0.5, (statistics.median(intervals), intervals.max())


@pytest.mark.parametrize("body", [b"", b"no boundary here", b"--fuzz\r\nbroken"], ids=["empty", "garbage", "cut"])
@in_module_loop
async def test_a_broken_form_is_bad_message(server, body):
    headers = {"Content-Type": "multipart/form-data; boundary=fuzz"}
    async with aiohttp.ClientSession() as http, http.post(f"{base(server)}/v1/avatars", data=body,
                                                          headers=headers) as response:
        assert response.status == 400 and (await response.json())["error"]["code"] == "bad_message"
