"""Measuring the avatar from outside, shared by the tests and the benchmark tools: the server as a child process
with its CPU, memory and /metrics, talking client sessions and what their received media shows, and Pipecat
pipelines around an avatar service with the speech an agent's TTS would hand it."""
