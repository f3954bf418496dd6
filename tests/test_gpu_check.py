"""tools/gpu_check.py, the one script a lent GPU machine runs, end to end on PyTorch's CPU device with tiny sizes:
every part runs and writes its results, so the single call on the GPU cannot fail on the script itself."""
from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PARTS = ["env", "face_parity", "render_parity", "face_times", "render_times", "sweep"]


def gpu_check(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.gpu_check", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_every_part_runs_on_the_cpu_device_and_writes_json_and_markdown(tmp_path):
    done = gpu_check(str(tmp_path), "--device", "cpu", "--quick")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    parts = report["parts"]
    assert list(parts) == PARTS
    assert all(part["status"] == "ok" for part in parts.values()), {k: p.get("error") for k, p in parts.items()}
    assert parts["env"]["results"]["cpu_count"] >= 1 and parts["env"]["results"]["device"] == "cpu"
    errors = parts["face_parity"]["results"]["max_abs_error"]
    assert set(errors) == {"fp32", "fp16"} and max(errors["fp32"].values()) < 1e-4
    cases = parts["render_parity"]["results"]["cases"]
    assert len(cases) == 10 and all(case["within"] for case in cases.values())
    assert set(parts["face_times"]["results"]["device"]) == {"1", "2"}
    assert set(parts["render_times"]["results"]["torch_renderer"]) == {"1", "2"}
    points = parts["sweep"]["results"]["points"]
    assert points and points[0]["sessions"] == 1 and points[0]["frames"] > 0
    markdown = (tmp_path / "gpu_check.md").read_text()
    assert all(f"## {name}: ok" in markdown for name in PARTS)


def test_bad_arguments_are_refused_before_anything_runs(tmp_path):
    done = gpu_check(str(tmp_path), "--parts", "env,warp_speed")
    assert done.returncode == 2 and "unknown part warp_speed" in done.stderr
    done = gpu_check(str(tmp_path), "--device", "tpu")
    assert done.returncode == 2 and "render-device" in done.stderr
    assert not (tmp_path / "gpu_check.json").exists()


def test_the_wheels_carried_to_the_gpu_machine_are_the_versions_installed_here():
    """tools/gpu_wheels.txt pins what travels to the GPU machine (README "GPU"): a package upgraded here must be
    upgraded there, or the check measures other code than the server runs."""
    lines = (ROOT / "tools" / "gpu_wheels.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))
    assert {"av", "aiortc", "cffi", "websockets", "espeakng-loader"} <= set(pins)
    assert {name: importlib.metadata.version(name) for name in pins} == pins


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_without_a_gpu_the_default_device_is_a_clear_error(tmp_path):
    done = gpu_check(str(tmp_path), "--parts", "env")
    assert done.returncode == 2 and "no CUDA GPU" in done.stderr
