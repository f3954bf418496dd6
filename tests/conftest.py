"""Shared fixtures: a real server in the test's event loop, on a free port, with ICE on loopback only."""
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from harness.server_process import LOOPBACK_SECURITY
from server.app import AvatarServer
from server.config import ServerConfig


def make_config(**overrides) -> ServerConfig:
    """A server config for tests (port 0, ICE on loopback unless overridden); a settings group may be given as a
    dict of the fields that differ (`limits={"ice_timeout_s": 2.0}`). Per-address limits are those of
    harness.server_process.LOOPBACK_SECURITY: every test client comes from 127.0.0.1. No avatar uploads unless a
    test names a folder for them."""
    overrides["security"] = LOOPBACK_SECURITY | overrides.get("security", {})
    overrides.setdefault("uploads", {"avatar_uploads": None})  # tests that upload name a folder of their own
    defaults = ServerConfig()
    for name, value in overrides.items():
        if isinstance(value, dict):
            overrides[name] = dataclasses.replace(getattr(defaults, name), **value)
    return ServerConfig(**{"port": 0, "ice_hosts": ("127.0.0.1",), **overrides})


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
