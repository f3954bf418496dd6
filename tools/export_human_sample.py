"""Copy a few seconds of each held-out human speaker, with their phone timings, into the test suite.

    .venv/bin/python -m tools.export_human_sample      # after tools.make_dataset has aligned the recordings

tests/data/human/ gets the original files (G.722 or 8 kHz WAV, as Debian ships them), sample.json (speaker,
text, license and the aligned phones of each file) and LICENSE.md. The speakers are held out of training, so the
tests measure the shipped model on voices it never heard.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from engines.face.visemes import viseme
from tools import human_corpus
from tools.make_dataset import load_alignments

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "human"
SECONDS_PER_SPEAKER = 8.0
MAX_FILE_S = 4.0


def has_closure(phonemes: list[list]) -> bool:
    return any("lip_close" in viseme(text).critical for text, _, _ in phonemes)


def main() -> None:
    alignments = load_alignments()
    OUT.mkdir(parents=True, exist_ok=True)
    entries, credits = [], []
    for speaker in human_corpus.SPEAKERS:
        if not speaker.held_out:
            continue
        total = 0.0
        for recording in human_corpus.recordings(speaker):
            phonemes = alignments[speaker.id].get(recording.name)
            duration = phonemes[-1][2] if phonemes else 0.0
            if not phonemes or duration > MAX_FILE_S or duration < 1.0 or not has_closure(phonemes):
                continue
            target = OUT / f"{speaker.id}-{recording.name.replace('/', '-')}{recording.path.suffix}"
            shutil.copyfile(recording.path, target)
            entries.append({"file": target.name, "speaker": speaker.id, "text": recording.text,
                            "phonemes": phonemes})
            total += duration
            if total >= SECONDS_PER_SPEAKER:
                break
        credits.append(f"- `{speaker.id}-*`: {speaker.credit}; from Debian's `{speaker.package}`; license "
                       f"{speaker.license}.")
    (OUT / "sample.json").write_text(json.dumps(entries, ensure_ascii=False, indent=1))
    (OUT / "LICENSE.md").write_text(
        "# Human speech sample for the tests\n\nRecordings copied unchanged from Debian packages; the phone timings "
        "in sample.json were made by tools/align_sphinx.py (see docs/model_card.md). These speakers are never used "
        "to train or tune the face network.\n\n" + "\n".join(credits) + "\n")
    print(f"wrote {len(entries)} recordings to {OUT}")


if __name__ == "__main__":
    main()
