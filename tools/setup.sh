#!/usr/bin/env bash
# Everything a fresh Debian machine needs, in one command: Chromium (browser tests), nginx with its RTMP module
# (the broadcast tests start their own on a loopback port), the server's virtual environment (.venv, with the test
# and training extras), and the avatar-preparation environment (.venv-prepare: MediaPipe pins numpy<2, so it lives
# apart from the server). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || missing+=(libnginx-mod-rtmp)
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
.venv/bin/python -m pip install -q -e '.[dev]'

python3 -m venv .venv-prepare
.venv-prepare/bin/python -m pip install -q --upgrade pip
.venv-prepare/bin/python -m pip install -q 'mediapipe==0.10.21' 'numpy<2'
echo "set-up complete: run the server with .venv/bin/python -m server"
