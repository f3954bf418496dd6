#!/usr/bin/env bash
# Everything a fresh Debian machine needs, in one command: Chromium (browser tests), the server's virtual
# environment (.venv, with the test and training extras), and the avatar-preparation environment
# (.venv-prepare: MediaPipe pins numpy<2, so it lives apart from the server). Safe to run again. Rebuilding the
# face network's data set also needs Debian's voice packages: bash tools/get_voice_data.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null 2>&1; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
# Silero VAD's wheel carries the ONNX model; its declared torch dependency is not needed to run it.
.venv/bin/python -m pip install -q --no-deps 'silero-vad==6.2.3'

python3 -m venv .venv-prepare
.venv-prepare/bin/python -m pip install -q --upgrade pip
.venv-prepare/bin/python -m pip install -q 'mediapipe==0.10.21' 'numpy<2'
echo "set-up complete: run the server with .venv/bin/python -m server"
