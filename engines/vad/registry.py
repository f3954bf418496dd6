"""Voice-activity detectors by name (`--vad`); `auto` takes Silero where its model is installed, else the energy
detector."""
from __future__ import annotations

import importlib.util

from engines.plugins import Plugins
from engines.vad.base import VoiceActivityDetector

DETECTORS = Plugins("voice-activity detector", {
    "energy": "engines.vad.energy:EnergyVad",
    "silero": "engines.vad.silero:SileroVad",
})
CHOICES = ("auto", *DETECTORS)


def resolve_vad(name: str) -> str:
    """The detector `name` stands for: itself, or for `auto` silero when the silero-vad wheel (which carries its
    model) is installed and energy otherwise."""
    if name != "auto":
        return name
    return "silero" if importlib.util.find_spec("silero_vad") is not None else "energy"


def create_vad(name: str) -> VoiceActivityDetector:
    """A fresh detector for one session's incoming voice."""
    return DETECTORS.load(resolve_vad(name))()
