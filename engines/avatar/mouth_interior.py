"""What shows between the lips: a warm dark cavity, upper teeth fixed to the skull, the tongue and hinted lower teeth
on the jaw.

Layers are painted once, in the mouth's own frame (a tilted head gets tilted teeth) and tinted to the photo's light.
If the photo shows its own teeth, those pixels are laid over the painted ones (upper teeth on the skull, lower on
the jaw), so the rest frame is nearly the photo itself and the opening mouth keeps the person's real teeth. Per
frame the layers are only shifted by whole pixels and stacked over the cavity, whose shade depends on how far each
pixel lies inside the opening; the stack is cut out by the moved inner-lip outline, smoothed into curves and
feathered by about a pixel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

from engines.avatar.rig import smoothstep
from engines.avatar.teeth import (
    LOWER_ROW,
    UPPER_ROW,
    paint_row,
    photo_teeth_colour,
    toothness,
    upper_share,
)

Box = tuple[int, int, int, int]
_IVORY = np.array([0.90, 0.83, 0.70], np.float32)
_TONGUE = np.array([0.56, 0.25, 0.23], np.float32)
_CAVITY_BACK = np.array([0.13, 0.045, 0.038], np.float32)  # the throat, darkest
_CAVITY_FRONT = np.array([0.30, 0.12, 0.10], np.float32)  # just inside the lips, where some light reaches
TONGUE_FOLLOW = 0.55  # the tongue drops with the jaw less than the lower lip does, so more of it shows as it opens
_TONGUE_DROP = 0.05  # half mouth widths its top lies below the lower lip's inner edge at rest
_TEETH_SHADOW = 0.45  # how dark the shadow right under the upper teeth is
_PHOTO_TEETH_MIN_GAP = 0.06  # mouth widths: a rest opening this tall shows enough teeth to sample
_OUTLINE_STEPS = 4  # outline points per lip landmark after smoothing
_FEATHER_PX = 0.6  # sigma of the lip-to-interior feather
_CLOSED_GAP_PX = 1.0  # mean lip gap below which the interior fades out
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_OPENNESS_FROM, _OPENNESS_SPAN = 0.3, 0.45  # depth at which the cavity starts to brighten, and over how much
Pixels = TypeVar("Pixels")  # a NumPy array or a torch tensor: the arithmetic below serves both renderers


@dataclass(frozen=True)
class MouthCut:
    """The mouth interior of one frame: where it is painted, its feathered coverage there, how strongly, and the
    whole pixels each layer moved."""

    region: Box  # frame pixels, inside MouthInterior.box
    alpha: np.ndarray  # (h, w) float32 over `region`: the feathered inner-lip outline
    strength: float
    upper_shift: tuple[int, int]
    lower_shift: tuple[int, int]
    tongue_shift: tuple[int, int]


class MouthInterior:
    """The mouth's inside for one bundle, painted once; `composite` cuts it to the current lip opening."""

    def __init__(self, image: np.ndarray, box: Box, centre: np.ndarray, u: np.ndarray, width: float,
                 rest_polygon: np.ndarray, upper_lip: np.ndarray, lower_lip: np.ndarray, travel: int) -> None:
        """`upper_lip`/`lower_lip`: rest inner-lip contours (pixels); `travel`: most pixels a layer is shifted."""
        self.width = width
        self.travel = travel
        self._smooth = _closed_catmull_rom(len(rest_polygon), _OUTLINE_STEPS)
        x0, y0, x1, y1 = box
        self.box = box
        px0, py0 = x0 - travel, y0 - travel  # layers carry a margin so shifted slices stay inside them
        self.layer_origin = np.array([px0, py0])
        h, w = y1 - y0 + 2 * travel, x1 - x0 + 2 * travel
        v = np.array([-u[1], u[0]])
        ys, xs = np.mgrid[py0:py0 + h, px0:px0 + w].astype(np.float32)
        half = width / 2
        a = ((xs - centre[0]) * u[0] + (ys - centre[1]) * u[1]) / half
        b = ((xs - centre[0]) * v[0] + (ys - centre[1]) * v[1]) / half
        up_b = _contour_b(upper_lip, centre, u, v, half, a)
        low_b = _contour_b(lower_lip, centre, u, v, half, a)
        pixel = 1.0 / half  # one pixel in these units, for anti-aliased edges

        photo = _crop(image, px0, py0, w, h).astype(np.float32) / 255
        opening = _polygon_alpha(rest_polygon - (px0, py0), (w, h))
        gap = float(np.median((lower_lip - upper_lip) @ v)) / width
        light, cast = _skin_light(image, centre, width)
        painted = np.clip(_IVORY * light * (0.8 + 0.2 * cast), 0.0, 1.0)
        shows_teeth = gap >= _PHOTO_TEETH_MIN_GAP
        tooth = toothness(photo, opening) if shows_teeth else None
        teeth = photo_teeth_colour(photo, opening, tooth, painted) if shows_teeth else painted
        upper = paint_row(a, b, pixel, teeth, up_b, UPPER_ROW)
        lower = paint_row(a, b, pixel, teeth, low_b, LOWER_ROW)
        if shows_teeth:
            on_skull = upper_share(tooth, opening, up_b, low_b, b, pixel)
            # The rest opening cuts the photo's teeth along the lip; soften that cut as the outline's feather is.
            carried = cv2.GaussianBlur(opening * tooth, (0, 0), _FEATHER_PX)
            upper = _over(_premultiplied(photo, carried * on_skull), upper)
            lower = _over(_premultiplied(photo, carried * (1 - on_skull)), lower)
        # Above the rest lip line the upper teeth end in the gum: a lip that lifts (f, v) shows pink gum there,
        # not the grey roots of teeth painted past it.
        upper = _over(_gum(a, b, pixel, up_b, _lip_colour(photo, upper_lip - (px0, py0))), upper)
        self.upper_layer = _over(upper, _shadow_below(upper[..., 3], int(round(0.12 * width))))
        self.lower_layer = lower
        low_mid = float(np.interp(0.0, *_sorted_ab(lower_lip, centre, u, v, half)))
        self.tongue_layer = _tongue(a, b, pixel, light, low_mid + _TONGUE_DROP)
        # The insides of the cheeks catch a little more light than the throat behind the middle of the mouth.
        side = smoothstep(0.3, 1.0, np.abs(a))[..., None]
        self.cavity_back = (_CAVITY_BACK * light * (1 + 0.7 * side)).astype(np.float32)
        self.cavity_rise = ((_CAVITY_FRONT - _CAVITY_BACK) * light).astype(np.float32)
        self.depth_sigma = 0.07 * width

    def cut(self, polygon: np.ndarray, upper_shift: tuple[int, int], lower_shift: tuple[int, int],
            strength: float) -> MouthCut | None:
        """The interior inside `polygon` (output pixels, the inner lips), its upper teeth moved by `upper_shift`,
        the lower teeth by `lower_shift` and the tongue part of the way; None where nothing would show."""
        outline = self._smooth @ polygon
        # Lips pressed together leave no opening, only the outline's anti-aliased trace: fade that out.
        strength *= min(max(_area(outline) / self.width / _CLOSED_GAP_PX, 0.0), 1.0)
        if strength <= 0.0:
            return None
        bx0, by0, bx1, by1 = self.box
        pad = 2
        lo = np.floor(outline.min(axis=0)).astype(int) - pad
        hi = np.ceil(outline.max(axis=0)).astype(int) + pad + 1
        x0, y0 = max(int(lo[0]), bx0), max(int(lo[1]), by0)
        x1, y1 = min(int(hi[0]), bx1), min(int(hi[1]), by1)
        if x1 <= x0 or y1 <= y0:
            return None
        alpha = cv2.GaussianBlur(_polygon_alpha(outline - (x0, y0), (x1 - x0, y1 - y0)), (0, 0), _FEATHER_PX)
        tongue_shift = tuple(round(u + TONGUE_FOLLOW * (d - u)) for u, d in zip(upper_shift, lower_shift))
        return MouthCut((x0, y0, x1, y1), alpha, strength, upper_shift, lower_shift, tongue_shift)

    def composite(self, frame: np.ndarray, cut: MouthCut) -> None:
        """Paint the interior of `cut` onto `frame` (H, W, 3 uint8) in place."""
        x0, y0, x1, y1 = cut.region
        content = stack_layers(self.tongue_layer[self.window(x0, y0, x1, y1, cut.tongue_shift)],
                               self.lower_layer[self.window(x0, y0, x1, y1, cut.lower_shift)],
                               self.upper_layer[self.window(x0, y0, x1, y1, cut.upper_shift)])
        # How deep inside the opening each pixel lies: 0.5 at the lips, towards 1 deep inside a wide opening.
        inside = cv2.GaussianBlur(cut.alpha, (0, 0), self.depth_sigma, borderType=cv2.BORDER_CONSTANT)
        light = cavity_light(float(openness_of(np.float64(inside.max()))))
        interior = shade_interior(content, self.cavity_back[self.window(x0, y0, x1, y1, (0, 0))],
                                  self.cavity_rise, inside, light)
        region = frame[y0:y1, x0:x1]
        region[:] = blend_over(region.astype(np.float32), interior, cut.alpha * cut.strength).astype(np.uint8)

    def window(self, x0: int, y0: int, x1: int, y1: int, shift: tuple[int, int]) -> tuple[slice, slice]:
        """Layer rows and columns that land on frame box (x0, y0, x1, y1) when the layer moves by `shift`."""
        dx, dy = (max(-self.travel, min(self.travel, int(s))) for s in shift)
        top = y0 - int(self.layer_origin[1]) - dy
        left = x0 - int(self.layer_origin[0]) - dx
        return slice(top, top + y1 - y0), slice(left, left + x1 - x0)


