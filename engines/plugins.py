"""Name -> implementation tables for the parts a user swaps (TTS engines, renderers, voice-activity detectors,
transports). Each entry is "module:Class", imported only when its name is asked for, so a server loads only
the implementations its configuration names. Adding an implementation is one module plus one entry; code outside
the project may add entries at run time too (`TABLE["mine"] = "my_package.module:MyEngine"`)."""
from __future__ import annotations

import importlib
from typing import Any


class Plugins(dict[str, str]):
    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        super().__init__(entries)
        self.kind = kind

    def load(self, name: str) -> Any:
        """The class registered as `name`; ValueError naming the choices when there is none."""
        if name not in self:
            raise ValueError(f"unknown {self.kind} {name!r}; choose from {', '.join(self)}")
        module_name, _, attribute = self[name].partition(":")
        return getattr(importlib.import_module(module_name), attribute)
