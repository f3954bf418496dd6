"""Silero VAD on speech, pauses, holes, and the sounds an energy detector takes for speech."""
from __future__ import annotations

import numpy as np
import pytest

from engines.timebase import TIMELINE_RATE
from engines.vad.base import Transition
from engines.vad.registry import create_vad
from engines.vad.silero import CHUNK_SAMPLES, HANGOVER_CHUNKS, SileroVad
from tests import sounds
from tests.sounds import PACKET, breaths, clicks, music, noise, silence


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return sounds.spoken_phrase()


def detect(pcm: np.ndarray) -> list[Transition]:
    return sounds.detect(SileroVad(), pcm)


def test_the_registry_builds_it():
    assert isinstance(create_vad("silero"), SileroVad)


def test_speech_in_silence_is_one_spurt_from_its_first_sound(speech):
    transitions = detect(np.concatenate([silence(1.0), speech, silence(1.0)]))
    assert [t.speaking for t in transitions] == [True, False]
    begin, end = TIMELINE_RATE, TIMELINE_RATE + len(speech)
    assert abs(transitions[0].sample - begin) <= 2 * CHUNK_SAMPLES
    assert abs(transitions[1].last_voiced - end) <= 4 * CHUNK_SAMPLES
    assert transitions[1].sample - transitions[1].last_voiced == HANGOVER_CHUNKS * CHUNK_SAMPLES


def test_a_short_pause_keeps_one_spurt_and_a_long_one_splits_it(speech):
    short = detect(np.concatenate([silence(0.5), speech, silence(0.15), speech, silence(1.0)]))
    long = detect(np.concatenate([silence(0.5), speech, silence(0.8), speech, silence(1.0)]))
    assert [t.speaking for t in short] == [True, False]
    assert [t.speaking for t in long] == [True, False, True, False]


@pytest.mark.parametrize("sound", ["noise", "loud noise", "music", "clicks", "breaths"])
def test_sounds_that_are_not_speech_are_not_speech(sound):
    pcm = {"noise": noise(4.0, -40), "loud noise": noise(4.0, -15), "music": music(4.0), "clicks": clicks(4.0),
           "breaths": breaths(4.0)}[sound]
    assert detect(pcm) == []


def test_speech_over_music_is_heard(speech):
    mixed = music(4.0).astype(np.int32) // 4
    at = TIMELINE_RATE
    mixed[at : at + len(speech)] += speech
    transitions = detect(np.clip(mixed, -32768, 32767).astype(np.int16))
    assert transitions and transitions[0].speaking
    assert abs(transitions[0].sample - at) <= 3 * CHUNK_SAMPLES


def test_a_hole_in_the_stream_counts_as_silence(speech):
    vad = SileroVad()
    assert [t.speaking for t in vad.push(0, np.concatenate([silence(0.3), speech]))] == [True]
    ended = vad.push(int(0.3 * TIMELINE_RATE) + len(speech) + TIMELINE_RATE, silence(0.02))
    assert [t.speaking for t in ended] == [False]
    assert ended[0].last_voiced <= int(0.3 * TIMELINE_RATE) + len(speech) + CHUNK_SAMPLES


def test_audio_pushed_twice_counts_once(speech):
    once = detect(np.concatenate([silence(0.5), speech, silence(1.0)]))
    vad = SileroVad()
    pcm = np.concatenate([silence(0.5), speech, silence(1.0)])
    twice = []
    for start in range(0, len(pcm), PACKET):
        twice += vad.push(max(0, start - PACKET // 2), pcm[max(0, start - PACKET // 2) : start + PACKET])
    assert twice == once


def test_quiet_means_no_louder_than_the_background_heard(speech):
    vad = SileroVad()
    vad.push(0, noise(2.0, -50))
    assert vad.is_quiet(noise(0.02, -52, seed=3))
    assert not vad.is_quiet(speech[: TIMELINE_RATE // 5])
