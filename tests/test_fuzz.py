"""Property-based fuzzing (hypothesis) of what clients send: websocket messages, to the parser and to a live session,
and requests to the HTTP API. Random JSON of random types, huge numbers, unicode, deep nesting, fields of the
wrong type, invalid JSON. Every message or request is answered with an error code docs/protocol.md documents (or
served), never a crash, and the server and the session stay usable.

New /v1 routes join the HTTP fuzzing with one line in ROUTES (a method, a path with `{id}` for a random segment,
and the body strategy)."""
from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client import AvatarClient
from server.api.messages import parse_message
from server.app import AvatarServer
from server.pipeline.errors import ProtocolError
from tests.conftest import make_config

in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the async tests share one server
DOCS = Path(__file__).resolve().parent.parent / "docs"
TOKEN = "fuzz-token"
LIMIT = 64 * 1024


def documented_codes() -> tuple[set[str], set[str]]:
    """(the websocket's error codes, the HTTP API's) as docs/protocol.md (the contract) and
    docs/protocol-extensions.md (what this server adds) list them."""
    contract, extensions = (DOCS / "protocol.md").read_text(), (DOCS / "protocol-extensions.md").read_text()
    row = next(line for line in contract.splitlines() if line.startswith("| `error` |"))
    api = re.search(r"using the\s+websocket's codes plus (.+?)\. ", contract, re.S)
    more_ws = re.search(r"\nError codes beyond the contract's: (.+?)\n\n", extensions, re.S)
    more_api = re.search(r"\nHTTP error codes beyond the contract's (.+?)\n\n", extensions, re.S)
    assert api and more_ws and more_api, "the docs no longer say which error codes there are"
    websocket = set(re.findall(r"`([a-z_]+)`", row.split("Codes:")[1]))
    websocket |= set(re.findall(r"`([a-z_]+)` \(", more_ws.group(1)))  # each code, then what it means
    return websocket, websocket | set(re.findall(r"`([a-z_]+)`", api.group(1) + more_api.group(1)))

