"""Stream an audio file (WAV, MP3, anything FFmpeg reads) as the voice of a voice-mode session, in real time, so
any TTS engine or recording can drive the avatar. Prints the session's events; optionally saves the audio that
came back (the same voice, delayed to match the face) as a WAV file.

    .venv/bin/python -m tools.speak_file speech.mp3 --url ws://127.0.0.1:8080/ws [--save-returned out.wav]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import wave
from pathlib import Path

from client import ArrayAudioTrack, AvatarClient
from client.lipsync import received_stream
from engines.timebase import TIMELINE_RATE

# Time after the file's end for the delayed voice and the last speech_ended to come back.
TAIL_S = 1.0


async def speak(path: Path, url: str, token: str | None, avatar: str | None, save_returned: Path | None) -> None:
    track = ArrayAudioTrack.from_file(path, then="silence")
    client = await AvatarClient.connect(url, token=token, avatar=avatar, mode="voice", voice_track=track)
    try:
        await client.wait_for_media()
        print(f"session {client.session_id}: streaming {path} ({track.duration:.1f} s)")
        shown = 0
        while not track.finished or client.audio[-1].arrival < track.sent_at(len(track.pcm) - 1) + TAIL_S:
            await asyncio.sleep(0.1)
            for event in client.events[shown:]:
                if event["type"] != "answer":
                    print(json.dumps({k: v for k, v in event.items() if k != "_at"}))
            shown = len(client.events)
    finally:
        await client.close()
    if save_returned is not None and client.audio:
        pcm, _ = received_stream(client.audio)
        with wave.open(str(save_returned), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(TIMELINE_RATE)
            out.writeframes(pcm.tobytes())
        print(f"saved the returned audio to {save_returned}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    parser.add_argument("--token")
    parser.add_argument("--avatar")
    parser.add_argument("--save-returned", type=Path, help="write the audio that came back to this WAV file")
    args = parser.parse_args()
    asyncio.run(speak(args.file, args.url, args.token, args.avatar, args.save_returned))


if __name__ == "__main__":
    main()
