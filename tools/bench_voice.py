"""Voice mode, measured at a client: end-to-end delay, lip-sync quality on voices the face network never heard
(human speakers held out of training beside synthetic voices), and the offset between the returned audio and video.

For each synthetic voice, a few sentences are synthesized (with the engine's phoneme timings); for each human
speaker ("human:SPEAKER", from tools.human_corpus, held out of training), a few of their recordings are taken with
the phone timings tools.make_dataset aligned for them. Each set is joined with pauses and streamed in real time as
a voice-mode client's audio to a server in a child process. From what comes back:

- delay: arrival of each returned speech packet minus when the same audio was handed to the client's WebRTC
  sender (cross-correlation finds where the sent audio sits in the returned stream); the same for video frames.
  This includes the client's own aiortc receive buffer (a fixed 80 ms), as a program using the client sees it.
- lip sync: the mouth opening seen in the decoded video (client.lipsync.mouth_opening) against the jaw curve that
  engines/face/visemes.py `mouth_curves` gives for the phoneme timings, at the time each frame shows (Pearson r
  over the frames that show a phoneme, pauses left out: "speech-only").
- A/V offset: the shift of that reference curve that best matches the video, in media time (positive = the mouth
  moves later than the voice), and the difference of the video and audio arrival delays.

    .venv/bin/python -m tools.bench_voice [--voices human:allison-en human:menardi-it espeak:en-029 piper:joe]
                                          [--server-arg=--voice-face-model=...] [--append docs/benchmarks.md]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from client import ArrayAudioTrack, AvatarClient
from client.lipsync import arrival_of, best_lag, mouth_opening, received_stream
from engines.avatar import load_avatar
from engines.face.backends.base import VOICE_MODEL, model_window
from engines.face.features import PAST
from engines.face.gestures import GestureStream
from engines.face.network_driver import lookahead_samples
from engines.face.visemes import mouth_curves
from engines.resample import resample
from engines.timebase import MOUTH_PARAMS, SAMPLES_PER_FRAME, TIMELINE_RATE
from engines.tts.base import Speech, Timed
from engines.tts.ipa import PAUSE
from engines.tts.registry import SEPARATOR, VoiceRegistry
from harness.server_process import ServerProcess
from server.cli import parse_args
from server.config import ServerConfig
from server.pipeline.voice_input import voice_delay
from tools import human_corpus
from tools.bench_common import publish
from tools.make_dataset import HELD_OUT_VOICES, human_speech, load_alignments

SENTENCES = (
    "Could you send me the report before lunch?",
    "The small boat drifted slowly toward the harbour.",
    "We will meet again next week in Paris.",
    "My favourite colour has always been a deep blue.",
)
PAUSE_S = 0.8
HUMAN = "human"
HELD_OUT = (*HELD_OUT_VOICES, *(f"{HUMAN}{SEPARATOR}{s}" for s in human_corpus.HELD_OUT_SPEAKERS))
HUMAN_RECORDINGS = 6  # per speaker: the first aligned recordings of 1.5 to 5 s
SPEECH_RMS = 300.0
SHIFTS_MS = np.arange(-200, 201, 5)
VIDEO_PTS_PER_FRAME = 3600
JAW = MOUTH_PARAMS.index("jaw_open")


@dataclass(frozen=True)
class Recording:
    voice: str
    pcm: np.ndarray  # 48 kHz int16
    phonemes: list[Timed]  # seconds from the first sample of pcm


@dataclass(frozen=True)
class Result:
    voice: str
    audio_delay_ms: tuple[float, float]  # median, p95
    video_delay_ms: float  # median
    lip_r: float
    best_shift_ms: float
    best_r: float
    frames: int  # video frames showing a phoneme


def human_recordings(speaker_id: str) -> list[Speech]:
    """A few of the speaker's aligned recordings (tools.make_dataset must have aligned them)."""
    aligned = load_alignments()[speaker_id]
    chosen = [name for name, phones in aligned.items() if phones and 1.5 <= phones[-1][2] <= 5.0]
    return [human_speech(speaker_id, name) for name in chosen[:HUMAN_RECORDINGS]]


