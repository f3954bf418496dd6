"""Silero VAD: a small neural voice-activity detector that tells speech from noise, music, clicks and breath.

The ONNX model ships inside the `silero-vad` wheel (MIT license); it runs here with ONNX Runtime, so neither
torch nor the package's own Python code is needed at run time. It judges 32 ms chunks of 16 kHz audio (512
samples, with the previous chunk's last 64 samples as context) and carries a recurrent state from chunk to chunk.
The timeline's 48 kHz audio is decimated with the face features' zero-phase filter, so chunk k covers timeline
samples [1536 k, 1536 (k + 1)) of the stream.

A chunk whose speech probability reaches ONSET_PROBABILITY opens speech; while speaking, chunks above
OFFSET_PROBABILITY keep it open, and HANGOVER_CHUNKS below it in a row close it (bridging pauses between
words). `is_quiet` compares loudness with the chunks the model judged not speech, the background as heard.
"""
from __future__ import annotations

import importlib.util
from collections import deque
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engines.face.features import DECIMATION, StreamingDecimator
from engines.vad.base import RunsDetector, Transition

MODEL_RATE = 16_000
CHUNK = 512  # 16 kHz samples per judgement
CONTEXT = 64
CHUNK_SAMPLES = CHUNK * DECIMATION  # 1536 timeline samples, 32 ms
ONSET_PROBABILITY = 0.5
OFFSET_PROBABILITY = 0.35
ONSET_CHUNKS = 1  # one chunk (32 ms): the model itself tells a click from speech
HANGOVER_CHUNKS = 10  # 320 ms
BACKGROUND_CHUNKS = 50  # `is_quiet` compares with the last 1.6 s of chunks judged not speech (90th percentile)
QUIET_MARGIN_DB = 3.0
SILENCE_DB = -100.0


class SileroModelMissing(RuntimeError):
    """The silero-vad wheel (which carries the ONNX model) is not installed."""


def model_path() -> Path:
    """silero_vad/data/silero_vad.onnx inside the installed wheel, found without importing the package (its
    __init__ imports torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise SileroModelMissing("voice activity by silero needs the silero-vad wheel: pip install --no-deps silero-vad")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.exists():
        raise SileroModelMissing(f"the silero-vad wheel has no {path.name} at {path.parent}")
    return path


@lru_cache(maxsize=1)
def _session() -> ort.InferenceSession:
    """One ONNX Runtime session per process; every detector keeps its own recurrent state."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model_path()), sess_options=options, providers=["CPUExecutionProvider"])


class SileroVad(RunsDetector):
    def __init__(self) -> None:
        super().__init__(ONSET_CHUNKS, HANGOVER_CHUNKS)
        self._session = _session()
        self._sample_rate = np.array(MODEL_RATE, dtype=np.int64)
        self._position = 0  # timeline sample where the next chunk starts (that of the first pending sample)
        self._received = 0  # timeline sample just after the audio pushed so far
        self._background: deque[float] = deque(maxlen=BACKGROUND_CHUNKS)
        self._restart()

    def _restart(self) -> None:
        """Fresh model state and filter history: after a hole, the audio before it says nothing of what follows."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._decimator = StreamingDecimator()
        self._pending = np.zeros(0)  # 16 kHz samples not yet judged

    def is_quiet(self, pcm: np.ndarray) -> bool:
        background = float(np.percentile(self._background, 90)) if self._background else SILENCE_DB
        return _level_db(pcm) <= background + QUIET_MARGIN_DB

    def push(self, start: int, pcm: np.ndarray) -> list[Transition]:
        transitions: list[Transition] = []
        if start > self._received:
            transitions += self._hole(start)
        elif start < self._received:  # overlaps audio already judged: only the new part counts
            pcm = pcm[self._received - start :]
        self._received += len(pcm)
        self._pending = np.concatenate([self._pending, self._decimator.push(pcm)])
        while len(self._pending) >= CHUNK:
            chunk, self._pending = self._pending[:CHUNK].astype(np.float32), self._pending[CHUNK:]
            probability = self._judge(chunk)
            if probability < OFFSET_PROBABILITY:
                self._background.append(_level_db(chunk * 32768.0))
            transition = self._decide(probability)
            self._position += CHUNK_SAMPLES
            if transition:
                transitions.append(transition)
        return transitions

    def _hole(self, start: int) -> list[Transition]:
        """Missing audio up to `start` is silence: its chunks (and the unfinished one) count as unvoiced without
        running the model, which then starts afresh at `start` (silence before it, as at a stream's start)."""
        transitions = []
        for _ in range((start - self._position) // CHUNK_SAMPLES):
            transition = self._decide(0.0)
            self._position += CHUNK_SAMPLES
            if transition:
                transitions.append(transition)
        self._position = self._received = start
        self._restart()
        return transitions

    def _judge(self, chunk: np.ndarray) -> float:
        window = np.concatenate([self._context, chunk])[None, :]
        probability, self._state = self._session.run(
            None, {"input": window, "state": self._state, "sr": self._sample_rate}
        )
        self._context = chunk[-CONTEXT:]
        return float(probability[0, 0])

    def _decide(self, probability: float) -> Transition | None:
        voiced = probability >= (OFFSET_PROBABILITY if self.speaking else ONSET_PROBABILITY)
        return self._runs.judge(voiced, self._position, self._position + CHUNK_SAMPLES)


def _level_db(pcm: np.ndarray) -> float:
    """Loudness in dB full scale of int16-scaled samples."""
    rms = float(np.sqrt(np.mean(np.asarray(pcm, dtype=np.float64) ** 2))) if len(pcm) else 0.0
    return 20.0 * float(np.log10(rms / 32768.0)) if rms > 0 else SILENCE_DB
