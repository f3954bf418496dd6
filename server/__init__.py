"""The streaming avatar server: one asyncio process, one port, one WebRTC session per websocket."""
