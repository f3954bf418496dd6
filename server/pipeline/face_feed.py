"""A performer's face stream, fed with the speech it places on the timeline, in timeline order.

Short silence between two pieces of speech is fed to the face network as context (it was trained on speech with
pauses); after a longer one, or speech placed behind what was fed (an interrupt), the stream starts afresh.
Every mouth frame the stream computes goes straight into the session's mouth schedule.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engines.face.base import FaceStream
from engines.tts.base import Timed
from server.pipeline.mouth import MouthSchedule


class FaceFeed:
    def __init__(self, face: FaceStream, mouth: MouthSchedule, max_gap_samples: int) -> None:
        self._face = face
        self._mouth = mouth
        self._max_gap = max_gap_samples
        self.position = 0  # timeline sample up to which audio (or silence) went to the face stream

    @property
    def lookahead_samples(self) -> int:
        return self._face.lookahead_samples

    def reset(self, at: int) -> None:
        """Forget what was fed and go on at timeline sample `at` (after an interrupt)."""
        self._face.reset(at)
        self.position = at

    async def feed(self, start: int, pcm: np.ndarray, phonemes: Sequence[Timed] = ()) -> None:
        """Speech placed at timeline sample `start`, with the phonemes the TTS gave for it (seconds from `start`)."""
        gap = start - self.position
        if gap < 0 or gap > self._max_gap:
            self._face.reset(start)
        elif gap:
            self._mouth.add(await self._face.push(np.zeros(gap, dtype=np.int16)))
        self.position = start + len(pcm)
        self._mouth.add(await self._face.push(pcm, phonemes))

    async def flush(self) -> int:
        """Compute the frames up to the end of what was fed (the speech is over): the stream is given its
        look-ahead of silence. Returns the new position; later speech must not start before it."""
        self._mouth.add(await self._face.flush())
        self.position += self._face.lookahead_samples
        return self.position
