"""The front end on the one port (aiohttp): the session websocket protocol, the HTTP routes and the page. It
turns requests into calls on sessions' pipelines and transports."""
