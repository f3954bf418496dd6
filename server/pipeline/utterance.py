"""One utterance's bookkeeping: its text, where its audio landed on the timeline, and what of it was heard."""
from __future__ import annotations

from dataclasses import dataclass, field

from engines.timebase import TIMELINE_RATE


@dataclass(frozen=True)
class PlacedWord:
    text: str
    start: int  # timeline samples
    end: int


@dataclass
class Utterance:
    number: int
    id: str | None
    voice: str
    received_at: float  # event-loop time of its first text
    text: str = ""
    first_sample: int | None = None
    words: list[PlacedWord] = field(default_factory=list)
    ended: bool = False

    def ms_from_start(self, sample: int) -> int:
        assert self.first_sample is not None
        return round((sample - self.first_sample) * 1000 / TIMELINE_RATE)

    def heard_before(self, sample: int) -> str:
        """The words whose start had been played before `sample` (what the listener heard of it)."""
        return " ".join(word.text for word in self.words if word.start < sample)

    def full_text(self) -> str:
        return " ".join(self.text.split())
