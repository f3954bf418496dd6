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

# Openings of replies as an LLM streams them: half with punctuation in their first words, half without any
# for a while (which used to hold the first phrase back until the length limit).
REPLIES_PUNCTUATED = (
    "Sure! I can walk you through the whole process step by step.",
    "Hello, and thanks for waiting while I looked into your account.",
    "Well, that depends on how many people are coming to the party.",
    "Yes. The train leaves at seven and arrives a little after nine.",
    "Good question, and the short answer is that it works offline.",
)
REPLIES_UNPUNCTUATED = (
    "I think the best way to handle this would be to start with a small test first",
    "The weather in Paris today looks sunny with a light breeze coming from the west",
    "Based on what you told me the simplest option is to restart the router and wait",
    "Your order was shipped this morning and should arrive at your door by Thursday",
    "Most people find that a short walk after lunch helps them stay focused all afternoon",
)


def publish(text: str, append: Path | None) -> None:
    """Print a report, and append it to a markdown file when asked."""
    print(text)
    if append:
        with append.open("a", encoding="utf-8") as out:
            out.write(text)
