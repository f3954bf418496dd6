"""Any OpenAI-compatible speech endpoint (Kokoro-FastAPI, OpenedAI-Speech, Speaches, cloud APIs): `--tts openai
--tts-url URL`.

A phrase is one `POST {url}/v1/audio/speech` with `model`, `input`, `voice`, `response_format: "pcm"` (and `speed`
when the rate is not 1), read as it streams in: raw s16le mono PCM at `options.sample_rate` (24 kHz, OpenAI's), or
WAV where a service answers with that (its header gives the rate and channels; 16-bit PCM or 32-bit float). `stream`
yields the audio as it arrives, so playback starts on the service's first bytes. The API key comes from the
environment variable `options.api_key_env` (TTS_API_KEY unless configured), sent as a bearer token when set; it is
never a command-line argument.

Synthesis runs in the caller's worker thread, so this uses the blocking `http.client`, one connection per phrase
(safe from several threads), with `options.timeout` to connect and for each read: a service that goes silent raises
TimeoutError, never hangs the worker. An HTTP error status, a refused connection, an unreadable answer and a stream
cut mid-way raise SpeechServiceError naming the endpoint and the status or the bytes received.

Voices: `options.voices` where configured, else the service's own list (`GET {url}/v1/audio/voices`, as
Kokoro-FastAPI offers), else `options.voice` alone. No service gives phoneme timings: the face network drives the
mouth from the audio, and the words come from the estimate in `word_timing` (espeak-ng phoneme counts spread over
the voiced audio, sized in `options.language`, English unless configured).
"""
from __future__ import annotations

import http.client
import json
import logging
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import numpy as np

from engines.tts.audio_only import AudioOnlyEngine, Piece
from engines.tts.base import EngineOptions, EngineUnavailable, SynthesisOptions

log = logging.getLogger(__name__)

_DEFAULT_MODEL = "tts-1"
_DEFAULT_VOICE = "alloy"
_READ_BYTES = 16384
_PIECE_S = 0.1  # the shortest piece handed on, but for the last: fewer, larger pieces for the speaker to place
_ERROR_BODY_BYTES = 2000
_WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")
_PCM_TYPES = ("audio/pcm", "audio/l16", "application/octet-stream", "binary/octet-stream", "")


class SpeechServiceError(RuntimeError):
    """The speech service answered with an error, or with something that is not audio, or its stream broke."""


