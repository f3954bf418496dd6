"""Text-to-speech engines behind one interface (`base.TTSEngine`)."""
