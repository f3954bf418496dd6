"""What a person sees of the mouth: a shaded warm cavity, a tongue, anti-aliased lip edges, warm teeth with
per-tooth shading, round "oo" and wide "ee" shapes, no folds in the warped skin, a living idle face."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.avatar import AvatarRenderer, load_avatar
from engines.avatar import face_topology as topo
from engines.avatar.mesh import separated_contours
from engines.avatar.prepared import prepared
from engines.avatar.preview import mouth_params
from engines.avatar.frame_plan import mix_mouth
from engines.avatar.rig import MOUTH_SHAPES, MouthFrame, all_rules
from engines.avatar.warp_field import _signed_area

AVATARS = ["astronaut", "grace_hopper"]
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@pytest.fixture(scope="module", params=AVATARS)
def bundle(request):
    return load_avatar(request.param)


def luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ LUMA


def inside_distance(renderer: AvatarRenderer, params: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per pixel, how many pixels it lies inside the rendered mouth opening (0 outside)."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(renderer.opening(0, params) * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    return cv2.distanceTransform(mask, cv2.DIST_L2, 5)


def open_mouth(bundle, jaw: float = 1.0):
    renderer = AvatarRenderer(bundle, seed=0)
    params = mouth_params(jaw_open=jaw)
    frame = renderer.render(0, params)
    return renderer, params, frame, inside_distance(renderer, params, frame.shape)


def test_cavity_is_warm_dark_red_brown_not_black_and_lighter_toward_the_lips(bundle):
    _, _, frame, depth = open_mouth(bundle)
    cavity = (depth > 1.5) & (luma(frame) < 70)  # dark pixels well inside: not teeth, not tongue highlights
    assert cavity.sum() > 150
    rgb = frame[cavity].astype(np.float32)
    assert rgb.max(axis=1).min() >= 8, "no pure black"
    r, g, b = np.median(rgb, axis=0)
    assert r > 1.6 * g and r > 1.6 * b, "warm red-brown, not grey"
    near_lips = cavity & (depth < 5)
    deep = cavity & (depth > 10)
    assert near_lips.any() and deep.any()
    assert luma(frame)[near_lips].mean() > luma(frame)[deep].mean() + 8, "depth shading: lighter toward the lips"


def test_tongue_shows_more_as_the_jaw_opens(bundle):
    def tongue_pixels(jaw: float) -> int:
        _, _, frame, depth = open_mouth(bundle, jaw)
        rgb = frame.astype(np.float32)
        reddish = (rgb[..., 0] > 1.5 * rgb[..., 1]) & (luma(frame) > 45) & (depth > 1.5)
        return int(reddish.sum())

    width = prepared(bundle).mouth_width
    assert tongue_pixels(1.0) > tongue_pixels(0.6) + 0.01 * width**2
    assert tongue_pixels(1.0) > 0.02 * width**2


def test_lip_to_cavity_edges_are_feathered(bundle):
    """Across the side edges of the opening (lip to cavity) no single pixel step carries the whole change."""
    renderer, params, frame, depth = open_mouth(bundle)
    outline = renderer.opening(0, params)
    y = int(round(outline[:, 1].mean()))
    row = luma(frame)[y]
    inside = np.flatnonzero(depth[y] > 0)
    checked = 0
    for edge, step in ((inside.min(), -1), (inside.max(), 1)):
        profile = row[edge - 4 * step: edge + 5 * step: step]  # from 4 px inside to 4 px outside the outline
        total = abs(profile[-1] - profile[0])
        if total < 30:
            continue
        checked += 1
        assert np.abs(np.diff(profile)).max() < 0.75 * total, profile
    assert checked, "the opening's sides are visible edges"


def test_teeth_edge_against_the_cavity_is_anti_aliased(bundle):
    """Down the middle of the opening, from upper teeth into the dark: intermediate values, no hard step."""
    renderer, params, frame, depth = open_mouth(bundle)
    outline = renderer.opening(0, params)
    x = int(round(np.median(outline[:, 0])))
    column = luma(frame)[:, x]
    rows = np.flatnonzero(depth[:, x] > 1)
    profile = column[rows[0]: rows[-1]]
    top = int(np.argmax(profile[: len(profile) // 2]))
    bottom = top + int(np.argmin(profile[top: top + len(profile) // 2]))
    edge = profile[top: bottom + 1]
    assert edge[0] - edge[-1] > 60, "bright teeth over a dark cavity"
    assert np.abs(np.diff(edge)).max() < 0.75 * (edge[0] - edge[-1])


def test_painted_teeth_are_warm_ivory_with_per_tooth_shading():
    bundle = load_avatar("grace_hopper")  # her photo shows no teeth, so all of them are painted
    renderer = AvatarRenderer(bundle, seed=0)
    params = mouth_params(jaw_open=0.5)
    frame = renderer.render(0, params)
    depth = inside_distance(renderer, params, frame.shape)
    teeth = (depth > 1) & (luma(frame) > 120)
    assert teeth.sum() > 100
    r, g, b = np.median(frame[teeth].astype(np.float32), axis=0)
    assert r > g + 5 > b + 15, "warm ivory, not grey-green"
    # Along the teeth's middle row brightness rises and falls tooth by tooth (gaps and rounded crowns).
    ys, xs = np.nonzero(teeth)
    y = int(np.median(ys))
    row = luma(frame)[y, xs[ys == y].min(): xs[ys == y].max() + 1]
    dips = np.flatnonzero((row[1:-1] < row[:-2] - 3) & (row[1:-1] <= row[2:]))
    assert len(dips) >= 5, "separate teeth, not one slab"


def test_lips_close_without_a_dark_line_when_pressed(bundle):
    renderer = AvatarRenderer(bundle, seed=0)
    shut = renderer.render(0, mouth_params(lip_close=1.0))
    x0, y0, x1, y1 = bundle.mouth_box
    assert (luma(shut[y0:y1, x0:x1]) < 35).sum() <= (luma(bundle.image[y0:y1, x0:x1]) < 35).sum() + 10


def test_oo_is_a_round_pushed_forward_o_and_ee_spreads_the_corners(bundle):
    prep = prepared(bundle)
    frame = MouthFrame(bundle.mesh_points, bundle.landmarks)

    def opening_aspect(**shape: float) -> float:
        lips = prep.inner_lips + np.tensordot(mix_mouth(mouth_params(**shape)), prep.inner_lip_moves, axes=1)
        n = len(lips) // 2
        width = (lips[n - 1] - lips[0]) @ frame.u
        return float(((lips[n:] - lips[:n]) @ frame.v).max() / width)

    # jaw_open 0.45 and 0.9 open the lips about as far as 0.2 and 0.5 did before openings were made conversational.
    # (A smiling photo's corners come in less, so its O is a little wider than a neutral mouth's.)
    assert opening_aspect(jaw_open=0.45, lip_round=1.0) > 1.45 * opening_aspect(jaw_open=0.45), "rounding narrows"
    assert 0.55 < opening_aspect(jaw_open=0.9, lip_round=1.0) < 1.3, "an O, neither a slot nor a slit"
    rules = all_rules(bundle.mesh_points, bundle.landmarks)
    points = bundle.mesh_points
    vermilion = lambda moves: ((points[17] + moves[17]) - (points[0] + moves[0])) @ frame.v  # noqa: E731
    assert vermilion(rules["lip_round"]) > 1.4 * vermilion(np.zeros_like(points)), "lips pout (look fuller)"
    left, right = topo.MOUTH_CORNERS
    corners = lambda moves: (points[right] + moves[right] - points[left] - moves[left]) @ frame.u  # noqa: E731
    assert corners(rules["lip_spread"]) > 1.3 * corners(np.zeros_like(points)), "ee visibly widens the mouth"


@pytest.mark.parametrize("shape", [dict(jaw_open=0.85), dict(jaw_open=0.12, lip_spread=1.0),
                                   dict(jaw_open=0.2, lip_round=1.0), dict(jaw_open=0.6, lip_round=0.5)])
def test_mouth_shapes_do_not_fold_the_face(bundle, shape):
    """A triangle turned over shows as a tear or a hard line in the skin; only slivers may tip (under 1 px^2)."""
    points = bundle.mesh_points.copy()
    points[: topo.N_FACE_LANDMARKS] = separated_contours(bundle.landmarks[: topo.N_FACE_LANDMARKS, :2])
    rules = all_rules(points, bundle.landmarks)
    weights = mix_mouth(mouth_params(**shape))
    moved = points + sum(w * rules[name] for w, name in zip(weights, MOUTH_SHAPES))
    before = _signed_area(points[bundle.triangles])
    after = _signed_area(moved[bundle.triangles])
    folded = (np.sign(after) != np.sign(before)) & (np.abs(after) > 1.0)
    assert not folded.any(), bundle.triangles[folded]


def test_long_idle_stretch_is_alive_smooth_and_seamless(bundle):
    """250 idle frames (10 s): every frame moves a little, none jumps, and the warp box border never shows."""
    renderer = AvatarRenderer(bundle, seed=3)
    x0, y0, x1, y1 = prepared(bundle).box
    rest = mouth_params()
    previous = renderer.render(0, rest).astype(np.int16)
    photo = bundle.image.astype(np.int16)
    for i in range(1, 250):
        frame = renderer.render(i, rest).astype(np.int16)
        step = np.abs(frame - previous)
        assert step.any(), f"frozen at frame {i}"
        if renderer.idle.blink(i) == 0 and renderer.idle.blink(i - 1) == 0:
            assert step.mean() < 1.0, f"jump at frame {i}"
        border = np.concatenate([frame[y0, x0:x1], frame[y0:y1, x0], frame[y0:y1, x1 - 1]])
        photo_border = np.concatenate([photo[y0, x0:x1], photo[y0:y1, x0], photo[y0:y1, x1 - 1]])
        assert np.abs(border - photo_border).max() <= 2, f"seam at the warp border, frame {i}"
        previous = frame
