"""Clients of the avatar server: the browser page (client/web/) and a Python library for programs."""
from client.avatar_client import AvatarClient, ServerError, ReceivedAudio, ReceivedVideo

__all__ = ["AvatarClient", "ServerError", "ReceivedAudio", "ReceivedVideo"]