def stack_layers(tongue: Pixels, lower: Pixels, upper: Pixels) -> Pixels:
    """Premultiplied RGBA layers stacked back to front: tongue, lower teeth, upper teeth (with gum and shadow)."""
    content = tongue * (1 - lower[..., 3:]) + lower
    return content * (1 - upper[..., 3:]) + upper


def openness_of(deepest: Pixels) -> Pixels:
    """How open the mouth looks, in [0, 1], from the deepest value of the blurred coverage."""
    return ((deepest - _OPENNESS_FROM) / _OPENNESS_SPAN).clip(0.0, 1.0)


def cavity_light(openness: Pixels) -> Pixels:
    """A narrow opening lets less light into the cavity; the teeth at its front lose hardly any."""
    return 0.55 + 0.45 * openness * openness * (3 - 2 * openness)


def shade_interior(content: Pixels, cavity_back: Pixels, cavity_rise: Pixels, inside: Pixels,
                   light: Pixels) -> Pixels:
    """RGB 0-255 of the interior: the cavity, lighter toward the lips (`inside`: the blurred coverage, 0.5 at
    the lips, towards 1 deep inside a wide opening), behind the stacked layers `content`, which only the lips
    shade a little."""
    near_lips = (2.0 - 2.0 * inside).clip(0.0, 1.0)[..., None]
    interior = cavity_rise * near_lips + cavity_back
    interior = interior * ((1 - content[..., 3:]) * light)
    interior = interior + content[..., :3] * (1 - 0.12 * near_lips)
    return (interior * 255.0).clip(max=255.0)


