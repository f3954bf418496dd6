"""A WebRTC peer connection that sends the session's two tracks: a viewer's (answering the client's offer, bringing
the client's voice in in voice mode, taking trickled candidates), or a publisher's (making its own offer to a
media server: WHIP, Janus). Either says when it connects or fails."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence

from aiortc import (
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.sdp import SessionDescription, candidate_from_sdp

from server.pipeline.errors import ProtocolError, quote
from server.pipeline.session import SessionPipeline
from server.pipeline.voice_input import AudioInput
from server.transports.base import Output, OutputStatus
from server.transports.ice_servers import IceServer
from server.transports.packets import PacketSubscription
from server.transports.webrtc.encoders import Encoding, attach, negotiated_codec
from server.transports.webrtc.ice import IceConfig, rtc_configuration, turn_failure
from server.transports.webrtc.tracks import SessionAudioTrack, SessionVideoTrack
from server.transports.webrtc.voice import incoming_voice, voice_chunks

log = logging.getLogger(__name__)
Logger = logging.Logger | logging.LoggerAdapter


def relay_candidates(sdp: str) -> int:
    """Relayed (TURN) candidates in an SDP."""
    return sum(line.startswith("a=candidate:") and " typ relay" in line for line in sdp.splitlines())


class WebRtcPeer(Output):
    kind = "webrtc"

    def __init__(
        self, pc: RTCPeerConnection, tracks: list[SessionAudioTrack | SessionVideoTrack],
        encoding: Encoding | None = None,
    ) -> None:
        self.pc = pc
        self._tracks = tracks
        self._encoding = encoding  # a publisher's: its encoders are made once the answer names the codecs

    @classmethod
    async def answer(
        cls, sdp: str, encoding: Encoding, servers: Sequence[IceServer] = (), relay_only: bool = False,
        logger: Logger = log,
    ) -> WebRtcPeer:
        """A peer whose answer (`local_sdp`) sends the session's audio and video to the offerer.

        ICE uses `servers` (STUN and TURN; none: no server is contacted) and, with `relay_only`, relayed
        candidates only; ProtocolError ice_failed when that leaves no candidate (the TURN server's refusal is
        logged and said). Candidates travel inside the SDP (no trickle). Codec choice follows the offer's order,
        so VP8 unless the offer puts H.264 first; `encoding` makes the encoders. The tracks start sending once
        `start` has given them the session's frames.
        """
        pc = RTCPeerConnection(rtc_configuration(servers, relay_only))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:  # aiortc raises several types on malformed SDP; all of them mean a bad offer
            await pc.close()
            raise ProtocolError("bad_offer", f"could not use the offer's SDP: {exc or type(exc).__name__}") from None
        audio, video = SessionAudioTrack(encoding.audio()), SessionVideoTrack(encoding.pool)
        kinds = {t.kind for t in pc.getTransceivers()}
        missing = {track.kind for track in (audio, video)} - kinds
        if missing:
            await pc.close()
            raise ProtocolError("bad_offer", f"the offer has no {' or '.join(sorted(missing))} transceiver to receive on")
        audio_sender, video_sender = pc.addTrack(audio), pc.addTrack(video)
        await pc.setLocalDescription(await pc.createAnswer())
        try:
            _use_encoders(audio_sender, video_sender, encoding, pc.localDescription.sdp)
        except ValueError as exc:
            await pc.close()
            raise ProtocolError("bad_offer", f"no video codec in common with the offer: {exc}") from None
        if any(server.is_turn for server in servers) and not relay_candidates(pc.localDescription.sdp):
            reason = await turn_failure(servers) or "the TURN server granted no relay in time"
            if relay_only:
                logger.error("no relayed ICE candidate, and the policy allows no other: %s", reason)
                await pc.close()
                raise ProtocolError("ice_failed", f"the server has no relayed ICE candidate: {reason}")
            logger.warning("no relayed ICE candidate (host candidates only): %s", reason)
        return cls(pc, [audio, video])

    @classmethod
    async def offer(cls, ice: IceConfig, encoding: Encoding, prefer_h264: bool = False) -> WebRtcPeer:
        """A publishing peer: its offer (`local_sdp`, every candidate gathered: no trickle) sends the session's
        audio and video, sendonly on one bundled transport; `accept` takes the media server's answer, which
        chooses the codecs `encoding` then makes encoders for. `prefer_h264`: H.264 is offered before VP8 (a
        broadcast's own H.264 can then be sent as it is)."""
        pc = RTCPeerConnection(ice.rtc_configuration())
        tracks = [SessionAudioTrack(encoding.audio()), SessionVideoTrack(encoding.pool)]
        for track in tracks:
            transceiver = pc.addTransceiver(track, direction="sendonly")
            if prefer_h264 and track.kind == "video":
                codecs = RTCRtpSender.getCapabilities("video").codecs
                transceiver.setCodecPreferences(sorted(codecs, key=lambda codec: codec.mimeType != "video/H264"))
        try:
            await pc.setLocalDescription(await pc.createOffer())
        except BaseException:
            await pc.close()
            raise
        return cls(pc, tracks, encoding)

    async def accept(self, sdp: str) -> None:
        """The media server's answer to `offer`; ValueError when it cannot be used."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # aiortc raises several types on an unusable SDP
            raise ValueError(f"could not use the answer's SDP: {exc or type(exc).__name__}") from None
        assert self._encoding is not None, "a viewer's peer made no offer"
        senders = {t.kind: t.sender for t in self.pc.getTransceivers()}
        _use_encoders(senders["audio"], senders["video"], self._encoding, sdp)

    async def reaches(self, states: Collection[str]) -> str:
        """Waits until the connection state is one of `states` (e.g. "connected", "failed", "closed")."""
        reached = asyncio.get_running_loop().create_future()

        def check() -> None:
            if self.pc.connectionState in states and not reached.done():
                reached.set_result(self.pc.connectionState)

        self.pc.on("connectionstatechange", check)
        try:
            check()
            return await reached
        finally:
            self.pc.remove_listener("connectionstatechange", check)

    @property
    def sends_h264(self) -> bool:
        """Whether the answer (once accepted) chose H.264 for the video: packetization mode 1 (the one WebRTC
        endpoints use) in the constrained baseline profile that a broadcast's baseline encoder makes."""
        video = [m for m in SessionDescription.parse(self.pc.remoteDescription.sdp).media if m.kind == "video"]
        if not video or not video[0].rtp.codecs:
            return False
        codec = video[0].rtp.codecs[0]
        profile = str(codec.parameters.get("profile-level-id", "42001f")).lower()
        return (codec.mimeType.lower() == "video/h264" and str(codec.parameters.get("packetization-mode")) == "1"
                and profile[:2] == "42")

    @property
    def frames_sent(self) -> int:
        """Video frames handed to the encoder so far."""
        return sum(track.frames_sent for track in self._tracks if isinstance(track, SessionVideoTrack))

    @property
    def local_sdp(self) -> str:
        return self.pc.localDescription.sdp

    @property
    def connected(self) -> bool:
        return self.pc.iceConnectionState in ("connected", "completed")

    def voice_input(self) -> AudioInput:
        """The client's voice (voice mode), or ProtocolError bad_offer when the offer sends none."""
        return voice_chunks(incoming_voice(self.pc))

    def on_state(self, callback: Callable[[str], None]) -> None:
        """`callback(state)` on every change of the connection state ("connected", "failed", "closed", ...)."""
        self.pc.on("connectionstatechange", lambda: callback(self.pc.connectionState))

    async def add_candidate(self, candidate: dict) -> None:
        """A trickled candidate (the browser's RTCIceCandidate as JSON); bad_message when it cannot be used."""
        try:
            line = str(candidate["candidate"])
            parsed = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
            parsed.sdpMid = candidate.get("sdpMid")
            parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
            await self.pc.addIceCandidate(parsed)
        except Exception as exc:  # any malformed candidate is the client's error, never the session's end
            reason = quote(str(exc) or type(exc).__name__)
            raise ProtocolError("bad_message", f"could not use the ICE candidate: {reason}") from None

    async def start(self, pipeline: SessionPipeline, video_packets: PacketSubscription | None = None) -> None:
        """Send the session's frames; with `video_packets` (when `sends_h264`), its video as those H.264 packets."""
        subscription = pipeline.subscribe()
        for track in self._tracks:
            if video_packets is not None and isinstance(track, SessionVideoTrack):
                track.attach_encoded(video_packets, pipeline.start)
            else:
                track.attach(subscription, pipeline.clock, pipeline.start)
        if video_packets is not None:
            sender = next(t.sender for t in self.pc.getTransceivers() if t.kind == "video")
            _forward_picture_loss(sender, video_packets.request_keyframe)

    def status(self) -> OutputStatus:
        state = {"connected": "live", "failed": "failed", "closed": "failed"}.get(self.pc.connectionState, "connecting")
        return OutputStatus(self.kind, state=state, frames_sent=self.frames_sent)

    async def close(self) -> None:
        for track in self._tracks:
            track.stop()
        # Shielded: aiortc's close, cancelled half-way, never finishes and every later close waits for it forever.
        await asyncio.shield(self.pc.close())
        self._forget_listeners()

    def _forget_listeners(self) -> None:
        """Drop the event handlers of the closed connection and its transports. aiortc's transports call back
        into the connection (and ours into the session), which makes reference cycles: only Python's rare full
        collections would free the connection, its encoders and buffers, and the session with them."""
        emitters = {self.pc}
        for transceiver in self.pc.getTransceivers():
            for dtls in (transceiver.sender.transport, transceiver.receiver.transport):
                if dtls is not None:
                    emitters |= {dtls, dtls.transport, dtls.transport.iceGatherer}
        for emitter in emitters:
            emitter.remove_all_listeners()


def _use_encoders(audio: RTCRtpSender, video: RTCRtpSender, encoding: Encoding, sdp: str) -> None:
    """Give the senders the encoders of the codecs `sdp` (the side that chose them) sends or receives with;
    ValueError when it has no video codec."""
    audio_track, video_track = audio.track, video.track
    video_track.encoder = encoding.video(negotiated_codec(sdp, "video"))
    attach(audio, audio_track.encoder)
    attach(video, video_track.encoder)


def _forward_picture_loss(sender: RTCRtpSender, request_keyframe: Callable[[], None]) -> None:
    """A receiver's picture loss (RTCP PLI or FIR; an SFU sends one for each new subscriber) asks the broadcast
    encoder for a keyframe, so that it comes at once rather than at the next keyframe interval. aiortc (1.16) hands
    these to `RTCRtpSender._send_keyframe`, which only reaches its own encoder."""
    own = sender._send_keyframe

    def both() -> None:
        own()
        request_keyframe()

    sender._send_keyframe = both  # type: ignore[method-assign]
