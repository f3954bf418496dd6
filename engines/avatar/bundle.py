"""Avatar bundles: one prepared photo on disk, everything the renderer needs and nothing that needs MediaPipe.

A bundle is a folder: `avatar.json` (landmarks, mesh, boxes), `photo.jpg` (the cropped portrait),
`masks.png` (soft face / mouth / eye masks in the R, G, B channels) and `preview.jpg` (for people).
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from assets import AVATARS_DIR

FORMAT_VERSION = 1
_MANIFEST = "avatar.json"
_PHOTO = "photo.jpg"
_MASKS = "masks.png"
PREVIEW = "preview.jpg"
_NAME = re.compile(r"^[a-z0-9_-]{1,64}$")  # never a path: no dots, no slashes

Box = tuple[int, int, int, int]


class UnknownAvatar(ValueError):
    """The name is not a committed avatar and the path is not a bundle folder."""


@dataclass(frozen=True, eq=False)
class AvatarBundle:
    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    landmarks: np.ndarray  # (478, 3) float32: x, y in pixels, z in pixels (MediaPipe's relative depth)
    mesh_points: np.ndarray  # (P, 2) float32: the face landmarks first, then fixed anchor points
    triangles: np.ndarray  # (T, 3) int32 indices into mesh_points
    masks: np.ndarray  # (H, W, 3) float32 in [0, 1]: face, mouth, eyes
    mouth_box: Box
    eye_boxes: list[Box]
    source: dict = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]


def is_valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def list_avatars() -> list[str]:
    """Names of the bundles committed under assets/avatars/."""
    if not AVATARS_DIR.is_dir():
        return []
    return sorted(p.name for p in AVATARS_DIR.iterdir() if (p / _MANIFEST).is_file() and is_valid_name(p.name))


def load_avatar(name_or_path: str | Path) -> AvatarBundle:
    """A committed avatar by name, or any bundle folder by path. Loaded once per folder and shared."""
    text = str(name_or_path)
    if is_valid_name(text) and (AVATARS_DIR / text / _MANIFEST).is_file():
        folder = AVATARS_DIR / text
    elif (Path(text) / _MANIFEST).is_file():
        folder = Path(text)
    else:
        raise UnknownAvatar(f"unknown avatar {text!r}; known: {', '.join(list_avatars()) or 'none'}")
    return _load_folder(folder.resolve())


@functools.lru_cache(maxsize=16)
def _load_folder(folder: Path) -> AvatarBundle:
    manifest = json.loads((folder / _MANIFEST).read_text())
    if manifest.get("format") != FORMAT_VERSION:
        raise UnknownAvatar(f"{folder}: unsupported bundle format {manifest.get('format')!r}")
    image = _read_image(folder / _PHOTO, cv2.IMREAD_COLOR)
    masks = _read_image(folder / _MASKS, cv2.IMREAD_COLOR).astype(np.float32) / 255.0
    return AvatarBundle(
        name=manifest["name"],
        image=np.ascontiguousarray(image),
        landmarks=np.asarray(manifest["landmarks"], dtype=np.float32),
        mesh_points=np.asarray(manifest["mesh"]["points"], dtype=np.float32),
        triangles=np.asarray(manifest["mesh"]["triangles"], dtype=np.int32),
        masks=masks,
        mouth_box=tuple(manifest["mouth_box"]),
        eye_boxes=[tuple(b) for b in manifest["eye_boxes"]],
        source=manifest.get("source", {}),
    )


def _read_image(path: Path, flags: int) -> np.ndarray:
    bgr = cv2.imread(str(path), flags)
    if bgr is None:
        raise UnknownAvatar(f"{path}: missing or unreadable")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def save_bundle(folder: Path, bundle: AvatarBundle, preview: np.ndarray) -> None:
    """Write a bundle folder (created if needed). Images are RGB; JPEG keeps committed bundles small."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": FORMAT_VERSION,
        "name": bundle.name,
        "size": list(bundle.size),
        "source": bundle.source,
        "mouth_box": list(bundle.mouth_box),
        "eye_boxes": [list(b) for b in bundle.eye_boxes],
        "landmarks": np.round(bundle.landmarks, 2).tolist(),
        "mesh": {"points": np.round(bundle.mesh_points, 2).tolist(), "triangles": bundle.triangles.tolist()},
    }
    (folder / _MANIFEST).write_text(json.dumps(manifest, separators=(",", ":")))
    _write_image(folder / _PHOTO, bundle.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    _write_image(folder / _MASKS, np.round(bundle.masks * 255).astype(np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    _write_image(folder / PREVIEW, preview, [cv2.IMWRITE_JPEG_QUALITY, 88])


def _write_image(path: Path, rgb: np.ndarray, params: list[int]) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params):
        raise OSError(f"could not write {path}")
