"""Reading a whole audio file (WAV, MP3, Ogg, anything FFmpeg reads) as mono int16 at one rate: for a voice-mode
client that plays a recording, and for audio a client uploads to be spoken."""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import av
import numpy as np


class AudioFileError(ValueError):
    """The file holds no audio FFmpeg can read, or more than the caller accepts."""


class AudioTooLong(AudioFileError):
    """The file's audio lasts longer than the caller accepts."""


def read_audio(
    source: str | Path | BinaryIO, rate: int = 48_000, max_seconds: float | None = None
) -> tuple[np.ndarray, int]:
    """The first audio stream of a file (a path or a binary file object) as mono int16 at `rate`.

    With `max_seconds`, decoding stops with AudioFileError as soon as the audio is longer: a small compressed
    upload cannot make the server hold hours of PCM."""
    limit = None if max_seconds is None else round(max_seconds * rate)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(source if not isinstance(source, Path) else str(source)) as container:
            if not container.streams.audio:
                raise AudioFileError("the file has no audio stream")
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    total += len(chunks[-1])
                if limit is not None and total > limit:
                    raise AudioTooLong(f"the audio is longer than {max_seconds:g} s")
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    except av.FFmpegError as exc:
        raise AudioFileError(f"not a readable audio file: {exc}") from None
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    if limit is not None and len(pcm) > limit:
        raise AudioTooLong(f"the audio is longer than {max_seconds:g} s")
    return pcm, rate
