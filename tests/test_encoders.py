"""The viewer's encoders: rendered frames decode back to the picture in both video codecs, keyframes come on
request, the bitrate follows aiortc's estimate, Opus frames keep their slot, and a peer hands its senders them."""
from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.codecs.h264 import H264Decoder, h264_depayload
from aiortc.codecs.opus import OpusDecoder
from aiortc.codecs.vpx import Vp8Decoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame

from engines.avatar import AvatarRenderer, load_avatar
from engines.timebase import AUDIO_FRAME_SAMPLES
from server.config import Workers
from server.transports.codecs import AUDIO_TIME_BASE
from server.transports.webrtc.encoders import Encoding, negotiated_codec
from server.transports.webrtc.peer import WebRtcPeer

CODECS = {"VP8": (Vp8Decoder, vp8_depayload), "H264": (H264Decoder, h264_depayload)}


def rendered(count: int):
    renderer = AvatarRenderer(load_avatar("astronaut"), seed=1)
    for i in range(count):
        params = np.array([0.5 * abs(np.sin(i / 3)), 0.1, 0, 0, 0], dtype=np.float32)
        image = renderer.render(i, params)
        yield image, cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)


@pytest.fixture(scope="module")
def encoding():
    encoding = Encoding(Workers())
    yield encoding
    encoding.close()


@pytest.mark.parametrize("codec", CODECS)
def test_encoded_frames_decode_to_the_rendered_picture(encoding, codec):
    encoder = encoding.video(codec)
    encoder.target_bitrate = 1_000_000
    decoder_class, depayload = CODECS[codec]
    decoder = decoder_class()
    quality, keyframes = [], []
    for i, (image, yuv) in enumerate(rendered(30)):
        if i == 20:
            encoder.request_keyframe()
        packet = encoder.encode_yuv(yuv, i * 3600)
        payloads, timestamp = encoder.pack(packet)
        assert timestamp == i * 3600 and payloads
        keyframes.append(packet.is_keyframe or _is_keyframe(codec, bytes(packet)))
        data = b"".join(depayload(p) for p in payloads)
        (decoded,) = decoder.decode(JitterFrame(data=data, timestamp=timestamp))
        mse = np.mean((decoded.to_ndarray(format="rgb24").astype(float) - image) ** 2)
        quality.append(10 * np.log10(255**2 / mse))
    assert np.mean(quality[5:]) > 38
    assert [i for i, key in enumerate(keyframes) if key] == [0, 20]


def _is_keyframe(codec: str, data: bytes) -> bool:
    if codec == "VP8":
        return data[0] & 1 == 0  # frame tag: bit 0 clear = key frame
    return b"\x00\x00\x01\x65" in data or b"\x00\x00\x00\x01\x65" in data  # an IDR slice


@pytest.mark.parametrize("codec", CODECS)
def test_bitrate_change_reopens_and_small_changes_do_not(encoding, codec):
    encoder = encoding.video(codec)
    stream = rendered(3)
    encoder.encode_yuv(next(stream)[1], 0)
    first = encoder.codec
    encoder.target_bitrate = int(encoder.target_bitrate * 1.05)
    encoder.encode_yuv(next(stream)[1], 3600)
    assert encoder.codec is first
    encoder.target_bitrate = encoder.target_bitrate * 2
    encoder.encode_yuv(next(stream)[1], 7200)
    assert encoder.codec is not first and encoder.codec.bit_rate == encoder.target_bitrate


def test_opus_packets_carry_their_slot_and_decode(encoding):
    encoder, decoder = encoding.audio(), OpusDecoder()
    tone = (8000 * np.sin(2 * np.pi * 220 * np.arange(AUDIO_FRAME_SAMPLES * 10) / 48000)).astype(np.int16)
    for k in range(10):
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME_SAMPLES)
        frame.planes[0].update(tone[k * AUDIO_FRAME_SAMPLES : (k + 1) * AUDIO_FRAME_SAMPLES].tobytes())
        frame.sample_rate, frame.pts, frame.time_base = 48000, k * 960, AUDIO_TIME_BASE
        payloads, timestamp = encoder.encode(frame)
        assert timestamp == k * 960 and len(payloads) == 1
        (decoded,) = decoder.decode(JitterFrame(data=payloads[0], timestamp=timestamp))
        assert decoded.samples == AUDIO_FRAME_SAMPLES
    assert np.abs(decoded.to_ndarray()).max() > 2000, "the tone comes out"


@pytest.mark.parametrize("preferred", ["VP8", "H264"])
async def test_peer_encodes_with_the_codec_the_offer_prefers(encoding, preferred):
    offerer = RTCPeerConnection()
    offerer.addTransceiver("audio", direction="recvonly")
    video = offerer.addTransceiver("video", direction="recvonly")
    capabilities = RTCRtpReceiver.getCapabilities("video").codecs
    video.setCodecPreferences(sorted(capabilities, key=lambda c: c.mimeType != f"video/{preferred}"))
    await offerer.setLocalDescription(await offerer.createOffer())
    peer = await WebRtcPeer.answer(offerer.localDescription.sdp, encoding)
    try:
        assert negotiated_codec(peer.local_sdp, "video") == preferred
        for sender in peer.pc.getSenders():
            encoder = sender.track.encoder
            assert type(encoder) is type(encoding.video(preferred) if sender.track.kind == "video" else encoding.audio())
            assert sender._RTCRtpSender__encoder is encoder, "aiortc's sender packetizes what the track encoded"
        await offerer.setRemoteDescription(RTCSessionDescription(peer.local_sdp, "answer"))
    finally:
        await peer.close()
        await offerer.close()
