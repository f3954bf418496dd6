"""The LLM bridge: a session's conversation with any OpenAI-compatible chat-completions endpoint, its answer
spoken as it streams in."""
