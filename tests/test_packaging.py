"""`pip install .` (not editable) gives a server that runs from any folder: the page, the avatar bundles and the
face network ship as package data and are found through `assets`, never through the checkout."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from harness.server_process import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[1]


def test_installed_copy_serves_page_avatars_and_model(tmp_path):
    wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Built from a clean copy: setuptools builds in the source folder and would keep stale files of earlier builds.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "data", "__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, source], check=True)
    (wheel,) = wheels.glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", site, wheel], check=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import assets, server; print(server.__file__); print(assets.ROOT)"],
        cwd=elsewhere, env=env, check=True, capture_output=True, text=True,
    ).stdout.split()
    assert all(Path(path).is_relative_to(site) for path in where), where

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", str(port), "--log-level", "WARNING"], cwd=elsewhere, env=env
    )
    try:
        base = f"http://127.0.0.1:{port}"
        health = wait_healthy(base, server)
        assert {"astronaut", "grace_hopper"} <= set(health["avatars"])
        assert health["face_driver"] == "network" and health["face_backend"] == "onnxruntime"
        with urllib.request.urlopen(f"{base}/", timeout=10) as response:
            assert b"<html" in response.read().lower()
        with urllib.request.urlopen(f"{base}/app.js", timeout=10) as response:
            assert response.status == 200
    finally:
        server.terminate()
        server.wait(20)
