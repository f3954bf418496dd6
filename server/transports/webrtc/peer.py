"""A viewer's WebRTC peer connection: answers the client's offer with the session's two tracks, brings the
client's voice in (voice mode), takes trickled candidates, and says when it connects or fails."""
from __future__ import annotations

from collections.abc import Callable

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from server.pipeline.errors import ProtocolError, quote
from server.pipeline.session import SessionPipeline
from server.pipeline.voice_input import AudioInput
from server.transports.base import Output, OutputStatus
from server.transports.webrtc.encoders import Encoding, attach, negotiated_codec
from server.transports.webrtc.tracks import SessionAudioTrack, SessionVideoTrack
from server.transports.webrtc.voice import incoming_voice, voice_chunks


class WebRtcPeer(Output):
    kind = "webrtc"

    def __init__(self, pc: RTCPeerConnection, tracks: list[SessionAudioTrack | SessionVideoTrack]) -> None:
        self.pc = pc
        self._tracks = tracks

    @classmethod
    async def answer(cls, sdp: str, encoding: Encoding) -> WebRtcPeer:
        """A peer whose answer (`local_sdp`) sends the session's audio and video to the offerer.

        No STUN server is contacted (iceServers empty) and candidates travel inside the SDP (no trickle). Codec
        choice follows the offer's order, so VP8 unless the offer puts H.264 first; `encoding` makes the
        encoders. The tracks start sending once `start` has given them the session's frames.
        """
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
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
            video.encoder = encoding.video(negotiated_codec(pc.localDescription.sdp, "video"))
        except ValueError as exc:
            await pc.close()
            raise ProtocolError("bad_offer", f"no video codec in common with the offer: {exc}") from None
        attach(audio_sender, audio.encoder)
        attach(video_sender, video.encoder)
        return cls(pc, [audio, video])

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

    async def start(self, pipeline: SessionPipeline) -> None:
        subscription = pipeline.subscribe()
        for track in self._tracks:
            track.attach(subscription, pipeline.clock, pipeline.start)

    def status(self) -> OutputStatus:
        state = {"connected": "live", "failed": "failed", "closed": "failed"}.get(self.pc.connectionState, "connecting")
        return OutputStatus(self.kind, state=state)

    async def close(self) -> None:
        for track in self._tracks:
            track.stop()
        await self.pc.close()
