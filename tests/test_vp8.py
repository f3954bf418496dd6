import fractions

import aiortc.rtcrtpsender
import av
import cv2
import numpy as np
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Decoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from engines.avatar import AvatarRenderer, load_avatar
from server.config import Workers
from server.transports.webrtc.vp8 import RenderedVp8Encoder, use_rendered_vp8


def frames(count: int):
    renderer = AvatarRenderer(load_avatar("astronaut"), seed=1)
    for i in range(count):
        params = np.array([0.5 * abs(np.sin(i / 3)), 0.1, 0, 0, 0], dtype=np.float32)
        image = renderer.render(i, params)
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        frame.pts, frame.time_base = i * 3600, fractions.Fraction(1, 90000)
        yield image, frame


def test_encoded_frames_decode_to_the_rendered_picture():
    encoder, decoder = RenderedVp8Encoder(), Vp8Decoder()
    encoder.target_bitrate = 1_000_000
    quality = []
    for i, (image, frame) in enumerate(frames(30)):
        payloads, timestamp = encoder.encode(frame, force_keyframe=i == 20)
        assert timestamp == i * 3600 and payloads
        data = b"".join(vp8_depayload(p) for p in payloads)
        (decoded,) = decoder.decode(JitterFrame(data=data, timestamp=timestamp))
        mse = np.mean((decoded.to_ndarray(format="rgb24").astype(float) - image) ** 2)
        quality.append(10 * np.log10(255**2 / mse))
    assert np.mean(quality[5:]) > 38


def test_bitrate_change_reopens_and_small_changes_do_not():
    encoder = RenderedVp8Encoder()
    stream = frames(3)
    encoder.encode(next(stream)[1])
    first = encoder.codec
    encoder.target_bitrate = int(encoder.target_bitrate * 1.05)
    encoder.encode(next(stream)[1])
    assert encoder.codec is first
    encoder.target_bitrate = encoder.target_bitrate * 2
    encoder.encode(next(stream)[1])
    assert encoder.codec is not first and encoder.codec.bit_rate == encoder.target_bitrate


def test_senders_pick_the_tuned_encoder_for_vp8_only():
    use_rendered_vp8(Workers().vp8_speed)
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000)
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
    assert isinstance(aiortc.rtcrtpsender.get_encoder(vp8), RenderedVp8Encoder)
    assert isinstance(aiortc.rtcrtpsender.get_encoder(opus), OpusEncoder)
