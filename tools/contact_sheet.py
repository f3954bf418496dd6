"""Contact sheet of the avatars (docs/avatar.png): per avatar, rest, mid-blink, the mouth shapes of "ah", "ee",
"oo", "m", "f" and their close-ups, frames of a real sentence driven by its phoneme timings (espeak-ng) through the
viseme curves, and a row of the same sentence with the head and brow motion its audio drives (GestureStream),
cropped to the upper face and labelled with the gesture values.

    .venv/bin/python tools/contact_sheet.py [--avatar astronaut --avatar grace_hopper] [--out docs/avatar.png]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.avatar import AvatarRenderer, load_avatar  # noqa: E402
from engines.avatar.preview import mouth_params  # noqa: E402
from engines.face.gestures import BROW, NOD, TILT, GestureStream  # noqa: E402
from engines.face.visemes import mouth_curves  # noqa: E402
from engines.resample import resample  # noqa: E402
from engines.timebase import FPS, TIMELINE_RATE  # noqa: E402
from engines.tts.espeak_engine import EspeakEngine  # noqa: E402

SHAPES = {
    "rest": mouth_params(),
    "ah": mouth_params(jaw_open=0.85),
    "ee": mouth_params(jaw_open=0.12, lip_spread=1.0),
    "oo": mouth_params(jaw_open=0.2, lip_round=1.0),
    "m": mouth_params(lip_close=1.0),
    "f": mouth_params(lip_tuck=1.0),
}
SENTENCE = "Hello, my friend. We shall move forward."
TILE = 192
LABEL_H = 22


def sentence_params(text: str) -> tuple[np.ndarray, np.ndarray, list]:
    """Per frame of the spoken sentence: mouth parameters from its phoneme timings, and mouth plus the gestures its
    audio drives; and its words."""
    speech = EspeakEngine().synthesize(text)
    n_frames = int(np.ceil(speech.duration * FPS))
    times = (np.arange(n_frames) + 0.5) / FPS
    curves = mouth_curves(speech.phonemes, times)
    stream = GestureStream(seed=0)
    pcm = resample(speech.pcm, speech.sample_rate, TIMELINE_RATE)
    gestures = np.concatenate([stream.push(pcm).params, stream.flush().params])[:n_frames]
    return curves, np.concatenate([curves, gestures], axis=1), speech.words


def sentence_frames(renderer: AvatarRenderer, text: str, count: int) -> list[tuple[str, np.ndarray]]:
    """`count` frames spread over the sentence, each labelled with its time and the word being said."""
    curves, _, words = sentence_params(text)
    times = (np.arange(len(curves)) + 0.5) / FPS
    spoken = [i for i in range(len(curves)) if curves[i].any()]
    picks = np.linspace(spoken[0], spoken[-1], count).round().astype(int)
    frames = []
    for i in picks:
        word = next((w.text for w in words if w.start <= times[i] < w.end), "")
        frames.append((f"t={times[i]:.2f}s {word}", renderer.render(int(i), curves[i])))
    return frames


def gesture_frames(renderer: AvatarRenderer, text: str, count: int) -> list[tuple[str, np.ndarray]]:
    """`count` frames spread over the sentence with its speech gestures, each labelled with its nod, tilt and
    brow values."""
    curves, params, _ = sentence_params(text)
    spoken = [i for i in range(len(curves)) if curves[i].any()]
    picks = np.linspace(spoken[0], spoken[-1] + 10, count).round().astype(int).clip(0, len(params) - 1)
    gestures = params[:, -4:]
    return [(f"nod {gestures[i, NOD]:+.1f} tilt {gestures[i, TILT]:+.1f} brow {gestures[i, BROW]:.1f}",
             renderer.render(int(i), params[i])) for i in picks]


def tile(image: np.ndarray, label: str) -> np.ndarray:
    small = cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_AREA)
    bar = np.full((LABEL_H, TILE, 3), 255, np.uint8)
    cv2.putText(bar, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return np.vstack([bar, small])


def zoom(image: np.ndarray, box: tuple[int, int, int, int], label: str) -> np.ndarray:
    """A square close-up around `box`."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) + 16
    top = int(np.clip((y0 + y1) // 2 - side // 2, 0, image.shape[0] - side))
    left = int(np.clip((x0 + x1) // 2 - side // 2, 0, image.shape[1] - side))
    return tile(image[top: top + side, left: left + side], label)


def contact_sheet(name: str) -> np.ndarray:
    """Row 1: whole frames; row 2: close-ups of the same frames; rows 3-4: a sentence being said; row 5: the
    upper face over the same sentence with its speech gestures."""
    bundle = load_avatar(name)
    renderer = AvatarRenderer(bundle, seed=0)
    closing = next(i for i in range(10_000) if renderer.idle.blink(i) >= 0.45)  # the first frame of a blink
    shapes = [("rest", renderer.render(0, SHAPES["rest"])), ("mid-blink", renderer.render(closing, SHAPES["rest"]))]
    shapes += [(f'"{n}"', renderer.render(0, p)) for n, p in SHAPES.items() if n != "rest"]
    eyes = _union(bundle.eye_boxes)
    columns = len(shapes)
    close_ups = [zoom(img, eyes if label == "mid-blink" else bundle.mouth_box, f"{label}, close-up")
                 for label, img in shapes]
    said = [tile(img, label) for label, img in sentence_frames(renderer, SENTENCE, 2 * columns)]
    upper_face = _upper_face(bundle)
    moving = [zoom(img, upper_face, label) for label, img in gesture_frames(renderer, SENTENCE, columns)]
    rows = [[tile(img, label) for label, img in shapes], close_ups, said[:columns], said[columns:], moving]
    title = np.full((30, TILE * columns, 3), 255, np.uint8)
    cv2.putText(title, f'{name}: rest, blink, mouth shapes; "{SENTENCE}" (espeak-ng timings -> visemes); '
                'last row: head and brows driven by its audio', (8, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.vstack([title] + [np.hstack(r) for r in rows])


def _upper_face(bundle) -> tuple[int, int, int, int]:
    """Forehead to nose tip, brow to brow: where head and brow motion shows."""
    x0, y0, x1, y1 = _union(bundle.eye_boxes)
    height = y1 - y0
    return x0, max(y0 - 2 * height, 0), x1, y1 + height


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    b = np.array(boxes)
    return int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--avatar", action="append", help="repeat for several (default: astronaut, grace_hopper)")
    parser.add_argument("--out", type=Path, default=Path("docs/avatar.png"))
    args = parser.parse_args()
    sheets = [contact_sheet(name) for name in args.avatar or ["astronaut", "grace_hopper"]]
    gap = np.full((12, sheets[0].shape[1], 3), 255, np.uint8)
    sheet = np.vstack([part for s in sheets for part in (s, gap)][:-1])
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
