"""`python -m tools.render`: a script in, an MP4 out, faster than real time on the broadcast pipeline, with the
mouth moving with the voice."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from engines.avatar import load_avatar
from harness.stream_sync import decode_file, mouth_follows_audio
from server.transports.encoder import BroadcastEncoder
from tests.browser_support import REPO
from tools import render as render_tool

pytestmark = pytest.mark.slow

SCRIPT = "Hello there! This is an offline render.\n\nA second paragraph follows the first one at once.\n"


def render(*args: str, script: str = SCRIPT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.render", "--voice", "espeak:en-us", *args], cwd=REPO,
                          input=script, capture_output=True, text=True, timeout=300)


def test_render_a_script_from_stdin(tmp_path):
    out = tmp_path / "talk.mp4"
    done = render("-o", str(out), "--tail-s", "0.4")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "x real time" in done.stdout and str(out) in done.stdout
    assert not (tmp_path / ".talk.mp4.part").exists()
    decoded = decode_file(out)
    frames = [t for t, _ in decoded.video]
    assert np.allclose(np.diff(frames), 0.04)  # every frame, none lost however fast it ran
    duration = frames[-1] + 0.04
    assert 4.0 < duration < 12.0 and abs(len(decoded.audio) / 48_000 - duration) < 0.1
    loud = np.flatnonzero(np.abs(decoded.audio) > 2000) / 48_000
    assert loud[0] < 0.5 and duration - 0.4 - 0.3 < loud[-1] < duration  # speech from the start to the tail
    gaps = np.diff(loud)
    assert gaps.max() < 1.0  # the second paragraph follows the first without a pause of its own
    lag, correlation = mouth_follows_audio(decoded, load_avatar("astronaut").mouth_box)
    assert -2 <= lag <= 1 and correlation > 0.4, (lag, correlation)


def test_render_refuses_what_it_cannot_use(tmp_path):
    assert "script is empty" in render("-o", str(tmp_path / "a.mp4"), script="\n\n").stderr
    refused = render("-o", str(tmp_path / "a.mp4"), "--avatar", "nobody")
    assert refused.returncode != 0 and "render:" in refused.stderr and "nobody" in refused.stderr


def test_render_survives_an_encoder_that_opens_late(tmp_path, monkeypatch, capsys):
    """On a busy machine x264 can take a second to open: the frames made meanwhile wait for it, or the clock,
    which waits for the encoder, would stop at the first frame."""
    open_codecs = BroadcastEncoder._open_codecs

    def slow_open(self, size):
        time.sleep(1.0)
        open_codecs(self, size)

    monkeypatch.setattr(BroadcastEncoder, "_open_codecs", slow_open)
    monkeypatch.setattr(render_tool, "STALL_S", 30.0)
    script = tmp_path / "script.txt"
    script.write_text("Hello there.\n")
    out = tmp_path / "late.mp4"
    render_tool.main(["--voice", "espeak:en-us", "--text", str(script), "-o", str(out), "--tail-s", "0.2"])
    assert str(out) in capsys.readouterr().out
    frames = [t for t, _ in decode_file(out).video]
    assert frames[0] == 0.0 and np.allclose(np.diff(frames), 0.04)
