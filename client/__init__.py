"""The Python client of the avatar server, for programs, tests and tools (the browser page ships in assets/web/)."""
from client.audio_source import ArrayAudioTrack, LiveAudioTrack
from client.avatar_client import (
    AvatarClient,
    ReceivedAudio,
    ReceivedVideo,
    ServerError,
    SessionClosed,
)
from client.ice import IceConfig, IceError

__all__ = ["AvatarClient", "ArrayAudioTrack", "IceConfig", "IceError", "LiveAudioTrack", "ReceivedAudio", "ReceivedVideo",
           "ServerError", "SessionClosed"]