def blend_over(below: Pixels, colour: Pixels, alpha: Pixels) -> Pixels:
    """`colour` over `below` (float RGB) by `alpha`, plus the half that rounds when cast to bytes."""
    return (colour - below) * alpha[..., None] + below + 0.5


def _closed_catmull_rom(n: int, steps: int) -> np.ndarray:
    """(n * steps, n) matrix taking a closed polygon's corners to points on the Catmull-Rom curve through them:
    the lip outline becomes round where the landmarks only give corners, and passes through every landmark."""
    t = np.arange(steps, dtype=np.float64) / steps
    weights = 0.5 * np.stack([-t**3 + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2, -3 * t**3 + 4 * t**2 + t, t**3 - t**2], 1)
    m = np.zeros((n * steps, n), np.float64)
    for i in range(n):
        for k, offset in enumerate((-1, 0, 1, 2)):
            m[i * steps: (i + 1) * steps, (i + offset) % n] += weights[:, k]
    return m.astype(np.float32)


def _area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(x[:-1] @ y[1:] - y[:-1] @ x[1:] + x[-1] * y[0] - y[-1] * x[0]))


def _sorted_ab(contour: np.ndarray, centre, u, v, half) -> tuple[np.ndarray, np.ndarray]:
    """A contour's (a, b) samples in mouth units, sorted by a."""
    ca = (contour - centre) @ u / half
    cb = (contour - centre) @ v / half
    order = np.argsort(ca)
    return ca[order], cb[order]


def _contour_b(contour: np.ndarray, centre, u, v, half, a) -> np.ndarray:
    """The contour's b (down) coordinate as a function of a, evaluated on the grid."""
    return np.interp(a, *_sorted_ab(contour, centre, u, v, half)).astype(np.float32)


