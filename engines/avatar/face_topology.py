"""Landmark indices of the 478-point MediaPipe face mesh that the avatar rig relies on.

The preparation tool stores raw MediaPipe landmarks; these ordered contours give them meaning (lips, lids, oval)
without importing MediaPipe at run time. Paired contours (upper/lower lip, upper/lower lid) run corner to corner
in the same order, so element i of one faces element i of the other.
"""
from __future__ import annotations

N_FACE_LANDMARKS = 468  # the mesh proper; 468..477 are the refined irises
N_LANDMARKS = 478

LIP_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_LOWER_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIP_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIP_UPPER_MID, LIP_LOWER_MID = 13, 14  # the middle of the inner lip contours

# Each eye: (upper lid, lower lid), corner to corner. "right" is the subject's right eye (left in the image).
EYE_RIGHT = (
    (33, 246, 161, 160, 159, 158, 157, 173, 133),
    (33, 7, 163, 144, 145, 153, 154, 155, 133),
)
EYE_LEFT = (
    (263, 466, 388, 387, 386, 385, 384, 398, 362),
    (263, 249, 390, 373, 374, 380, 381, 382, 362),
)
EYES = (EYE_RIGHT, EYE_LEFT)
IRIS_CENTERS = (468, 473)
# Each brow, in the same order as the eyes: (upper edge, lower edge), outer end to inner end.
BROW_RIGHT = ((70, 63, 105, 66, 107), (46, 53, 52, 65, 55))
BROW_LEFT = ((300, 293, 334, 296, 336), (276, 283, 282, 295, 285))
BROWS = (BROW_RIGHT, BROW_LEFT)

FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
FOREHEAD_TOP = 10
CHIN = 152
MOUTH_CORNERS = (61, 291)


def inner_mouth_polygon() -> tuple[int, ...]:
    """The inner lip contour as one closed polygon: upper lip left to right, lower lip right to left."""
    return LIP_UPPER_INNER + LIP_LOWER_INNER[-2:0:-1]


def eye_polygon(eye: tuple[tuple[int, ...], tuple[int, ...]]) -> tuple[int, ...]:
    """One eye's opening as a closed polygon."""
    upper, lower = eye
    return upper + lower[-2:0:-1]
