"""The client's voice in voice mode: the audio it sends on its sendrecv transceiver, as the pipeline's
`AudioInput` (48 kHz int16 mono chunks with their timestamps)."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from engines.timebase import TIMELINE_RATE
from server.pipeline.errors import ProtocolError
from server.pipeline.voice_input import VoiceChunk

log = logging.getLogger(__name__)


def incoming_voice(pc: RTCPeerConnection) -> MediaStreamTrack:
    """The client's audio track of an answered voice-mode offer, or ProtocolError bad_offer when it sends none."""
    for transceiver in pc.getTransceivers():
        if (
            transceiver.kind == "audio"
            and transceiver.receiver.track is not None
            and transceiver.currentDirection == "sendrecv"
        ):
            _shorten_jitter_buffer(transceiver.receiver)
            return transceiver.receiver.track
    raise ProtocolError("bad_offer", "voice mode needs an audio transceiver the client sends on (sendrecv)")


def _shorten_jitter_buffer(receiver: RTCRtpReceiver) -> None:
    """Release each incoming audio packet as soon as the next one arrives, instead of four packets (80 ms) later.

    aiortc holds audio back by a fixed four packets and has no setting for it. Voice mode places packets by their
    timestamps and its fixed delay already absorbs arrival jitter, so that hold would only add 60 ms to the delay
    the user sees. The receiver keeps its buffer in a private attribute; if a future aiortc renames it, the
    default buffer stays and a warning says so."""
    attribute = "_RTCRtpReceiver__jitter_buffer"
    if not hasattr(receiver, attribute):
        log.warning("aiortc's receiver has no %s: the incoming voice keeps its 80 ms jitter buffer", attribute)
        return
    setattr(receiver, attribute, JitterBuffer(capacity=16, prefetch=0))


async def voice_chunks(track: MediaStreamTrack) -> AsyncIterator[VoiceChunk]:
    """The track's audio, decoded by aiortc, resampled to the timeline's rate; ends when the track does."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=TIMELINE_RATE)
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            pieces = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
            pts = None if frame.pts is None else round(frame.pts * frame.time_base * TIMELINE_RATE)
            if pieces:
                yield VoiceChunk(pts, np.concatenate(pieces))
