"""Turns streamed text deltas into speakable phrases as early as possible.

The first phrase of an utterance decides how soon the avatar starts speaking, so it is cut short: at a sentence
end at once, at clause punctuation once it has a few words, and, when no punctuation has come after
`first_words` words (an LLM's reply streamed a few characters at a time often has none for a while), after those
words; at a word boundary once it grows long. A phrase is never cut inside a word: a cut waits for the
whitespace (or the next delta) that proves the word is over.

The cut after a few words is placed where a speaker could pause: not after a function word (an article, a
preposition, an auxiliary: they lean on the word that follows, "the | cat" sounds broken, "the cat | sat" does
not), so it moves on by up to FUNCTION_WORD_SLACK words to the next content word. When the text at hand already
ends a clause within `first_clause_words` words (a whole sentence said at once), the clause is taken instead.
"""
from __future__ import annotations

import re

from server.config import TextSettings

_SENTENCE_END = ".!?…"
_CLAUSE = ",;:—–"
# Full-width CJK punctuation ends a phrase without a following space.
_CJK_SENTENCE_END = "。！？；\n"
_CJK_CLAUSE = "，、："
_CLOSERS = "\"')]}»”’"
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "prof", "no"})
# A CJK ideograph counts as a word of its own; elsewhere a word is a run of word characters.
_WORD = re.compile(r"[\u3400-\u9fff]|[^\W\u3400-\u9fff]+")
# A space-separated word (complete once whitespace follows it; a lookahead here would backtrack over a long run
# without spaces, quadratically).
_SPACED_WORD = re.compile(r"\S+")
# English words that lean on the next one: a phrase cut after a few words never ends on one of them.
FUNCTION_WORDS = frozenset(
    "a an the and or but nor so if as of to in on at by for from with into onto about than that which who whom "
    "whose what when where while because although though is are was were be been being am do does did have has "
    "had will would can could shall should may might must i you he she it we they me him her us them my your his "
    "its our their this these those there here not no very just".split()
)
FUNCTION_WORD_SLACK = 3


def _speakable(phrase: str) -> bool:
    return any(ch.isalnum() for ch in phrase)


def _bare(word: str) -> str:
    return word.strip("\"'()[]{}«»“”‘’").lower()


class Chunker:
    """Accumulates deltas of one utterance and hands out phrases in order.

    Limits grow phrase by phrase: the first phrase is short so speech starts soon; the second is still moderate,
    because it must be synthesized while the (short) first one plays; later ones may be long, for better prosody.
    """

    def __init__(self, settings: TextSettings) -> None:
        self._max_chars = settings.phrase_max_chars
        self._min_clause_words = settings.clause_min_words
        self._first_words = settings.first_words
        self._first_clause_words = settings.first_clause_words
        self._buffer = ""
        self._emitted = 0

    @property
    def pending(self) -> str:
        """Text received but not yet handed out as a phrase."""
        return self._buffer

    def push(self, delta: str) -> list[str]:
        self._buffer += delta
        phrases = []
        while (cut := self._find_cut()) is not None:
            phrases.extend(self._take(cut))
        return phrases

    def flush(self) -> list[str]:
        """End of the utterance: whatever is left is the last phrase."""
        phrases = self._take(len(self._buffer))
        self._emitted = 0
        return phrases

    def _take(self, cut: int) -> list[str]:
        phrase, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:].lstrip()
        if not _speakable(phrase):
            return []
        self._emitted += 1
        return [phrase]

    @staticmethod
    def _for_phrase(values: tuple[int, ...], index: int) -> int:
        return values[min(index, len(values) - 1)]

    def _limit(self) -> int:
        return self._for_phrase(self._max_chars, self._emitted)

    def _find_cut(self) -> int | None:
        buf = self._buffer
        clause = self._punctuation_cut(buf)
        if self._emitted == 0 and self._first_words:
            if clause is None or len(_SPACED_WORD.findall(buf[:clause])) > self._first_clause_words:
                early = self._words_cut(buf)
                if early is not None:
                    return early
        return clause if clause is not None else self._length_cut(buf)

    def _punctuation_cut(self, buf: str) -> int | None:
        for i, ch in enumerate(buf):
            if ch in _CJK_SENTENCE_END:
                return i + 1
            if ch in _CJK_CLAUSE and self._enough_words(buf[: i + 1]):
                return i + 1
            end = self._after_closers(buf, i + 1)
            if end >= len(buf) or not buf[end].isspace():
                continue
            if ch in _SENTENCE_END and not self._is_abbreviation(buf, i):
                return end
            if ch in _CLAUSE and self._enough_words(buf[:end]):
                return end
        return None

    def _words_cut(self, buf: str) -> int | None:
        """After the first `first_words` complete words, moved past function words (at most by the slack)."""
        complete = [match for match in _SPACED_WORD.finditer(buf) if match.end() < len(buf)]
        for n in range(self._first_words, min(len(complete), self._first_words + FUNCTION_WORD_SLACK) + 1):
            if n == self._first_words + FUNCTION_WORD_SLACK or _bare(complete[n - 1].group()) not in FUNCTION_WORDS:
                return complete[n - 1].end()
        return None

    def _length_cut(self, buf: str) -> int | None:
        limit = self._limit()
        if len(buf) <= limit:
            return None
        space = max(buf.rfind(" ", 0, limit + 1), buf.rfind("\t", 0, limit + 1))
        if space > 0:
            return space
        # One unbroken run (a script without spaces, or a very long token): cut at the limit.
        return limit

    def _enough_words(self, text: str) -> bool:
        return len(_WORD.findall(text)) >= self._for_phrase(self._min_clause_words, self._emitted)

    @staticmethod
    def _after_closers(buf: str, i: int) -> int:
        while i < len(buf) and buf[i] in _CLOSERS:
            i += 1
        return i

    @staticmethod
    def _is_abbreviation(buf: str, dot: int) -> bool:
        if buf[dot] != ".":
            return False
        start = dot
        while start > 0 and (buf[start - 1].isalpha() or buf[start - 1] == "."):
            start -= 1
        word = buf[start:dot]
        return word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper())
