"""The process's logging: one format, the session id in session lines (server/sessions.py), the worker's number in
a node's worker processes."""
from __future__ import annotations

import logging


def configure_logging(level: str, worker: int | None = None) -> None:
    where = "" if worker is None else f"worker {worker} "
    logging.basicConfig(level=level.upper(), format=f"%(asctime)s %(levelname)s {where}%(name)s: %(message)s")
    # Every ICE candidate check is logged at INFO by aioice: one session would drown the server's own lines.
    logging.getLogger("aioice").setLevel(max(logging.WARNING, logging.getLogger().level))
