"""Engines behind small interfaces: speech synthesis (tts), audio-to-face (face), and avatar rendering (avatar)."""