WS_CODES, API_CODES = documented_codes()
TYPES = ["offer", "text", "say", "flush", "interrupt", "set", "ice", "bye"]
FIELDS = ["sdp", "avatar", "voice", "mode", "text", "id", "candidate", "type"]

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40) | st.sampled_from(["astronaut", "../astronaut", "/tmp", "espeak:en-us", "voice", "v=0"])
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
messages = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from(TYPES) | json_values,
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=4),
)
# Text that the JSON encoder cannot make: numbers past Python's digit limit, escaped lone surrogates, nesting past
# the parser's recursion limit, truncated JSON and plain garbage.
raw_texts = st.one_of(
    st.integers(4000, 20000).map(lambda digits: '{"type": "say", "text": "x", "id": %s}' % ("9" * digits)),
    st.sampled_from(["1e999999", "-1e999999", "NaN", "Infinity"]).map(lambda n: '{"type": %s}' % n),
    st.sampled_from(["\\ud800", "\\udfff", "\\ud83d", "\\u0000"]).map(lambda s: '{"type": "say", "text": "a%sb"}' % s),
    st.sampled_from(["\\ud800", "\\udfff"]).map(lambda s: '{"type": "%s"}' % s),
    st.sampled_from(["\\ud800", "\\udfff"]).map(lambda s: '{"type": "say", "text": "Hi.", "id": "%s"}' % s),
    st.integers(1, 3000).map(lambda depth: '{"type": "say", "text": ' + "[" * depth + "]" * depth + "}"),
    st.integers(2000, 60000).map(lambda depth: "[" * depth),
    st.text(max_size=200),
    messages.map(lambda m: json.dumps(m)[: max(1, len(json.dumps(m)) // 2)]),
)
frames = messages.map(lambda m: json.dumps(m, ensure_ascii=False)) | raw_texts


@given(frames)
@settings(max_examples=600, deadline=None)
def test_the_parser_answers_every_frame_with_a_message_or_a_documented_code(raw):
    try:
        parse_message(raw, LIMIT)
    except ProtocolError as error:
        assert error.code in WS_CODES, error.code
        assert len(error.message) < 300


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory) -> AsyncIterator[AvatarServer]:
    srv = AvatarServer(make_config(tts="espeak", tts_engines=("espeak",), face_driver="phonemes", token=TOKEN,
                                   limits={"outbox_limit": 100_000},
                                   uploads={"avatar_uploads": tmp_path_factory.mktemp("uploads")}))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(server) -> AsyncIterator[AvatarClient]:
    client = await AvatarClient.connect(f"ws://127.0.0.1:{server.port}/ws", token=TOKEN)
    await client.wait_for_media()
    yield client
    await client.close()


async def answered(client: AvatarClient, raw: str, marker: int) -> list[dict]:
    """Send `raw`, then a message refused for sure (its type is the marker); the events up to that refusal."""
    await client._ws.send(raw)
    await client.send({"type": f"fuzz-marker-{marker}"})
    events = []
    async with asyncio.timeout(30):
        while True:
            event = await client.wait_for("error", raise_errors=False)
            if f"fuzz-marker-{marker}" in event["message"]:
                return events
            events.append(event)


_markers = iter(range(10**9))
live_frames = frames.filter(lambda raw: '"bye"' not in raw)  # a bye ends the session: it is not an error


@in_module_loop
@given(live_frames)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_a_live_session_answers_every_frame_and_goes_on(session, raw):
    for error in await answered(session, raw, next(_markers)):
        assert error["code"] in WS_CODES, error
    assert session.events[-1]["type"] != "closed"


@in_module_loop
async def test_the_fuzzed_session_and_server_still_work(server, session):
    await session.interrupt()
    await session.say("Still here.")
    async with asyncio.timeout(60):
        while (await session.wait_for("speech_ended", raise_errors=False))["spoken_text"] != "Still here.":
            pass
    fresh = await AvatarClient.connect(f"ws://127.0.0.1:{server.port}/ws", token=TOKEN)
    try:
        await fresh.wait_for_media()
        await fresh.say("Me too.")
        assert (await fresh.wait_for("speech_ended", timeout=30))["spoken_text"] == "Me too."
    finally:
        await fresh.close()


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # "{id}" stands for a random path segment
    body: st.SearchStrategy = st.none()


ROUTES = [
    Route("GET", "/v1/ice-servers"),
    Route("GET", "/v1/avatars"),
    Route("POST", "/v1/avatars", st.binary(max_size=300)),
    Route("GET", "/v1/avatars/{id}/preview.jpg"),
    Route("DELETE", "/v1/avatars/{id}"),
    # Never an empty list of outputs: that is a valid broadcast, which would run (and encode) until the end.
    Route("POST", "/v1/broadcasts",
          json_values.filter(lambda v: v != []).map(lambda v: json.dumps({"outputs": v}).encode())),
    Route("GET", "/v1/broadcasts/{id}"),
    Route("POST", "/v1/broadcasts/{id}/say", json_values.map(lambda v: json.dumps(v).encode())),
    Route("DELETE", "/v1/broadcasts/{id}"),
    Route("GET", "/v1/recordings/{id}"),
]
segments = st.text(min_size=1, max_size=20).map(lambda s: re.sub(r"[/?#%]", "_", s)) | st.sampled_from(
    ["..", ".", "%2e%2e", "astronaut", "0", "-1", "9" * 40])
bodies = st.none() | json_values.map(lambda v: json.dumps(v).encode()) | raw_texts.map(str.encode) | st.binary(
    max_size=300)
tokens = st.sampled_from([None, TOKEN, "wrong", "", "Bearer", "x" * 5000])


@st.composite
def requests(draw) -> tuple[str, str, dict[str, str], bytes | None]:
    route = draw(st.sampled_from(ROUTES))
    method = draw(st.sampled_from([route.method, route.method, "GET", "POST", "PUT", "DELETE", "PATCH"]))
    path = route.path.replace("{id}", draw(segments))
    path = draw(st.sampled_from([path, path + "/" + draw(segments), "/v1/" + draw(segments)]))
    query = draw(st.dictionaries(st.sampled_from(["token", "id", "x"]), st.text(max_size=30), max_size=2))
    headers = {"Content-Type": draw(st.sampled_from(
        ["application/json", "application/sdp", "text/plain", "multipart/form-data; boundary=fuzz"]))}
    token = draw(tokens)
    if token is not None and draw(st.booleans()):
        headers["Authorization"] = f"Bearer {token}"
    elif token is not None:
        query["token"] = token
    body = draw(route.body if draw(st.booleans()) else bodies)
    return method, path, {"headers": headers, "params": query}, body


@in_module_loop
@given(requests())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_the_http_api_answers_every_request_in_its_documented_shape(server, request_parts):
    method, path, options, body = request_parts
    url = f"http://127.0.0.1:{server.port}{path}"
    async with aiohttp.ClientSession() as http, http.request(method, url, data=body, **options) as response:
        text = await response.text(errors="replace")
        assert response.status < 500, (response.status, text[:300])
        if not response.url.path.startswith("/v1/"):  # "/v1/.." is "/" once the client resolves it
            return
        if response.status >= 400:
            error = json.loads(text)["error"]
            assert error["code"] in API_CODES and isinstance(error["message"], str), error
        elif method != "HEAD":
            json.loads(text)


@in_module_loop
async def test_the_server_stays_healthy_after_the_http_fuzzing(server):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}/healthz") as response:
            assert response.status == 200 and (await response.json())["status"] == "ok"
        async with http.get(f"http://127.0.0.1:{server.port}/v1/ice-servers?token={TOKEN}") as response:
            assert response.status == 200 and "iceServers" in await response.json()
