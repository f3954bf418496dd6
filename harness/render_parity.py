"""The tensor renderer (engines/avatar/torch_avatar.py) against the CPU renderer: the frames they are compared on
and how far apart they may be, shared by the tests (tests/test_renderer_torch.py) and the GPU check
(tools/gpu_check.py).

The tolerance (README "GPU", docs/benchmarks.md): every RGB value within `max_rgb` levels of the CPU renderer's,
at most `off_share` of a frame's values more than one level off, a frame's mean difference within `mean_rgb`,
and the mouth's openness within `mouth_share`, measured two ways: the share of dark luma in the padded mouth box
of the YUV frame, as the load client reads it (harness/measure.py), and in the RGB mouth box, as the mouth tests
do (tests/media_checks.py). Both renderers sample the photo on OpenCV's 1/32-pixel grid; a warp field that
differs in its last bit (another order of float additions, as on a GPU) can put a sample one step over, which
moves a pixel on the photo's sharpest edge (211 levels a pixel, grace_hopper) by up to 7 levels: `max_rgb`
allows one such step anywhere, `off_share` and `mean_rgb` that they stay rare.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

from engines.avatar import AvatarBundle, AvatarRenderer
from engines.avatar.frame_plan import FramePlanner
from engines.avatar.prepared import prepared
from engines.avatar.preview import mouth_params
from engines.avatar.torch_avatar import DeviceAvatar
from engines.timebase import GESTURE_PARAMS, N_FRAME_PARAMS, N_PARAMS
from harness.measure import luma_dark_share
from harness.speech import talking_params

CASES = ("rest", "visemes", "blinks", "head_and_brows", "sentence")
SEED = 7
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
Frames = list[tuple[int, np.ndarray]]  # (frame index, renderer parameters)


@dataclass(frozen=True)
class Tolerance:
    max_rgb: int = 8  # levels (0-255), any value of any frame
    off_share: float = 0.001  # share of a frame's values more than one level off
    mean_rgb: float = 0.01  # levels, a frame's mean difference
    mouth_share: float = 0.002  # dark share of the mouth box


TOLERANCE = Tolerance()


@dataclass(frozen=True)
class Parity:
    """How far one set of frames is from the CPU renderer's: the worst frame on each measure."""

    frames: int
    max_rgb: int
    off_share: float
    mean_rgb: float
    mouth_share: float

    def within(self, tolerance: Tolerance = TOLERANCE) -> bool:
        return (self.max_rgb <= tolerance.max_rgb and self.off_share <= tolerance.off_share
                and self.mean_rgb <= tolerance.mean_rgb and self.mouth_share <= tolerance.mouth_share)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def with_gestures(mouth: np.ndarray, **gestures: float) -> np.ndarray:
    """A renderer parameter vector: mouth parameters followed by the named speech gestures."""
    params = np.zeros(N_FRAME_PARAMS, np.float32)
    params[:N_PARAMS] = mouth
    for name, value in gestures.items():
        params[N_PARAMS + GESTURE_PARAMS.index(name)] = value
    return params


def parity_cases(bundle: AvatarBundle, seed: int = SEED) -> dict[str, Frames]:
    """The frames of each kind (CASES) that the two renderers are compared on, for a session of `seed`: rest,
    the mouth shapes, blinks (some while talking), head and brow gestures, and a spoken sentence."""
    idle = FramePlanner(bundle, seed).idle
    blinks = [i for i in range(2000) if idle.blink(i) > 0][:8]
    rest = mouth_params()
    visemes = [mouth_params(jaw_open=1.0), mouth_params(jaw_open=0.5), mouth_params(jaw_open=0.2, lip_spread=1.0),
               mouth_params(jaw_open=0.4, lip_round=1.0), mouth_params(lip_close=1.0),
               mouth_params(jaw_open=0.1, lip_tuck=1.0), mouth_params(jaw_open=0.7, lip_spread=0.5, lip_round=0.4)]
    gestures = [with_gestures(rest, head_nod=1.0), with_gestures(rest, head_nod=-1.0, brow_raise=1.0),
                with_gestures(mouth_params(jaw_open=0.8), head_tilt=1.0), with_gestures(rest, head_turn=-1.0),
                with_gestures(mouth_params(jaw_open=0.6), head_turn=1.0, head_tilt=-0.7, head_nod=0.5)]
    sentence, _ = talking_params()
    return {
        "rest": [(i, rest) for i in (0, 1, 40, 313)],
        "visemes": [(11 + i, p) for i, p in enumerate(visemes)],
        "blinks": [(i, visemes[i % len(visemes)] if i % 2 else rest) for i in blinks],
        "head_and_brows": [(500 + i, p) for i, p in enumerate(gestures)],
        "sentence": [(900 + i, p) for i, p in list(enumerate(sentence))[::6]],
    }


def cpu_frames(bundle: AvatarBundle, frames: Frames, seed: int = SEED) -> np.ndarray:
    """(n, H, W, 3) uint8: the CPU renderer's frames."""
    renderer = AvatarRenderer(bundle, seed=seed)
    return np.stack([renderer.render(i, p) for i, p in frames])


def device_frames(bundle: AvatarBundle, frames: Frames, device: str, seed: int = SEED) -> np.ndarray:
    """(n, H, W, 3) uint8: the tensor renderer's frames, drawn on `device` in one batch."""
    planner = FramePlanner(bundle, seed=seed)
    avatar = DeviceAvatar(bundle.image, prepared(bundle), torch.device(device))
    with torch.inference_mode():
        return avatar.draw_rgb([planner.plan(i, p) for i, p in frames]).cpu().numpy()


def rgb_dark_share(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Share of dark (cavity) pixels in the mouth box of an RGB frame (tests/media_checks.py `mouth_darkness`)."""
    return luma_dark_share(image.astype(np.float32) @ _LUMA, box, pad=0)


def compare(ours: np.ndarray, reference: np.ndarray, mouth_box: tuple[int, int, int, int]) -> Parity:
    """The worst frame's differences between two (n, H, W, 3) uint8 frame sets."""
    difference = np.abs(ours.astype(np.int16) - reference.astype(np.int16)).reshape(len(ours), -1)
    mouth = 0.0
    for mine, theirs in zip(ours, reference):
        lumas = [cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420)[: f.shape[0]] for f in (mine, theirs)]
        mouth = max(mouth, abs(rgb_dark_share(mine, mouth_box) - rgb_dark_share(theirs, mouth_box)),
                    abs(luma_dark_share(lumas[0], mouth_box) - luma_dark_share(lumas[1], mouth_box)))
    return Parity(len(ours), int(difference.max()), float((difference > 1).mean(axis=1).max()),
                  float(difference.mean(axis=1).max()), mouth)
