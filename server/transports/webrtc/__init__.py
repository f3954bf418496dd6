"""WebRTC with aiortc: a viewer's peer connection (answering a client's offer), its paced tracks fed by the
session's frames, the client's voice in voice mode, ICE host selection and the encoders tuned for rendered
frames. The only place in the server that imports aiortc."""
