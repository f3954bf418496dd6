#!/usr/bin/env bash
# The human recordings and extra voices of the audio-to-face data set, from Debian's archive (licenses in
# docs/model_card.md). The sounds install as packages; the transcripts ship in the asterisk-core-sounds-LANG
# packages, which conflict with the other prompt sets, so those are unpacked under data/ instead of installed.
#     bash tools/get_voice_data.sh          # then: .venv/bin/python -m tools.make_dataset
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

SOUNDS=(asterisk-core-sounds-{en,es,fr,it,ru}-g722 asterisk-prompt-it-menardi-wav asterisk-prompt-fr-armelle
        asterisk-prompt-es-co festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)
if ! dpkg -s "${SOUNDS[@]}" >/dev/null 2>&1; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${SOUNDS[@]}"
fi

mkdir -p data/transcripts data/debs
for lang in en es fr it ru; do
  if [ ! -f "data/transcripts/core-sounds-$lang.txt" ]; then
    (cd data/debs && apt-get download -q "asterisk-core-sounds-$lang")
    deb=$(ls data/debs/asterisk-core-sounds-"$lang"_*.deb)
    tmp=$(mktemp -d)
    dpkg-deb -x "$deb" "$tmp"
    zcat "$tmp/usr/share/doc/asterisk-core-sounds-$lang/core-sounds-$lang.txt.gz" > "data/transcripts/core-sounds-$lang.txt"
    rm -rf "$tmp"
  fi
done
echo "voice data ready: /usr/share/asterisk/sounds, /usr/share/festival/voices, data/transcripts"
