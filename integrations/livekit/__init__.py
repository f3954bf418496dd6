"""The avatar for LiveKit Agents (extra `[livekit]`): `AvatarVideoGenerator` for LiveKit's `AvatarRunner`, used
in the agent's process (`LocalAvatar`) or by a separate avatar worker (`serve_avatar`)."""
from integrations.livekit.avatar import LocalAvatar, serve_avatar
from integrations.livekit.generator import AvatarVideoGenerator

__all__ = ["AvatarVideoGenerator", "LocalAvatar", "serve_avatar"]
