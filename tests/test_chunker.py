from server.config import TextSettings
from server.pipeline.chunker import Chunker


def feed(chunker: Chunker, text: str, step: int) -> list[str]:
    phrases = []
    for i in range(0, len(text), step):
        phrases += chunker.push(text[i : i + step])
    return phrases


def test_sentence_end_cuts_once_the_next_word_begins():
    c = Chunker(TextSettings())
    assert c.push("Hello there.") == []  # could still be "there.com"
    assert c.push(" How") == ["Hello there."]
    assert c.flush() == ["How"]


def test_deltas_split_mid_word_never_split_words():
    text = "The quick brown fox jumps over the lazy dog, and then it runs far away into the woods. Done!"
    for step in (1, 2, 3, 7):
        c = Chunker(TextSettings())
        phrases = feed(c, text, step) + c.flush()
        assert " ".join(phrases).split() == text.split()
        assert phrases[:2] == ["The quick brown", "fox jumps over the lazy dog,"]


def test_a_stream_without_punctuation_starts_after_a_few_words_not_on_a_function_word():
    for step in (1, 4):
        c = Chunker(TextSettings(first_words=3))
        assert feed(c, "I went to the store and bought some bread ", step)[0] == "I went to the store"
        c = Chunker(TextSettings(first_words=3))
        assert feed(c, "Sure, I can help you with that ", step)[0] == "Sure, I can help", "one word is no clause"
    c = Chunker(TextSettings(first_words=3))
    assert c.push("of the in to a ") == []
    assert c.push("the ") == ["of the in to a the"], "at most three words past the few"
    c = Chunker(TextSettings(first_words=3))
    assert c.push("a" * 20_000)[0] == "a" * 60, "one run without spaces is cut at the limit, no word rule"


def test_a_clause_already_in_hand_is_taken_whole_and_early_punctuation_still_cuts():
    c = Chunker(TextSettings(first_words=3, first_clause_words=7))
    assert c.push("Let me check that for you. Then more ") == ["Let me check that for you."]
    c = Chunker(TextSettings(first_words=3))
    assert feed(c, "Hello! How are you doing today ", 4)[0] == "Hello!"
    c = Chunker(TextSettings(first_words=0))
    assert c.push("no punctuation here at all so far ") == [], "first_words 0: waits as before"


def test_clause_needs_a_few_words_and_more_after_the_first_phrase():
    c = Chunker(TextSettings(clause_min_words=(2, 3)))
    assert c.push("Well, ") == []
    assert c.push("I see, ") == ["Well, I see,"]
    assert c.push("you know, ") == []  # two words are enough only for the first phrase
    assert c.push("it works, ") == ["you know, it works,"]


def test_short_clause_waits():
    c = Chunker(TextSettings(clause_min_words=(2, 3)))
    assert c.push("Yes, ") == []
    assert c.flush() == ["Yes,"]


def test_flush_emits_rest_and_resets_first_phrase_limit():
    c = Chunker(TextSettings(phrase_max_chars=(20, 100), first_words=0))
    assert c.flush() == []
    assert c.push("one two three four five six seven ") == ["one two three four"]
    assert c.flush() == ["five six seven"]
    assert c.push("alpha beta gamma delta epsilon ") == ["alpha beta gamma"]


def test_long_text_without_punctuation_is_cut_at_word_boundaries_with_growing_limits():
    words = [f"word{i}" for i in range(400)]
    c = Chunker(TextSettings(phrase_max_chars=(60, 100, 180), first_words=0))
    phrases = feed(c, " ".join(words) + " ", 5) + c.flush()
    assert " ".join(phrases).split() == words
    assert 40 < len(phrases[0]) <= 60
    assert 80 < len(phrases[1]) <= 100
    assert all(len(p) <= 180 for p in phrases) and max(len(p) for p in phrases) > 160
    assert len(phrases) > 10


def test_abbreviations_and_decimals_do_not_end_sentences():
    c = Chunker(TextSettings(first_words=0))
    assert c.push("Dr. Smith paid 3.50 dollars to J. Doe. Then ") == ["Dr. Smith paid 3.50 dollars to J. Doe."]


def test_punctuation_only_phrases_are_dropped():
    c = Chunker(TextSettings())
    assert c.push("... !!! ") == []
    assert c.flush() == []
    assert c.push("🙂🙂") == []
    assert c.flush() == []


def test_cjk_punctuation_cuts_without_spaces():
    c = Chunker(TextSettings())
    assert c.push("你好。今天天气很好，我们去公园吧") == ["你好。", "今天天气很好，"]
    assert c.flush() == ["我们去公园吧"]


def test_unbroken_script_is_cut_at_the_limit():
    c = Chunker(TextSettings(phrase_max_chars=(10,)))
    assert c.push("一二三四五六七八九十十一") == ["一二三四五六七八九十"]


def test_pending_counts_unsent_text():
    c = Chunker(TextSettings())
    c.push("Hello wor")
    assert c.pending == "Hello wor"
