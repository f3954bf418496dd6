"""A session's timeline: speech placed at 48 kHz sample positions, and cues that fire when playback reaches them.

Audio is the master clock. Speech is only ever appended at the end (or cut short by an interrupt), so the
timeline is a queue of contiguous or spaced segments; anything before the playback position is released.
"""
from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Segment:
    start: int
    pcm: np.ndarray

    @property
    def end(self) -> int:
        return self.start + len(self.pcm)


class Timeline:
    """Placed speech audio, read back frame by frame by the audio track."""

    def __init__(self) -> None:
        self._segments: deque[_Segment] = deque()
        self._end = 0

    @property
    def end(self) -> int:
        """First sample after everything placed or reserved."""
        return self._end

    def buffered(self, position: int) -> int:
        """Samples of placed audio still ahead of `position`."""
        return max(0, self._end - position)

    def place(self, pcm: np.ndarray, not_before: int) -> int:
        """Append int16 audio after what is already placed, no earlier than `not_before`; returns its start."""
        start = max(self._end, not_before)
        if len(pcm):
            self._segments.append(_Segment(start, pcm.astype(np.int16, copy=False)))
        self._end = start + len(pcm)
        return start

    def reserve(self, until: int) -> None:
        """Keep later speech from starting before `until` (silence already handed to the face stream)."""
        self._end = max(self._end, until)

    def read(self, start: int, count: int) -> np.ndarray:
        """Samples [start, start+count), silence where nothing is placed. Releases what lies before `start`."""
        while self._segments and self._segments[0].end <= start:
            self._segments.popleft()
        out = np.zeros(count, dtype=np.int16)
        stop = start + count
        for seg in self._segments:
            if seg.start >= stop:
                break
            lo, hi = max(start, seg.start), min(stop, seg.end)
            out[lo - start : hi - start] = seg.pcm[lo - seg.start : hi - seg.start]
        return out

    def cut(self, at: int, fade_samples: int) -> int:
        """Silence everything from `at` on, after a short linear fade (no click). Returns the new end."""
        stop = at + fade_samples
        kept: deque[_Segment] = deque()
        for seg in self._segments:
            if seg.start >= stop:
                continue
            if seg.end > at:
                pcm = seg.pcm[: max(0, stop - seg.start)].astype(np.float32)
                offsets = np.arange(seg.start, seg.start + len(pcm))
                gain = np.clip((stop - offsets) / max(1, fade_samples), 0.0, 1.0)
                pcm = (pcm * gain).astype(np.int16)
                seg = _Segment(seg.start, pcm)
            kept.append(seg)
        self._segments = kept
        self._end = min(self._end, stop)
        return self._end


@dataclass(order=True)
class _Cue:
    sample: int
    order: int
    action: Callable[[], None] = field(compare=False)


class Cues:
    """Callbacks tied to timeline samples, run in order as playback passes them (speech_started, word, ...)."""

    def __init__(self) -> None:
        self._heap: list[_Cue] = []
        self._order = itertools.count()

    def at(self, sample: int, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, _Cue(sample, next(self._order), action))

    def fire_until(self, sample: int) -> None:
        """Run every cue before `sample`."""
        while self._heap and self._heap[0].sample < sample:
            heapq.heappop(self._heap).action()

    def drop_from(self, sample: int) -> None:
        """Forget cues at or after `sample` (interrupted speech never plays)."""
        self._heap = [cue for cue in self._heap if cue.sample < sample]
        heapq.heapify(self._heap)

    def clear(self) -> None:
        """Forget every cue (the session is over)."""
        self._heap = []
