"""Real human recordings for the audio-to-face data set: who speaks, where the files are, what each one says.

The sources are Debian's Asterisk prompt sets (installed by tools/get_voice_data.sh). Every speaker is one
`Speaker`; the held-out ones are never trained or tuned on. All recordings by Allison Smith (the English and the
Mexican Spanish core sounds) are held out, together with one more speaker of another language, so the held-out
set is split by speaker, never by utterance.

Transcripts come from the asterisk-core-sounds-LANG packages ("name: text" per line). The other prompt sets
(Armelle, July Jiménez, Menardi) reuse Asterisk's prompt names, but their wording may differ from the core
set's translation: the DTW aligner's distortion rejects the recordings whose speech does not match the text.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import av
import numpy as np

SOUNDS = Path("/usr/share/asterisk/sounds")
TRANSCRIPTS = Path(__file__).resolve().parents[1] / "data" / "transcripts"


@dataclass(frozen=True)
class Speaker:
    id: str
    package: str  # the Debian package with the recordings
    language: str  # espeak-ng language of the text
    directory: Path
    extension: str  # g722: 16 kHz wideband; wav, gsm: 8 kHz telephone band
    held_out: bool
    license: str
    credit: str


SPEAKERS: tuple[Speaker, ...] = (
    Speaker("allison-en", "asterisk-core-sounds-en-g722", "en", SOUNDS / "en_US_f_Allison", "g722", True,
            "CC-BY-SA-3.0", "Allison Smith, Digium"),
    Speaker("allison-es", "asterisk-core-sounds-es-g722", "es", SOUNDS / "es_MX_f_Allison", "g722", True,
            "CC-BY-SA-3.0", "Allison Smith, Digium"),
    Speaker("menardi-it", "asterisk-prompt-it-menardi-wav", "it", SOUNDS / "it_IT_f_Menardi", "wav", True,
            "CC-BY-SA-3.0 (Italy)", "Paola Dal Zot and Marco Menardi, http://www.voip.ammdomus.it"),
    Speaker("june-fr", "asterisk-core-sounds-fr-g722", "fr", SOUNDS / "fr_CA_f_June", "g722", False,
            "CC-BY-SA-3.0", "June Wallack, Digium"),
    Speaker("carlo-it", "asterisk-core-sounds-it-g722", "it", SOUNDS / "it_IT_m_Carlo", "g722", False,
            "CC-BY-SA-3.0", "Carlo Flora, http://www.segreterietelefoniche.it"),
    Speaker("ivrvoice-ru", "asterisk-core-sounds-ru-g722", "ru", SOUNDS / "ru_RU_f_IvrvoiceRU", "g722", False,
            "CC-BY-3.0", "Maxim Topal, http://www.ivrvoice.ru"),
    Speaker("armelle-fr", "asterisk-prompt-fr-armelle", "fr", SOUNDS / "fr", "gsm", False,
            "BSD-style (Michel Gutierrez)", "Armelle Desjardins, Michel Gutierrez"),
    Speaker("july-es", "asterisk-prompt-es-co", "es", SOUNDS / "es", "gsm", False,
            "GPL-2", "July E. Jiménez, Avatar Ltda."),
)
HELD_OUT_SPEAKERS = tuple(s.id for s in SPEAKERS if s.held_out)


@dataclass(frozen=True)
class Recording:
    speaker: Speaker
    name: str  # the prompt's name, e.g. "agent-pass" or "digits/7"
    text: str
    path: Path


def speaker(speaker_id: str) -> Speaker:
    for candidate in SPEAKERS:
        if candidate.id == speaker_id:
            return candidate
    raise KeyError(f"no speaker {speaker_id!r}; known: {', '.join(s.id for s in SPEAKERS)}")


@lru_cache(maxsize=None)
def transcripts(language: str) -> dict[str, str]:
    """Prompt name -> spoken text; prompts that are tones, sound effects or silence are left out."""
    path = TRANSCRIPTS / f"core-sounds-{language}.txt"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run bash tools/get_voice_data.sh")
    result = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        name, colon, text = line.partition(":")
        if not colon or line.startswith(";"):
            continue
        text = clean_text(text)
        if text:
            result[re.sub(r"\.wav$", "", name.strip())] = text
    return result


def clean_text(text: str) -> str:
    """What is actually said: notes in brackets or parentheses and ellipses dropped; empty if nothing remains."""
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)|\.\.\.|…", " ", text)
    text = re.sub(r"\s+", " ", text).strip(" ;")
    return text if re.search(r"\w", text) else ""


def recordings(speaker_: Speaker) -> Iterator[Recording]:
    """Every recording of the speaker that has a transcript, in a fixed order."""
    for name, text in sorted(transcripts(speaker_.language).items()):
        path = speaker_.directory / f"{name}.{speaker_.extension}"
        if path.exists():
            yield Recording(speaker_, name, text, path)


def load_audio(path: Path) -> tuple[np.ndarray, int]:
    """Mono int16 PCM and its rate, decoded with PyAV (raw G.722 and GSM need their format named)."""
    formats = {".g722": "g722", ".gsm": "gsm"}
    with av.open(str(path), format=formats.get(path.suffix)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=stream.rate)
        frames = [f for frame in container.decode(stream) for f in resampler.resample(frame)]
        frames += resampler.resample(None)
        rate = stream.rate
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]) if frames else np.zeros(0, np.int16)
    return pcm.astype(np.int16), rate
