"""What one avatar frame shows, worked out before anything is drawn: the weights that mix the precomputed warp
fields, the head's carry of the rig fields, and the cut-outs of the lids and of the mouth interior with their
masks. It is a pure function of (seed, frame index, parameters) and costs a small share of a frame's CPU time.

The CPU renderer (renderer.py) and the tensor renderer (torch_avatar.py) draw from the same plan, so the two cannot
disagree on what a frame shows. The masks are rasterized here with OpenCV's anti-aliased polygon fill, whose
scan conversion no tensor operation reproduces within a pixel; they are a few thousand pixels per frame.

The head moves by its idle drift plus the speech gestures (engines/timebase.py GESTURE_PARAMS), several pixels
during a nod. The rig's fields (mouth, lids, brows, gaze) are drawn on the photo's face, so they are carried along
with the head: the coarse mix by the head's rigid motion, the sharp residuals near the mouth and eyes by the whole
pixels the head moved there; the painted lids and mouth interior follow the head motion measured where they are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.avatar.bundle import AvatarBundle
from engines.avatar.eyelids import LidCut
from engines.avatar.idle import IdleMotion, Pose
from engines.avatar.mouth_interior import MouthCut
from engines.avatar.prepared import PreparedAvatar, prepared
from engines.avatar.rig import MOUTH_SHAPES
from engines.timebase import GESTURE_PARAMS, N_FRAME_PARAMS, N_GESTURES, N_PARAMS

# Mean movement of the inner lips (pixels) at which the painted interior is fully on. It fades in from rest, so
# the rest frame is the photo itself and the first frames of speech never pop.
_INTERIOR_ON_MOVE = 3.0
JAW_LINEAR, JAW_CUBIC = 0.36, 0.3  # rig jaw = 0.36 j + 0.3 j^3: a third of the old opening in running speech
# Head motion at gesture 1, in face heights (forehead to chin) and radians: a nod of about 4 pixels at 512x512.
NOD_SHARE = 0.018
TURN_SHARE = 0.014
TILT_RAD = 0.03
_NOD, _TILT, _TURN, _BROW = (GESTURE_PARAMS.index(n) for n in ("head_nod", "head_tilt", "head_turn", "brow_raise"))


@dataclass(frozen=True)
class FramePlan:
    """One frame, ready to draw. `rig` weights the rig fields (prepared.RIG_MOTIONS: the mouth shapes, then the
    eye motions) and `motion` the global ones (prepared.GLOBAL_MOTIONS)."""

    rig: np.ndarray  # (len(RIG_MOTIONS),) float32
    motion: np.ndarray  # (len(GLOBAL_MOTIONS),) float32
    head_follow: np.ndarray | None  # (2, 3) affine map of the rig fields, in coarse cells; None: no rig field moves
    mouth_shift: tuple[int, int]  # whole pixels the head carries the mouth's fine residual
    eye_shift: tuple[int, int]  # ... and the eyes'
    lids: tuple[LidCut, ...]  # painted lids (none while the eyes are open)
    mouth: MouthCut | None  # the mouth interior (None while the lips are shut or at rest)

    @property
    def mouth_weights(self) -> np.ndarray:
        return self.rig[: len(MOUTH_SHAPES)]

    @property
    def eye_weights(self) -> np.ndarray:
        return self.rig[len(MOUTH_SHAPES):]


class FramePlanner:
    """Plans one session's frames. Cheap to create: the heavy precomputation is shared per bundle."""

    def __init__(self, bundle: AvatarBundle, seed: int = 0) -> None:
        self.bundle = bundle
        self.idle = IdleMotion(seed)
        self.prep: PreparedAvatar = prepared(bundle)

    def plan(self, frame_index: int, params: np.ndarray, motion_frame: int | None = None) -> FramePlan:
        """The plan of frame `frame_index` showing `params` (MOUTH_PARAMS, optionally followed by GESTURE_PARAMS).
        `motion_frame`: the frame whose idle head motion and breathing to show (default: `frame_index`; blinks and
        gaze are always `frame_index`'s)."""
        prep = self.prep
        mouth = mix_mouth(params)
        gestures = speech_gestures(params)
        blink = self.idle.blink(frame_index)
        motion = self._motion(frame_index if motion_frame is None else motion_frame, gestures)
        eyes = np.array([blink, gestures[_BROW], *self.idle.gaze(frame_index)], np.float32)
        rig = np.concatenate([mouth, eyes])
        eye_shifts = motion @ prep.eye_global_motion
        cut = None
        if mouth.any():
            head, moves, polygon = _lips(prep, mouth, motion)
            strength = float(np.clip(np.linalg.norm(moves, axis=1).mean() / _INTERIOR_ON_MOVE, 0.0, 1.0))
            upper = _whole(head)
            lower = _whole(head + mouth @ prep.lower_lip_moves)
            cut = prep.interior.cut(polygon, upper, lower, strength)
        return FramePlan(
            rig=rig,
            motion=motion,
            head_follow=prep.head_follow(motion) if rig.any() else None,
            mouth_shift=_whole(motion @ prep.mouth_global_motion),
            eye_shift=_whole(eye_shifts.mean(axis=0)),
            lids=prep.eyelids.cuts(blink, np.round(eye_shifts).astype(int)),
            mouth=cut,
        )

    def opening(self, frame_index: int, params: np.ndarray) -> np.ndarray:
        """(N, 2) inner-lip polygon (pixels) that the mouth interior fills, for checks and tools."""
        return _lips(self.prep, mix_mouth(params), self._motion(frame_index, speech_gestures(params)))[2]

    def _motion(self, frame_index: int, gestures: np.ndarray) -> np.ndarray:
        """Global motion weights (prepared.GLOBAL_MOTIONS): the idle pose plus the speech gestures."""
        pose: Pose = self.idle.pose(frame_index)
        face = self.prep.face_height
        return np.array([pose.dx + gestures[_TURN] * TURN_SHARE * face, pose.dy + gestures[_NOD] * NOD_SHARE * face,
                         pose.roll + gestures[_TILT] * TILT_RAD, pose.breath], np.float32)


