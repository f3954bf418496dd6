#!/usr/bin/env bash
# Everything a fresh Debian machine needs, in one command: Chromium (browser tests), Janus and its WHIP server (the
# SFU tests), the server's virtual environment (.venv, with the test and training extras), and the
# avatar-preparation environment (.venv-prepare: MediaPipe pins numpy<2, so it lives apart from the server). Safe to
# run again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null 2>&1; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
# The Janus WebRTC server: tests/test_janus.py and tools/bench_janus.py run it with a configuration of their own,
# so the system-wide service the package starts is not wanted.
if ! command -v janus >/dev/null 2>&1; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q janus
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet janus 2>/dev/null; then
    as_root systemctl disable --now janus
  fi
fi

# Janus's WHIP server, for the WHIP test against a server not of our own (harness/whip_server.py): the two source
# files of Debian's simple-whip-server and their npm dependencies in .whip-server/ (Debian's node-* packages need
# Debian's nodejs, which a machine with another Node.js cannot install).
if [ ! -d .whip-server/node_modules ]; then
  command -v npm >/dev/null 2>&1 || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
  package=$(mktemp -d)
  (cd "$package" && apt-get download -q simple-whip-server && dpkg-deb -x simple-whip-server_*.deb root)
  mkdir -p .whip-server
  cp -r "$package/root/usr/share/simple-whip-server/src" .whip-server/
  rm -rf "$package"
  (cd .whip-server && npm install -q --no-audit --no-fund --no-save express@4.22.3 cors@2.8.6 async@3.2.6 \
    colors@1.4.0 debug@4.4.3 websocket@1.0.35 body-parser@1.20.9)
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
