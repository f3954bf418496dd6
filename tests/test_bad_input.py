"""Bad input, each case a test: the server stays up, the session under attack goes on (or is ended cleanly), a
witness session talking beside it does not notice, and memory returns to its baseline afterwards."""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from client import AvatarClient, ServerError
from server.app import AvatarServer
from tests.conftest import make_config
from tests.session_witness import Baseline, Witness, used_memory_mb

pytestmark = pytest.mark.asyncio(loop_scope="module")
# Sessions after which the server's memory stops growing (worker threads, their allocator arenas, codec caches):
# the baseline is taken after them, so that what is measured is what a bad client leaves behind.
WARM_UP_SESSIONS = 2
ABUSE_ROUNDS = 2
# What noise in resident memory looks like here; a leaked session graph (renderer, buffers, codecs) costs more.
RSS_TOLERANCE_MB = 20.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[AvatarServer]:
    """One server for the whole module: every test also proves that the ones before it left it healthy."""
    srv = AvatarServer(make_config(limits={"ice_timeout_s": 2.0}))
    await srv.start()
    url = f"ws://127.0.0.1:{srv.port}/ws"
    try:
        for _ in range(WARM_UP_SESSIONS):
            client = await speaking_client(url)
            await still_speaks(client, "Warming up the server.")
            await client.close()
        yield srv
    finally:
        await srv.stop()


