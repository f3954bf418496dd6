"""ctypes binding to the espeak-ng library shipped by espeakng-loader: synthesis with word and phoneme events.

espeak-ng keeps one global state per process (voice, parameters, the synth callback), so everything goes
through one `EspeakLibrary`, whose `synthesize` holds a lock from choosing the voice to the last sample.
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import espeakng_loader
import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_EE_OK = 0
_PHONEMES_IPA = 0x02


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character index into the text
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # samples from the start of the text
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # phoneme name (UTF-8) for phoneme events, a number for others
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Event:
    """A word or phoneme event: where in the text (0-based character) and where in the audio (sample)."""

    kind: int  # EVENT_WORD or EVENT_PHONEME
    text_position: int
    sample: int
    phoneme: str  # the IPA name for phoneme events ("" for a pause); "" for word events


@dataclass(frozen=True)
class Prosody:
    """espeak's own units: words per minute, base pitch 0-100 and pitch range 0-100."""

    rate_wpm: int
    pitch: int
    pitch_range: int


class EspeakLibrary:
    """The process's one espeak-ng instance."""

    def __init__(self) -> None:
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self._lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), options
        )
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise (returned {rate})")
        self.sample_rate: int = rate
        self._lock = threading.Lock()
        self._audio: list[np.ndarray] = []
        self._events: list[Event] = []
        self._callback = _Callback(self._collect)  # kept referenced: espeak holds only the raw pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def has_voice(self, voice: str) -> bool:
        with self._lock:
            return self._lib.espeak_SetVoiceByName(voice.encode()) == _EE_OK

    def phonemize(self, text: str, voice: str) -> str:
        """`text` in IPA as `voice` would say it (words separated by spaces), without synthesizing it."""
        encoded = ctypes.create_string_buffer(text.encode("utf-8"))
        pointer = ctypes.c_void_p(ctypes.addressof(encoded))
        clauses = []
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            while pointer.value:  # espeak moves the pointer past each clause it phonemizes, to NULL at the end
                clause = self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, _PHONEMES_IPA)
                clauses.append((clause or b"").decode("utf-8", "replace"))
        return " ".join(clause.strip() for clause in clauses if clause.strip())

    def synthesize(self, text: str, voice: str, prosody: Prosody) -> tuple[np.ndarray, list[Event]]:
        """int16 PCM at `sample_rate` and the word and phoneme events, for `text` spoken by `voice`."""
        encoded = text.encode("utf-8")
        with self._lock:
            self._audio, self._events = [], []
            if self._lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, prosody.rate_wpm, 0)
            self._lib.espeak_SetParameter(_PARAM_PITCH, prosody.pitch, 0)
            self._lib.espeak_SetParameter(_PARAM_RANGE, prosody.pitch_range, 0)
            status = self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if status != _EE_OK:
                raise RuntimeError(f"espeak-ng synthesis failed with status {status}")
            audio = np.concatenate(self._audio) if self._audio else np.zeros(0, dtype=np.int16)
            return audio, self._events

    def _collect(self, wav: ctypes.POINTER(ctypes.c_short), count: int, events: ctypes.POINTER(_Event)) -> int:
        if count > 0:
            self._audio.append(np.ctypeslib.as_array(wav, (count,)).copy())
        index = 0
        while events[index].type != _EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type in (EVENT_WORD, EVENT_PHONEME):
                name = event.id.decode("utf-8", "replace") if event.type == EVENT_PHONEME else ""
                self._events.append(Event(event.type, event.text_position - 1, event.sample, name))
            index += 1
        return 0


_instance: EspeakLibrary | None = None
_instance_lock = threading.Lock()


def espeak_library() -> EspeakLibrary:
    """The process-wide instance, initialised on first use."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = EspeakLibrary()
        return _instance
