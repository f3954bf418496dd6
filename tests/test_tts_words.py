"""Phoneme and word timing helpers shared by the engines: piper's symbol durations and word placement."""
from __future__ import annotations

import pytest

from engines.tts.alignment import phonemes_from_symbols
from engines.tts.base import Timed
from engines.tts.words import SpokenWord, place_words, text_words, words_at


def _symbols(spec: list[tuple[str, int]]) -> list[tuple[str, float, float]]:
    """(symbol, duration in ms) -> (symbol, start s, end s), back to back."""
    out, time = [], 0
    for symbol, duration in spec:
        out.append((symbol, time / 1000, (time + duration) / 1000))
        time += duration
    return out


def test_symbols_become_phonemes_pauses_and_words() -> None:
    # "^ hˈoʊ wˈɜːld, ɪt. $" as piper's alignments give it
    spec = [("^", 50), ("h", 30), ("ˈ", 20), ("o", 40), ("ʊ", 40), (" ", 30), ("w", 30), ("ˈ", 10), ("ɜ", 60),
            ("ː", 40), ("l", 30), ("d", 30), (",", 100), (" ", 80), ("ɪ", 50), ("t", 40), (".", 90), ("$", 50)]
    phonemes, spoken = phonemes_from_symbols(_symbols(spec))
    assert [(p.text, round(p.start * 1000), round(p.end * 1000)) for p in phonemes] == [
        ("_", 0, 50), ("h", 50, 80), ("o", 80, 140), ("ʊ", 140, 210), ("w", 210, 240), ("ɜː", 240, 350),
        ("l", 350, 380), ("d", 380, 410), ("_", 410, 590), ("ɪ", 590, 640), ("t", 640, 680), ("_", 680, 820),
    ]
    assert [(round(w.start * 1000), round(w.end * 1000), w.size) for w in spoken] == [
        (50, 210, 3), (210, 410, 4), (590, 680, 2)
    ]


def test_text_words_drop_outer_punctuation_only() -> None:
    assert text_words("Well -- it's 42, e.g. “fine”!") == ["Well", "it's", "42", "e.g", "fine"]


def test_words_map_one_to_one_when_counts_agree() -> None:
    spoken = [SpokenWord(0.0, 0.3, 3), SpokenWord(0.4, 0.7, 4), SpokenWord(0.7, 1.0, 3)]
    assert place_words(["one", "four", "six"], [3, 4, 3], spoken) == [
        Timed("one", 0.0, 0.3), Timed("four", 0.4, 0.7), Timed("six", 0.7, 1.0)
    ]


def test_joined_and_split_spoken_words_still_give_each_written_word_its_place() -> None:
    # "I'm 42 the end of the road": espeak says "42" as two words and joins "of the" into one.
    spoken = [SpokenWord(0.0, 0.2, 3), SpokenWord(0.2, 0.5, 5), SpokenWord(0.5, 0.6, 2), SpokenWord(0.6, 0.7, 2),
              SpokenWord(0.7, 0.9, 3), SpokenWord(0.9, 1.2, 4), SpokenWord(1.2, 1.5, 4)]
    words = place_words(["I'm", "42", "the", "end", "of", "the", "road"], [3, 7, 2, 3, 2, 2, 4], spoken)
    assert [(w.text, round(w.start, 2), round(w.end, 2)) for w in words] == [
        ("I'm", 0.0, 0.2), ("42", 0.2, 0.6), ("the", 0.6, 0.7), ("end", 0.7, 0.9),
        ("of", 0.9, 1.05), ("the", 1.05, 1.2), ("road", 1.2, 1.5),
    ]


def test_a_single_word_takes_all_spoken_words() -> None:
    spoken = [SpokenWord(0.1, 0.3, 2), SpokenWord(0.4, 0.9, 5)]
    assert place_words(["221B"], [7], spoken) == [Timed("221B", 0.1, 0.9)]
    assert place_words([], [], spoken) == [] and place_words(["a"], [1], []) == []


def test_more_written_than_spoken_words_splits_inside_spoken_ones() -> None:
    words = place_words(["a", "b", "c"], [2, 2, 2], [SpokenWord(1.0, 1.6, 6)])
    assert [w.text for w in words] == ["a", "b", "c"]
    assert words[0].start == 1.0 and words[-1].end == 1.6
    assert all(w.start < w.end for w in words)
    assert all(a.end <= b.start for a, b in zip(words, words[1:]))


@pytest.mark.parametrize(
    ("text", "positions", "expected"),
    [
        ("Hello world, it's 42. Mom", [0, 6, 13, 18, 19, 22], [("Hello", 0), ("world", 1), ("it's", 2), ("42", 3), ("Mom", 5)]),
        ("你好，世界。我们", [0, 3, 4, 6, 7], [("你好", 0), ("世", 1), ("界", 2), ("我", 3), ("们", 4)]),
        ("-- ok", [3], [("ok", 0)]),
    ],
)
def test_word_events_become_written_words(text: str, positions: list[int], expected) -> None:
    assert words_at(text, positions) == expected
