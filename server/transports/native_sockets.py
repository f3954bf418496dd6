"""Unblocking a network call made inside FFmpeg.

PyAV opens network outputs without FFmpeg's interrupt callback or I/O timeouts, so a write to a server that
stops reading (a stalled host, a dead link that the kernel still believes alive) blocks its thread for as long
as the kernel keeps the connection: many minutes. The sockets FFmpeg opens for one connection are found by their
peer port among the sockets that appeared while it connected, and shut down when a call stalls: the call then
fails at once, like any broken connection, and the output reconnects.

Connections are opened one at a time in the process (`connecting()`), so the sockets that appear during one are
that connection's.
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator

_CONNECTING = threading.Lock()
_FD_DIR = "/proc/self/fd"


def _sockets() -> dict[int, int]:
    """Open socket descriptors of this process: fd -> inode."""
    found = {}
    for name in os.listdir(_FD_DIR):
        with contextlib.suppress(OSError):
            target = os.readlink(f"{_FD_DIR}/{name}")
            if target.startswith("socket:["):
                found[int(name)] = int(target[8:-1])
    return found


class ConnectionSockets:
    """The sockets of one connection made by native code, to `port` on the remote side."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._before: set[int] = set()
        self._found: dict[int, int] = {}

    @contextlib.contextmanager
    def connecting(self) -> Iterator[None]:
        """Around the call that opens the connection (in the worker thread): what appears meanwhile is ours."""
        with _CONNECTING:
            self._before = set(_sockets().values())
            try:
                yield
            finally:
                self._found = self._new()

    def _new(self) -> dict[int, int]:
        mine = {}
        for fd, inode in _sockets().items():
            if inode in self._before:
                continue
            with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
                if sock.type == socket.SOCK_STREAM and sock.getpeername()[1] == self._port:
                    mine[fd] = inode
        return mine

    def shut_down(self) -> int:
        """Shut the connection's sockets down (from any thread), so a call blocked on them fails; returns how many.
        While the connection is still being opened, the sockets that have appeared so far are taken."""
        targets = self._found or (self._new() if self._before else {})
        count = 0
        for fd, inode in targets.items():
            with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
                if os.fstat(sock.fileno()).st_ino == inode:  # the same socket, not a reused descriptor
                    sock.shutdown(socket.SHUT_RDWR)
                    count += 1
        return count

    def forget(self) -> None:
        """The connection is closed: its descriptors may be reused by anything."""
        self._before, self._found = set(), {}
