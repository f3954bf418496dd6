"""Sentences for the audio-to-face data set, generated from the project's own templates and word lists.

Variety matters more than meaning: the network must hear every English phoneme in many neighbours, at many
speeds and sentence shapes, so the corpus mixes templated statements, questions and exclamations, numbers,
and short runs of words drawn to cover rare sounds (th, zh, ng, oy, clusters such as "str" and "spl").
"""
from __future__ import annotations

import random

NAMES = (
    "Maria", "John", "Oliver", "Sophie", "Zoe", "Theo", "Beth", "Vincent", "Yuki", "Gareth", "Ruth", "Joy",
    "Hugo", "Fiona", "Pablo", "Wendy", "Quentin", "Nora", "Ivan", "Lola", "Xavier", "Judith", "Kevin", "Amelia",
)
NOUNS = (
    "apple", "bridge", "chair", "dog", "engine", "feather", "garden", "house", "island", "jacket", "kettle",
    "lemon", "mountain", "needle", "orange", "pocket", "queen", "river", "shadow", "table", "umbrella", "valley",
    "window", "yellow box", "zebra", "thunder", "measure", "treasure", "vision", "church", "judge", "thing",
    "smooth stone", "music", "water", "coffee", "bottle", "mirror", "pumpkin", "blanket", "cloud", "flower",
    "sprout", "string", "splash", "squirrel", "three", "birthday", "boy", "toy", "voice", "noise", "cow",
    "mouth", "book", "foot", "wolf", "moon", "spoon", "food", "rule", "boat", "road", "phone", "hair", "bear",
    "ear", "year", "fire", "tire", "power", "tower", "letter", "butter", "paper", "number", "method", "rhythm",
    "breath", "truth", "month", "fifth", "sixth", "depth", "strength", "length", "warmth", "pleasure", "garage",
    "beige jacket", "azure sky", "film", "elbow", "bulb", "helm", "lamp", "camp", "stamp", "pump", "bump",
    "map", "cup", "ship", "sheep", "chip", "cheap", "peach", "beach", "bench", "fence", "pencil", "puzzle",
)
VERBS = (
    "bring", "carry", "drop", "find", "give", "hold", "keep", "leave", "move", "open", "push", "pull", "show",
    "throw", "watch", "wash", "fix", "buy", "sell", "paint", "measure", "catch", "fetch", "borrow", "wrap",
    "share", "choose", "lose", "breathe", "bathe", "soothe", "stretch", "squeeze", "spread", "scrub", "shove",
)
ADJECTIVES = (
    "big", "small", "blue", "green", "heavy", "light", "old", "new", "warm", "cold", "smooth", "rough", "quiet",
    "loud", "bright", "dark", "thick", "thin", "sharp", "soft", "shiny", "purple", "beautiful", "awful",
    "famous", "usual", "curious", "enormous", "tiny", "broken", "frozen", "golden", "wooden", "yellow",
)
PLACES = (
    "in the kitchen", "by the window", "under the bridge", "at the beach", "near the church", "on the boat",
    "in the garage", "behind the fence", "across the valley", "at the zoo", "up the mountain", "in the rain",
    "on Thursday", "this evening", "every morning", "before lunch", "after the show", "over there",
)
TEMPLATES = (
    "{name} will {verb} the {adj} {noun} {place}.",
    "Please {verb} the {noun} {place}.",
    "Did {name} {verb} the {adj} {noun}?",
    "Why would anyone {verb} a {noun} {place}?",
    "I think the {noun} is too {adj}.",
    "The {adj} {noun} was {place}, and {name} saw it.",
    "Oh no, the {noun} is {adj} again!",
    "Could you {verb} my {noun}, {name}?",
    "We usually {verb} the {noun} {place}.",
    "{name} said that the {noun} looked {adj}.",
    "Wow, what a {adj} {noun}!",
    "Never {verb} a {adj} {noun} {place}.",
    "There are {number} {noun}s {place}.",
    "It costs {number} dollars and {number2} cents.",
    "My phone number is {digits}.",
    "Meet me at {hour} o'clock {place}.",
    "Yes. No. Maybe. {name}?",
    "Hmm, let me think about the {noun} for a moment.",
    "{name} and {name2} want to {verb} the {noun}.",
    "How many {noun}s can you {verb} in {number} minutes?",
    "Well, I'm not sure, but the {noun} seems {adj} to me.",
    "First {verb} the {noun}, then {verb2} the {noun2}.",
)
NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "fifteen",
           "twenty", "thirty-three", "forty-four", "ninety-nine", "a hundred", "a thousand")


def _sentence(rng: random.Random) -> str:
    slots = {
        "name": rng.choice(NAMES), "name2": rng.choice(NAMES), "noun": rng.choice(NOUNS),
        "noun2": rng.choice(NOUNS), "verb": rng.choice(VERBS), "verb2": rng.choice(VERBS),
        "adj": rng.choice(ADJECTIVES), "place": rng.choice(PLACES), "number": rng.choice(NUMBERS),
        "number2": rng.choice(NUMBERS), "hour": rng.choice(NUMBERS[:12]),
        "digits": " ".join(str(rng.randrange(10)) for _ in range(rng.randint(4, 7))),
    }
    return rng.choice(TEMPLATES).format(**slots)


def _word_run(rng: random.Random) -> str:
    """Words strung together for phonetic coverage, with the punctuation that makes the voice pause."""
    pool = NOUNS + VERBS + ADJECTIVES
    words = [rng.choice(pool) for _ in range(rng.randint(3, 9))]
    text = " ".join(words)
    if len(words) > 5 and rng.random() < 0.5:
        cut = text.find(" ", len(text) // 2)
        text = text[:cut] + "," + text[cut:]
    return text[0].upper() + text[1:] + rng.choice(".?!")


def make_corpus(count: int, seed: int = 0) -> list[str]:
    """`count` distinct sentences: about three quarters templated, the rest word runs."""
    rng = random.Random(seed)
    sentences: dict[str, None] = {}
    while len(sentences) < count:
        sentences[_word_run(rng) if rng.random() < 0.25 else _sentence(rng)] = None
    return list(sentences)
