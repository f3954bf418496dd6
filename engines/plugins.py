"""Name -> implementation tables for the parts a user swaps (TTS engines, renderers, voice-activity detectors,
transports). Each entry is "module:Class", imported only when its name is asked for, so a server loads only
the implementations its configuration names. Adding an implementation is one module plus one entry."""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any


class Plugins(Mapping[str, str]):
    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self._entries = entries

    def __getitem__(self, name: str) -> str:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def load(self, name: str) -> Any:
        """The class registered as `name`; ValueError naming the choices when there is none."""
        if name not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}; choose from {', '.join(self._entries)}")
        module_name, _, attribute = self._entries[name].partition(":")
        return getattr(importlib.import_module(module_name), attribute)
