"""The shipped audio-to-face model, run the way the server runs it, on speech it was not trained on."""
import numpy as np
import pytest

from engines.face.backends.base import DEFAULT_MODEL
from engines.face.backends.onnxruntime_backend import OnnxRuntimeBackend
from engines.face.network_driver import NetworkFaceEngine
from engines.face.visemes import mouth_curves
from engines.resample import resample
from engines.timebase import MOUTH_PARAMS, TIMELINE_RATE, frame_center
from engines.tts.base import Timed
from engines.tts.registry import build_engine

JAW = MOUTH_PARAMS.index("jaw_open")
# Not produced by tools.a2f_corpus: new words, new sentence shapes.
SENTENCES = (
    "Honestly, nobody expected the orchestra to arrive so early on a Monday.",
    "Grab a towel and dry the baby elephant before lunch.",
    "Which of these maps shows the road to the old lighthouse?",
)
LEAD_S = 0.4


@pytest.fixture(scope="module")
def engine():
    return NetworkFaceEngine(OnnxRuntimeBackend(DEFAULT_MODEL, device="cpu"))


async def frames_for(engine, pcm48: np.ndarray) -> np.ndarray:
    stream = engine.open_stream()
    first = await stream.push(pcm48)
    rest = await stream.flush()
    assert first.first_frame == 0 and rest.first_frame == len(first)
    return np.concatenate([first.params, rest.params])


@pytest.mark.slow
@pytest.mark.parametrize("voice_id", ["piper:joe", "espeak:en-029"])  # en-029 is never heard in training
async def test_jaw_follows_unseen_sentences(engine, voice_id):
    tts_name, _, voice = voice_id.partition(":")
    tts = build_engine(tts_name)
    predicted, expected = [], []
    for text in SENTENCES:
        speech = tts.synthesize(text, voice)
        pcm48 = np.concatenate([np.zeros(int(LEAD_S * TIMELINE_RATE), np.int16),
                                resample(speech.pcm, speech.sample_rate, TIMELINE_RATE)])
        params = await frames_for(engine, pcm48)
        times = np.array([frame_center(n) for n in range(len(params))]) / TIMELINE_RATE
        phonemes = [Timed(p.text, p.start + LEAD_S, p.end + LEAD_S) for p in speech.phonemes]
        predicted.append(params[:, JAW])
        expected.append(mouth_curves(phonemes, times)[:, JAW])
    r = np.corrcoef(np.concatenate(predicted), np.concatenate(expected))[0, 1]
    assert r > 0.6, f"jaw_open correlation {r:.2f} on {voice_id}"


async def test_silence_keeps_the_mouth_closed(engine):
    rng = np.random.default_rng(0)
    room = (rng.standard_normal(2 * TIMELINE_RATE) * 20).astype(np.int16)  # faint noise, about -64 dBFS
    for pcm in (np.zeros(2 * TIMELINE_RATE, np.int16), room):
        params = await frames_for(engine, pcm)
        assert len(params) == 50 and params[:, JAW].max() < 0.1