def record(voice_id: str, registry: VoiceRegistry | None) -> Recording:
    engine_name, _, name = voice_id.partition(SEPARATOR)
    if engine_name == HUMAN:
        speeches = human_recordings(name)
    else:
        engine, voice = registry.resolve(voice_id)
        speeches = [engine.synthesize(sentence, voice) for sentence in SENTENCES]
    pause = np.zeros(int(PAUSE_S * TIMELINE_RATE), dtype=np.int16)
    parts, phonemes, at = [pause], [], len(pause)
    for speech in speeches:
        offset = at / TIMELINE_RATE
        phonemes += [Timed(p.text, p.start + offset, p.end + offset) for p in speech.phonemes]
        pcm = resample(speech.pcm, speech.sample_rate, TIMELINE_RATE)
        parts += [pcm, pause]
        at += len(pcm) + len(pause)
    return Recording(voice_id, np.concatenate(parts), phonemes)


async def stream(url: str, recording: Recording) -> tuple[AvatarClient, ArrayAudioTrack]:
    track = ArrayAudioTrack(recording.pcm, TIMELINE_RATE)
    client = await AvatarClient.connect(url, keep_video=True, mode="voice", voice_track=track)
    try:
        await client.wait_for_media()
        while not track.finished:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
    finally:
        await client.close()
    return client, track


