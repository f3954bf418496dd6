"""The avatar inside agent frameworks: Pipecat (`integrations.pipecat`, extra `[pipecat]`) and LiveKit Agents
(`integrations.livekit`, extra `[livekit]`). Both run the project's session pipeline in audio mode in-process
(`runtime.AvatarRuntime`: face network and renderer, no server); Pipecat can also use a running avatar server."""
