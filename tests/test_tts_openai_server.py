"""The server set up from its command-line settings with a speech service of the user's: `--tts openai --tts-url`
reaches the engine, and a session speaks with that service's voice (audio and events at the client)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from client import AvatarClient
from server.config import TtsSettings
from tests.test_tts_openai_speech import FakeService


@pytest.fixture(scope="module")
def service():
    service = FakeService(voices=["wav", "alloy"])
    service.second_half.set()
    threading.Thread(target=service.serve_forever, daemon=True).start()
    yield service
    service.shutdown()


@pytest.fixture
def server_options(service) -> dict:
    return {"tts": "openai", "tts_engines": (), "tts_setup": TtsSettings(tts_url=service.url, tts_model_name="kokoro")}


async def test_session_speaks_with_the_configured_speech_service(server, ws_url, service):
    health_voices = server.services.voices.voices()
    assert health_voices == ["openai:wav", "openai:alloy"]
    client = await AvatarClient.connect(ws_url, voice="openai:alloy")
    try:
        await client.wait_for_media()
        await client.say("Hello from a speech service.")
        started = await client.wait_for("speech_started", timeout=15)
        ended = await client.wait_for("speech_ended", timeout=20)
    finally:
        await client.close()
    assert ended["interrupted"] is False and ended["spoken_text"] == "Hello from a speech service."
    heard = [a.pcm for a in client.audio if started["_at"] <= a.arrival <= ended["_at"]]
    assert np.sqrt(np.mean(np.concatenate(heard).astype(float) ** 2)) > 300
    # The speaker may cut the sentence's first phrase short (speech starts sooner): its pieces, in order, say it.
    spoken = [(headers, body) for headers, body in service.requests if body.get("voice") == "alloy"]
    assert " ".join(body["input"] for _, body in spoken) == "Hello from a speech service."
    headers, body = spoken[0]
    assert body["model"] == "kokoro" and body["response_format"] == "pcm"
