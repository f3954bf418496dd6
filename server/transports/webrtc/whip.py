"""WHIP output (`{"whip": "https://host/path", "bearer"?: "...", "iceServers"?: [...]}`): the session's audio and
video published to a WHIP endpoint (RFC 9725) of an SFU or media server.

The offer, with every candidate gathered (no trickle), is POSTed as `application/sdp` with the bearer token; a
`307`/`308` redirect (load balancing) is followed with the same body and token, never from https to http. The
`201 Created` answer's SDP is applied and its `Location` (resolved against the URL that answered) names the
session's resource, which is `DELETE`d when the output closes or its connection is lost. `401`/`403` (a bad
token) and the other refusals that repeating cannot mend fail the output with the endpoint's reason; an unreachable
endpoint, `5xx`, `408` and `429` are retried with backoff (`Retry-After` honoured up to the longest wait).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import aiohttp

from server.transports.encoder import BroadcastEncoder
from server.transports.requests import OutputContext, bad_output, known_fields, text_field, url_field
from server.transports.webrtc.http_body import read_at_most
from server.transports.webrtc.encoders import Encoding
from server.transports.webrtc.ice import IceConfig, publishing_ice
from server.transports.webrtc.publishing import (
    PublishingOutput,
    PublishSettings,
    Refused,
    Unavailable,
    origin,
    shared_encoder,
)

SCHEMES = ("http", "https")
FIELDS = ("whip", "bearer", "iceServers")
REDIRECTS = (307, 308)  # the only redirects that keep the method and body (RFC 9110)
# A redirect chain longer than this is a loop (RFC 9725's load balancing takes one).
MAX_REDIRECTS = 5
# Statuses after which the same request may succeed later; every other refusal fails the output.
TRANSIENT = (408, 425, 429)
ANSWER_CHARS = 200  # of an error answer's body quoted in the output's error
MAX_BODY_BYTES = 1 << 16  # an SDP answer is a few kilobytes; a longer error answer is not quoted


def public_url(url: SplitResult) -> str:
    """The endpoint without what may identify the account: some services put the stream key in the path."""
    return f"{origin(url)}/…"


class WhipOutput(PublishingOutput):
    kind = "whip"

    def __init__(
        self,
        endpoint: str,
        bearer: str | None,
        ice: IceConfig,
        settings: PublishSettings,
        log: logging.LoggerAdapter,
        encoding: Encoding,
        encoder: BroadcastEncoder | None = None,
    ) -> None:
        super().__init__(public_url(urlsplit(endpoint)), ice, settings, log, encoding, encoder)
        self._endpoint = endpoint
        self._auth = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        self._resource: str | None = None

    @classmethod
    def from_request(cls, spec: Mapping[str, Any], context: OutputContext) -> WhipOutput:
        """The output a broadcast request asks for, or ProtocolError bad_output."""
        known_fields(spec, FIELDS)
        url = url_field(spec, "whip", SCHEMES)
        bearer = text_field(spec, "bearer", max_chars=8192)
        if bearer is not None and not all(33 <= ord(c) <= 126 for c in bearer):
            raise bad_output("'bearer' must be printable ASCII without spaces (a token, not a header)")
        ice = publishing_ice(spec.get("iceServers"), context.config.ice, context.broadcast_id)
        return cls(url.geturl(), bearer, ice, PublishSettings.of(context.config), context.log, context.webrtc_encoding,
                   shared_encoder(context))

    async def _signal(self, offer: str) -> str:
        url = self._endpoint
        headers = {**self._auth, "Content-Type": "application/sdp", "Accept": "application/sdp"}
        for _ in range(MAX_REDIRECTS + 1):
            async with self.http.post(url, data=offer.encode(), headers=headers, allow_redirects=False) as response:
                if response.status in REDIRECTS:
                    url = self._redirected(url, response)
                    continue
                if response.status != 201:
                    raise await _refusal(response)
                location = response.headers.get("Location")
                if not location:
                    raise Refused("the WHIP endpoint answered 201 without a Location header")
                if response.content_type != "application/sdp":
                    raise Refused(f"the WHIP endpoint answered {response.content_type or 'no type'}, not application/sdp")
                answer = await read_at_most(response, MAX_BODY_BYTES)
                if answer is None:
                    raise Refused(f"the WHIP endpoint's SDP answer is larger than {MAX_BODY_BYTES} bytes")
                self._resource = urljoin(url, location)
                return answer.decode(errors="replace")
        raise Refused(f"the WHIP endpoint redirected more than {MAX_REDIRECTS} times")

    def _redirected(self, url: str, response: aiohttp.ClientResponse) -> str:
        location = response.headers.get("Location")
        if not location:
            raise Refused(f"the WHIP endpoint answered {response.status} without a Location header")
        target = urljoin(url, location)
        scheme = urlsplit(target).scheme
        if scheme not in SCHEMES:
            raise Refused(f"the WHIP endpoint redirected to a {scheme or 'relative'} URL")
        if scheme == "http" and urlsplit(url).scheme == "https":
            raise Refused("the WHIP endpoint redirected from https to http, which would send the token in clear")
        self._log.info("whip %s: redirected (%d) to %s", self.public_url, response.status, public_url(urlsplit(target)))
        return target

    async def _release(self) -> None:
        resource = self._resource
        if resource is None:
            return
        try:
            async with self.http.delete(resource, headers=self._auth) as response:
                if response.status >= 300 and response.status != 404:  # 404: the endpoint already ended it
                    self._log.warning("whip %s: DELETE of the session answered %d", self.public_url, response.status)
        except aiohttp.ClientError as exc:
            self._log.warning("whip %s: could not DELETE the session: %s", self.public_url, exc or type(exc).__name__)
        self._resource = None


async def _refusal(response: aiohttp.ClientResponse) -> Exception:
    """Why the endpoint did not answer 201, as the failure (Refused) or a reason to retry (Unavailable)."""
    body = await read_at_most(response, MAX_BODY_BYTES)
    text = "" if body is None else body.decode(errors="replace").strip()
    detail = f"HTTP {response.status} {response.reason or ''}".rstrip() + (f": {text[:ANSWER_CHARS]}" if text else "")
    if response.status in (401, 403):
        return Refused(f"the WHIP endpoint refused the bearer token ({detail})")
    if response.status >= 500 or response.status in TRANSIENT:
        return Unavailable(f"the WHIP endpoint is unavailable ({detail})", _retry_after(response))
    return Refused(f"the WHIP endpoint refused the offer ({detail})")


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    """Retry-After in seconds (its HTTP-date form is ignored: the backoff applies)."""
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None
