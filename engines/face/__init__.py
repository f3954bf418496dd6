"""Audio-to-face: mouth parameters per video frame, from phoneme timings or from audio."""
