"""How a node decides where a request goes, without processes: which session a request names, a worker's
headroom and the node's agent-check answer, the split of the session limit, picking and owning from the workers'
reports, and the node's /metrics made of the workers' ones."""
from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.api.affinity import named_in_body, named_in_head, opens_session
from server.config import ServerConfig
from server.metrics import Metrics
from server.scale.load import Load, agent_reply
from server.scale.metrics_merge import merge_expositions
from server.scale.supervisor import Supervisor, shares


@pytest.mark.parametrize(
    ("path", "query", "headers", "named"),
    [
        ("/ws", {"broadcast": "b1"}, {}, "b1"),
        ("/v1/broadcasts/b2/say", {}, {}, "b2"),
        ("/v1/broadcasts/b3", {}, {}, "b3"),
        ("/v1/broadcasts", {}, {}, None),
        ("/v1/broadcasts/b4/whep/v1", {}, {}, "b4"),
        ("/whep/12345", {}, {}, "12345"),
        ("/whep", {}, {}, None),
        ("/sse", {"sessionid": "42"}, {}, "42"),
        ("/human", {}, {"X-Session-ID": "h1"}, "h1"),
        ("/ws", {}, {}, None),
        ("/v1/avatars", {"broadcast": ""}, {}, None),
    ],
)
def test_the_session_a_request_names_in_its_head(path, query, headers, named):
    assert named_in_head(path, query, headers) == named


def test_the_session_a_json_body_names():
    assert named_in_body("application/json", json.dumps({"sessionid": 123, "text": "hi"}).encode()) == "123"
    assert named_in_body("application/json", json.dumps({"session_id": "abc"}).encode()) == "abc"
    assert named_in_body("application/json", b"[1, 2]") is None
    assert named_in_body("application/json", b"{not json") is None
    assert named_in_body("application/json", json.dumps({"sessionid": {"nested": 1}}).encode()) is None
    assert named_in_body("text/plain", b'{"sessionid": 1}') is None


def test_the_session_a_multipart_form_names_before_or_after_its_file():
    def form(*parts: tuple[str, bytes]) -> bytes:
        fields = [b'--XyZ\r\nContent-Disposition: form-data; name="%s"%s\r\n\r\n%s\r\n'
                  % (name.encode(), b'; filename="a.wav"\r\nContent-Type: audio/wav' if name == "file" else b"", value)
                  for name, value in parts]
        return b"".join(fields) + b"--XyZ--\r\n"

    kind = "multipart/form-data; boundary=XyZ"
    audio = b"RIFF\x00\x01\r\n\r\nbinary"
    assert named_in_body(kind, form(("sessionid", b"77"), ("file", audio))) == "77"
    assert named_in_body(kind, form(("file", audio), ("sessionid", b"78"))) == "78"
    assert named_in_body('multipart/form-data; boundary="XyZ"', form(("sessionid", b"79"))) == "79"
    assert named_in_body(kind, form(("file", audio))) is None
    assert named_in_body("multipart/form-data", form(("sessionid", b"80"))) is None, "no boundary"
    assert named_in_body(kind, b"garbage") is None


def test_requests_that_open_sessions():
    assert opens_session("GET", "/ws") and opens_session("POST", "/v1/broadcasts") and opens_session("POST", "/offer")
    assert opens_session("POST", "/whep") and not opens_session("DELETE", "/whep/1")
    assert not opens_session("GET", "/v1/avatars") and not opens_session("GET", "/healthz")


def load(sessions: int, cpu: float = 0.0, late: float = 0.0, draining: bool = False) -> Load:
    return Load.of(ServerConfig(admit_by_headroom=True), sessions=sessions, max_sessions=4, cpu_share=cpu,
                   late_fraction=late, draining=draining)


def test_headroom_is_the_smaller_of_slots_and_cpu_left():
    assert load(0).headroom == 1.0
    assert load(1).headroom == 0.75
    assert load(1, cpu=0.5).headroom == 0.5
    assert load(4).full and load(4).headroom == 0.0
    assert load(0, late=0.2).full, "refusing while frames are late (admit by headroom) counts as full"
    assert load(0, draining=True).full


def test_agent_answers_weight_or_drain():
    assert agent_reply([load(0), load(2)], draining=False) == "up ready 75%"
    assert agent_reply([load(4), load(3, cpu=0.999)], draining=False) == "up ready 1%", "never 0 %: that drains"
    assert agent_reply([load(4), load(4)], draining=False) == "drain"
    assert agent_reply([load(0)], draining=True) == "drain"
    assert agent_reply([], draining=False) == "drain"


def test_the_session_limit_splits_exactly():
    assert shares(8, 2) == [4, 4] and shares(5, 2) == [3, 2] and shares(16, 3) == [6, 5, 5]
    assert sum(shares(7, 4)) == 7


def report(sessions: list[str], decisions: int, cpu_s: float = 0.0) -> dict:
    return {"type": "load", "sessions": sessions, "decisions": decisions, "late_fraction": 0.0, "cpu_s": cpu_s,
            "rss_mb": 300.0}


async def test_new_sessions_go_where_the_headroom_is_and_count_until_reported():
    supervisor = Supervisor(ServerConfig(max_sessions=8), 2)
    try:
        first, second = supervisor.workers
        for worker in supervisor.workers:
            worker.ready = True
            worker.apply(report([], 0))
        picked = [supervisor.pick(opening=True).index for _ in range(4)]
        assert picked == [0, 1, 0, 1], "a burst spreads before any report says so"
        first.apply(report(["a", "b"], 2))
        second.apply(report(["c"], 1))  # one routed session not yet seen by the second worker
        assert first.load(supervisor.config, False).sessions == 2 and second.load(supervisor.config, False).sessions == 2
        assert supervisor.owner("a") is first and supervisor.owner("c") is second and supervisor.owner("z") is None
        second.apply(report(["c", "d"], 2))
        assert supervisor.pick(opening=False) in (first, second)
        supervisor.learn("e", first)
        assert supervisor.owner("e") is first, "known from the response that opened it, before any report"
        first.ready = False
        assert supervisor.owner("a") is None and supervisor.pick(opening=False) is second
    finally:
        await supervisor.stop()


def test_node_metrics_add_up_the_workers():
    texts = []
    for sessions in (2, 3):
        metrics = Metrics()
        metrics.sessions_active.set(sessions)
        metrics.sessions_total.inc(sessions)
        metrics.errors.labels("busy").inc()
        metrics.render.observe(0.003)
        texts.append(metrics.render_text().decode())
    merged = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(merge_expositions(texts))
        for s in family.samples
    }
    assert merged[("avatar_sessions_active", ())] == 5
    assert merged[("avatar_sessions_total", ())] == 5
    assert merged[("avatar_errors_total", (("code", "busy"),))] == 2
    assert merged[("avatar_render_seconds_count", ())] == 2
    assert merged[("avatar_render_seconds_bucket", (("le", "0.004"),))] == 2
