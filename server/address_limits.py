"""How much of the server one client address may take: new connections at a sustained rate with a burst (a token
bucket per address), and a number of sessions open at once. Addresses that have been quiet long enough are
forgotten, so a flood of addresses costs a bounded table."""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

# Addresses kept at most; the least recently seen are forgotten first (their buckets were full again anyway,
# or they are the flood).
MAX_TRACKED = 65536


@dataclass
class _Bucket:
    tokens: float
    at: float


class AddressLimits:
    def __init__(self, rate_per_min: float, burst: int, max_sessions: int) -> None:
        self._rate = rate_per_min / 60.0
        self._burst = float(burst)
        self._max_sessions = max_sessions
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._open: dict[str, int] = {}

    def connection_refusal(self, address: str, now: float | None = None) -> float | None:
        """Take one connection from the address's allowance: None when allowed, else the seconds until the next
        one would be (for Retry-After)."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(address, None) or _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        self._buckets[address] = bucket
        while len(self._buckets) > MAX_TRACKED:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self._rate

    def session_refusal(self, address: str) -> str | None:
        """Why another session from this address would be refused now, or None."""
        if self._open.get(address, 0) >= self._max_sessions:
            return f"this address already has {self._max_sessions} sessions open; close one or retry later"
        return None

    def opened(self, address: str) -> None:
        self._open[address] = self._open.get(address, 0) + 1

    def closed(self, address: str) -> None:
        left = self._open.get(address, 0) - 1
        if left > 0:
            self._open[address] = left
        else:
            self._open.pop(address, None)

    def sessions(self, address: str) -> int:
        return self._open.get(address, 0)
