"""Text-to-speech engines behind one interface (`base.TTSEngine`), each one module plus one line in registry.py;
PCM out with phoneme and word timings where the engine knows them."""