def _crop(image: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    padded = cv2.copyMakeBorder(image, h, h, w, w, cv2.BORDER_REPLICATE)
    return padded[y0 + h: y0 + 2 * h, x0 + w: x0 + 2 * w]


def _polygon_alpha(polygon: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    alpha = np.zeros((size[1], size[0]), np.float32)
    cv2.fillPoly(alpha, [np.round(polygon * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    return alpha


def _skin_light(image: np.ndarray, centre: np.ndarray, width: float) -> tuple[float, np.ndarray]:
    """How brightly the skin around the mouth is lit (1 = a well-lit face) and the photo's colour cast (skin
    colour over its brightness), so painted teeth are neither glowing in a dark photo nor cold in a warm one."""
    x, y = int(centre[0]), int(centre[1])
    r = int(width)
    patch = image[max(y - r, 0): y + r, max(x - r, 0): x + r].reshape(-1, 3).astype(np.float32) / 255
    light = float(np.clip(np.percentile(patch @ _LUMA, 75) / 0.62, 0.55, 1.1))
    skin = np.median(patch, axis=0)
    cast = skin / max(float(skin @ _LUMA), 1e-3)
    return light, cast.astype(np.float32)


def _tongue(a: np.ndarray, b: np.ndarray, pixel: float, light: float, top: float) -> np.ndarray:
    """Premultiplied RGBA tongue: a wide dome whose top (at b = `top` in the middle) catches a little light, darker
    toward its sides and down where it goes under the teeth, with a faint groove along its middle."""
    half_w, half_h = 0.72, 0.45
    across = np.clip(a / half_w, -1, 1)
    top_b = top + half_h * (1 - np.sqrt(1 - across**2))  # the dome's outline, per column
    below = b - top_b
    alpha = np.clip(below / pixel + 0.5, 0, 1) * np.clip((1 - np.abs(a / half_w)) / (2 * pixel) + 0.5, 0, 1)
    shade = (0.62 + 0.38 * np.exp(-(((below - 0.05) / 0.07) ** 2))) * (1 - 0.45 * across**2)
    shade *= (1 - 0.35 * smoothstep(0.1, 0.4, below)) * (1 - 0.15 * np.exp(-((a / 0.06) ** 2)))
    rgb = _TONGUE * light * shade[..., None]
    return np.dstack([rgb * alpha[..., None], alpha]).astype(np.float32)


def _gum(a: np.ndarray, b: np.ndarray, pixel: float, lip_b: np.ndarray, lip: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA gum above the rest upper lip line `lip_b`: the lip's own colour, a little darker and
    pinker, with a scalloped edge (each tooth's crown reaches a little higher in its middle)."""
    phi = np.arcsin(np.clip(a / 0.97, -1, 1))
    scallop = 0.03 * np.abs(np.sin(np.pi * np.abs(phi) / 0.2))  # about one arch per tooth
    above = (lip_b - 0.02 - scallop - b) / pixel
    alpha = np.clip(above + 0.5, 0, 1) * (1 - smoothstep(1.0, 1.25, np.abs(a)))
    rgb = np.clip(lip * np.array([0.85, 0.62, 0.66], np.float32), 0, 1) * (1 - 0.25 * smoothstep(0.0, 0.15, lip_b - b))[..., None]
    return np.dstack([rgb * alpha[..., None], alpha]).astype(np.float32)


def _lip_colour(photo: np.ndarray, upper_lip: np.ndarray) -> np.ndarray:
    """The upper lip's colour (photo crop coordinates): the median of a few pixels just above its inner edge."""
    h, w = photo.shape[:2]
    pts = np.round(upper_lip[2:-2] - (0, 2)).astype(int)
    xs, ys = np.clip(pts[:, 0], 0, w - 1), np.clip(pts[:, 1], 0, h - 1)
    return np.median(photo[ys, xs], axis=0).astype(np.float32)


def _shadow_below(alpha: np.ndarray, length: int) -> np.ndarray:
    """Premultiplied RGBA shade that the upper teeth throw onto what lies behind and below them."""
    kernel = np.ones((max(length, 1), 1), np.uint8)
    reach = cv2.dilate(alpha, kernel, anchor=(0, len(kernel) - 1))
    shade = _TEETH_SHADOW * cv2.GaussianBlur(reach, (0, 0), max(length / 3, 0.5))
    return np.dstack([np.zeros(alpha.shape + (3,), np.float32), shade]).astype(np.float32)


def _premultiplied(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.dstack([rgb * alpha[..., None], alpha]).astype(np.float32)


def _over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    return top + bottom * (1 - top[..., 3:4])
