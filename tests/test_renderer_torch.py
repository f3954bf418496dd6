"""The tensor renderer (`--renderer torch`) against the CPU renderer, frame by frame: on PyTorch's CPU device here,
on CUDA where a GPU is present (`gpu` marker). Same code path, the device a parameter.

The tolerance (README "GPU", docs/benchmarks.md): every RGB pixel within MAX_RGB levels of the CPU renderer's, at
most OFF_SHARE of a frame's pixel values more than one level off, the frame's mean difference within MEAN_RGB, and
the mouth's openness as the load client measures it (the share of dark luma in the mouth box, harness/measure.py)
and as the mouth tests do (tests/media_checks.py) within MOUTH_SHARE. Both renderers sample the photo on OpenCV's
1/32-pixel grid; a warp field that differs in its last bit (another order of float additions, as on a GPU) can
put a sample one step over, which moves a pixel on the photo's sharpest edge (211 levels a pixel, grace_hopper)
by up to 7 levels: MAX_RGB allows one such step anywhere, OFF_SHARE and MEAN_RGB that they stay rare.
"""
from __future__ import annotations

import asyncio

import av
import cv2
import numpy as np
import pytest
import torch

from engines.avatar import AvatarRenderer, load_avatar
from engines.avatar.base import RendererOptions
from engines.avatar.frame_plan import FramePlanner
from engines.avatar.preview import mouth_params
from engines.avatar.prepared import prepared
from engines.avatar.torch_avatar import DeviceAvatar, rgb_to_i420
from engines.avatar.torch_engine import TorchRendererEngine, resolve_device
from engines.avatar.warp_engine import WarpRendererEngine
from engines.timebase import GESTURE_PARAMS, N_FRAME_PARAMS, N_PARAMS
from harness.measure import dark_share
from harness.speech import talking_params
from server.config import RenderSettings
from server.services import Services
from tests.conftest import make_config
from tests.fake_time import Run
from tests.media_checks import crop

AVATARS = ["astronaut", "grace_hopper"]
MAX_RGB = 8  # levels (0-255), any pixel of any frame
OFF_SHARE = 0.001  # share of a frame's values more than one level off
MEAN_RGB = 0.01  # levels, mean over a frame
MOUTH_SHARE = 0.002  # dark share of the mouth box
SEED = 7
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def with_gestures(mouth: np.ndarray, **gestures: float) -> np.ndarray:
    params = np.zeros(N_FRAME_PARAMS, np.float32)
    params[:N_PARAMS] = mouth
    for name, value in gestures.items():
        params[N_PARAMS + GESTURE_PARAMS.index(name)] = value
    return params


def cases(bundle) -> dict[str, list[tuple[int, np.ndarray]]]:
    """(frame index, parameters) of each kind of frame the parity is checked on."""
    idle = FramePlanner(bundle, SEED).idle
    blinks = [i for i in range(2000) if idle.blink(i) > 0][:8]
    rest = mouth_params()
    visemes = [mouth_params(jaw_open=1.0), mouth_params(jaw_open=0.5), mouth_params(jaw_open=0.2, lip_spread=1.0),
               mouth_params(jaw_open=0.4, lip_round=1.0), mouth_params(lip_close=1.0),
               mouth_params(jaw_open=0.1, lip_tuck=1.0), mouth_params(jaw_open=0.7, lip_spread=0.5, lip_round=0.4)]
    gestures = [with_gestures(rest, head_nod=1.0), with_gestures(rest, head_nod=-1.0, brow_raise=1.0),
                with_gestures(mouth_params(jaw_open=0.8), head_tilt=1.0), with_gestures(rest, head_turn=-1.0),
                with_gestures(mouth_params(jaw_open=0.6), head_turn=1.0, head_tilt=-0.7, head_nod=0.5)]
    sentence, _ = talking_params()
    return {
        "rest": [(i, rest) for i in (0, 1, 40, 313)],
        "visemes": [(11 + i, p) for i, p in enumerate(visemes)],
        "blinks": [(i, visemes[i % len(visemes)] if i % 2 else rest) for i in blinks],
        "head_and_brows": [(500 + i, p) for i, p in enumerate(gestures)],
        "sentence": [(900 + i, p) for i, p in list(enumerate(sentence))[::6]],
    }


