"""Clients of the avatar server: the browser page (client/web/) and a Python library for programs."""
from client.audio_source import ArrayAudioTrack
from client.avatar_client import AvatarClient, ReceivedAudio, ReceivedVideo, ServerError, SessionClosed

__all__ = ["AvatarClient", "ArrayAudioTrack", "ReceivedAudio", "ReceivedVideo", "ServerError", "SessionClosed"]
