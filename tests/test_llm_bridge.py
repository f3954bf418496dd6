"""The LLM bridge against a local OpenAI-compatible streaming endpoint (harness/fake_llm.py): a `chat` message (or
LiveTalking's /human with type chat) goes out with the session's history; the answer's deltas are spoken as they
stream in and shown as `reply` events; an interrupt closes the upstream request; every failure of the LLM is an
`llm_failed` error and the session goes on."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from client import AvatarClient, ServerError
from harness.fake_llm import Answer, FakeLlm, tokens
from server.config import LlmSettings
from server.llm.client import LlmClient, LlmError
from tests.livetalking_client import LiveTalkingClient

KEY_ENV = "AVATAR_TEST_LLM_KEY"
SYSTEM = "You are a helpful avatar. Answer briefly."
FIRST = "Sure, happy to help. "
ANSWER = FIRST + "The first phrase of this answer is spoken while the rest of it is still being generated."


@pytest.fixture
async def llm() -> AsyncIterator[FakeLlm]:
    async with FakeLlm() as fake:
        yield fake


@pytest.fixture
def llm_options() -> dict:
    """Override (parametrize) to change the bridge's settings."""
    return {}


@pytest.fixture
def server_options(llm: FakeLlm, llm_options: dict, monkeypatch) -> dict:
    monkeypatch.setenv(KEY_ENV, "test-key")
    settings = {"llm_url": llm.url, "llm_model": "test-model", "llm_system": SYSTEM, "llm_api_key_env": KEY_ENV}
    return {"llm": {**settings, **llm_options}}


@pytest.fixture
async def avatar(ws_url) -> AsyncIterator[AvatarClient]:
    client = await AvatarClient.connect(ws_url)
    await client.wait_for_media()
    yield client
    await client.close()


def replies(client: AvatarClient, id: str) -> str:
    return "".join(e["delta"] for e in client.events if e["type"] == "reply" and e["id"] == id)


async def test_answer_is_spoken_as_it_streams_in(server, llm, avatar):
    llm.script(Answer(ANSWER, tokens_per_s=10))  # about 3 s of tokens after the first phrase
    await avatar.chat("Can you help me?", id="q1")
    first_reply = await avatar.wait_for("reply")
    started = await avatar.wait_for("speech_started", timeout=20)
    served = llm.served[-1]
    # speech began on the first phrase, long before the last token was sent
    assert started["id"] == "q1" and first_reply["id"] == "q1"
    done = await avatar.wait_for("reply_ended", timeout=20)
    sent_by_then = sum(t <= started["_at"] for t in served.token_times)
    assert sent_by_then < len(tokens(ANSWER)) * 0.75, (sent_by_then, len(tokens(ANSWER)))
    assert started["_at"] < served.token_times[-1] - 0.5
    assert done == {**done, "id": "q1", "text": ANSWER, "reason": "done"}
    assert replies(avatar, "q1") == ANSWER
    ended = await avatar.wait_for("speech_ended", timeout=30)
    assert ended["id"] == "q1" and not ended["interrupted"] and ended["spoken_text"] == ANSWER.strip()
    assert served.completed and served.disconnected_at is None


async def test_history_model_system_prompt_and_key_go_upstream(server, llm, avatar):
    llm.script(Answer("Paris."), Answer("About two million people."))
    await avatar.chat("What is the capital of France?")
    assert (await avatar.wait_for("reply_ended"))["id"] == "chat-1"
    await avatar.chat("How many people live there?")
    assert (await avatar.wait_for("reply_ended"))["text"] == "About two million people."
    first, second = llm.served[-2:]
    assert first.body["model"] == "test-model" and first.body["stream"] is True
    assert first.headers["Authorization"] == "Bearer test-key"
    assert second.body["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "How many people live there?"},
    ]


async def test_interrupt_closes_the_upstream_request(server, llm, avatar):
    endless = "This answer goes on and on, for as long as anybody listens to it. "
    llm.script(Answer(endless, tokens_per_s=20, endless=True))
    await avatar.chat("Tell me everything.", id="long")
    await avatar.wait_for("speech_started", timeout=20)
    await avatar.say("Let me in.")  # the client's own text cannot cut into the answer
    with pytest.raises(ServerError) as info:
        await avatar.wait_for("nothing", timeout=5)
    assert info.value.code == "bad_message" and "interrupt" in info.value.message
    await avatar.interrupt()
    await llm.wait(lambda served: served[-1].disconnected_at is not None, timeout=5)
    ended = await avatar.wait_for("reply_ended")
    assert ended["id"] == "long" and ended["reason"] == "interrupted" and ended["text"]
    assert [e["interrupted"] for e in avatar.events if e["type"] == "speech_ended"] == [True]
    assert not llm.served[-1].completed

    llm.script(Answer("Fine, I stop."))
    await avatar.chat("Stop, please.")
    assert (await avatar.wait_for("reply_ended"))["reason"] == "done"
    history = llm.served[-1].body["messages"]
    assert history[1]["content"] == "Tell me everything." and history[2]["content"] == ended["text"]


