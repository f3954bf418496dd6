"""The shipped face network on real human speech it never heard, run as voice mode runs it: streaming features
and network, with the silero VAD deciding when the mouth may move.

The sample (tests/data/human, LICENSE.md there) holds a few seconds of each speaker held out of training, with
the phone timings the forced aligner found; the reference mouth curves come from those timings.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from engines.face.backends.base import VOICE_MODEL
from engines.face.backends.onnxruntime_backend import OnnxRuntimeBackend
from engines.face.network_driver import NetworkFaceEngine
from engines.face.visemes import mouth_curves
from engines.resample import resample
from engines.timebase import MOUTH_PARAMS, TIMELINE_RATE, frame_center
from engines.tts.base import Timed
from engines.tts.ipa import PAUSE
from engines.vad.silero import SileroVad
from tests.sounds import PACKET, breaths, clicks, music, noise, silence
from tools.human_corpus import load_audio

SAMPLE = Path(__file__).parent / "data" / "human"
JAW, CLOSE = MOUTH_PARAMS.index("jaw_open"), MOUTH_PARAMS.index("lip_close")
LEAD_S = 0.5
# Floors below what voice mode's network (a2f-voice.onnx) measures on this sample (speech-only r of jaw_open at lag
# 0: 0.72 / 0.68 / 0.63 for allison-en / allison-es / menardi-it; closure AUC of lip_close on m/b/p: 0.75; 95th
# percentile of jaw_open in the silences: 0.004 / 0.02 / 0.08), so that only a real regression fails. The issue's
# goal for closure (AUC >= 0.9) is not reached yet: docs/model_card.md.
MIN_R = 0.5
MIN_CLOSURE_AUC = 0.65
REST_JAW = 0.1


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    entries = json.loads((SAMPLE / "sample.json").read_text(encoding="utf-8"))
    for entry in entries:
        pcm, rate = load_audio(SAMPLE / entry["file"])
        lead = np.zeros(int(LEAD_S * TIMELINE_RATE), np.int16)
        entry["pcm48"] = np.concatenate([lead, resample(pcm, rate, TIMELINE_RATE), lead])
        entry["phonemes"] = [Timed(t, s + LEAD_S, e + LEAD_S) for t, s, e in entry["phonemes"]]
    return entries


@pytest.fixture(scope="module")
def engine() -> NetworkFaceEngine:
    return NetworkFaceEngine(OnnxRuntimeBackend(VOICE_MODEL, device="cpu"))  # what voice mode runs


async def stream_frames(engine: NetworkFaceEngine, pcm48: np.ndarray) -> np.ndarray:
    """Mouth parameters of every video frame, the audio pushed in 20 ms packets as a live voice arrives."""
    stream = engine.open_stream()
    parts = [(await stream.push(pcm48[at : at + PACKET])).params for at in range(0, len(pcm48), PACKET)]
    parts.append((await stream.flush()).params)
    return np.concatenate(parts)


def speech_mask(phonemes: list[Timed], times: np.ndarray) -> np.ndarray:
    mask = np.zeros(len(times), dtype=bool)
    for p in phonemes:
        if p.text != PAUSE:
            mask |= (times >= p.start) & (times < p.end)
    return mask


@pytest.fixture(scope="module")
def measured(engine, sample) -> dict[str, list[np.ndarray]]:
    """Per speaker: predicted and reference parameters, speech mask, for all of its frames."""
    result: dict[str, list] = {}
    for entry in sample:
        params = asyncio.run(stream_frames(engine, entry["pcm48"]))
        times = np.array([frame_center(n) for n in range(len(params))]) / TIMELINE_RATE
        reference = mouth_curves(entry["phonemes"], times)
        result.setdefault(entry["speaker"], []).append((params, reference, speech_mask(entry["phonemes"], times)))
    return {speaker: [np.concatenate(column) for column in zip(*parts)] for speaker, parts in result.items()}


@pytest.mark.slow
def test_the_sample_covers_every_held_out_speaker(sample):
    assert {e["speaker"] for e in sample} == {"allison-en", "allison-es", "menardi-it"}
    for speaker in {e["speaker"] for e in sample}:
        seconds = sum(len(e["pcm48"]) / TIMELINE_RATE - 2 * LEAD_S for e in sample if e["speaker"] == speaker)
        assert 4 <= seconds <= 20


@pytest.mark.slow
@pytest.mark.parametrize("speaker", ["allison-en", "allison-es", "menardi-it"])
def test_the_jaw_follows_human_speech(measured, speaker):
    predicted, reference, speech = measured[speaker]
    r = np.corrcoef(predicted[speech, JAW], reference[speech, JAW])[0, 1]
    assert r > MIN_R, f"speech-only jaw_open r {r:.2f} for {speaker}"


@pytest.mark.slow
def test_the_lips_close_on_m_b_p(measured):
    predicted = np.concatenate([p[s] for p, _, s in measured.values()])
    reference = np.concatenate([r[s] for _, r, s in measured.values()])
    shut, other = predicted[reference[:, CLOSE] >= 0.5, CLOSE], predicted[reference[:, CLOSE] < 0.1, CLOSE]
    auc = stats.mannwhitneyu(shut, other).statistic / (len(shut) * len(other))
    assert len(shut) >= 10 and auc > MIN_CLOSURE_AUC, f"closure AUC {auc:.2f} over {len(shut)} shut frames"


@pytest.mark.slow
@pytest.mark.parametrize("speaker", [
    "allison-en",
    "allison-es",
    "menardi-it",  # 8 kHz telephone recordings: text mode's network opened the mouth to their line noise
])
def test_the_mouth_rests_in_the_silence_around_speech(measured, speaker):
    predicted, reference, speech = measured[speaker]
    silent = ~speech & (reference.max(axis=1) < 0.02)
    assert silent.sum() >= 20
    assert np.percentile(predicted[silent, JAW], 95) < REST_JAW


async def voice_mode_mouth(engine: NetworkFaceEngine, pcm48: np.ndarray) -> np.ndarray:
    """jaw_open as voice mode shows it: the network's where the VAD hears speech, the mouth at rest elsewhere."""
    vad = SileroVad()
    spans: list[list[int]] = []
    for at in range(0, len(pcm48), PACKET):
        for transition in vad.push(at, pcm48[at : at + PACKET]):
            if transition.speaking:
                spans.append([transition.sample, len(pcm48)])
            else:
                spans[-1][1] = transition.last_voiced
    jaw = (await stream_frames(engine, pcm48))[:, JAW]
    centres = np.array([frame_center(n) for n in range(len(jaw))])
    moving = np.zeros(len(jaw), dtype=bool)
    for start, end in spans:
        moving |= (centres >= start) & (centres <= end)
    return np.where(moving, jaw, 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("sound", ["noise", "music", "clicks", "breaths"])
async def test_no_motion_on_sounds_that_are_not_speech(engine, sound):
    pcm = {"noise": noise(4.0, -25), "music": music(4.0), "clicks": clicks(4.0), "breaths": breaths(4.0)}[sound]
    assert (await voice_mode_mouth(engine, pcm)).max() < REST_JAW


@pytest.mark.slow
async def test_speech_moves_the_mouth_in_voice_mode(engine, sample):
    entry = next(e for e in sample if e["speaker"] == "allison-en")
    pcm = np.concatenate([silence(0.5), entry["pcm48"]])
    assert (await voice_mode_mouth(engine, pcm)).max() > 0.3
