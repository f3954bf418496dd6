"""What the benchmark tools share: the short phrases they speak, and how they print or append their reports."""
from __future__ import annotations

from pathlib import Path

# Ten short English phrases (<= 40 characters each), the kind an assistant opens a reply with.
SHORT_PHRASES = (
    "Hello there!",
    "How are you today?",
    "Let me check that for you.",
    "Sure, I can help with that.",
    "The weather looks nice.",
    "Good morning, everyone.",
    "That is a great question.",
    "Please wait a moment.",
    "Thanks for your patience.",
    "Here is what I found out.",
)


def publish(text: str, append: Path | None) -> None:
    """Print a report, and append it to a markdown file when asked."""
    print(text)
    if append:
        with append.open("a", encoding="utf-8") as out:
            out.write(text)
