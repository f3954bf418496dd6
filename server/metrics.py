"""Prometheus metrics (docs/design.md, "Metrics"). Each server owns its registry, so several can live in one process."""
from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 5.0)
_FAST_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.004, 0.006, 0.008, 0.012, 0.02, 0.04, 0.1)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions_active = Gauge("avatar_sessions_active", "Sessions currently open", registry=r)
        self.sessions_total = Counter("avatar_sessions_total", "Sessions admitted", registry=r)
        self.sessions_refused = Counter("avatar_sessions_refused_total", "Sessions refused as busy", registry=r)
        self.video_frames = Counter("avatar_video_frames_sent_total", "Video frames sent", registry=r)
        self.video_frames_late = Counter(
            "avatar_video_frames_late_total", "Video frames rendered after their due time", registry=r
        )
        self.audio_frames = Counter("avatar_audio_frames_sent_total", "20 ms audio frames sent", registry=r)
        self.first_audio = Histogram(
            "avatar_time_to_first_audio_seconds",
            "From an utterance's first text to its first audio sample being sent",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.first_frame = Histogram(
            "avatar_time_to_first_frame_seconds",
            "From an utterance's first text to the first video frame showing it",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tts_rtf = Histogram(
            "avatar_tts_real_time_factor",
            "Synthesis time divided by audio duration, per phrase",
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
            registry=r,
        )
        self.face_inference = Histogram(
            "avatar_face_inference_seconds", "Audio-to-face inference time per call", buckets=_FAST_BUCKETS, registry=r
        )
        self.face_batch = Histogram(
            "avatar_face_batch_size", "Frames per audio-to-face inference call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r,
        )
        self.render = Histogram("avatar_render_seconds", "Time to render one video frame", buckets=_FAST_BUCKETS, registry=r)
        self.interrupt_latency = Histogram(
            "avatar_interrupt_latency_seconds",
            "From an interrupt message to the end of the audio fade",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.face_fallbacks = Counter(
            "avatar_face_fallbacks_total", "Face streams that failed and went on with the phoneme driver", registry=r
        )
        self.tts_stalled_threads = Gauge(
            "avatar_tts_stalled_threads", "Synthesis threads stuck past --tts-stall-s, replaced by fresh ones",
            registry=r,
        )
        self.errors = Counter("avatar_errors_total", "Errors reported to clients, by code", ["code"], registry=r)

    def face_batch_done(self, size: int, seconds: float) -> None:
        """The face engine's batch hook: one inference call of `size` frames took `seconds`."""
        self.face_batch.observe(size)
        self.face_inference.observe(seconds)

    def render_text(self) -> bytes:
        return generate_latest(self.registry)
