"""The network face driver: ONNX export, streaming frames, look-ahead and cross-session batching."""
import asyncio

import numpy as np
import pytest
import torch

from engines.face.backends.base import (
    DEFAULT_MODEL,
    MAX_BATCH,
    VOICE_MODEL,
    model_window,
)
from engines.face.backends.onnxruntime_backend import OnnxRuntimeBackend
from engines.face.factory import create_face_engine
from engines.face.features import N_MELS, PAST, centre_mel, timeline_log_mel
from engines.face.model import AudioToFace, count_parameters
from engines.face.network_driver import (
    NetworkFaceEngine,
    first_frame_at,
    frame_windows,
)
from engines.timebase import N_PARAMS, SAMPLES_PER_FRAME, frame_center
from tests.test_face_features import speechlike
from tools.export_onnx import export_onnx, max_export_error

# Look-ahead of each shipped network (ms): text mode's, and voice mode's, which holds a live voice for it.
LOOKAHEAD_MS = {DEFAULT_MODEL: (80, 120), VOICE_MODEL: (15, 30)}


@pytest.fixture(scope="module", params=list(LOOKAHEAD_MS), ids=lambda path: path.stem)
def backend(request):
    return OnnxRuntimeBackend(request.param, device="cpu")


def test_onnx_export_agrees_with_pytorch(tmp_path):
    torch.manual_seed(3)
    model = AudioToFace()
    with torch.no_grad():  # non-trivial normalisation so the baked-in buffers are exercised too
        model.set_normalisation(torch.linspace(-9, -3, model.mel_mean.numel()), torch.full_like(model.mel_std, 2.5))
    path = tmp_path / "a2f.onnx"
    export_onnx(model, path)
    assert max_export_error(model, path) < 1e-5
    assert count_parameters(model) < 1_000_000


def offline_frames(backend, audio: np.ndarray, start: int, n_frames: int) -> np.ndarray:
    """The frames the stream should give: offline features of the whole timeline, windows, one backend call."""
    first = first_frame_at(start)
    mels = timeline_log_mel(audio, first_mel=centre_mel(first) - PAST, start_sample=start)
    return backend.run(frame_windows(mels, n_frames, backend.window))


async def push_in_chunks(stream, audio: np.ndarray, sizes) -> list:
    out, i = [], 0
    for size in sizes:
        out.append(await stream.push(audio[i : i + size]))
        i += size
    out.append(await stream.push(audio[i:]))
    return out


@pytest.mark.parametrize("start", [0, 5 * SAMPLES_PER_FRAME, 12_345])
async def test_stream_frames_are_consecutive_unique_and_equal_offline(backend, start):
    engine = NetworkFaceEngine(backend)
    stream = engine.open_stream()
    stream.reset(start)
    audio = speechlike(1.3, seed=start)
    rng = np.random.default_rng(start)
    results = await push_in_chunks(stream, audio, rng.integers(1, 4_000, size=12))
    results = [r for r in results if len(r)]
    firsts = [r.first_frame for r in results]
    lengths = [len(r) for r in results]
    assert firsts[0] == first_frame_at(start)
    assert all(b == a + n for a, b, n in zip(firsts, firsts[1:], lengths))  # no gap, no frame twice
    streamed = np.concatenate([r.params for r in results])
    np.testing.assert_allclose(streamed, offline_frames(backend, audio, start, len(streamed)), atol=1e-5)
    assert streamed.shape[1] == N_PARAMS and np.all((streamed >= 0) & (streamed <= 1))


async def test_one_push_equals_many_small_pushes(backend):
    engine = NetworkFaceEngine(backend)
    audio = speechlike(1.0, seed=9)
    whole = await engine.open_stream().push(audio)
    pieces = await push_in_chunks(engine.open_stream(), audio, [480] * 80)
    np.testing.assert_allclose(np.concatenate([p.params for p in pieces]), whole.params, atol=1e-6)


async def test_a_frame_comes_out_once_its_lookahead_is_pushed(backend):
    stream = NetworkFaceEngine(backend).open_stream()
    frame = 10
    needed = frame_center(frame) + stream.lookahead_samples
    audio = speechlike(1.0)
    before = await stream.push(audio[: needed - 1])
    assert before.first_frame + len(before) == frame
    at = await stream.push(audio[needed - 1 : needed])
    assert (at.first_frame, len(at)) == (frame, 1)
    low, high = {model_window(path): ms for path, ms in LOOKAHEAD_MS.items()}[backend.window]
    assert low <= stream.lookahead_samples / 48 <= high


async def test_flush_releases_every_frame_up_to_the_end(backend):
    stream = NetworkFaceEngine(backend).open_stream()
    pushed = 23 * SAMPLES_PER_FRAME
    got = await stream.push(speechlike(pushed / 48_000))
    flushed = await stream.flush()
    assert flushed.first_frame == got.first_frame + len(got)
    assert flushed.first_frame + len(flushed) >= 23  # every frame whose centre lies before the end


async def test_sessions_in_one_tick_share_one_batch_and_get_their_own_results(backend):
    audios = [speechlike(0.5, seed=s) for s in range(5)]  # at most MAX_BATCH frames in all, whatever the look-ahead
    solo = []
    for audio in audios:
        engine = NetworkFaceEngine(backend)
        solo.append((await engine.open_stream().push(audio)).params)
    calls = []
    engine = NetworkFaceEngine(backend, on_batch=lambda size, seconds: calls.append((size, seconds)))
    streams = [engine.open_stream() for _ in audios]
    together = await asyncio.gather(*(s.push(a) for s, a in zip(streams, audios)))
    for alone, batched in zip(solo, together):
        np.testing.assert_allclose(batched.params, alone, atol=1e-5)
    total = sum(len(p) for p in solo)
    assert total <= MAX_BATCH and [size for size, _ in calls] == [total]
    assert engine.batcher.stats.batches == 1 and engine.batcher.stats.rows == total
    await engine.close()


async def test_batches_larger_than_the_profile_are_split(backend):
    calls = []
    engine = NetworkFaceEngine(backend, on_batch=lambda size, seconds: calls.append(size))
    streams = [engine.open_stream() for _ in range(4)]
    await asyncio.gather(*(s.push(speechlike(1.0, seed=i)) for i, s in enumerate(streams)))
    assert max(calls) <= MAX_BATCH and sum(calls) == engine.batcher.stats.rows > MAX_BATCH
    await engine.close()


def test_factory_falls_back_to_onnxruntime_and_says_why():
    engine = create_face_engine("network", "auto")
    info = engine.describe()
    assert info["backend"] in ("onnxruntime", "tensorrt", "cuda")
    if info["backend"] == "onnxruntime" and info["device"] == "CPUExecutionProvider":
        assert "TensorRT" in info["note"] and "CPU" in info["note"]
    with pytest.raises(ValueError):
        create_face_engine("network", "vulkan")


async def test_a_failed_batch_reaches_every_waiting_session_and_the_next_batch_runs(backend):
    engine = NetworkFaceEngine(backend)
    good = np.zeros((2, backend.window, N_MELS), dtype=np.float32)
    bad = np.zeros((2, backend.window - 1, N_MELS), dtype=np.float32)  # a window one frame short: the merged batch cannot be built
    results = await asyncio.gather(engine.batcher.infer(good), engine.batcher.infer(bad), return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results)
    assert (await engine.batcher.infer(good)).shape == (2, N_PARAMS)
    await engine.close()
