"""How usable a face is for enrollment or verification: sharpness, light, head pose and size.

All measures are cheap (a Laplacian on the 112x112 chip and a few landmark sums) so they run on every
camera frame, and each one maps to advice a person can follow ("move closer", "too dark", ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .detection import Face

#: Below this variance of the Laplacian of the grey chip, a chip is motion-blurred or out of focus. Sharp
#: LFW chips measure 15-90, webcam chips 80-300, so this only catches real blur.
MIN_SHARPNESS = 8.0
#: Mean grey level (0-255) of the face below which it is too dark, above which it is washed out. SFace copes
#: with dim faces: 40 LFW owners' probes darkened to a face level of about 32 (frame mean 22, sensor noise)
#: were rejected 5.9% of the time at the default threshold (1.0% at normal light) with no stranger accepted
#: in 10,000 comparisons; brightening them first (gamma, CLAHE) made it worse (8.3% with gamma). So only
#: faces darker than this are refused ("too dark").
MIN_BRIGHTNESS, MAX_BRIGHTNESS = 25.0, 220.0
#: Face box width in pixels below which the chip is upsampled too much to be trusted.
MIN_FACE_WIDTH = 60
#: |yaw| (nose offset from the eyes' midpoint, in inter-eye distances) beyond which the head is turned too
#: far for a reliable embedding; ~0 is frontal, ~0.35 is a clear three-quarter view.
MAX_YAW = 0.45
#: Lower-face texture (grey-level standard deviation of the mouth and chin, rows 84-104 of the 112x112 chip)
#: over upper-face texture (brows, eyes and nose bridge) below which the face is taken as covered below the
#: eyes (a mask, a hand, a scarf). Uncovered faces measure 0.32-2.7 (16 seed photos: lowest 0.47; 300 LFW
#: faces: lowest 0.32, 1st percentile 0.48); a face painted over from the nose down measures 0.0-0.15. A
#: patterned or wrinkled cover can pass: it is a cue, not a proof.
MIN_LOWER_TEXTURE = 0.2
#: Estimated share of a face beyond the frame (``Face.outside``) above which it counts as cut by the image
#: edge: a whole face touching the edge estimates about 0.05, a turned one up to about 0.2.
MAX_OUTSIDE = 0.25
#: The part of a 112x112 chip that is face (eyebrows to chin, cheek to cheek), not background.
FACE_ROWS, FACE_COLUMNS = slice(28, 104), slice(24, 88)


@dataclass(frozen=True)
class Quality:
    """Quality measures of one face.

    Attributes:
        sharpness: variance of the Laplacian of the grey chip (higher is sharper).
        brightness: mean grey level of the chip, 0-255.
        yaw: horizontal nose offset from the eyes' midpoint divided by the inter-eye distance; negative
            when the nose is left of centre in the image. 0 is frontal.
        pitch: vertical nose offset below the eye line in inter-eye distances (about 0.75 when frontal).
        face_width: detector box width, pixels.
        score: 0..1 overall usability, the product of the per-measure scores (1 is best).
    """

    sharpness: float
    brightness: float
    yaw: float
    pitch: float
    face_width: int
    score: float

    def problems(self) -> list[str]:
        """The reasons this face should not be used, as short advice ("too dark", ...); empty when fine."""
        found = []
        if self.face_width < MIN_FACE_WIDTH:
            found.append("too small: move closer")
        if self.brightness < MIN_BRIGHTNESS:
            found.append("too dark")
        elif self.brightness > MAX_BRIGHTNESS:
            found.append("too bright")
        if self.sharpness < MIN_SHARPNESS:
            found.append("blurred: hold still")
        if abs(self.yaw) > MAX_YAW:
            found.append("face the camera")
        return found


def head_pose(landmarks: np.ndarray) -> tuple[float, float]:
    """Rough (yaw, pitch) from YuNet's 5 landmarks, in units of the inter-eye distance (see :class:`Quality`).

    The nose tip sits midway between the eyes in the ArcFace template (eyes' midpoint x = 55.9, nose x = 56.0
    of 112; :data:`faceid_desktop.alignment.TEMPLATE`), so its offset along the eye line measures yaw; it
    sits 0.57 inter-eye distances below the eye line in a frontal face.
    """
    right_eye, left_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    axis = left_eye - right_eye  # towards the image's right in an unmirrored frame
    distance = float(np.hypot(*axis))
    if distance == 0.0:
        return 0.0, 0.0
    axis = axis / distance
    offset = nose - (right_eye + left_eye) / 2.0
    yaw = float(offset @ axis) / distance
    pitch = float(offset @ np.array([-axis[1], axis[0]])) / distance
    return yaw, pitch


def _ramp(value: float, zero: float, one: float) -> float:
    return float(np.clip((value - zero) / (one - zero), 0.0, 1.0))


def assess(face: Face, chip: np.ndarray) -> Quality:
    """Measure the quality of a face from its detection and its (112, 112, 3) uint8 RGB chip."""
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    brightness = float(grey[FACE_ROWS, FACE_COLUMNS].mean())
    yaw, pitch = head_pose(face.landmarks)
    score = (
        _ramp(sharpness, MIN_SHARPNESS, 5 * MIN_SHARPNESS)
        * min(_ramp(brightness, MIN_BRIGHTNESS - 20, MIN_BRIGHTNESS + 30), _ramp(brightness, MAX_BRIGHTNESS + 20, MAX_BRIGHTNESS - 30))
        * _ramp(abs(yaw), MAX_YAW + 0.1, 0.15)
        * _ramp(face.width, MIN_FACE_WIDTH - 20, 2 * MIN_FACE_WIDTH)
    )
    return Quality(sharpness, brightness, yaw, pitch, face.width, score)


def lower_face_texture(chip: np.ndarray) -> float:
    """Texture of the lower face relative to the upper face, on an aligned 112x112 RGB chip: the grey-level
    standard deviation of the mouth and chin over that of the brows, eyes and nose bridge (1 means alike).
    A cover below the eyes (mask, hand) is smoother than lips, teeth and a chin: see :data:`MIN_LOWER_TEXTURE`.

    Raises:
        ValueError: not a (112, 112, 3) uint8 chip.
    """
    if chip.shape != (112, 112, 3) or chip.dtype != np.uint8:
        raise ValueError(f"expected a (112, 112, 3) uint8 chip, got {chip.dtype} {chip.shape}")
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY).astype(np.float32)
    upper = np.concatenate([grey[30:42, 40:72].ravel(), grey[44:62, 50:62].ravel()])
    lower = grey[84:104, 38:74].ravel()
    return float(lower.std() / max(float(upper.std()), 1.0))