@pytest.fixture(scope="module", params=AVATARS)
def bundle(request):
    return load_avatar(request.param)


@pytest.fixture(scope="module")
def frame_cases(bundle):
    return cases(bundle)


def cpu_frames(bundle, frames: list[tuple[int, np.ndarray]]) -> np.ndarray:
    renderer = AvatarRenderer(bundle, seed=SEED)
    return np.stack([renderer.render(i, p) for i, p in frames])


def device_frames(bundle, frames: list[tuple[int, np.ndarray]], device: str) -> np.ndarray:
    planner = FramePlanner(bundle, seed=SEED)
    avatar = DeviceAvatar(bundle.image, prepared(bundle), torch.device(device))
    with torch.inference_mode():
        return avatar.draw_rgb([planner.plan(i, p) for i, p in frames]).cpu().numpy()


def mouth_dark(frame: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """tests/media_checks.py `mouth_darkness` of one RGB frame."""
    return float(((crop(frame, box, pad=0) @ LUMA) < 60).mean())


def assert_parity(bundle, ours: np.ndarray, reference: np.ndarray) -> None:
    difference = np.abs(ours.astype(np.int16) - reference.astype(np.int16))
    assert difference.max() <= MAX_RGB, f"max {difference.max()} at {np.argwhere(difference == difference.max())[0]}"
    per_frame = difference.reshape(len(ours), -1)
    assert (per_frame > 1).mean(axis=1).max() <= OFF_SHARE
    assert per_frame.mean(axis=1).max() <= MEAN_RGB
    box = bundle.mouth_box
    for mine, theirs in zip(ours, reference):
        assert abs(mouth_dark(mine, box) - mouth_dark(theirs, box)) <= MOUTH_SHARE
        luma = [av.VideoFrame.from_ndarray(cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
                for f in (mine, theirs)]
        assert abs(dark_share(luma[0], box) - dark_share(luma[1], box)) <= MOUTH_SHARE


@pytest.mark.parametrize("case", ["rest", "visemes", "blinks", "head_and_brows", "sentence"])
def test_on_the_cpu_device_it_draws_what_the_cpu_renderer_draws(bundle, frame_cases, case):
    frames = frame_cases[case]
    assert_parity(bundle, device_frames(bundle, frames, "cpu"), cpu_frames(bundle, frames))


def test_the_cases_exercise_every_part_of_the_frame(bundle, frame_cases):
    """The cases above are only a check if they paint lids, open mouths and move the head."""
    planner = FramePlanner(bundle, seed=SEED)
    plans = {name: [planner.plan(i, p) for i, p in frames] for name, frames in frame_cases.items()}
    assert all(p.lids for p in plans["blinks"]) and not any(p.lids for p in plans["visemes"])
    assert sum(p.mouth is not None for p in plans["visemes"]) >= 5
    assert sum(p.mouth is not None for p in plans["sentence"]) >= 5
    assert max(abs(p.mouth_shift[1]) for p in plans["head_and_brows"]) >= 2, "a nod moves the mouth"


def test_yuv_is_opencvs_to_the_bit():
    rgb = np.random.default_rng(0).integers(0, 256, (3, 64, 96, 3), dtype=np.uint8)
    ours = rgb_to_i420(torch.from_numpy(rgb)).numpy()
    assert all(np.array_equal(o, cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420)) for o, f in zip(ours, rgb))


async def test_the_engine_draws_one_tick_of_all_sessions_in_one_batch_like_the_warp_engine():
    options = RendererOptions(threads=2, device="cpu")
    torch_engine, warp_engine = TorchRendererEngine(options), WarpRendererEngine(options)
    bundles = [load_avatar(name) for name in AVATARS]
    batches: list[int] = []
    render_batch = torch_engine.render_batch
    torch_engine.render_batch = lambda requests: batches.append(len(requests)) or render_batch(requests)
    try:
        for bundle in bundles:
            torch_engine.prepare(bundle)
        sessions = [(bundles[i % 2], seed) for i, seed in enumerate((1, 2, 3, 4, 5))]
        ours = [torch_engine.open(b, seed) for b, seed in sessions]
        theirs = [warp_engine.open(b, seed) for b, seed in sessions]
        talking = [mouth_params(jaw_open=0.3 * k) for k in range(len(sessions))]
        for frame in (0, 1):
            mine = await asyncio.gather(*(r.render(frame, p) for r, p in zip(ours, talking)))
            reference = await asyncio.gather(*(r.render(frame, p) for r, p in zip(theirs, talking)))
            for yuv, expected in zip(mine, reference):
                assert yuv.shape == expected.shape and yuv.dtype == np.uint8
                assert np.abs(yuv.astype(np.int16) - expected).max() <= MAX_RGB
    finally:
        await torch_engine.close()
        await warp_engine.close()
    assert batches == [len(sessions), len(sessions)]


async def test_a_talking_session_on_the_torch_renderer_sends_what_the_cpu_renderer_draws():
    """The whole pipeline in fake time (espeak, the face network) on the torch renderer: each frame sent equals
    the CPU renderer's drawing of the parameters it was asked to show, and the mouth opens while it speaks."""
    services = Services(make_config(tts="espeak", tts_engines=("espeak",), renderer="torch",
                                    render={"render_device": "cpu"}))
    health = services.health()
    assert (health["renderer"], health["renderer_device"]) == ("torch", "cpu")
    engine = services.renderers
    seeds, asked = [], {}
    open_session, submit = engine.open, engine.submit

    def recording_open(bundle, seed):
        seeds.append(seed)
        return open_session(bundle, seed)

    async def recording_submit(request):
        _, frame_index, params = request
        asked[frame_index] = params
        return await submit(request)

    engine.open, engine.submit = recording_open, recording_submit
    run = Run(services, draw=True, voice="espeak:en-us")
    try:
        await run.run_until(0.4)
        run.pipeline.text("Hello there, how are you?", flush=True)
        await run.pipeline.speaker.synthesized()
        await run.run_until(2.4)
    finally:
        await run.close()
        await services.close()
    bundle = services.default_avatar
    reference = AvatarRenderer(bundle, seed=seeds[0])
    for frame in run.video:
        expected = cv2.cvtColor(reference.render(frame.index, asked[frame.index]), cv2.COLOR_RGB2YUV_I420)
        assert np.abs(frame.yuv.astype(np.int16) - expected).max() <= MAX_RGB, frame.index
    openness = [dark_share(av.VideoFrame.from_ndarray(frame.yuv, format="yuv420p"), bundle.mouth_box)
                for frame in run.video]
    assert max(openness[12:]) > max(openness[:10]) + 0.02, "the mouth opens with the speech"


def test_a_device_that_is_not_there_is_a_clear_error():
    for name in ("gpu", "tpu:0", "cuda:x"):
        with pytest.raises(ValueError, match="render-device"):
            RenderSettings(render_device=name)
        with pytest.raises(ValueError, match="render-device"):
            resolve_device(name)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"
    else:
        with pytest.raises(ValueError, match="CUDA GPU"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")
@pytest.mark.parametrize("case", ["rest", "visemes", "blinks", "head_and_brows", "sentence"])
def test_on_cuda_it_draws_what_the_cpu_renderer_draws(bundle, frame_cases, case):
    frames = frame_cases[case]
    assert_parity(bundle, device_frames(bundle, frames, "cuda"), cpu_frames(bundle, frames))