@pytest.fixture(scope="module")
def ws_url(server: AvatarServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def witness(server, ws_url) -> AsyncIterator[Witness]:
    watcher = await Witness.join(ws_url)
    await asyncio.sleep(2.0)
    yield watcher
    await watcher.close()


@pytest_asyncio.fixture(loop_scope="module")
async def baseline(server, witness) -> AsyncIterator[Baseline]:
    """The server's state before the test; after it, the witness must not have noticed and memory is back."""
    began = time.monotonic()
    before = await Baseline.take(server)
    yield before
    witness.check(since=began)
    await before.assert_returned()


async def speaking_client(ws_url: str) -> AvatarClient:
    client = await AvatarClient.connect(ws_url)
    client.keep_audio = False
    await client.wait_for_media()
    return client


async def expect_error(client: AvatarClient, raw: str | bytes, code: str) -> None:
    await client._ws.send(raw)
    with pytest.raises(ServerError) as info:
        await client.wait_for("never-sent", timeout=10)
    assert info.value.code == code, info.value


async def still_speaks(client: AvatarClient, text: str = "Still here.") -> None:
    await client.say(text)
    ended = await client.wait_for("speech_ended", timeout=30)
    assert ended["spoken_text"] == text and not ended["interrupted"]


async def test_malformed_oversized_and_binary_messages(ws_url, baseline):
    client = await speaking_client(ws_url)
    try:
        await client.say("This sentence is being spoken while the garbage arrives.")
        for raw, code in [
            ("{nope", "bad_json"),
            ("[" * 100_000, "too_large"),
            ("[" * 50_000, "bad_json"),  # nesting deeper than the parser's recursion limit
            ('{"type": "say", "text": "\\ud800 broken surrogate \\x"}', "bad_json"),
            ('{"type": "say", "text": "A lone surrogate \\ud800 is not even a character."}', "bad_message"),
            ("\"just a string\"", "bad_message"),
            ('{"type": 7}', "bad_message"),
            ('{"type": "say", "text": ["not", "a", "string"]}', "bad_message"),
            ('{"type": "say", "text": "fine", "id": {"no": 1}}', "bad_message"),
            ('{"type": "ice", "candidate": {"candidate": "candidate:garbage"}}', "bad_message"),
            (json.dumps({"type": "say", "text": "x" * 70_000}), "too_large"),
            ("x" * (2 * 1024 * 1024), "too_large"),
            (b"\x00\xff" * 50_000, "bad_message"),
        ]:
            await expect_error(client, raw, code)
        await client.wait_for("speech_ended", timeout=30)
        await still_speaks(client)
    finally:
        await client.close()


async def test_flood_of_tiny_deltas(ws_url, baseline):
    text = "Tokens arrive one character at a time, as fast as the network carries them, and speech still starts. " * 20
    client = await speaking_client(ws_url)
    try:
        for char in text:
            await client.text(char)
        await client.flush()
        await client.wait_for("speech_started", timeout=30)
        await asyncio.sleep(1.0)
        await client.interrupt()
        ended = await client.wait_for("speech_ended", timeout=10)
        assert ended["interrupted"] and text.startswith(ended["spoken_text"].rstrip(".,"))
        await still_speaks(client)
    finally:
        await client.close()


@pytest.mark.parametrize("text", [
    " ".join(["word"] * 4001)[:20_000],  # 20,000 characters of words without any punctuation
    "a" * 20_000,  # one 20,000-character "word"
], ids=["words", "one-token"])
async def test_twenty_thousand_characters_without_punctuation(ws_url, baseline, text):
    client = await speaking_client(ws_url)
    try:
        await expect_error(client, json.dumps({"type": "say", "text": text + "a"}), "too_large")
        await client.say(text)
        event = await client.wait_for("speech_started", timeout=40, raise_errors=False)
        assert event["type"] == "speech_started"
        await asyncio.sleep(1.0)
        await client.interrupt()
        ended = await client.wait_for("speech_ended", timeout=10)
        assert ended["interrupted"]
        await still_speaks(client)
    finally:
        await client.close()


async def speak_briefly(client: AvatarClient, text: str) -> dict:
    """Say `text`, cut it after a second (some of these make minutes of speech), return its speech_ended."""
    await client.say(text)
    await asyncio.sleep(1.0)
    await client.interrupt()
    ended = await client.wait_for("speech_ended", timeout=30, raise_errors=False)
    refused = [e for e in client.events if e["type"] == "error" and e["code"] != "tts_failed"]
    assert ended["type"] == "speech_ended" and not refused, (ended, refused)
    return ended


EMOJI_AND_MIXED_SCRIPTS = (
    "Hello 👋🏽 world! Привет, мир. 你好，世界。 مرحبا بالعالم. Γειά σου κόσμε 🎉🎉🎉",
    "👍🏽👍🏽👍🏽 🤖🤖 🇫🇷🇯🇵 ❤️‍🔥",
    "Café naïve façade, jalapeño piñata, Zürich Straße, ångström.",
)
UNPRONOUNCEABLE = (
    "¯\\_(ツ)_/¯ ---- !!!! ???? &&& @@@ %%% ((( ))) ~~~ ^^^ |||",
    "zxqvbnmkrtpl, grrrhhhh, pfffftttt, xkcdqwfp, bcdfghjklmnpqrstvwxz.",
    "\u200b\u200b\u200b \u0000\u0007\u001b[31m \ufeff \u202e reversed \u202c",
    "...... ,,,,,, ;;;;;; ::::::",
)


@pytest.mark.parametrize("texts", [EMOJI_AND_MIXED_SCRIPTS, UNPRONOUNCEABLE], ids=["emoji-and-mixed-scripts",
                                                                                  "unpronounceable"])
async def test_odd_text_is_spoken_or_skipped_and_the_session_goes_on(ws_url, baseline, texts):
    client = await speaking_client(ws_url)
    try:
        for text in texts:
            await speak_briefly(client, text)
        await still_speaks(client)
    finally:
        await client.close()


async def recvonly_offer(*kinds: str) -> str:
    """A real offer receiving `kinds`, from a peer connection that is closed at once: ICE can never complete."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for kind in kinds:
        pc.addTransceiver(kind, direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
    return pc.localDescription.sdp


def offer_sdp() -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 9\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:9 G722/8000\r\na=recvonly\r\n"
        "a=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
        "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB"
        ":CC:DD:EE:FF\r\na=setup:actpass\r\n"
    )


async def test_sdp_garbage(ws_url, baseline):
    audio_only = await recvonly_offer("audio")
    garbage = [
        "",
        "\x00\x01\x02 not sdp at all",
        "v=0\r\n" * 3000,
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",  # no media at all
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 DTLS/SCTP 5000\r\n",
        audio_only,  # nothing to receive the video on
        offer_sdp(),  # audio and only a codec the server does not send, no video
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" * 500,
    ]
    oversized = ["v=0\r\n" * 5000, "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" * 1000]  # past --max-sdp-bytes (16 KiB)
    async with connect(ws_url) as ws:
        for sdp, code in [(sdp, "bad_offer") for sdp in garbage] + [(sdp, "too_large") for sdp in oversized]:
            await ws.send(json.dumps({"type": "offer", "sdp": sdp}))
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert event["type"] == "error" and event["code"] == code, (sdp[:60], event)
    client = await speaking_client(ws_url)
    try:
        await still_speaks(client)
    finally:
        await client.close()


async def vanish(client: AvatarClient) -> None:
    """The network goes away: no bye, no websocket close handshake, no DTLS close."""
    client._ws.transport.abort()
    await client._pc.close()
    await client.close()


async def test_clients_vanishing_mid_utterance(ws_url, baseline):
    for _ in range(3):
        client = await speaking_client(ws_url)
        await client.say("This utterance is cut off by a client that simply disappears from the network.")
        await client.wait_for("speech_started", timeout=30)
        await vanish(client)


async def test_client_that_never_completes_ice(ws_url, baseline):
    async with connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "offer", "sdp": await recvonly_offer("audio", "video")}))
        assert json.loads(await ws.recv())["type"] == "answer"  # never applied: ICE cannot complete
        await ws.send(json.dumps({"type": "say", "text": "Nobody will ever hear this."}))
        await asyncio.wait_for(ws.wait_closed(), 15)


def small_window_socket(port: int) -> socket.socket:
    """A connection whose receive buffer is tiny, so that a reader that stops shows at once on the server."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


class CloseReasons(logging.Handler):
    """Keeps why sessions closed, and nothing else (a flood logs a line per refused message)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "closing:" in str(record.msg):
            self.reasons.append(record.getMessage())


@pytest.fixture
def close_reasons() -> Iterator[CloseReasons]:
    logger = logging.getLogger("server.session")
    handler, level = CloseReasons(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_slow_client_that_stops_reading(server, ws_url, witness, baseline, close_reasons):
    """A client with a live session that stops reading its websocket: its events pile up until the server
    gives up on it (and not because of any other limit)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for kind in ("audio", "video"):
        pc.addTransceiver(kind, direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    try:
        async with connect(ws_url, max_queue=1, sock=small_window_socket(server.port)) as ws:
            await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
            # Answered with an error event each; the server quotes at most 40 characters of the type, so the
            # events stay small and it takes many of them to fill the kernel's buffers and then the outbox.
            big_error = json.dumps({"type": "t" * 40})
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(60):
                    while server.services.sessions.keys() - {witness.client.session_id}:
                        await ws.send(big_error)
                        await asyncio.sleep(0)  # a real client is another process: never starve the server
                    await ws.send(big_error)
                    while True:  # what the server sent before it gave up is still buffered here; then the close
                        await ws.recv()
    finally:
        await pc.close()
    assert len(close_reasons.reasons) == 1 and "events unread" in close_reasons.reasons[0], close_reasons.reasons


async def abuse_round(ws_url: str) -> None:
    """A little of everything above: garbage, a flood, a client that vanishes, one that never connects."""
    client = await speaking_client(ws_url)
    await expect_error(client, "[" * 50_000, "bad_json")
    await expect_error(client, "x" * 200_000, "too_large")
    for char in "A flood of deltas that ends with the client vanishing mid-sentence, without a word. " * 3:
        await client.text(char)
    await client.flush()
    await client.wait_for("speech_started", timeout=30)
    await vanish(client)
    async with connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "offer", "sdp": await recvonly_offer("audio", "video")}))
        await asyncio.wait_for(ws.wait_closed(), 15)


async def test_memory_returns_to_baseline_after_repeated_abuse(ws_url, baseline):
    """Runs last, when every earlier test has taken the shared caches (ONNX Runtime arenas, worker threads'
    allocator arenas, codecs) to their high-water marks: from then on, rounds of abuse must not add memory."""
    await abuse_round(ws_url)
    await baseline.assert_returned()
    after_first = used_memory_mb()
    for _ in range(ABUSE_ROUNDS):
        await abuse_round(ws_url)
    await baseline.assert_returned()
    grown = used_memory_mb() - after_first
    assert grown < RSS_TOLERANCE_MB, f"{ABUSE_ROUNDS} rounds of abuse left {grown:.1f} MB more memory in use"
