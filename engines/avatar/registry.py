"""Renderers by name (`--renderer`)."""
from __future__ import annotations

from engines.avatar.base import RendererEngine, RendererOptions
from engines.plugins import Plugins

RENDERERS = Plugins("renderer", {
    "warp": "engines.avatar.warp_engine:WarpRendererEngine",
    "torch": "engines.avatar.torch_engine:TorchRendererEngine",
})


def create_renderer(name: str, options: RendererOptions) -> RendererEngine:
    """The process's renderer engine."""
    return RENDERERS.load(name)(options)
