"""The test suite: units of each stage, the pipeline in fake time, and a real server on loopback driven by real
WebRTC clients and Chromium. Run it with `.venv/bin/python -m pytest`."""
