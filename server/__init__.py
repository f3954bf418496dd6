"""The streaming avatar server, one asyncio process on one port: api/ (aiohttp routes and the websocket protocol)
-> pipeline/ (each session's media on its clock) -> transports/ (where the frames go), wired by app.py."""
