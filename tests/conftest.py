"""Shared fixtures: a real server in the test's event loop, on a free port, with ICE on loopback only."""
from __future__ import annotations

import dataclasses
import typing
from collections.abc import AsyncIterator

import pytest

from harness.server_process import LOOPBACK_SECURITY
from server.app import AvatarServer
from server.config import ServerConfig


def make_config(**overrides) -> ServerConfig:
    """The test configuration; a group's overrides are given as a dict (`limits={"ice_timeout_s": 2.0}`)."""
    overrides["security"] = LOOPBACK_SECURITY | overrides.get("security", {})
    hints = typing.get_type_hints(ServerConfig)
    for name, value in overrides.items():
        if isinstance(value, dict) and dataclasses.is_dataclass(hints[name]):
            overrides[name] = hints[name](**value)
    return ServerConfig(port=0, **{"ice_hosts": ("127.0.0.1",), **overrides})


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
