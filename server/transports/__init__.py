"""Where a session's media goes (and, for voice mode, where the client's voice comes from): one interface in
base.py, one module or folder per transport. Only transports/webrtc/ knows aiortc."""
