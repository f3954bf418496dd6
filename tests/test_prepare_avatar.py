"""tools/prepare_avatar.py, run as users run it: a subprocess of the preparation venv (which has MediaPipe)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from engines.avatar import AvatarRenderer, load_avatar
from engines.avatar.bundle import AVATARS_DIR, PREVIEW
from engines.avatar.preview import mouth_params

ROOT = Path(__file__).resolve().parents[1]
PREPARE_PYTHON = ROOT / ".venv-prepare" / "bin" / "python"
TOOL = ROOT / "tools" / "prepare_avatar.py"

pytestmark = pytest.mark.skipif(not PREPARE_PYTHON.exists(), reason="no .venv-prepare (see tools/setup.sh)")


def prepare(photo: Path, out: Path, *extra: str, name: str = "someone") -> subprocess.CompletedProcess:
    return subprocess.run([str(PREPARE_PYTHON), str(TOOL), str(photo), "--name", name, "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def portrait() -> np.ndarray:
    """A real one-face photo (BGR): the committed astronaut portrait."""
    return cv2.imread(str(AVATARS_DIR / "astronaut" / "photo.jpg"))


def write(path: Path, bgr: np.ndarray) -> Path:
    cv2.imwrite(str(path), bgr)
    return path


def test_a_portrait_becomes_a_bundle_the_renderer_animates(tmp_path):
    result = prepare(write(tmp_path / "me.jpg", portrait()), tmp_path / "me")
    assert result.returncode == 0, result.stderr
    bundle = load_avatar(tmp_path / "me")
    assert bundle.name == "someone" and bundle.size == (512, 512)
    assert (tmp_path / "me" / PREVIEW).is_file()
    committed = load_avatar("astronaut")
    # Same face, framed the same way: landmarks land where the committed bundle has them, within a few pixels.
    assert np.median(np.linalg.norm(bundle.landmarks[:, :2] - committed.landmarks[:, :2], axis=1)) < 8
    frame = AvatarRenderer(bundle, seed=0).render(0, mouth_params(jaw_open=0.8))
    assert frame.shape == (512, 512, 3)
    bundle_bytes = sum(p.stat().st_size for p in (tmp_path / "me").iterdir())
    assert bundle_bytes < 1_000_000


def test_size_option_sets_the_frame(tmp_path):
    result = prepare(write(tmp_path / "me.jpg", portrait()), tmp_path / "small", "--size", "320")
    assert result.returncode == 0, result.stderr
    bundle = load_avatar(tmp_path / "small")
    assert bundle.size == (320, 320)
    assert AvatarRenderer(bundle).render(7, mouth_params(lip_spread=1.0)).shape == (320, 320, 3)


def _fails_with(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("prepare_avatar: error:") and words in lines[0], lines[0]


def test_photo_without_a_face(tmp_path):
    noise = (np.random.default_rng(0).random((400, 400, 3)) * 255).astype(np.uint8)
    _fails_with(prepare(write(tmp_path / "noise.png", noise), tmp_path / "out"), "no face")
    assert not (tmp_path / "out").exists()


def test_photo_with_two_faces(tmp_path):
    face = portrait()
    _fails_with(prepare(write(tmp_path / "two.jpg", np.hstack([face, face])), tmp_path / "out"), "found 2 faces")


def test_face_too_small(tmp_path):
    canvas = np.full((600, 600, 3), 200, np.uint8)
    canvas[240:360, 240:360] = cv2.resize(portrait(), (120, 120), interpolation=cv2.INTER_AREA)
    _fails_with(prepare(write(tmp_path / "far.jpg", canvas), tmp_path / "out"), "face too small")


def test_unreadable_missing_and_badly_named(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    _fails_with(prepare(bad, tmp_path / "out"), "cannot read")
    _fails_with(prepare(tmp_path / "missing.jpg", tmp_path / "out"), "no such file")
    _fails_with(prepare(write(tmp_path / "me.jpg", portrait()), tmp_path / "out", name="Bad Name!"), "invalid name")
