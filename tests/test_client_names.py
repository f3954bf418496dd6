"""What a client names over the websocket (avatars, voices) resolves only to what the server registered: a path,
even to a valid bundle, gets unknown_avatar and is never loaded; the operator's --avatar-dir bundles work."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from client import AvatarClient, ServerError
from engines.avatar import catalog
from engines.avatar.bundle import AVATARS_DIR, load_bundle


@pytest.fixture
def folders(tmp_path) -> dict[str, Path]:
    mine, elsewhere = tmp_path / "mine", tmp_path / "elsewhere"
    shutil.copytree(AVATARS_DIR / "grace_hopper", mine / "alice")
    shutil.copytree(AVATARS_DIR / "grace_hopper", elsewhere / "planted")
    return {"mine": mine, "planted": elsewhere / "planted"}


@pytest.fixture
def server_options(folders) -> dict:
    return {"tts": "espeak", "tts_engines": ("espeak",), "security": {"avatar_dirs": (folders["mine"],)}}


def path_names(folders: dict[str, Path]) -> list[str]:
    planted = folders["planted"]
    return [str(planted), "../" * 10 + str(planted).lstrip("/"), f"alice/../../elsewhere/{planted.name}",
            "../avatars/astronaut", str(AVATARS_DIR / "astronaut"), "planted"]


async def test_offers_naming_paths_get_unknown_avatar(ws_url, folders):
    async with connect(ws_url) as ws:
        for name in path_names(folders):
            await ws.send(json.dumps({"type": "offer", "sdp": "v=0", "avatar": name}))
            event = json.loads(await ws.recv())
            assert event["type"] == "error" and event["code"] == "unknown_avatar", (name, event)
        for voice in ["../../etc/passwd", "/usr/share/espeak-ng-data/voices/en", "espeak:../en-us", "piper:joe"]:
            await ws.send(json.dumps({"type": "offer", "sdp": "v=0", "voice": voice}))
            event = json.loads(await ws.recv())
            assert event["type"] == "error" and event["code"] == "unknown_voice", (voice, event)


async def test_set_naming_paths_is_refused_and_registered_bundles_work(server, ws_url, folders):
    client = await AvatarClient.connect(ws_url, avatar="alice")
    try:
        await client.wait_for_media()
        for name in path_names(folders):
            await client.set(avatar=name)
            with pytest.raises(ServerError) as info:
                await client.wait_for("never-sent", timeout=10)
            assert info.value.code == "unknown_avatar"
        await client.set(avatar="grace_hopper", voice="espeak:en-gb")
        await client.say("Still talking.")
        ended = await client.wait_for("speech_ended", timeout=30)
    finally:
        await client.close()
    assert ended["spoken_text"] == "Still talking."
    assert "alice" in server.services.health()["avatars"]


@pytest.fixture(autouse=True)
def loaded(monkeypatch) -> list[Path]:
    """Every bundle folder the catalog loads during the test."""
    folders: list[Path] = []

    def recording(folder: Path):
        folders.append(folder.resolve())
        return load_bundle(folder)

    monkeypatch.setattr(catalog, "load_bundle", recording)
    yield folders
    assert all("elsewhere" not in folder.parts for folder in folders), folders
