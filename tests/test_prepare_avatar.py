"""Avatar preparation (engines/avatar/prepare.py) in the server's own environment, and its command line."""
from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engines.avatar import AvatarRenderer, list_avatars, load_avatar
from engines.avatar.bundle import PREVIEW, is_valid_name
from engines.avatar.prepare import (
    MAX_PHOTO_BYTES,
    PreparationError,
    detect_face,
    prepare_avatar,
)
from engines.avatar.preview import mouth_params
from tests.photos import encoded, portrait

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "prepare_avatar.py"


def refused(code: str, photo: bytes, tmp_path: Path, name: str = "someone") -> PreparationError:
    with pytest.raises(PreparationError) as caught:
        prepare_avatar(photo, name, tmp_path)
    assert caught.value.code == code, caught.value
    assert str(caught.value) and "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir()), "nothing is left behind"
    return caught.value


def test_face_mesh_finds_478_landmarks_offline_with_numpy_2():
    assert int(np.__version__.split(".")[0]) >= 2
    landmarks = detect_face(cv2.cvtColor(portrait(), cv2.COLOR_BGR2RGB))
    assert landmarks.shape == (478, 3)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_a_portrait_becomes_a_bundle_the_renderer_animates(tmp_path, ext):
    folder = prepare_avatar(encoded(portrait(), ext), "someone", tmp_path, source={"photo": f"me{ext}"})
    assert folder == tmp_path / "someone"
    bundle = load_avatar(folder)
    assert bundle.name == "someone" and bundle.size == (512, 512)
    assert (folder / PREVIEW).is_file()
    committed = load_avatar("astronaut")
    # Same face, framed the same way: landmarks land where the committed bundle has them, within a few pixels.
    assert np.median(np.linalg.norm(bundle.landmarks[:, :2] - committed.landmarks[:, :2], axis=1)) < 8
    frame = AvatarRenderer(bundle, seed=0).render(0, mouth_params(jaw_open=0.8))
    assert frame.shape == (512, 512, 3)
    assert sum(p.stat().st_size for p in folder.iterdir()) < 1_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["someone"], "no staging folder is left"


def test_size_option_sets_the_frame(tmp_path):
    bundle = load_avatar(prepare_avatar(encoded(portrait()), "small", tmp_path, size=320))
    assert bundle.size == (320, 320)
    assert AvatarRenderer(bundle).render(7, mouth_params(lip_spread=1.0)).shape == (320, 320, 3)


def test_photo_without_a_face(tmp_path):
    noise = (np.random.default_rng(0).random((400, 400, 3)) * 255).astype(np.uint8)
    refused("no_face", encoded(noise, ".png"), tmp_path)


def test_photo_with_two_faces(tmp_path):
    face = portrait()
    assert "2 faces" in str(refused("several_faces", encoded(np.hstack([face, face])), tmp_path))


def test_face_too_small(tmp_path):
    canvas = np.full((600, 600, 3), 200, np.uint8)
    canvas[240:360, 240:360] = cv2.resize(portrait(), (120, 120), interpolation=cv2.INTER_AREA)
    refused("face_too_small", encoded(canvas), tmp_path)


@pytest.mark.parametrize("photo", [b"not an image", b"", b"GIF89a" + bytes(100),
                                   encoded(np.zeros((64, 64, 3), np.uint8))[:200]], ids=["text", "empty", "gif",
                                                                                         "truncated"])
def test_not_an_image(tmp_path, photo):
    refused("bad_image", photo, tmp_path)


def test_file_over_10_mb(tmp_path):
    photo = encoded(portrait())
    refused("too_large", photo + bytes(MAX_PHOTO_BYTES + 1 - len(photo)), tmp_path)


@pytest.mark.parametrize("name", ["Bad Name!", "", "a" * 41, "../x", "x.y", "ÿ"])
def test_bad_name(tmp_path, name):
    refused("bad_name", encoded(portrait()), tmp_path, name=name)


def test_existing_name_is_refused_unless_replaced(tmp_path):
    prepare_avatar(encoded(portrait()), "twice", tmp_path)
    with pytest.raises(PreparationError) as caught:
        prepare_avatar(encoded(portrait()), "twice", tmp_path)
    assert caught.value.code == "exists"
    assert load_avatar(prepare_avatar(encoded(portrait()), "twice", tmp_path, size=256, overwrite=True)).size == (256, 256)


def test_a_refusal_survives_the_trip_back_from_a_worker_process(tmp_path):
    error = refused("no_face", encoded(np.full((300, 300, 3), 128, np.uint8)), tmp_path)
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, PreparationError) and again.code == "no_face" and str(again) == str(error)


def test_protocol_names_are_loadable_bundle_names():
    assert "astronaut" in list_avatars()
    assert all(is_valid_name(n) for n in ("a", "-x", "_y", "a" * 40, "grace_hopper-2"))


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_command_line_writes_a_bundle_and_reports_refusals_in_one_line(tmp_path):
    photo = tmp_path / "me.jpg"
    photo.write_bytes(encoded(portrait()))
    result = run_tool(str(photo), "--name", "me", "--out", str(tmp_path / "avatars"))
    assert result.returncode == 0, result.stderr
    assert load_avatar(tmp_path / "avatars" / "me").source["photo"] == "me.jpg"
    for args, words in [((str(photo), "--name", "Bad Name!"), "bad_name"),
                        ((str(tmp_path / "missing.jpg"), "--name", "x"), "cannot read"),
                        ((str(photo), "--name", "me", "--out", str(tmp_path / "avatars")), "exists")]:
        result = run_tool(*args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert lines[0].startswith("prepare_avatar: error:") and words in lines[0], lines[0]
