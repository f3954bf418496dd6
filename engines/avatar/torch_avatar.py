"""The CPU renderer's drawing (renderer.py) as batched tensor operations on any PyTorch device: the frames of many
sessions of one avatar in one pass, planned on the CPU (frame_plan.py) and drawn from the same precomputed data
(prepared.py), moved to the device once.

Each step reproduces OpenCV's arithmetic, so the output is the CPU renderer's to within rounding (tests/
test_renderer_torch.py holds the two to docs/benchmarks.md's tolerance):
- the coarse fields' head carry (`cv2.warpAffine`) and the remap of the head box (`cv2.remap` on maps converted
  to 1/32 pixel) are `grid_sample` at the sample positions OpenCV's fixed-point code computes;
- the upsampling of the coarse mix is bilinear interpolation with OpenCV's pixel-centre convention;
- the residual fields, lids and mouth interior are gathers and scatters at whole-pixel shifts, blended with the
  same formulas as the CPU (eyelids.py `paint_lid`, mouth_interior.py), in float32 as there;
- the conversion to YUV 4:2:0 is OpenCV's BT.601 fixed-point conversion (chroma from each 2x2 block's top left).
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engines.avatar.eyelids import Lid, paint_lid
from engines.avatar.frame_plan import FramePlan
from engines.avatar.mouth_interior import (
    MouthInterior,
    blend_over,
    cavity_light,
    openness_of,
    shade_interior,
    stack_layers,
)
from engines.avatar.prepared import RIG_MOTIONS, PreparedAvatar, Residual

# OpenCV's RGB -> YUV (BT.601, studio range) in 20-bit fixed point, as cv2.cvtColor(..., COLOR_RGB2YUV_I420).
_YUV_SHIFT = 20
_Y = (269484, 528482, 102760, 16)
_U = (-155188, -305135, 460324, 128)
_V = (460324, -385875, -74448, 128)
_SUBPIXEL = 32  # OpenCV's interpolation grid: sample positions are rounded to 1/32 pixel


class DeviceAvatar:
    """One bundle's precomputed data on a device, read-only once built, shared by every session showing it."""

    def __init__(self, image: np.ndarray, prep: PreparedAvatar, device: torch.device) -> None:
        self.device = device
        self.prep = prep
        n_rig = len(RIG_MOTIONS)
        self.coarse_rig = self._tensor(prep.coarse[:n_rig])  # (rig motions, hc * wc * 2)
        self.coarse_global = self._tensor(prep.coarse[n_rig:])  # (global motions, hc * wc * 2)
        self.identity = self._tensor(prep.identity)  # (h, w, 2) frame pixel of each box pixel
        self.image = self._tensor(image)  # (H, W, 3) uint8
        self.source = self.image.permute(2, 0, 1)[None].float()  # (1, 3, H, W): what the head box samples
        self.mouth_residual = _DeviceResidual(prep.mouth_residual, prep.box, self._tensor)
        self.eye_residual = _DeviceResidual(prep.eye_residual, prep.box, self._tensor)
        self.lids = [_DeviceLid(lid, self._tensor) for lid in prep.eyelids.lids]
        self.interior = _DeviceInterior(prep.interior, self._tensor)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def draw(self, plans: Sequence[FramePlan]) -> torch.Tensor:
        """(n, H * 3 / 2, W) uint8 on the device: the planned frames as planar YUV 4:2:0."""
        return rgb_to_i420(self.draw_rgb(plans))

    def draw_rgb(self, plans: Sequence[FramePlan]) -> torch.Tensor:
        """(n, H, W, 3) uint8 RGB on the device; frame i equals `AvatarRenderer.draw(plans[i])` within rounding."""
        warp = self._warp_field(plans)
        n = len(plans)
        x0, y0, x1, y1 = self.prep.box
        height, width = self.image.shape[:2]
        grid = _normalized(torch.round(warp * _SUBPIXEL) / _SUBPIXEL, width, height)
        head = F.grid_sample(self.source.expand(n, -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                             align_corners=False)
        frames = self.image.expand(n, -1, -1, -1).clone()
        frames[:, y0:y1, x0:x1] = _to_bytes(head.permute(0, 2, 3, 1))
        self._paint_lids(frames, plans)
        self._paint_mouths(frames, plans)
        return frames

    def _warp_field(self, plans: Sequence[FramePlan]) -> torch.Tensor:
        """(n, h, w, 2) backward map of the head box, in frame pixels: the coarse mix (the rig fields carried by
        the head), upsampled, plus the fine residuals at the mouth and eyes."""
        prep = self.prep
        n = len(plans)
        hc, wc = prep.coarse_shape[:2]
        x0, y0, x1, y1 = prep.box
        rig = self._tensor(np.stack([p.rig for p in plans]))
        motion = self._tensor(np.stack([p.motion for p in plans]))
        coarse = (motion @ self.coarse_global).view(n, hc, wc, 2)
        carried = [i for i, p in enumerate(plans) if p.head_follow is not None]
        if carried:
            rows = torch.tensor(carried, device=self.device)
            moving = (rig[rows] @ self.coarse_rig).view(-1, hc, wc, 2).permute(0, 3, 1, 2)
            inverse = np.stack([cv2.invertAffineTransform(plans[i].head_follow) for i in carried])
            grid = _normalized(_warp_affine_positions(self._tensor(inverse), hc, wc), wc, hc)
            warped = F.grid_sample(moving, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            coarse.index_add_(0, rows, warped.permute(0, 2, 3, 1))
        fine = F.interpolate(coarse.permute(0, 3, 1, 2), size=(y1 - y0, x1 - x0), mode="bilinear",
                             align_corners=False)
        warp = (fine.permute(0, 2, 3, 1) + self.identity).contiguous()
        k = len(plans[0].mouth_weights)
        shifts = self._tensor(np.array([[p.mouth_shift, p.eye_shift] for p in plans], np.int64))
        self.mouth_residual.add_to(warp, rig[:, :k], shifts[:, 0])
        self.eye_residual.add_to(warp, rig[:, k:], shifts[:, 1])
        return warp

    def _paint_lids(self, frames: torch.Tensor, plans: Sequence[FramePlan]) -> None:
        for index, lid in enumerate(self.lids):
            cuts = [(i, cut) for i, p in enumerate(plans) for cut in p.lids if cut.lid == index]
            if cuts:
                lid.paint(frames, [i for i, _ in cuts], [cut for _, cut in cuts], self._tensor)

    def _paint_mouths(self, frames: torch.Tensor, plans: Sequence[FramePlan]) -> None:
        cuts = [(i, p.mouth) for i, p in enumerate(plans) if p.mouth is not None]
        if cuts:
            self.interior.paint(frames, [i for i, _ in cuts], [cut for _, cut in cuts], self._tensor)


class _DeviceResidual:
    """A group's fine corrections (prepared.Residual) and where they land in the head box."""

    def __init__(self, residual: Residual, box: tuple[int, int, int, int], tensor) -> None:
        self.basis = tensor(residual.basis)  # (K, rh * rw * 2)
        self.shape = residual.shape
        self.top, self.left = residual.box[1] - box[1], residual.box[0] - box[0]

    def add_to(self, warp: torch.Tensor, weights: torch.Tensor, shifts: torch.Tensor) -> None:
        """Add each frame's mix of the corrections to `warp` (n, h, w, 2), moved by its whole-pixel `shifts`
        (n, 2: dx, dy) and clipped to the box, as renderer.py `_add_residual` does."""
        n, h, w, _ = warp.shape
        rh, rw, _ = self.shape
        field = (weights @ self.basis).view(n, rh, rw, 2)
        rows = self.top + torch.arange(rh, device=warp.device)[None] + shifts[:, 1:2]
        cols = self.left + torch.arange(rw, device=warp.device)[None] + shifts[:, 0:1]
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        target = rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]
        # Positions clipped off the box add zero wherever they were clamped to.
        field = field * inside[..., None]
        warp.view(n, h * w, 2).scatter_add_(1, target.view(n, -1, 1).expand(-1, -1, 2), field.view(n, -1, 2))


class _DeviceLid:
    def __init__(self, lid: Lid, tensor) -> None:
        self.box = lid.box
        self.skin = tensor(lid.skin)  # (h, w, 3) float32
        self.lash = tensor(np.asarray(lid.lash, np.float32))  # (3,)

    def paint(self, frames: torch.Tensor, indices: list[int], cuts: list, tensor) -> None:
        """Paint this lid on frames[indices] with their cuts (eyelids.LidCut), each at its own shift."""
        x0, y0, x1, y1 = self.box
        shifts = np.array([cut.shift for cut in cuts], np.int64)
        where = _shifted_box(tensor(np.array(indices, np.int64)), tensor(shifts[:, 1] + y0), tensor(shifts[:, 0] + x0),
                             y1 - y0, x1 - x0)
        alpha = tensor(np.stack([cut.alpha for cut in cuts]))
        lash = tensor(np.stack([cut.lash for cut in cuts]))
        frames[where] = _to_bytes(paint_lid(frames[where].float(), self.skin, self.lash, alpha, lash))


class _DeviceInterior:
    """The mouth interior's painted layers (mouth_interior.MouthInterior) over its whole box: each frame's cut is
    drawn over the box, with its coverage zero outside the cut's region."""

    def __init__(self, interior: MouthInterior, tensor) -> None:
        self.interior = interior
        x0, y0, x1, y1 = interior.box
        self.upper = tensor(interior.upper_layer)
        self.lower = tensor(interior.lower_layer)
        self.tongue = tensor(interior.tongue_layer)
        self.cavity_back = tensor(interior.cavity_back[interior.window(x0, y0, x1, y1, (0, 0))])
        self.cavity_rise = tensor(interior.cavity_rise)
        size = int(round(interior.depth_sigma * 8 + 1)) | 1  # OpenCV's kernel size for a float image
        kernel = cv2.getGaussianKernel(size, interior.depth_sigma, cv2.CV_32F).reshape(-1)
        self.depth_rows = tensor(_band(kernel, y1 - y0))
        self.depth_cols = tensor(_band(kernel, x1 - x0).T.copy())

    def paint(self, frames: torch.Tensor, indices: list[int], cuts: list, tensor) -> None:
        """Paint the interior on frames[indices] with their cuts (mouth_interior.MouthCut)."""
        interior = self.interior
        bx0, by0, bx1, by1 = interior.box
        alpha = np.zeros((len(cuts), by1 - by0, bx1 - bx0), np.float32)
        for canvas, cut in zip(alpha, cuts):
            x0, y0, x1, y1 = cut.region
            canvas[y0 - by0: y1 - by0, x0 - bx0: x1 - bx0] = cut.alpha
        coverage = tensor(alpha)
        strength = tensor(np.array([cut.strength for cut in cuts], np.float32))
        content = stack_layers(self._layer(self.tongue, [c.tongue_shift for c in cuts], tensor),
                               self._layer(self.lower, [c.lower_shift for c in cuts], tensor),
                               self._layer(self.upper, [c.upper_shift for c in cuts], tensor))
        inside = self.depth_rows @ coverage @ self.depth_cols  # the depth blur, zeros beyond the box
        light = cavity_light(openness_of(inside.amax(dim=(1, 2))))[:, None, None, None]
        colour = shade_interior(content, self.cavity_back, self.cavity_rise, inside, light)
        rows = tensor(np.array(indices, np.int64))
        below = frames[rows, by0:by1, bx0:bx1].float()
        frames[rows, by0:by1, bx0:bx1] = blend_over(below, colour, coverage * strength[:, None, None]).to(torch.uint8)

    def _layer(self, layer: torch.Tensor, shifts: list[tuple[int, int]], tensor) -> torch.Tensor:
        """(n, h, w, 4): the layer's pixels over the box, each frame's moved by its shift."""
        bx0, by0, bx1, by1 = self.interior.box
        windows = [self.interior.window(bx0, by0, bx1, by1, shift) for shift in shifts]
        tops = tensor(np.array([rows.start for rows, _ in windows], np.int64))
        lefts = tensor(np.array([cols.start for _, cols in windows], np.int64))
        h, w = by1 - by0, bx1 - bx0
        rows = tops[:, None] + torch.arange(h, device=layer.device)[None]
        cols = lefts[:, None] + torch.arange(w, device=layer.device)[None]
        return layer[rows[:, :, None], cols[:, None, :]]


def _shifted_box(frames: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor, h: int, w: int):
    """Advanced indices of an h x w box at (tops[i], lefts[i]) in frame frames[i], for gathers and scatters."""
    rows = tops[:, None] + torch.arange(h, device=tops.device)[None]
    cols = lefts[:, None] + torch.arange(w, device=tops.device)[None]
    return frames[:, None, None], rows[:, :, None], cols[:, None, :]


def _warp_affine_positions(inverse: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(m, h, w, 2) source positions that cv2.warpAffine samples for destination pixels (x, y), from the inverse
    maps (m, 2, 3) in float64: its 10-bit fixed-point products, rounded down to 1/32 pixel."""
    scale, round_delta = 1 << 10, (1 << 10) // _SUBPIXEL // 2
    xs = torch.arange(w, dtype=torch.float64, device=inverse.device)
    ys = torch.arange(h, dtype=torch.float64, device=inverse.device)
    along_x = torch.round(inverse[:, :, 0, None] * xs * scale)  # (m, 2, w)
    along_y = torch.round((inverse[:, :, 1, None] * ys + inverse[:, :, 2, None]) * scale) + round_delta  # (m, 2, h)
    fixed = along_y[:, :, :, None] + along_x[:, :, None, :]  # (m, 2, h, w) in 1/1024 pixel
    return (torch.floor(fixed / (scale // _SUBPIXEL)) / _SUBPIXEL).permute(0, 2, 3, 1).float()


def _normalized(positions: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Pixel positions (..., 2: x, y; pixel centres at whole numbers) as grid_sample's [-1, 1] coordinates."""
    x, y = positions.unbind(-1)
    return torch.stack([(2 * x + 1) / width - 1, (2 * y + 1) / height - 1], dim=-1)


def _band(kernel: np.ndarray, n: int) -> np.ndarray:
    """(n, n) matrix that convolves a length-n signal with a centred kernel, zeros beyond its ends (cv2's
    BORDER_CONSTANT): a separable blur as two matrix products, in plain float32 on any device."""
    r = len(kernel) // 2
    offsets = np.arange(n)[None, :] - np.arange(n)[:, None] + r  # kernel tap of input j for output i
    return np.where((offsets >= 0) & (offsets < len(kernel)), kernel[np.clip(offsets, 0, len(kernel) - 1)],
                    0.0).astype(np.float32)


def _to_bytes(values: torch.Tensor) -> torch.Tensor:
    """Round to the nearest byte, as OpenCV's fixed-point interpolation does."""
    return torch.floor(values + 0.5).to(torch.uint8)


def rgb_to_i420(frames: torch.Tensor) -> torch.Tensor:
    """(n, H, W, 3) uint8 RGB -> (n, H * 3 / 2, W) uint8 planar YUV 4:2:0, bit-exact with OpenCV's."""
    n, height, width, _ = frames.shape
    rgb = frames.to(torch.int32)
    block = rgb[:, ::2, ::2]

    def plane(pixels: torch.Tensor, coefficients: tuple[int, int, int, int]) -> torch.Tensor:
        cr, cg, cb, offset = coefficients
        r, g, b = pixels.unbind(-1)
        value = cr * r + cg * g + cb * b + ((offset << _YUV_SHIFT) + (1 << (_YUV_SHIFT - 1)))
        return (value >> _YUV_SHIFT).clamp(0, 255).to(torch.uint8).reshape(n, -1)

    planes = torch.cat([plane(rgb, _Y), plane(block, _U), plane(block, _V)], dim=1)
    return planes.view(n, height * 3 // 2, width)