def analyse(
    recording: Recording, client: AvatarClient, track: ArrayAudioTrack, box: tuple[int, int, int, int]
) -> Result:
    received, first_pts = received_stream(client.audio)
    to_returned = first_pts + best_lag(recording.pcm, received)  # returned pts of sent sample 0
    packet = len(client.audio[0].pcm)
    audio_delays = []
    for k in range(0, len(recording.pcm) - packet, packet):
        chunk = recording.pcm[k : k + packet].astype(np.float64)
        arrival = arrival_of(client.audio, to_returned + k)
        if arrival is not None and np.sqrt(np.mean(chunk**2)) > SPEECH_RMS:
            audio_delays.append(arrival - track.sent_at(k))

    shown, openings, video_delays = [], [], []
    speech_end = recording.phonemes[-1].end
    for frame in client.video:
        sample = (frame.pts // VIDEO_PTS_PER_FRAME) * SAMPLES_PER_FRAME + SAMPLES_PER_FRAME // 2 - to_returned
        t = sample / TIMELINE_RATE
        if 0 <= t <= speech_end:
            shown.append(t)
            openings.append(mouth_opening(frame.image, box))
            video_delays.append(frame.arrival - track.sent_at(sample))
    shown_t, opening = np.array(shown), np.array(openings)
    speech = np.zeros(len(shown_t), dtype=bool)
    for p in recording.phonemes:
        if p.text != PAUSE:
            speech |= (shown_t >= p.start) & (shown_t < p.end)

    def r_at(shift_ms: float) -> float:
        reference = mouth_curves(recording.phonemes, shown_t - shift_ms / 1000)[:, JAW]
        return float(np.corrcoef(opening[speech], reference[speech])[0, 1])

    scores = [r_at(s) for s in SHIFTS_MS]
    best = int(np.nanargmax(scores))
    return Result(
        recording.voice,
        (1000 * float(np.median(audio_delays)), 1000 * float(np.percentile(audio_delays, 95))),
        1000 * float(np.median(video_delays)),
        r_at(0.0),
        float(SHIFTS_MS[best]),
        scores[best],
        int(speech.sum()),
    )


async def run(voices: list[str], server_args: list[str]) -> tuple[list[Result], dict]:
    engines = sorted({v.split(SEPARATOR)[0] for v in voices} - {HUMAN})
    registry = VoiceRegistry(engines, default=engines[0]) if engines else None
    recordings = [record(v, registry) for v in voices]
    results = []
    with ServerProcess(server_args) as server:
        url = f"ws://127.0.0.1:{server.port}/ws"
        box = load_avatar("astronaut").mouth_box
        load_before = os.getloadavg()[0]
        for recording in recordings:
            client, track = await stream(url, recording)
            results.append(analyse(recording, client, track, box))
        load_after = os.getloadavg()[0]
    return results, {"load_before": load_before, "load_after": load_after}


def markdown(results: list[Result], info: dict, command: str, config: ServerConfig) -> str:
    voice_settings = config.voice_mode
    lookahead = max(lookahead_samples(model_window(voice_settings.voice_face_model or VOICE_MODEL) - PAST - 1),
                    GestureStream(0, voice_settings.gesture_lookahead_frames).lookahead_samples)
    fixed = voice_delay(lookahead, config.media, voice_settings)
    margin = round(voice_settings.processing_margin_s * TIMELINE_RATE)
    deadline = fixed - lookahead - margin
    fixed_ms = 1000 * fixed / TIMELINE_RATE
    lines = [
        "",
        "",
        "## Voice mode",
        "",
        f"Command: `{command}`. Machine: 2-core CPU dev box, no GPU ({platform.machine()}). "
        f"1-minute load average {info['load_before']:.1f} before and {info['load_after']:.1f} after the run "
        "(other work shares the cores).",
        "Server in a child process (face network on ONNX Runtime, CPU); the client streams, per voice, "
        f"{len(SENTENCES)} synthesized sentences or {HUMAN_RECORDINGS} recordings of a human speaker held out of "
        f"training, with {PAUSE_S:g} s pauses, in real time. Server's fixed delay "
        f"(look-ahead {1000 * lookahead / TIMELINE_RATE:.1f} ms + frame deadline "
        f"{1000 * deadline / TIMELINE_RATE:.0f} ms + margin {1000 * margin / TIMELINE_RATE:.0f} ms) = "
        f"{fixed_ms:.1f} ms. Delays are client audio -> returned audio "
        "(or video) arrival, including the Python client's fixed 80 ms aiortc receive buffer. Lip sync r = Pearson "
        "correlation of the mouth opening in the decoded video with the viseme-table jaw curve from the phoneme "
        "timings (the engine's, or the forced alignment's for human speech), on frames that show a phoneme; best "
        "shift = reference shift with the highest r (positive: mouth later than voice).",
        "",
        "| voice | audio delay median / p95 (ms) | video delay median (ms) | speech-only lip-sync r at 0 ms "
        "| best shift (ms) | r there | speech frames |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        seen = "" if r.voice in HELD_OUT else " (heard in training)"
        lines.append(
            f"| {r.voice}{seen} | {r.audio_delay_ms[0]:.0f} / {r.audio_delay_ms[1]:.0f} | {r.video_delay_ms:.0f} | "
            f"{r.lip_r:.2f} | {r.best_shift_ms:+.0f} | {r.best_r:.2f} | {r.frames} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", nargs="+", default=[*HELD_OUT, "piper:joe"],
                        help="TTS voices (ENGINE:VOICE) and held-out human speakers (human:SPEAKER)")
    parser.add_argument("--server-arg", action="append", default=[], help="an argument for the server it starts")
    parser.add_argument("--append", type=Path, help="append the results as a markdown section to this file")
    args = parser.parse_args()
    config = parse_args(args.server_arg)  # what the server will run with, for the delay it is meant to hold
    results, info = asyncio.run(run(args.voices, args.server_arg))
    command = "python -m tools.bench_voice --voices " + " ".join(args.voices) + "".join(
        f" --server-arg={a}" for a in args.server_arg) + (f" --append {args.append}" if args.append else "")
    text = markdown(results, info, command, config)
    publish(text, args.append)


if __name__ == "__main__":
    main()
