"""Words of a phrase's text placed on the time spans of the words the engine spoke.

espeak (and so piper) usually speaks one phonetic word per written word, but not always: it joins some function
words ("of the"), splits numbers and abbreviations into several words, and drops symbols. So each written word gets a
share of the spoken phonemes in proportion to its own expected number of phonemes, cut at the boundaries between
spoken words where they fit and inside a spoken word where they don't: every written word gets an ordered,
non-empty span, and a one-to-one match comes out whenever there is one.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engines.tts.base import Timed

_WORD = re.compile(r"\S+")
_EDGE_PUNCTUATION = re.compile(r"^[^\w]+|[^\w]+$")


def text_words(text: str) -> list[str]:
    """The words of `text` as a listener would caption them: whitespace-separated, outer punctuation removed."""
    words = (_EDGE_PUNCTUATION.sub("", token) for token in _WORD.findall(text))
    return [word for word in words if word]


@dataclass(frozen=True)
class SpokenWord:
    """A word as the engine spoke it: its time span and its size in phonemes."""

    start: float
    end: float
    size: int


def place_words(words: Sequence[str], sizes: Sequence[float], spoken: Sequence[SpokenWord]) -> list[Timed]:
    """Give each written word (with its expected size in phonemes) a span made of whole spoken words, or of
    parts of one where written words outnumber spoken ones."""
    if not words or not spoken:
        return []
    cuts = [_Cut(spoken[0].start, spoken[0].start)] + _best_cuts(sizes, spoken) + [_Cut(spoken[-1].end, spoken[-1].end)]
    return [Timed(word, before.start, after.end) for word, before, after in zip(words, cuts[:-1], cuts[1:])]


@dataclass(frozen=True)
class _Cut:
    end: float  # where the word before the cut ends
    start: float  # where the word after it starts


_INNER_CUT_PENALTY = 1.5  # phonemes: how far a boundary between spoken words may be off before a cut inside one wins


def _best_cuts(sizes: Sequence[float], spoken: Sequence[SpokenWord]) -> list[_Cut]:
    """The len(sizes)-1 cuts whose positions in the spoken phonemes best match the written words' sizes."""
    if len(sizes) < 2:
        return []
    candidates = _candidates(spoken)
    positions = np.array([position for position, _, _ in candidates])
    penalties = np.array([penalty for _, penalty, _ in candidates])
    weights = np.maximum(np.asarray(sizes, dtype=np.float64), 1.0)
    targets = (np.cumsum(weights) / weights.sum())[:-1] * positions[-1]
    chosen = _monotone_assignment(targets, positions[:-1], penalties[:-1])
    return [candidates[index][2] for index in chosen]


def _candidates(spoken: Sequence[SpokenWord]) -> list[tuple[float, float, _Cut]]:
    """(position in spoken phonemes, penalty, cut) for every place a word may end, in order, the last one being
    the phrase's end. Boundaries between spoken words cost nothing; cuts between the (evenly assumed) phonemes
    of one spoken word cost a little."""
    candidates = []
    elapsed = 0.0
    for index, word in enumerate(spoken):
        size = max(word.size, 1)
        if index > 0:
            candidates.append((elapsed, 0.0, _Cut(spoken[index - 1].end, word.start)))
        for step in range(1, size):
            time = word.start + step / size * (word.end - word.start)
            candidates.append((elapsed + step, _INNER_CUT_PENALTY, _Cut(time, time)))
        elapsed += size
    candidates.append((elapsed, 0.0, _Cut(spoken[-1].end, spoken[-1].end)))
    return candidates


def _monotone_assignment(targets: np.ndarray, positions: np.ndarray, penalties: np.ndarray) -> list[int]:
    """Strictly increasing candidate indices, one per target, minimising distance plus penalty (dynamic programme)."""
    n, k = len(targets), len(positions)
    cost = np.full((n, k), np.inf)
    came_from = np.zeros((n, k), dtype=np.int64)
    cost[0] = np.abs(targets[0] - positions) + penalties
    for i in range(1, n):
        best_before = np.minimum.accumulate(cost[i - 1])
        arg_before = _running_argmin(cost[i - 1])
        cost[i, 1:] = best_before[:-1] + np.abs(targets[i] - positions[1:]) + penalties[1:]
        came_from[i, 1:] = arg_before[:-1]
    chosen = [int(np.argmin(cost[-1]))]
    for i in range(n - 1, 0, -1):
        chosen.append(int(came_from[i, chosen[-1]]))
    return chosen[::-1]


def _running_argmin(values: np.ndarray) -> np.ndarray:
    best = np.zeros(len(values), dtype=np.int64)
    for j in range(1, len(values)):
        best[j] = j if values[j] < values[best[j - 1]] else best[j - 1]
    return best


def words_at(text: str, positions: Sequence[int]) -> list[tuple[str, int]]:
    """Written words for an engine's word events at 0-based character `positions`, in order: (word, index of
    the word's first event). Events inside one whitespace-separated token make one word ("42" is spoken as
    "forty two"), except in scripts written without spaces (Chinese), where each event starts a word."""
    tokens = [match.span() for match in _WORD.finditer(text)]
    starts: list[tuple[int, int, int]] = []  # (first character, end of its token, event index)
    for index, position in enumerate(positions):
        token = next((span for span in tokens if span[0] <= position < span[1]), None)
        if token is None:
            continue
        start = position if unicodedata.category(text[position]) == "Lo" else token[0]
        if not starts or starts[-1][0] != start:
            starts.append((start, token[1], index))
    words = []
    for number, (start, token_end, index) in enumerate(starts):
        end = min(token_end, starts[number + 1][0]) if number + 1 < len(starts) else token_end
        word = _EDGE_PUNCTUATION.sub("", text[start:end])
        if word:
            words.append((word, index))
    return words
