#!/usr/bin/env bash
# Everything a fresh Debian machine needs, in one command: Chromium (browser tests), HAProxy (the scale-out test
# in front of two servers, with deploy/haproxy.cfg), the server's virtual
# environment (.venv, with the test and training extras), and the avatar-preparation environment
# (.venv-prepare: MediaPipe pins numpy<2, so it lives apart from the server). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev,coqui]'
# PyPI's torchaudio wheels are CUDA builds: beside the CPU torch their compiled extensions fail to load
# (libc10_cuda.so), and `import torchaudio` fails with them. coqui-tts uses only torchaudio's Python transforms
# (resampling, mel spectrograms), and the Coqui engine reads WAVs with soundfile, never torchaudio.load (torchcodec,
# a CUDA build too): so on a CPU torch the extensions are removed and torchaudio imports as pure Python.
if .venv/bin/python -c 'import sys, torch; sys.exit(torch.version.cuda is not None)'; then
  torchaudio_lib=$(.venv/bin/python -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("torchaudio").origin).parent / "lib")')
  rm -f "$torchaudio_lib"/*.so
fi

python3 -m venv .venv-prepare
.venv-prepare/bin/python -m pip install -q --upgrade pip
.venv-prepare/bin/python -m pip install -q 'mediapipe==0.10.21' 'numpy<2'
echo "set-up complete: run the server with .venv/bin/python -m server"
