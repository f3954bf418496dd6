"""espeak-ng: a tiny formant voice that is always there, in many English variants and Mandarin.

Timings come from the library's own events: a phoneme event (IPA name, sample position) at the start of each
phoneme and a word event (character position, sample position) at the start of each word. The robotic sound is
no loss for its main use here: many different voices for the audio-to-face network's training data.
"""
from __future__ import annotations

import logging

import numpy as np

from engines.tts.base import EngineOptions, Speech, SynthesisOptions, Timed, TTSEngine
from engines.tts.espeak_lib import (
    EVENT_PHONEME,
    EVENT_WORD,
    Event,
    Prosody,
    espeak_library,
)
from engines.tts.ipa import PAUSE, STRESS_MARKS
from engines.tts.words import words_at

log = logging.getLogger(__name__)

# Voice names offered -> espeak-ng voice (a language file, optionally with "+variant").
VOICES: dict[str, str] = {
    "en-us": "en-us",
    "en-us+f3": "en-us+f3",
    "en-us+f4": "en-us+f4",
    "en-us+m3": "en-us+m3",
    "en-us+m7": "en-us+m7",
    "en-gb": "en",
    "en-gb+f2": "en+f2",
    "en-gb+m4": "en+m4",
    "en-gb-rp": "en-GB-x-rp",
    "en-gb-scotland": "en-GB-scotland",
    "en-029": "en-029",
    "cmn": "cmn",
    "cmn+f3": "cmn+f3",
}
_DEFAULT_RATE_WPM = 175
_DEFAULT_PITCH = 50
_DEFAULT_RANGE = 50
# espeak writes a few Mandarin sounds with its own mnemonics even in IPA mode; these are their IPA spellings.
_MNEMONICS = (("ts.h", "tʂʰ"), ("ts.", "tʂ"), ("s.", "ʂ"), ("z.", "ʐ"), ("i.", "ɨ"),
              ("tɕh", "tɕʰ"), ("tsh", "tsʰ"), ("ph", "pʰ"), ("th", "tʰ"), ("kh", "kʰ"), ("-", ""))


class EspeakEngine(TTSEngine):
    """All calls share the process's one espeak-ng instance, which serialises them. Of `EngineOptions` it takes
    the default rate."""

    name = "espeak"

    def __init__(self, options: EngineOptions | None = None) -> None:
        self._rate = (options or EngineOptions()).rate
        self._library = espeak_library()
        missing = [voice for voice, espeak_voice in VOICES.items() if not self._library.has_voice(espeak_voice)]
        if missing:
            raise RuntimeError(f"espeak-ng data lacks voices {missing}")
        # The library's first synthesis after loading loses the events of its first word (seen here: "The" of
        # "The first part is fine." had no word event); one throwaway phrase absorbs that, as piper's warm-up does.
        self.synthesize("Ready.")
        log.info("espeak-ng ready at %d Hz with voices %s", self._library.sample_rate, ", ".join(VOICES))

    def voices(self) -> list[str]:
        return list(VOICES)

    @property
    def default_voice(self) -> str:
        return "en-us"

    def synthesize(self, text: str, voice: str | None = None, *, options: SynthesisOptions | None = None) -> Speech:
        espeak_voice = VOICES[self.resolve_voice(voice)]
        pcm, events = self._library.synthesize(text, espeak_voice, _prosody(options or SynthesisOptions(rate=self._rate)))
        rate = self._library.sample_rate
        phonemes = phoneme_spans(events, len(pcm), rate)
        word_events = [event for event in events if event.kind == EVENT_WORD]
        words = [
            (word, word_events[index].sample / rate)
            for word, index in words_at(text, [event.text_position for event in word_events])
        ]
        return Speech(pcm, rate, phonemes, _word_spans(words, phonemes))


def _prosody(options: SynthesisOptions) -> Prosody:
    """Options in espeak's units, clipped to the ranges it accepts (80-450 words per minute, 0-100)."""
    return Prosody(
        rate_wpm=int(np.clip(round(_DEFAULT_RATE_WPM * options.rate), 80, 450)),
        pitch=int(np.clip(round(_DEFAULT_PITCH * options.pitch), 0, 100)),
        pitch_range=int(np.clip(round(_DEFAULT_RANGE * options.variability), 0, 100)),
    )


def _ipa(name: str) -> str:
    """espeak's phoneme name in the project's alphabet: stress marks dropped, mnemonics spelled in IPA."""
    name = "".join(symbol for symbol in name if symbol not in STRESS_MARKS)
    for mnemonic, ipa in _MNEMONICS:
        name = name.replace(mnemonic, ipa)
    return name or PAUSE


def phoneme_spans(events: list[Event], samples: int, rate: int) -> list[Timed]:
    """Phonemes from phoneme events, each lasting until the next; silence before the first and between
    sentences becomes one pause each, and the last phoneme ends with the audio."""
    starts = [(event.sample, _ipa(event.phoneme)) for event in events if event.kind == EVENT_PHONEME]
    if not starts or starts[0][0] > 0:
        starts.insert(0, (0, PAUSE))
    phonemes: list[Timed] = []
    for (start, name), (end, _) in zip(starts, starts[1:] + [(samples, PAUSE)]):
        if end <= start:
            continue
        if phonemes and name == PAUSE and phonemes[-1].text == PAUSE:
            phonemes[-1] = Timed(PAUSE, phonemes[-1].start, end / rate)
        else:
            phonemes.append(Timed(name, start / rate, end / rate))
    return phonemes


def _word_spans(words: list[tuple[str, float]], phonemes: list[Timed]) -> list[Timed]:
    """Each word over its sounds: those starting between its event and the next word's (pauses excluded)."""
    spans = []
    for number, (word, event_time) in enumerate(words):
        limit = words[number + 1][1] if number + 1 < len(words) else float("inf")
        sounds = [p for p in phonemes if p.text != PAUSE and event_time <= p.start < limit]
        spans.append(Timed(word, sounds[0].start, sounds[-1].end) if sounds else Timed(word, event_time, event_time))
    return spans
