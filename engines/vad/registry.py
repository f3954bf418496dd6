"""Voice-activity detectors by name (`--vad`)."""
from __future__ import annotations

from engines.plugins import Plugins
from engines.vad.base import VoiceActivityDetector

DETECTORS = Plugins("voice-activity detector", {
    "energy": "engines.vad.energy:EnergyVad",
    "silero": "engines.vad.silero:SileroVad",
})


def create_vad(name: str) -> VoiceActivityDetector:
    """A fresh detector for one session's incoming voice."""
    return DETECTORS.load(name)()