@pytest.mark.parametrize("llm_options", [{"llm_first_token_timeout_s": 2.0, "llm_stall_timeout_s": 2.0}])
async def test_llm_failures_are_errors_and_the_session_goes_on(server, llm, avatar):
    failures = [
        (Answer(ANSWER, error_after_tokens=8), "mid-answer"),
        (Answer(ANSWER, error_after_tokens=3, error_line="data: {not json"), "not JSON"),
        (Answer(http_status=500), "HTTP 500"),
        (Answer(ANSWER, first_token_delay_s=4.0), "did not start answering within 2 s"),
        (Answer(ANSWER, done=False, finish=False), "ended before the answer was complete"),
    ]
    for answer, words in failures:
        llm.script(answer)
        await avatar.chat("Hello?")
        with pytest.raises(ServerError) as info:
            await avatar.wait_for("reply_ended", timeout=15)
        assert info.value.code == "llm_failed" and words in info.value.message, info.value
        assert (await avatar.wait_for("reply_ended"))["reason"] == "error"
    await llm.wait(lambda served: served[3].disconnected_at is not None)  # the timeout closed the slow request

    llm.script(Answer("Slow but fine.", first_token_delay_s=1.0), Answer("Also fine.", stream=False))
    for expected in ("Slow but fine.", "Also fine."):
        await avatar.chat("Hello?")
        assert (await avatar.wait_for("reply_ended", timeout=15)) | {"_at": 0} == {
            "type": "reply_ended", "id": avatar.events[-1]["id"], "text": expected, "reason": "done", "_at": 0
        }
    await avatar.interrupt()
    await avatar.say("Still here.", id="after")
    while (ended := await avatar.wait_for("speech_ended", timeout=15))["id"] != "after":
        pass
    assert ended["spoken_text"] == "Still here."


@pytest.mark.parametrize("llm_options", [{"llm_queue_limit": 1}])
async def test_chats_queue_in_order_within_a_limit(server, llm, avatar):
    llm.script(Answer("One.", tokens_per_s=5), Answer("Two."))
    await avatar.chat("first")
    await avatar.chat("second")
    await avatar.chat("third")
    with pytest.raises(ServerError) as info:
        await avatar.wait_for("nothing", timeout=5)
    assert info.value.code == "too_large"
    assert (await avatar.wait_for("reply_ended", timeout=15))["text"] == "One."
    assert (await avatar.wait_for("reply_ended", timeout=15))["text"] == "Two."
    assert [s.body["messages"][-1]["content"] for s in llm.served] == ["first", "second"]


@pytest.mark.parametrize("llm_options", [{"llm_url": None}])
async def test_chat_without_an_llm_is_refused(server, avatar):
    assert server.services.health()["llm"] is None
    await avatar.chat("Anyone there?")
    with pytest.raises(ServerError) as info:
        await avatar.wait_for("reply_ended", timeout=5)
    assert info.value.code == "no_llm"


async def test_livetalking_human_chat_goes_through_the_bridge(server, llm):
    assert server.services.health()["llm"] == {"model": "test-model"}
    llm.script(Answer("Hello from the language model."))
    async with aiohttp.ClientSession() as http:
        client = LiveTalkingClient(f"http://127.0.0.1:{server.port}", http)
        await client.start()
        await client.wait_for_media()
        await client.listen()
        reply = await client.post("/human", {"sessionid": client.sessionid, "text": "Hi!", "type": "chat"})
        assert reply["code"] == 0
        done = await client.wait_for("reply_ended")
        assert done["id"] == reply["data"]["id"] and done["text"] == "Hello from the language model."
        ended = await client.wait_for("speech_ended", timeout=20)
        assert ended["spoken_text"] == "Hello from the language model." and ended["id"] == done["id"]
        await client.stop()
    assert llm.served[-1].body["messages"][-1] == {"role": "user", "content": "Hi!"}


async def test_client_streams_deltas_until_done(llm):
    settings = LlmSettings(llm_url=llm.url + "/chat/completions", llm_max_tokens=64, llm_temperature=0.5)
    client = LlmClient(settings, api_key=None)
    try:
        llm.script(Answer(ANSWER, tokens_per_s=200), Answer(ANSWER, tokens_per_s=200, done=False))
        for _ in range(2):
            deltas: list[str] = []
            assert await client.stream([{"role": "user", "content": "hi"}], deltas.append) == ANSWER
            assert deltas == tokens(ANSWER)
        assert llm.served[0].body["max_tokens"] == 64 and llm.served[0].body["temperature"] == 0.5
        assert "Authorization" not in llm.served[0].headers
    finally:
        await client.close()
    unreachable = LlmClient(LlmSettings(llm_url="http://127.0.0.1:9/v1"), api_key=None)
    with pytest.raises(LlmError, match="could not talk to the LLM"):
        await unreachable.stream([{"role": "user", "content": "hi"}], lambda delta: None)
    await unreachable.close()
