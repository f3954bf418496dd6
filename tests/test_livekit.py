"""The avatar for LiveKit Agents: the VideoGenerator driven with `livekit.rtc` audio frames (paced 25 fps video, the
speech's audio while it plays, AudioSegmentEnd forwarded, clear_buffer honoured), then LiveKit's own AvatarRunner
fed in-process by a QueueAudioOutput, and a separate avatar worker fed by LiveKit's DataStreamAudioOutput over
the lk.audio_stream byte stream and the lk.clear_buffer / lk.playback_finished RPCs. No LiveKit server can run
here: the rooms are joined in memory (tests/livekit_room.py), everything else is LiveKit's code."""
from __future__ import annotations

import asyncio

import cv2
import numpy as np
import pytest
from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.voice.avatar import (
    AudioSegmentEnd,
    DataStreamAudioOutput,
    QueueAudioOutput,
)
from livekit.agents.voice.io import AudioOutput, PlaybackFinishedEvent

from client.lipsync import mouth_opening
from engines.avatar import load_avatar
from engines.timebase import AUDIO_FRAME_SAMPLES, TIMELINE_RATE
from harness.speech import chunks, piper_utterance
from integrations.livekit import AvatarVideoGenerator, LocalAvatar, serve_avatar
from integrations.runtime import AvatarRuntime
from tests.livekit_room import LoopbackRoom

LOUD = 300.0


@pytest.fixture(scope="module")
def runtime():
    return AvatarRuntime()


def tts_frames(pcm: np.ndarray, rate: int, frame_s: float = 0.05) -> list[rtc.AudioFrame]:
    """The utterance as an agent's TTS hands it to its audio output: mono frames at the TTS engine's rate."""
    return [rtc.AudioFrame(c.tobytes(), rate, 1, len(c)) for c in chunks(pcm, round(rate * frame_s))]


def opening(frame: rtc.VideoFrame) -> float:
    yuv = np.frombuffer(frame.data, np.uint8).reshape(frame.height * 3 // 2, frame.width)
    return mouth_opening(cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420), load_avatar("astronaut").mouth_box)


def rms(frame: rtc.AudioFrame) -> float:
    return float(np.sqrt(np.mean(np.frombuffer(frame.data, np.int16).astype(np.float64) ** 2)))


async def speak_then_interrupt(output: AudioOutput, pcm: np.ndarray, rate: int) -> None:
    """What an agent session does with its audio output: one reply played out whole, then one interrupted a
    second in (cleared, then closed)."""
    for frame in tts_frames(pcm, rate):
        await output.capture_frame(frame)
    output.flush()
    await asyncio.wait_for(output.wait_for_playout(), len(pcm) / rate + 3)
    for frame in tts_frames(pcm, rate):
        await output.capture_frame(frame)
    await asyncio.sleep(1.0)
    output.clear_buffer()
    output.flush()
    await asyncio.wait_for(output.wait_for_playout(), 3)


class Collected:
    """Everything the generator's iterator gave, with the event-loop time it came."""

    def __init__(self, generator: AvatarVideoGenerator) -> None:
        self.items: list[tuple[float, object]] = []
        self._task = asyncio.create_task(self._collect(generator))

    async def _collect(self, generator: AvatarVideoGenerator) -> None:
        loop = asyncio.get_running_loop()
        async for item in generator:
            self.items.append((loop.time(), item))

    def of(self, kind: type, start: float = 0.0, end: float = float("inf")) -> list[tuple[float, object]]:
        return [(t, item) for t, item in self.items if isinstance(item, kind) and start <= t < end]

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_livekit_generator_paces_frames_and_forwards_segment_ends(runtime):
    pcm, rate = piper_utterance()
    duration = len(pcm) / rate
    generator = AvatarVideoGenerator(runtime=runtime)
    loop = asyncio.get_running_loop()
    out = Collected(generator)
    try:
        await asyncio.sleep(0.5)
        pushed = loop.time()
        for frame in tts_frames(pcm, rate):
            await generator.push_audio(frame)
        await generator.push_audio(AudioSegmentEnd())
        await asyncio.sleep(duration + 1.0)
        second = loop.time()
        for frame in tts_frames(pcm, rate):
            await generator.push_audio(frame)
        await asyncio.sleep(1.0)
        cleared = loop.time()
        assert generator.clear_buffer() is None  # nothing to await without the runner's synchronizer
        await generator.push_audio(AudioSegmentEnd())  # the agent closes the cut segment
        await asyncio.sleep(1.0)
    finally:
        await out.stop()
        await generator.aclose()

    assert generator.options.video_fps == 25 and generator.options.audio_sample_rate == TIMELINE_RATE
    video = out.of(rtc.VideoFrame)
    assert all(f.type == rtc.VideoBufferType.I420 and (f.width, f.height) == (512, 512) for _, f in video)
    times = np.array([t for t, _ in video])
    assert abs(np.median(np.diff(times)) - 0.04) < 0.002  # paced at 25 fps, not as fast as they can be made
    assert len(video) >= 0.9 * 25 * (times[-1] - times[0])  # a stalled event loop (a busy shared box) may cost a few

    # The first segment: its audio, paced, then its end.
    audio = out.of(rtc.AudioFrame, pushed, second)
    assert all(f.sample_rate == TIMELINE_RATE and f.samples_per_channel == AUDIO_FRAME_SAMPLES for _, f in audio)
    # All of it (a pacer that a stalled event loop left behind skips a frame or two rather than drift).
    assert abs(len(audio) * AUDIO_FRAME_SAMPLES / TIMELINE_RATE - duration) < 0.15
    assert abs((audio[-1][0] - audio[0][0]) - duration) < 0.1
    assert audio[0][0] - pushed < 0.5  # soon (a sanity bound: the delay itself is for benchmarks to measure)
    ends = out.of(AudioSegmentEnd)
    assert len(ends) == 1  # the cleared segment's end is the runner's to report, as interrupted
    assert 0 <= ends[0][0] - audio[-1][0] < 0.04
    assert out.items.index(ends[0]) == out.items.index(audio[-1]) + 1
    assert not out.of(rtc.AudioFrame, ends[0][0], second)  # silence between segments is not handed out

    # The mouth follows the speech; clear_buffer stops the audio at once and the mouth rests.
    assert max(opening(f) for _, f in out.of(rtc.VideoFrame, audio[0][0], audio[-1][0])) > 0.1
    assert max(opening(f) for _, f in out.of(rtc.VideoFrame, ends[0][0] + 0.3, second)) < 0.03
    assert max(rms(f) for _, f in out.of(rtc.AudioFrame, cleared - 0.5, cleared)) > 1000
    assert not out.of(rtc.AudioFrame, cleared + 0.04)
    assert max(opening(f) for _, f in out.of(rtc.VideoFrame, cleared + 0.2)) < 0.03