class OpenAISpeechEngine(AudioOnlyEngine):
    """Checks the configuration on construction (and asks the service for its voices when none are configured);
    raises EngineUnavailable when the URL is missing or malformed, or the service cannot say its voices."""

    name = "openai"

    def __init__(self, options: EngineOptions | None = None) -> None:
        super().__init__()
        options = options or EngineOptions()
        if not options.url:
            raise EngineUnavailable("the openai engine needs the speech service's address: --tts-url http://HOST:PORT")
        parts = urlsplit(options.url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineUnavailable(f"--tts-url {options.url!r} is not an http:// or https:// address")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._base = parts.path.removesuffix("/v1")
        self.endpoint = f"{parts.scheme}://{parts.netloc}{self._base}/v1/audio/speech"
        self._model_name = options.model_name or _DEFAULT_MODEL
        self._sample_rate = options.sample_rate
        self._timeout = options.timeout
        self._rate = options.rate
        self._key_env = options.api_key_env
        self.language = options.language or "en-us"
        self._voices = list(options.voices) or self._service_voices() or [options.voice or _DEFAULT_VOICE]
        self._default = options.voice or self._voices[0]
        if self._default not in self._voices:
            raise EngineUnavailable(f"{self.endpoint} has no voice {self._default!r}; it has: {', '.join(self._voices)}")
        log.info("speech service %s (model %s): voices %s", self.endpoint, self._model_name, ", ".join(self._voices))

    def audio(self, text: str, voice: str, options: SynthesisOptions | None) -> Iterator[Piece]:
        body = {"model": self._model_name, "input": text, "voice": voice, "response_format": "pcm"}
        speed = (options or SynthesisOptions(rate=self._rate)).rate
        if speed != 1.0:
            body["speed"] = speed
        with self._exchange("POST", "/v1/audio/speech", body) as response:
            if response.status >= 400:
                raise SpeechServiceError(self._error(response))
            decoder = _Decoder(self.endpoint, response.getheader("Content-Type", ""), self._sample_rate)
            pending: list[np.ndarray] = []
            for block in self._blocks(response):
                samples = decoder.feed(block)
                if len(samples):
                    pending.append(samples)
                if sum(map(len, pending)) >= _PIECE_S * decoder.rate:
                    yield Piece(np.concatenate(pending), decoder.rate)
                    pending = []
            decoder.finish()
            if pending:
                yield Piece(np.concatenate(pending), decoder.rate)

    def _service_voices(self) -> list[str]:
        """The service's voice list, or [] where it has none (OpenAI's own API, OpenedAI-Speech)."""
        try:
            with self._exchange("GET", "/v1/audio/voices", None) as response:
                if response.status in (404, 405, 501):
                    return []
                if response.status >= 400:
                    raise EngineUnavailable(f"cannot list the voices: {self._error(response)}; or give --tts-voices")
                answer = json.loads(response.read() or b"null")
        except (SpeechServiceError, TimeoutError, ValueError, OSError, http.client.HTTPException) as exc:
            raise EngineUnavailable(f"cannot list the voices of {self.endpoint} ({exc}); start it, or give --tts-voices") from exc
        return _voice_names(answer)

    @contextmanager
    def _exchange(self, method: str, path: str, body: dict | None) -> Iterator[http.client.HTTPResponse]:
        """One request on a connection of its own, closed afterwards; connection failures as SpeechServiceError."""
        connection_type = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = connection_type(self._host, self._port, timeout=self._timeout)
        headers = {"Accept": "audio/pcm, audio/wav, application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        key = os.environ.get(self._key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            try:
                payload = json.dumps(body).encode() if body is not None else None
                connection.request(method, self._base + path, body=payload, headers=headers)
                response = connection.getresponse()
            except TimeoutError as exc:
                raise TimeoutError(f"{self.endpoint} did not answer within {self._timeout:g} s") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise SpeechServiceError(f"cannot reach {self.endpoint}: {type(exc).__name__}: {exc}") from exc
            yield response
        finally:
            connection.close()

    def _blocks(self, response: http.client.HTTPResponse) -> Iterator[bytes]:
        """The body as it arrives; a silence longer than the timeout or a broken stream end it with an error."""
        received = 0
        while True:
            try:
                block = response.read1(_READ_BYTES)
            except TimeoutError as exc:
                raise TimeoutError(f"{self.endpoint} sent nothing for {self._timeout:g} s after {received} bytes") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise SpeechServiceError(
                    f"{self.endpoint}: the audio stream broke after {received} bytes ({type(exc).__name__}: {exc})"
                ) from exc
            if not block:
                if response.length:  # http.client reads a body cut short of its Content-Length as an end
                    raise SpeechServiceError(f"{self.endpoint}: the audio stream broke after {received} bytes "
                                             f"of {received + response.length}")
                return
            received += len(block)
            yield block

    def _error(self, response: http.client.HTTPResponse) -> str:
        """'<endpoint>: HTTP 401 Unauthorized: <the service's message>', with a word on the key where it matters."""
        try:
            text = response.read(_ERROR_BODY_BYTES).decode("utf-8", "replace").strip()
        except (OSError, http.client.HTTPException):
            text = ""
        message = f"{self.endpoint}: HTTP {response.status} {response.reason}"
        detail = _error_detail(text)
        if detail:
            message += f": {detail}"
        if response.status in (401, 403):
            state = "is set" if os.environ.get(self._key_env) else "is not set"
            message += f" (the API key comes from the environment variable {self._key_env}, which {state})"
        return message


def _error_detail(text: str) -> str:
    """The message of an OpenAI-style error body ({"error": {"message": ...}}, FastAPI's {"detail": ...}) or the
    body's start."""
    try:
        answer = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(answer, dict):
        error = answer.get("error", answer.get("detail", answer.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return str(error)[:200]
    return text[:200]


def _voice_names(answer: object) -> list[str]:
    """Voice names from a voices listing: {"voices": [...]} or a bare list, of names or of {"id"|"voice_id"|"name"}."""
    entries = answer.get("voices", []) if isinstance(answer, dict) else answer
    names = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            entry = entry.get("id", entry.get("voice_id", entry.get("name")))
        if isinstance(entry, str) and entry:
            names.append(entry)
    return names


class _Decoder:
    """Bytes of the answer -> int16 mono samples: raw s16le PCM, or a WAV stream (told by its Content-Type or by
    its RIFF header). Bytes that do not make a whole sample wait for the next block."""

    def __init__(self, endpoint: str, content_type: str, pcm_rate: int) -> None:
        self._endpoint = endpoint
        kind = content_type.split(";")[0].strip().lower()
        if kind not in _WAV_TYPES and kind not in _PCM_TYPES:
            raise SpeechServiceError(f"{endpoint} answered with {content_type!r}; the engine reads pcm or wav audio")
        self._wav: bool | None = True if kind in _WAV_TYPES else None  # None: decided by the first bytes
        self.rate = pcm_rate
        self._channels, self._dtype = 1, np.dtype("<i2")
        self._buffer = b""
        self._header_done = False

    def feed(self, data: bytes) -> np.ndarray:
        self._buffer += data
        if self._wav is None:
            if len(self._buffer) < 4:
                return np.zeros(0, dtype=np.int16)
            self._wav = self._buffer.startswith(b"RIFF")
        if self._wav and not self._header_done and not self._read_header():
            return np.zeros(0, dtype=np.int16)
        frame = self._channels * self._dtype.itemsize
        whole = len(self._buffer) - len(self._buffer) % frame
        samples = np.frombuffer(self._buffer[:whole], dtype=self._dtype).reshape(-1, self._channels)
        self._buffer = self._buffer[whole:]
        if self._dtype.kind == "f":
            return np.clip(np.round(samples.mean(axis=1) * 32767.0), -32768, 32767).astype(np.int16)
        return samples.mean(axis=1).round().astype(np.int16) if self._channels > 1 else samples[:, 0].astype(np.int16)

    def finish(self) -> None:
        if self._wav and not self._header_done:
            raise SpeechServiceError(f"{self._endpoint}: the WAV answer ended inside its header")
        if self._buffer:
            log.warning("%s: %d stray bytes at the end of the audio dropped", self._endpoint, len(self._buffer))

    def _read_header(self) -> bool:
        """Parse RIFF chunks up to 'data' (the data size is ignored: streamed WAVs leave it unknown)."""
        if len(self._buffer) < 12:
            return False
        if self._buffer[8:12] != b"WAVE":
            raise SpeechServiceError(f"{self._endpoint}: the answer is RIFF but not WAVE audio")
        offset, audio_format = 12, None
        while len(self._buffer) >= offset + 8:
            chunk, size = self._buffer[offset : offset + 4], struct.unpack("<I", self._buffer[offset + 4 : offset + 8])[0]
            if chunk == b"data":
                if audio_format is None:
                    raise SpeechServiceError(f"{self._endpoint}: the WAV answer has no fmt chunk before its data")
                self._buffer, self._header_done = self._buffer[offset + 8 :], True
                return True
            if len(self._buffer) < offset + 8 + size:
                return False
            if chunk == b"fmt ":
                audio_format, self._channels, self.rate, _, _, bits = struct.unpack("<HHIIHH", self._buffer[offset + 8 : offset + 24])
                if audio_format == 0xFFFE and size >= 40:  # WAVE_FORMAT_EXTENSIBLE: the real format opens the sub-format
                    audio_format = struct.unpack("<H", self._buffer[offset + 32 : offset + 34])[0]
                formats = {(1, 16): "<i2", (3, 32): "<f4"}
                if (audio_format, bits) not in formats or self._channels < 1:
                    raise SpeechServiceError(f"{self._endpoint}: WAV of format {audio_format} with {bits} bits; "
                                             "the engine reads 16-bit PCM or 32-bit float")
                self._dtype = np.dtype(formats[(audio_format, bits)])
            offset += 8 + size + size % 2
        return False