def mix_mouth(params: np.ndarray) -> np.ndarray:
    """Rig weights (MOUTH_SHAPES order) from mouth parameters: closing or tucking the lips wins over an open
    jaw, rounding over spread, and an open jaw while rounding makes an O."""
    jaw, spread, rnd, close, tuck = np.clip(np.nan_to_num(np.asarray(params, np.float32)[:N_PARAMS]), 0.0, 1.0)
    jaw = _conversational(jaw) * (1 - close) * (1 - 0.6 * tuck)
    return np.array([jaw, spread * (1 - 0.5 * rnd), rnd, close, tuck * (1 - close), jaw * rnd], dtype=np.float32)


def _conversational(jaw: float) -> float:
    """The rig's jaw opening for a jaw_open value: ordinary speech (0.3-0.6) opens the lips a few percent of the
    face height, as people talking at a table do; only the top of the range (an emphatic "ah") opens wide."""
    return JAW_LINEAR * jaw + JAW_CUBIC * jaw**3


def speech_gestures(params: np.ndarray) -> np.ndarray:
    """The GESTURE_PARAMS part of a parameter vector, clamped (brows only rise); zeros when there is none."""
    values = np.asarray(params, np.float32).reshape(-1)
    if len(values) < N_FRAME_PARAMS:
        return np.zeros(N_GESTURES, np.float32)
    gestures = np.clip(np.nan_to_num(values[N_PARAMS:N_FRAME_PARAMS]), -1.0, 1.0)
    gestures[_BROW] = max(gestures[_BROW], 0.0)
    return gestures


def _whole(shift: np.ndarray) -> tuple[int, int]:
    dx, dy = np.round(shift).astype(int)
    return int(dx), int(dy)


def _lips(prep: PreparedAvatar, mouth: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Head motion at the mouth, the inner lips' moves and the opening polygon they leave."""
    head = motion @ prep.mouth_global_motion
    moves = np.tensordot(mouth, prep.inner_lip_moves, axes=1)
    return head, moves, _opening(prep.inner_lips + moves + head, prep.mouth_down)


def _opening(lips: np.ndarray, down: np.ndarray) -> np.ndarray:
    """The inner-lip polygon; where pressed lips overlap, the lower lip is held at the upper one (no twist)."""
    n = len(lips) // 2
    upper, lower = lips[:n], lips[n:].copy()
    overlap = np.minimum((lower - upper) @ down, 0.0)
    lower -= overlap[:, None] * down
    return np.concatenate([upper, lower[-2:0:-1]])
