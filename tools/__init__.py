"""Command-line tools around the server: avatar preparation, the audio-to-face network's data set, training and
export, the TensorRT engine build, and the benchmarks and soak that measure a running server."""
