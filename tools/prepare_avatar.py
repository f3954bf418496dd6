"""Prepare an avatar bundle from one portrait photo.

Run with the preparation venv, which has MediaPipe (it pins numpy<2, so it stays out of the server's venv):

    .venv-prepare/bin/python tools/prepare_avatar.py PHOTO --name NAME [--out FOLDER]

Finds exactly one face (MediaPipe full-range face detector, then the 478-point face mesh), crops a square
video-call framing around it, scales it to --size, and writes the bundle the renderer animates.
Errors are one line on stderr with exit status 2.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.avatar import face_topology as topo  # noqa: E402
from engines.avatar import regions  # noqa: E402
from engines.avatar.bundle import AVATARS_DIR, AvatarBundle, is_valid_name, save_bundle  # noqa: E402
from engines.avatar.mesh import build_mesh  # noqa: E402
from engines.avatar.preview import preview_strip  # noqa: E402

log = logging.getLogger(__name__)

FACE_SHARE = 0.42  # forehead-to-chin height as a share of the output frame: a video-call close-up
FACE_CENTRE_Y = 0.44  # where the face centre sits, as a share of the frame height from the top


class PreparationError(Exception):
    """A photo we cannot turn into an avatar; the message is shown to the user as is."""


@contextlib.contextmanager
def _native_logs_silenced() -> Iterator[None]:
    """MediaPipe's C++ side writes TensorFlow Lite and absl chatter straight to fd 2; keep errors to one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def detect_face(rgb: np.ndarray, min_face: int) -> np.ndarray:
    """(478, 3) landmarks in image pixels of the only face in the photo."""
    with _native_logs_silenced():
        return _landmarks(rgb, min_face)


def _landmarks(rgb: np.ndarray, min_face: int) -> np.ndarray:
    import mediapipe as mp

    h, w = rgb.shape[:2]
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as detector:
        detections = detector.process(rgb).detections or []
    if not detections:
        raise PreparationError("no face found in the photo")
    if len(detections) > 1:
        raise PreparationError(f"found {len(detections)} faces; use a photo with exactly one person")
    box = detections[0].location_data.relative_bounding_box
    if box.height * h < min_face:
        raise PreparationError(f"face too small: {box.height * h:.0f} px tall, need at least {min_face} px")
    # The mesh model wants the face to fill its input: run it on a square around the detection.
    cx, cy = (box.xmin + box.width / 2) * w, (box.ymin + box.height / 2) * h
    half = max(box.width * w, box.height * h)
    x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
    x1, y1 = int(min(cx + half, w)), int(min(cy + half, h))
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as mesh:
        found = mesh.process(crop).multi_face_landmarks
    if not found:
        raise PreparationError("a face was detected but its landmarks could not be found (turned away or hidden?)")
    cw, ch = x1 - x0, y1 - y0
    pts = np.array([(p.x * cw + x0, p.y * ch + y0, p.z * cw) for p in found[0].landmark], dtype=np.float32)
    if len(pts) != topo.N_LANDMARKS:
        raise PreparationError(f"face mesh returned {len(pts)} landmarks, expected {topo.N_LANDMARKS}")
    return pts


def portrait_crop(rgb: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Square crop with the face large and a little above centre, scaled to size x size; landmarks follow."""
    h, w = rgb.shape[:2]
    top, chin = landmarks[topo.FOREHEAD_TOP, :2], landmarks[topo.CHIN, :2]
    face_h = float(np.linalg.norm(chin - top))
    side = min(face_h / FACE_SHARE, w, h)
    centre = (top + chin) / 2
    x0 = float(np.clip(centre[0] - side / 2, 0, w - side))
    y0 = float(np.clip(centre[1] - side * FACE_CENTRE_Y, 0, h - side))
    scale = size / side
    affine = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    out = cv2.warpAffine(rgb, affine, (size, size), flags=interp, borderMode=cv2.BORDER_REFLECT)
    moved = landmarks.copy()
    moved[:, 0] = (landmarks[:, 0] - x0) * scale
    moved[:, 1] = (landmarks[:, 1] - y0) * scale
    moved[:, 2] = landmarks[:, 2] * scale
    return out, moved


def prepare(photo: Path, name: str, size: int = 512, min_face: int = 64) -> AvatarBundle:
    bgr = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if bgr is None:
        raise PreparationError(f"cannot read {photo} as an image")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    image, landmarks = portrait_crop(rgb, detect_face(rgb, min_face), size)
    points, triangles = build_mesh(landmarks, (size, size))
    return AvatarBundle(
        name=name,
        image=image,
        landmarks=landmarks,
        mesh_points=points,
        triangles=triangles,
        masks=regions.soft_masks(landmarks, (size, size)),
        mouth_box=regions.mouth_box(landmarks, (size, size)),
        eye_boxes=regions.eye_boxes(landmarks, (size, size)),
        source={"photo": photo.name},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("--name", required=True, help="lower-case letters, digits, _ and -")
    parser.add_argument("--out", type=Path, help=f"bundle folder (default: {AVATARS_DIR}/NAME)")
    parser.add_argument("--size", type=int, default=512, help="output frame side in pixels")
    parser.add_argument("--min-face", type=int, default=64, help="smallest usable face height in the photo")
    parser.add_argument("--source", default="", help="where the photo came from, recorded in the bundle")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if not is_valid_name(args.name):
            raise PreparationError(f"invalid name {args.name!r}: use lower-case letters, digits, _ and -")
        if not args.photo.is_file():
            raise PreparationError(f"cannot read {args.photo}: no such file")
        bundle = prepare(args.photo, args.name, args.size, args.min_face)
    except PreparationError as exc:
        print(f"prepare_avatar: error: {exc}", file=sys.stderr)
        return 2
    if args.source:
        bundle = replace(bundle, source={**bundle.source, "credit": args.source})
    out = args.out or AVATARS_DIR / args.name
    save_bundle(out, bundle, preview_strip(bundle))
    log.info("wrote %s (%d mesh points, %d triangles)", out, len(bundle.mesh_points), len(bundle.triangles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
