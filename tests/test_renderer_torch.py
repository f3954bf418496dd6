"""The tensor renderer (`--renderer torch`) against the CPU renderer, frame by frame: on PyTorch's CPU device here,
on CUDA where a GPU is present (`gpu` marker). Same code path, the device a parameter; the frames compared and the
tolerance are harness/render_parity.py's (README "GPU")."""
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
from engines.avatar.torch_avatar import rgb_to_i420
from engines.avatar.torch_engine import TorchRendererEngine, resolve_device
from engines.avatar.warp_engine import WarpRendererEngine
from harness.measure import dark_share
from harness.render_parity import CASES, SEED, TOLERANCE, compare, cpu_frames, device_frames, parity_cases
from server.config import RenderSettings
from server.services import Services
from tests.conftest import make_config
from tests.fake_time import Run

AVATARS = ["astronaut", "grace_hopper"]


@pytest.fixture(scope="module", params=AVATARS)
def bundle(request):
    return load_avatar(request.param)


@pytest.fixture(scope="module")
def frame_cases(bundle):
    return parity_cases(bundle)


def assert_parity(bundle, frames, device: str) -> None:
    parity = compare(device_frames(bundle, frames, device), cpu_frames(bundle, frames), bundle.mouth_box)
    assert parity.within(TOLERANCE), parity


@pytest.mark.parametrize("case", CASES)
def test_on_the_cpu_device_it_draws_what_the_cpu_renderer_draws(bundle, frame_cases, case):
    assert_parity(bundle, frame_cases[case], "cpu")


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

    def counted(requests):
        batches.append(len(requests))
        return render_batch(requests)

    torch_engine.render_batch = counted
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
                assert np.abs(yuv.astype(np.int16) - expected).max() <= TOLERANCE.max_rgb
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
        assert np.abs(frame.yuv.astype(np.int16) - expected).max() <= TOLERANCE.max_rgb, frame.index
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
@pytest.mark.parametrize("case", CASES)
def test_on_cuda_it_draws_what_the_cpu_renderer_draws(bundle, frame_cases, case):
    assert_parity(bundle, frame_cases[case], "cuda")
