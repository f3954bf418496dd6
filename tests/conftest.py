"""Shared fixtures: a real server in the test's event loop, on a free port, with ICE on loopback only."""
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from server.app import AvatarServer
from server.config import ServerConfig


def make_config(**overrides) -> ServerConfig:
    """A server config for tests; a settings group may be given as a dict of the fields that differ."""
    defaults = ServerConfig()
    for name, value in overrides.items():
        if isinstance(value, dict):
            overrides[name] = dataclasses.replace(getattr(defaults, name), **value)
    return ServerConfig(port=0, ice_hosts=("127.0.0.1",), **overrides)


@pytest.fixture
def server_options() -> dict:
    """Override in a test module (or parametrize indirectly) to start the server differently."""
    return {}


@pytest.fixture
async def server(server_options: dict) -> AsyncIterator[AvatarServer]:
    srv = AvatarServer(make_config(**server_options))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
def ws_url(server: AvatarServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"
