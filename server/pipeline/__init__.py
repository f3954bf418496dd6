"""One session's media, transport-neutral: text or a live voice in; audio frames, video frames and events out, on
the session's one clock. Nothing here knows about websockets, WebRTC or any other transport."""
