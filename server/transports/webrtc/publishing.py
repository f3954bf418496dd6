"""What the WHIP and Janus outputs share: a peer that offers the session's audio and video to a media server, and
the loop that keeps it there.

One attempt: a fresh peer gathers its candidates (no trickle), the output trades its offer for the server's answer
(`_signal`: WHIP's POST, Janus's join and configure), ICE and DTLS connect within `connect_timeout_s`, and the
output is `live` until the connection fails or closes or the server says the publication is over (`_watch`).
Then the attempt is released (`_release`: the WHIP resource deleted, the Janus handle detached; the peer closed)
and the next one starts after an exponential backoff, `state: retrying` meanwhile. A refusal that repeating cannot
mend (a bad token, an unknown room) ends in `state: failed` with the server's reason. Whatever happens to its
output, the broadcast goes on.
"""
from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from dataclasses import dataclass
from urllib.parse import SplitResult

import aiohttp

from server.config import ServerConfig
from server.pipeline.session import SessionPipeline
from server.transports.base import Output, OutputStatus
from server.transports.encoder import BroadcastEncoder
from server.transports.requests import OutputContext
from server.transports.webrtc.encoders import Encoding
from server.transports.webrtc.ice import IceConfig
from server.transports.webrtc.peer import WebRtcPeer


@dataclass(frozen=True)
class PublishSettings:
    """How a publishing output waits, and for how long."""

    retry_min_s: float  # first wait before the next attempt; doubled after each failed one
    retry_max_s: float  # longest wait between attempts
    request_timeout_s: float  # one request to the media server
    connect_timeout_s: float  # ICE and DTLS, once the answer is in

    @classmethod
    def of(cls, config: ServerConfig) -> PublishSettings:
        """The server's settings for its publishing outputs."""
        broadcast = config.broadcast
        return cls(broadcast.output_retry_min_s, broadcast.output_retry_max_s, broadcast.output_timeout_s,
                   config.publishing.publish_connect_timeout_s)


class Refused(Exception):
    """The media server refused in a way that repeating the request cannot mend: the output fails."""