async def test_livekit_local_avatar_runs_in_the_agent_process_behind_a_queue_audio_output(runtime):
    """LocalAvatar on an AgentSession: the session's audio output becomes LiveKit's QueueAudioOutput and LiveKit's
    AvatarRunner drives the generator and publishes in the agent's name, as an in-process avatar plugin does."""
    pcm, rate = piper_utterance()
    duration = len(pcm) / rate
    room, _ = LoopbackRoom.pair()
    session = AgentSession()
    avatar = LocalAvatar(runtime=runtime)
    await avatar.start(session, room)
    output = session.output.audio
    assert isinstance(output, QueueAudioOutput) and output.sample_rate == TIMELINE_RATE
    finished: list[PlaybackFinishedEvent] = []
    started: list[float] = []
    output.on("playback_finished", finished.append)
    output.on("playback_started", lambda ev: started.append(ev.created_at))
    try:
        await speak_then_interrupt(output, pcm, rate)
    finally:
        await avatar.aclose()

    assert [ev.interrupted for ev in finished] == [False, True]
    assert abs(finished[0].playback_position - duration) < 0.5  # a stalled loop on a busy box skips some frames
    assert 0.5 < finished[1].playback_position < 1.0  # what was heard before the interruption
    assert len(started) == 2
    kinds = sorted(p.kind for p in room.local_participant.track_publications.values())
    assert kinds == [rtc.TrackKind.KIND_AUDIO, rtc.TrackKind.KIND_VIDEO]


async def test_livekit_avatar_worker_fed_by_data_stream_audio_output(runtime):
    """The agent's DataStreamAudioOutput streams to a separate avatar worker (serve_avatar, which receives with
    DataStreamAudioReceiver), and hears back when playback started, finished and was interrupted."""
    pcm, rate = piper_utterance()
    duration = len(pcm) / rate
    agent_room, avatar_room = LoopbackRoom.pair(agent="agent", avatar="avatar")
    worker = asyncio.create_task(serve_avatar(avatar_room, runtime=runtime, agent_identity="agent"))
    output = DataStreamAudioOutput(agent_room, destination_identity="avatar", wait_playback_start=True)
    finished: list[PlaybackFinishedEvent] = []
    started: list[float] = []
    output.on("playback_finished", finished.append)
    output.on("playback_started", lambda ev: started.append(ev.created_at))
    try:
        async with asyncio.timeout(10):
            while "lk.audio_stream" not in avatar_room.byte_stream_handlers:
                await asyncio.sleep(0.01)
        await speak_then_interrupt(output, pcm, rate)
    finally:
        avatar_room.emit("disconnected", "test over")
        await asyncio.wait_for(worker, 10)

    assert [ev.interrupted for ev in finished] == [False, True]
    assert abs(finished[0].playback_position - duration) < 0.3  # the receiver hands audio over in 100 ms frames
    assert 0.4 < finished[1].playback_position < 1.0
    # (LiveKit's runner may report one more start, when a frame it was pushing as the buffer was cleared lands after
    # it reset its playback position.)
    assert len(started) >= 2
    methods = [method for _, method, _ in avatar_room.local_participant.rpc_calls]
    assert methods.count("lk.playback_finished") == 2 and methods.count("lk.playback_started") == len(started)
    assert [method for _, method, _ in agent_room.local_participant.rpc_calls] == ["lk.clear_buffer"]
    kinds = sorted(p.kind for p in avatar_room.local_participant.track_publications.values())
    assert kinds == [rtc.TrackKind.KIND_AUDIO, rtc.TrackKind.KIND_VIDEO]
