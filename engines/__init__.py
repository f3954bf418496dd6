"""Engines behind small interfaces, with no knowledge of servers or networks: speech synthesis (tts/), audio-to-face
(face/), avatar rendering (avatar/), voice activity (vad/), on the shared timebase of timebase.py."""
