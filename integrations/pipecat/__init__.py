"""The avatar as a Pipecat video service (extra `[pipecat]`): `AvatarVideoService` runs it in the bot's process,
`RemoteAvatarVideoService` uses a running avatar server (voice mode over WebRTC), e.g. on a GPU box."""
from integrations.pipecat.remote import RemoteAvatarVideoService
from integrations.pipecat.service import AvatarVideoService

__all__ = ["AvatarVideoService", "RemoteAvatarVideoService"]
