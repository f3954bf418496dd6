"""The OpenAI-compatible speech engine against a local speech service started by the test (http.server in a thread):
streamed PCM, WAV, voices, the API key, HTTP errors, a slow first byte, a stream cut mid-way, wrong answers."""
from __future__ import annotations

import io
import json
import threading
import time
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from engines.resample import resample
from engines.tts.base import (
    EngineOptions,
    EngineUnavailable,
    SynthesisOptions,
    UnknownVoice,
)
from engines.tts.espeak_engine import EspeakEngine
from engines.tts.openai_speech_engine import OpenAISpeechEngine, SpeechServiceError
from engines.tts.registry import build_engine

RATE = 24000
TEXT = "Mom bought five apples. Then we walked home."
KEY = "sekrit-key"


class FakeService(ThreadingHTTPServer):
    """Speaks with espeak at 24 kHz. The voice asked for picks the behaviour: "alloy" streams PCM in chunks, the
    second half only once the test lets it; "wav" answers with a 16 kHz stereo WAV; "slow" waits before its first
    byte; "cut" stops halfway through a declared length, "cut-chunked" halfway through a chunked stream; "broken" answers 500; "mp3" answers with MP3's type."""

    daemon_threads = True

    def __init__(self, voices: list[str] | None, key: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.voices, self.key = voices, key
        self.requests: list[tuple[dict, dict]] = []  # (headers, JSON body)
        self.second_half = threading.Event()
        self.espeak = EspeakEngine()
        self._spoken: dict[str, np.ndarray] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def speech(self, text: str) -> np.ndarray:
        """The same audio every time for one text (espeak's own output varies by a few samples)."""
        if text not in self._spoken:
            speech = self.espeak.synthesize(text)
            self._spoken[text] = resample(speech.pcm, speech.sample_rate, RATE)
        return self._spoken[text]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeService

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/v1/audio/voices" or self.server.voices is None:
            self._json(404, {"detail": "Not Found"})
        else:
            self._json(200, {"voices": self.server.voices})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((dict(self.headers), body))
        if self.server.key and self.headers.get("Authorization") != f"Bearer {self.server.key}":
            return self._json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
        if self.path != "/v1/audio/speech":
            return self._json(404, {"detail": "Not Found"})
        voice, pcm = body["voice"], self.server.speech(body["input"])
        if voice == "broken":
            return self._json(500, {"error": {"message": "the model fell over"}})
        if voice == "slow":
            time.sleep(1.0)
        if voice == "wav":
            return self._send(200, "audio/wav", _wav(resample(pcm, RATE, 16000), 16000, channels=2))
        if voice == "mp3":
            return self._send(200, "audio/mpeg", b"\xff\xfb\x90\x00" * 100)
        if voice == "cut":
            data = pcm.tobytes()
            self.send_response(200)
            self.send_header("Content-Type", "audio/pcm")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        self._stream(pcm.tobytes(), cut=voice == "cut-chunked")
        return None

    def _stream(self, data: bytes, cut: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "audio/pcm")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        half = len(data) // 2 + 1  # odd: a sample split across two chunks
        for start in range(0, len(data), 4801):
            if start >= half and cut:
                self.close_connection = True
                return
            if start >= half and not self.server.second_half.is_set():
                self.server.second_half.wait(5)
            chunk = data[start : start + 4801]
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _json(self, status: int, answer: object) -> None:
        self._send(status, "application/json", json.dumps(answer).encode())

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _wav(pcm: np.ndarray, rate: int, channels: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.repeat(pcm, channels).tobytes())
    return out.getvalue()


def _service(voices: list[str] | None = None, key: str | None = None) -> Iterator[FakeService]:
    service = FakeService(voices, key)
    thread = threading.Thread(target=service.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.second_half.set()
        service.shutdown()
        service.server_close()


@pytest.fixture(scope="module")
def service() -> Iterator[FakeService]:
    yield from _service(voices=None)


@pytest.fixture(scope="module")
def engine(service: FakeService) -> OpenAISpeechEngine:
    voices = ("alloy", "wav", "slow", "cut", "cut-chunked", "broken", "mp3")
    return OpenAISpeechEngine(EngineOptions(url=service.url, voices=voices, model_name="kokoro", timeout=0.5))


def test_streams_pcm_before_the_answer_ends(service: FakeService, engine: OpenAISpeechEngine) -> None:
    service.second_half.clear()
    pieces = engine.stream(TEXT, "alloy")
    first = next(pieces)  # the service holds its second half back until this piece is in
    assert first.sample_rate == RATE and len(first.pcm) > 0
    service.second_half.set()
    rest = list(pieces)
    pcm = np.concatenate([first.pcm] + [piece.pcm for piece in rest])
    np.testing.assert_array_equal(pcm, service.speech(TEXT))
    assert all(piece.sample_rate == RATE and piece.phonemes == [] for piece in rest)
    offset, words = 0, []
    for piece in [first, *rest]:
        words += [(word.text, (offset + word.start * RATE) / RATE) for word in piece.words]
        offset += len(piece.pcm)
    assert [text for text, _ in words] == ["Mom", "bought", "five", "apples", "Then", "we", "walked", "home"]
    starts = [start for _, start in words]
    assert starts == sorted(starts) and 0.0 <= starts[0] and starts[-1] < len(pcm) / RATE


def test_sends_the_openai_request(service: FakeService, engine: OpenAISpeechEngine) -> None:
    service.second_half.set()
    engine.synthesize("Hello there.", "alloy", options=SynthesisOptions(rate=1.5))
    headers, body = service.requests[-1]
    assert body == {"model": "kokoro", "input": "Hello there.", "voice": "alloy", "response_format": "pcm", "speed": 1.5}
    assert headers["Content-Type"] == "application/json" and "Authorization" not in headers


def test_whole_phrase_has_estimated_words(service: FakeService, engine: OpenAISpeechEngine) -> None:
    service.second_half.set()
    speech = engine.synthesize(TEXT, "alloy")
    assert speech.sample_rate == RATE and speech.phonemes == []
    assert [word.text for word in speech.words] == ["Mom", "bought", "five", "apples", "Then", "we", "walked", "home"]
    for before, after in zip(speech.words, speech.words[1:]):
        assert before.start < before.end <= after.start + 1e-9
    assert speech.words[-1].end <= speech.duration + 1e-9


def test_reads_a_wav_answer_at_its_own_rate(service: FakeService, engine: OpenAISpeechEngine) -> None:
    speech = engine.synthesize(TEXT, "wav")
    assert speech.sample_rate == 16000
    expected = resample(service.speech(TEXT), RATE, 16000)
    np.testing.assert_array_equal(speech.pcm, expected)  # the stereo channels averaged back to the one voice


def test_http_error_names_the_endpoint_and_status(engine: OpenAISpeechEngine) -> None:
    with pytest.raises(SpeechServiceError, match=r"/v1/audio/speech: HTTP 500 Internal Server Error: the model fell over"):
        engine.synthesize(TEXT, "broken")


def test_a_slow_first_byte_times_out(engine: OpenAISpeechEngine) -> None:
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=r"did not answer within 0.5 s"):
        engine.synthesize(TEXT, "slow")
    assert time.monotonic() - began < 0.9


@pytest.mark.parametrize("voice", ["cut", "cut-chunked"])
def test_a_stream_cut_midway_is_an_error(service: FakeService, engine: OpenAISpeechEngine, voice: str) -> None:
    pieces = []
    with pytest.raises(SpeechServiceError, match=r"the audio stream broke after \d+ bytes"):
        for piece in engine.stream(TEXT, voice):
            pieces.append(piece)
    assert 0 < sum(len(piece.pcm) for piece in pieces) < len(service.speech(TEXT))  # what came, as it came


def test_an_answer_that_is_not_pcm_or_wav_is_an_error(engine: OpenAISpeechEngine) -> None:
    with pytest.raises(SpeechServiceError, match="answered with 'audio/mpeg'"):
        engine.synthesize(TEXT, "mp3")


def test_unknown_voice(engine: OpenAISpeechEngine) -> None:
    with pytest.raises(UnknownVoice, match="'nova'"):
        engine.synthesize(TEXT, "nova")


def test_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for service in _service(voices=["af_bella", "am_adam"], key=KEY):
        options = EngineOptions(url=service.url + "/v1", voice="am_adam", api_key_env="SPEECH_KEY_FOR_TEST")
        monkeypatch.delenv("SPEECH_KEY_FOR_TEST", raising=False)
        engine = OpenAISpeechEngine(options)
        assert engine.voices() == ["af_bella", "am_adam"] and engine.default_voice == "am_adam"
        with pytest.raises(SpeechServiceError, match=r"HTTP 401 Unauthorized: Incorrect API key provided .*SPEECH_KEY_FOR_TEST, which is not set"):
            engine.synthesize(TEXT)
        monkeypatch.setenv("SPEECH_KEY_FOR_TEST", KEY)
        service.second_half.set()
        assert engine.synthesize(TEXT).duration > 1.0
        assert service.requests[-1][0]["Authorization"] == f"Bearer {KEY}"


def test_voices_fall_back_to_the_configured_voice(service: FakeService) -> None:
    engine = build_engine("openai", EngineOptions(url=service.url, voice="echo"))
    assert engine.voices() == ["echo"] and engine.default_voice == "echo"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (EngineOptions(), "needs the speech service's address"),
        (EngineOptions(url="ftp://example.org"), "is not an http:// or https:// address"),
        (EngineOptions(url="http://127.0.0.1:9", timeout=0.5), r"cannot list the voices .*give --tts-voices"),
    ],
)
def test_bad_configuration_is_a_clear_error(options: EngineOptions, message: str) -> None:
    with pytest.raises(EngineUnavailable, match=message):
        OpenAISpeechEngine(options)


def test_unreachable_service_while_speaking() -> None:
    engine = OpenAISpeechEngine(EngineOptions(url="http://127.0.0.1:9", voices=("alloy",), timeout=0.5))
    with pytest.raises(SpeechServiceError, match=r"cannot reach http://127.0.0.1:9/v1/audio/speech"):
        engine.synthesize(TEXT)
