"""Festival's voices (Debian's festvox packages) as extra training voices, with the phone timings Festival itself
computes: each utterance's Segment relation (`utt.save.segs`) gives every phone's end time.

One Festival process speaks a whole batch of texts, because its start-up costs most of a short phrase's time.
"""
from __future__ import annotations

import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from engines.tts.base import Speech, Timed
from engines.tts.ipa import PAUSE
from tools.arpabet import to_ipa

# Voice name -> the Scheme call that selects it (kal and ked: diphone voices; slt: an HTS statistical voice).
VOICES = {
    "festival:kal": "(voice_kal_diphone)",
    "festival:ked": "(voice_ked_diphone)",
    "festival:slt": "(voice_cmu_us_slt_arctic_hts)",
}


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def synthesize_batch(texts: list[str], voice: str, rate: float = 1.0) -> list[Speech]:
    """Every text spoken by `voice` (rate > 1 speaks faster), in order."""
    if voice not in VOICES:
        raise ValueError(f"unknown Festival voice {voice!r}; known: {', '.join(VOICES)}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        lines = [VOICES[voice], f"(Parameter.set 'Duration_Stretch {1.0 / rate:.3f})"]
        for i, text in enumerate(texts):
            lines += [
                f"(set! utt (utt.synth (Utterance Text {_quoted(text)})))",
                f'(utt.save.wave utt "{out}/{i}.wav" \'riff)',
                f'(utt.save.segs utt "{out}/{i}.segs")',
            ]
        (out / "batch.scm").write_text("\n".join(lines) + "\n", encoding="utf-8")
        subprocess.run(["festival", "--batch", str(out / "batch.scm")], check=True, capture_output=True,
                       timeout=60 + 10 * len(texts))
        return [_read(out / f"{i}.wav", out / f"{i}.segs") for i in range(len(texts))]


def _read(wav_path: Path, segs_path: Path) -> Speech:
    with wave.open(str(wav_path)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).copy()
    phonemes, start = [], 0.0
    for line in segs_path.read_text().splitlines():
        fields = line.split()
        if len(fields) != 3 or line.startswith("#"):
            continue
        end, name = float(fields[0]), to_ipa(fields[2])
        if end > start:
            if phonemes and name == PAUSE and phonemes[-1].text == PAUSE:
                phonemes[-1] = Timed(PAUSE, phonemes[-1].start, end)
            else:
                phonemes.append(Timed(name, start, end))
        start = end
    return Speech(pcm, rate, phonemes, [])
