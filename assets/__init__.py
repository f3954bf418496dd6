"""What ships with the project as package data: the committed avatar bundles, the trained network weights and the
browser page. Every other module finds them through this one place, so an installed copy (not only a checkout)
serves the page, the avatars and the model."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
AVATARS_DIR = ROOT / "avatars"
MODELS_DIR = ROOT / "models"
WEB_DIR = ROOT / "web"


def model_path(name: str) -> Path:
    """A shipped model file by name, e.g. "a2f.onnx"."""
    return MODELS_DIR / name
