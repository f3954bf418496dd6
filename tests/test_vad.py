"""The voice-activity detector on real synthesized speech, in silence and in noise."""
from __future__ import annotations

import numpy as np
import pytest

from engines.timebase import TIMELINE_RATE
from engines.vad.base import Transition
from engines.vad.energy import FLOOR_WINDOW, FRAME_SAMPLES, HANGOVER_FRAMES, EnergyVad
from tests import sounds
from tests.sounds import noise, silence


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return sounds.spoken_phrase()


def detect(pcm: np.ndarray) -> list[Transition]:
    return sounds.detect(EnergyVad(), pcm)


def test_speech_in_silence_is_one_spurt_from_its_first_sound(speech):
    transitions = detect(np.concatenate([silence(1.0), speech, silence(1.0)]))
    assert [t.speaking for t in transitions] == [True, False]
    begin, end = TIMELINE_RATE, TIMELINE_RATE + len(speech)
    assert abs(transitions[0].sample - begin) <= 2 * FRAME_SAMPLES
    assert abs(transitions[1].last_voiced - end) <= 10 * FRAME_SAMPLES
    assert transitions[1].sample == transitions[1].last_voiced + HANGOVER_FRAMES * FRAME_SAMPLES


def test_a_pause_shorter_than_the_hangover_keeps_one_spurt_and_a_long_one_splits_it(speech):
    short = detect(np.concatenate([silence(0.5), speech, silence(0.15), speech, silence(1.0)]))
    long = detect(np.concatenate([silence(0.5), speech, silence(0.8), speech, silence(1.0)]))
    assert [t.speaking for t in short] == [True, False]
    assert [t.speaking for t in long] == [True, False, True, False]


def test_steady_noise_is_background_and_speech_over_it_is_heard(speech):
    background = noise(4.0, -40)
    assert detect(background) == []
    mixed = background.astype(np.int32)
    at = 2 * TIMELINE_RATE
    mixed[at : at + len(speech)] += speech
    transitions = detect(np.clip(mixed, -32768, 32767).astype(np.int16))
    assert [t.speaking for t in transitions] == [True, False]
    assert abs(transitions[0].sample - at) <= 5 * FRAME_SAMPLES


def test_a_louder_background_is_learned_within_the_floor_window():
    transitions = detect(np.concatenate([noise(2.0, -65), noise(5.0, -35, seed=1)]))
    assert len(transitions) <= 2
    if transitions:  # the step may read as speech until the floor has risen to the new background
        assert transitions[-1].last_voiced <= 2 * TIMELINE_RATE + (FLOOR_WINDOW + 3) * FRAME_SAMPLES


def test_a_click_is_not_speech():
    click = silence(2.0)
    click[TIMELINE_RATE : TIMELINE_RATE + FRAME_SAMPLES] = 20000
    assert detect(click) == []


def test_a_hole_in_the_stream_counts_as_silence(speech):
    vad = EnergyVad()
    assert [t.speaking for t in vad.push(0, speech)] == [True]
    ended = vad.push(len(speech) + TIMELINE_RATE, silence(0.02))
    assert [t.speaking for t in ended] == [False]
