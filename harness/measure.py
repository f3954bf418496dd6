"""What a client sees, measured: speech onsets in received audio, mouth opening in received video, frame rate,
missing and late frames, and the offset between the two tracks.

A mouth is "open" when the dark mouth cavity shows: the share of dark pixels of the luma plane inside the
avatar's mouth box rises above what the idle face (blinks, head motion, breathing) ever shows. That reads the
decoded VP8 frames as a viewer would, without knowing the mouth parameters the server used.

Times are `time.monotonic()` arrivals at the client. Each track's frames are also placed on a steadier "playout"
line (arrival minus its media time, a low percentile over the run), so an onset is timed with the precision of
its media timestamp instead of the jitter of its packet.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import av
import numpy as np

from client import ReceivedAudio, ReceivedVideo
from client.wire import RtpArrival

AUDIO_RATE = 48_000
VIDEO_CLOCK = 90_000
FRAME_PTS = 3600
DARK_LUMA = 60  # luma (0-255) below which a mouth-box pixel counts as cavity
OPEN_MARGIN = 0.01  # dark share above the idle face's maximum that counts as an open mouth
SPEECH_RMS = 300.0  # 20 ms audio frame RMS (int16) that counts as speech
SILENT_RMS = 50.0
# A frame arriving this much after its place on the playout line counts as late at the client.
CLIENT_LATE_S = 0.04


def summary(values: Sequence[float]) -> dict[str, float | int]:
    """median / p95 / max (and count) of a list of measurements, in the list's unit."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(np.ceil(0.95 * len(ordered))) - 1)]
    return {"n": len(ordered), "median": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def dark_share(frame: av.VideoFrame, box: tuple[int, int, int, int], pad: int = 6) -> float:
    """Share of cavity-dark pixels in the (padded) mouth box of a decoded frame."""
    return luma_dark_share(frame.to_ndarray(format="gray"), box, pad)


def luma_dark_share(luma: np.ndarray, box: tuple[int, int, int, int], pad: int = 6) -> float:
    """Share of cavity-dark pixels in the (padded) mouth box of a luma image (0-255)."""
    x0, y0, x1, y1 = box
    region = luma[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad]
    return float((region < DARK_LUMA).mean())


@dataclass(frozen=True)
class MouthSample:
    arrival: float
    pts: int
    openness: float  # dark share of the mouth box


@dataclass
class MouthWatch:
    """Keeps one openness value per received frame (a video callback), not the frames themselves."""

    box: tuple[int, int, int, int]
    samples: list[MouthSample] = field(default_factory=list)
    open_level: float = 1.0  # set by `calibrate` from idle frames

    def __call__(self, received: ReceivedVideo) -> None:
        self.samples.append(MouthSample(received.arrival, received.pts, dark_share(received.frame, self.box)))

    def calibrate(self, start: float, end: float) -> float:
        """Learn the idle face's darkest mouth box in [start, end); openness above it plus a margin is 'open'."""
        idle = [s.openness for s in self.samples if start <= s.arrival < end]
        if not idle:
            raise RuntimeError("no idle video frames to calibrate the mouth detector")
        self.open_level = max(idle) + OPEN_MARGIN
        return self.open_level

    def is_open(self, sample: MouthSample) -> bool:
        return sample.openness > self.open_level

    def first_open(self, after: float, before: float = float("inf")) -> MouthSample | None:
        return next((s for s in self.samples if after <= s.arrival < before and self.is_open(s)), None)

    def closed_from(self, after: float, until: float) -> float | None:
        """Arrival of the first frame after `after` from which the mouth stays closed until `until`."""
        return settled_from([(s.arrival, self.is_open(s)) for s in self.samples], after, until)


def frame_rms(audio: ReceivedAudio) -> float:
    return float(np.sqrt(np.mean(audio.pcm.astype(np.float64) ** 2)))


def first_speech(audio: Sequence[ReceivedAudio], after: float, level: float = SPEECH_RMS) -> ReceivedAudio | None:
    return next((a for a in audio if a.arrival >= after and frame_rms(a) > level), None)


def silent_from(audio: Sequence[ReceivedAudio], after: float, until: float) -> float | None:
    """Arrival of the first frame after `after` from which the audio stays silent until `until`."""
    return settled_from([(a.arrival, frame_rms(a) > SILENT_RMS) for a in audio], after, until)


def settled_from(series: Sequence[tuple[float, bool]], after: float, until: float) -> float | None:
    """In (arrival, active) pairs, the arrival from which nothing in [after, until) is active any more."""
    window = [(t, active) for t, active in series if after <= t < until]
    last_active = max((i for i, (_, active) in enumerate(window) if active), default=-1)
    return window[last_active + 1][0] if last_active + 1 < len(window) else None


def playout_origin(arrivals: Sequence[float], media_seconds: Sequence[float]) -> float:
    """Arrival time of media time 0 for one track: a low percentile of (arrival - media time), so that packets
    delayed by jitter do not shift it."""
    return float(np.percentile(np.asarray(arrivals) - np.asarray(media_seconds), 5))


@dataclass(frozen=True)
class VideoStats:
    fps: float
    frames: int
    missing: int  # pts slots never received
    late: int  # frames arriving over CLIENT_LATE_S after their playout slot

    @property
    def missing_or_late_fraction(self) -> float:
        return (self.missing + self.late) / max(1, self.frames + self.missing)


def video_stats(times: Sequence[tuple[float, int]], start: float, end: float) -> VideoStats:
    """Rate, gaps and lateness of the frames that arrived in [start, end)."""
    window = [(t, pts) for t, pts in times if start <= t < end]
    if len(window) < 3:
        return VideoStats(0.0, len(window), 0, 0)
    arrivals = np.array([t for t, _ in window])
    pts = np.array([p for _, p in window], dtype=np.int64)
    steps = np.diff(pts) // FRAME_PTS
    missing = int(np.clip(steps - 1, 0, None).sum())
    media = pts / VIDEO_CLOCK
    origin = playout_origin(arrivals, media)
    late = int(((arrivals - (origin + media)) > CLIENT_LATE_S).sum())
    fps = (len(window) - 1) / (arrivals[-1] - arrivals[0])
    return VideoStats(float(fps), len(window), missing, late)


def wire_av_offset_ms(audio: Sequence[RtpArrival], video: Sequence[RtpArrival]) -> float:
    """How much later video packets arrive than the audio packets of the same media time (ms; negative: earlier),
    from RTP arrivals (client/wire.py): the difference of the two tracks' playout lines, each a low percentile of
    (arrival - media time), media time counted from each stream's first packet. Assumes both streams start at
    media time 0, as a session's do (its pacer's first audio and video frames are slot 0)."""
    audio_line = playout_origin([a.at for a in audio], [a.timestamp / AUDIO_RATE for a in audio])
    video_line = playout_origin([v.at for v in video], [v.timestamp / VIDEO_CLOCK for v in video])
    return (video_line - audio_line) * 1000


@dataclass(frozen=True)
class AvOnset:
    audio_at: float  # playout time of the audio onset
    video_at: float  # playout time of the first open-mouth frame's centre

    @property
    def offset_ms(self) -> float:
        """Positive: the mouth opens after the sound starts."""
        return (self.video_at - self.audio_at) * 1000


def audio_onset_time(audio: Sequence[ReceivedAudio], after: float, before: float, origin: float) -> float | None:
    """Playout time of the first sample of speech in [after, before), to the sample, on the audio playout line."""
    frame = first_speech(audio, after)
    if frame is None or frame.arrival >= before:
        return None
    envelope = np.abs(frame.pcm.astype(np.int32))
    loud = np.flatnonzero(envelope > 3 * SPEECH_RMS)
    sample = int(loud[0]) if len(loud) else 0
    return origin + (frame.pts + sample) / AUDIO_RATE


def av_onset(
    audio: Sequence[ReceivedAudio], mouth: MouthWatch, after: float, before: float
) -> AvOnset | None:
    """Sound onset and mouth-opening onset of one isolated utterance, both on their track's playout line."""
    audio_origin = playout_origin([a.arrival for a in audio], [a.pts / AUDIO_RATE for a in audio])
    video_origin = playout_origin([s.arrival for s in mouth.samples], [s.pts / VIDEO_CLOCK for s in mouth.samples])
    audio_at = audio_onset_time(audio, after, before, audio_origin)
    opened = mouth.first_open(after, before)
    if audio_at is None or opened is None:
        return None
    return AvOnset(audio_at, video_origin + (opened.pts + FRAME_PTS / 2) / VIDEO_CLOCK)
