"""Frames an output passes on only once the audio handed over before them has gone out (the end of an agent's turn,
the text of what was said, the end of the stream), in the order they came: a framework downstream then sees them
where it would without an avatar, after the audio they follow."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Held(Generic[T]):
    def __init__(self) -> None:
        self._items: deque[tuple[Callable[[], bool], T]] = deque()

    def hold(self, item: T, passed: Callable[[], bool]) -> None:
        """Keep `item` until `passed()` is true and everything held before it has gone."""
        self._items.append((passed, item))

    def due(self) -> list[T]:
        """The items whose turn has come, in order."""
        out = []
        while self._items and self._items[0][0]():
            out.append(self._items.popleft()[1])
        return out

    def drop(self) -> list[T]:
        """Everything still held (an interrupt), in order."""
        items = [item for _, item in self._items]
        self._items.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)
