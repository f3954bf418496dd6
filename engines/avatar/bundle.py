"""Avatar bundles: one prepared photo on disk, everything the renderer needs and nothing that needs MediaPipe.

A bundle is a folder: `avatar.json` (landmarks, mesh, boxes), `photo.jpg` (the cropped portrait),
`masks.png` (soft face / mouth / eye masks in the R, G, B channels) and `preview.jpg` (for people).
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from assets import AVATARS_DIR
from engines.names import NAME

FORMAT_VERSION = 1
_MANIFEST = "avatar.json"
_PHOTO = "photo.jpg"
_MASKS = "masks.png"
PREVIEW = "preview.jpg"

Box = tuple[int, int, int, int]


class UnknownAvatar(ValueError):
    """The name is not a registered avatar, or the folder is not a bundle."""


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
    return NAME.fullmatch(name) is not None


def is_bundle(folder: Path) -> bool:
    """Whether `folder` holds a bundle (its manifest; the images are checked when it is loaded)."""
    return (folder / _MANIFEST).is_file()


def bundles_in(folder: Path) -> dict[str, Path]:
    """The bundle folders directly inside `folder`, by folder name (names that are not plain names are left out)."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return {}
    return {entry.name: entry for entry in entries if is_valid_name(entry.name) and is_bundle(entry)}


def list_avatars() -> list[str]:
    """Names of the bundles committed under assets/avatars/."""
    return list(bundles_in(AVATARS_DIR))


def load_avatar(name_or_path: str | Path) -> AvatarBundle:
    """A committed avatar by name, or a bundle folder by path: for the operator's and the tools' own choices.
    What a client names goes through engines/avatar/catalog.py instead, which never takes a path."""
    text = str(name_or_path)
    folder = bundles_in(AVATARS_DIR).get(text)
    if folder is None and is_bundle(Path(text)):
        folder = Path(text)
    if folder is None:
        raise UnknownAvatar(f"unknown avatar {text!r}; known: {', '.join(list_avatars()) or 'none'}")
    return load_bundle(folder)


def load_bundle(folder: Path) -> AvatarBundle:
    """The bundle in `folder`, loaded once per folder and shared; a bundle written there anew (an avatar deleted
    and uploaded again under its name) is loaded anew."""
    folder = folder.resolve()
    try:
        written = (folder / _MANIFEST).stat().st_mtime_ns
    except OSError:
        written = 0  # no manifest: reading the folder says why
    return _load_folder(folder, written)


@functools.lru_cache(maxsize=16)
def _load_folder(folder: Path, written: int) -> AvatarBundle:
    try:
        return _read_folder(folder)
    except UnknownAvatar:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:  # a damaged or foreign manifest
        raise UnknownAvatar(f"{folder.name}: not a usable avatar bundle ({type(exc).__name__}: {exc})") from None


def _read_folder(folder: Path) -> AvatarBundle:
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
