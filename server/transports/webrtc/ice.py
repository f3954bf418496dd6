"""Which host addresses a peer offers as ICE candidates."""
from __future__ import annotations

from collections.abc import Sequence

import aioice.ice


def restrict_ice_hosts(hosts: Sequence[str]) -> None:
    """Offer exactly these host addresses as ICE candidates.

    aioice gathers every interface address except loopback, so on a machine that only has loopback (or in tests
    that must stay on it) ICE could never connect. It has no setting for this; its address lookup is replaced.
    """
    addresses = list(hosts)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [
        a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)
    ]