class Unavailable(Exception):
    """This attempt failed; a later one may work. `retry_after` (s): the server's own wish, when it said one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# How an attempt usually fails besides Unavailable: the network, a timeout, an answer that makes no sense. Anything
# else is logged with its traceback, and retried all the same.
# How long a lost connection waits for the media server's own word on why the publication ended.
REASON_GRACE_S = 1.0
ATTEMPT_ERRORS = (Unavailable, aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError)


def shared_encoder(context: OutputContext) -> BroadcastEncoder | None:
    """The broadcast's encoder, when a WebRTC peer can send its H.264 as it is: in the baseline profile (WebRTC's
    H.264 is constrained baseline), with no B-frames (x264's zerolatency tuning, which it always has)."""
    return context.encoder if context.config.broadcast.h264_profile == "baseline" else None


def origin(url: SplitResult) -> str:
    """scheme://host[:port] of a URL, for the output's status and logs: never its user info or query."""
    return f"{url.scheme}://{url.hostname}" + (f":{url.port}" if url.port else "")


class PublishingOutput(Output):
    """Publishes the session as a WebRTC peer, reconnecting with backoff; subclasses speak the server's signalling."""

    def __init__(
        self,
        public_url: str,
        ice: IceConfig,
        settings: PublishSettings,
        log: logging.LoggerAdapter,
        encoding: Encoding,
        encoder: BroadcastEncoder | None = None,
    ) -> None:
        """`encoding`: the process's WebRTC encoders; `encoder`: the broadcast's H.264 encoder, when its video may
        be sent as it is (see `shared_encoder`)."""
        self.public_url = public_url
        self._ice = ice
        self._encoding = encoding
        self._encoder = encoder
        self._settings = settings
        self._log = log
        self._http: aiohttp.ClientSession | None = None
        self._pipeline: SessionPipeline | None = None
        self._peer: WebRtcPeer | None = None
        self._task: asyncio.Task | None = None
        self._state = "connecting"
        self._error: str | None = None
        self._earlier_frames = 0  # frames sent by the peers of earlier attempts
        self.reconnects = 0

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "start() opens the HTTP client"
        return self._http

    @abstractmethod
    async def _signal(self, offer: str) -> str:
        """Trade the peer's offer for the media server's answer (SDP); Refused or Unavailable when it cannot."""

    async def _watch(self) -> str:
        """Returns once the media server says the publication is over, with its reason. By default the server
        has no way to say so but to end the connection itself, which the peer sees."""
        return await asyncio.Future()

    @abstractmethod
    async def _release(self) -> None:
        """Undo what `_signal` set up on the server, quietly when the server is gone; safe to call twice."""

    async def start(self, pipeline: SessionPipeline) -> None:
        self._pipeline = pipeline
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._settings.request_timeout_s))
        self._task = asyncio.create_task(self._run())

    @property
    def frames_sent(self) -> int:
        return self._earlier_frames + (self._peer.frames_sent if self._peer is not None else 0)

    def status(self) -> OutputStatus:
        return OutputStatus(self.kind, self.public_url, self._state, self.frames_sent, self.reconnects, self._error)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._end_attempt()
        if self._http is not None:
            await self._http.close()
        self._log.info("%s %s: ended after %d frames", self.kind, self.public_url, self.frames_sent)

    async def _run(self) -> None:
        settings = self._settings
        delay = settings.retry_min_s
        while True:
            retry_after = None
            try:
                await self._attempt()
            except Refused as exc:
                self._state, self._error = "failed", str(exc)
                self._log.error("%s %s: %s; not retrying", self.kind, self.public_url, exc)
                await self._end_attempt()
                return
            except Exception as exc:  # whatever ended this attempt, the next one may work
                if not isinstance(exc, ATTEMPT_ERRORS):
                    self._log.exception("%s %s: unexpected failure", self.kind, self.public_url)
                self._error = str(exc) or type(exc).__name__
                retry_after = getattr(exc, "retry_after", None)
            if self._state == "live":
                delay = settings.retry_min_s
            await self._end_attempt()
            wait = min(max(delay, retry_after or 0.0), settings.retry_max_s)
            self._state = "retrying"
            self._log.warning("%s %s: %s; reconnecting in %.1f s", self.kind, self.public_url, self._error, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, settings.retry_max_s)
            self.reconnects += 1

    async def _attempt(self) -> None:
        """One publication, from the offer until it ends; raises why it ended."""
        peer = self._peer = await WebRtcPeer.offer(self._ice, self._encoding, prefer_h264=self._encoder is not None)
        answer = await self._signal(peer.local_sdp)
        try:
            await peer.accept(answer)
        except ValueError as exc:
            raise Refused(f"the media server's answer is unusable: {exc}") from None
        assert self._pipeline is not None
        shared = self._encoder is not None and peer.sends_h264
        await peer.start(self._pipeline, self._encoder.subscribe() if shared else None)
        self._log.info("%s %s: sending %s", self.kind, self.public_url,
                       "the broadcast's own H.264" if shared else "video encoded for this peer")
        try:
            async with asyncio.timeout(self._settings.connect_timeout_s):
                reached = await peer.reaches(("connected", "failed", "closed"))
        except TimeoutError:
            raise Unavailable(f"ICE and DTLS did not connect within {self._settings.connect_timeout_s:g} s") from None
        if reached != "connected":
            raise Unavailable(f"the connection {reached} before it was up")
        self._state, self._error = "live", None
        self._log.info("%s %s: live", self.kind, self.public_url)
        lost = asyncio.ensure_future(peer.reaches(("failed", "closed")))
        over = asyncio.ensure_future(self._watch())
        try:
            done, _ = await asyncio.wait((lost, over), return_when=asyncio.FIRST_COMPLETED)
            if over not in done:
                # A media server that ends a publication (Janus's kick or hangup) says why on its signalling
                # channel at about the time the connection closes: a moment's wait gets the reason.
                done, _ = await asyncio.wait((over,), timeout=REASON_GRACE_S)
        finally:
            lost.cancel()
            over.cancel()
            await asyncio.gather(lost, over, return_exceptions=True)
        if over in done:
            raise Unavailable(f"the media server ended the publication: {over.result()}")
        raise Unavailable(f"the connection {lost.result()}")

    async def _end_attempt(self) -> None:
        """Release the attempt on the server, then close its peer. Cancelled half-way (by `close`), it is called
        again and finishes: nothing is forgotten before it is done."""
        try:
            async with asyncio.timeout(self._settings.request_timeout_s):
                await self._release()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            self._log.warning("%s %s: could not release cleanly: %s", self.kind, self.public_url, exc or type(exc).__name__)
        peer = self._peer
        if peer is not None:
            await peer.close()
            self._earlier_frames += peer.frames_sent
            self._peer = None
