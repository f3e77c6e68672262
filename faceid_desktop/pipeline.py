"""The face pipeline: RGB frame -> faces (YuNet) -> 68 landmarks (dlib) -> aligned 112x112 chips ->
128-d embeddings (SFace)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .alignment import check_image, face_chip, five_landmarks
from .detection import DETECTION_SIDE, Face, FaceDetector
from .embedding import Embedder
from .landmarks68 import Landmarks68, predictor_box


@dataclass(frozen=True)
class Embedding:
    """A face found in a frame and its embedding.

    Attributes:
        face: where the face is (box, landmarks, detector score).
        vector: (128,) float32 unit-length embedding.
        chip: (112, 112, 3) uint8 RGB aligned chip the vector was computed from.
    """

    face: Face
    vector: np.ndarray = field(repr=False)
    chip: np.ndarray = field(repr=False)


class FacePipeline:
    """Detector, aligner and embedder in one object; build it once, call :meth:`process` per frame.

    Args:
        detector: a FaceDetector; a default one (:data:`~faceid_desktop.detection.DETECTION_SIDE`) when None.
        embedder: an Embedder; the pretrained one when None.
        landmarks: the 68-point predictor whose fit places the chip (:meth:`chip`); dlib's when None.
    """

    def __init__(self, detector: FaceDetector | None = None, embedder: Embedder | None = None,
                 landmarks: Landmarks68 | None = None) -> None:
        self.detector = detector or FaceDetector()
        self.embedder = embedder or Embedder.pretrained()
        self.landmarks = landmarks or Landmarks68()

    def process(self, image: np.ndarray, max_faces: int | None = None) -> list[Embedding]:
        """Detect, align and embed the faces of one frame, largest first.

        Args:
            image: (H, W, 3) uint8 RGB frame.
            max_faces: embed only the largest this many faces (None: all).

        Returns:
            One Embedding per face embedded; empty when no face is found.

        Raises:
            ValueError: the image is not (H, W, 3) uint8.
        """
        return self.embed_faces(image, self.detector.detect(image)[:max_faces])

    def embed_faces(self, image: np.ndarray, faces: list[Face]) -> list[Embedding]:
        """Align and embed faces already detected in ``image`` (same order as ``faces``)."""
        if not faces:
            return []
        chips = np.stack([self.chip(image, f) for f in faces])
        vectors = self.embedder.embed(chips)
        return [Embedding(f, v, c) for f, v, c in zip(faces, vectors, chips)]

    def chip(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The (112, 112, 3) uint8 RGB chip SFace sees for a face of an (H, W, 3) uint8 RGB frame: aligned on
        five points of dlib's 68-point fit in the box YuNet's landmarks imply
        (:func:`~faceid_desktop.alignment.five_landmarks`; dlib's own HOG box, as liveness uses, was no
        better for recognition and costs a few milliseconds more).

        Raises:
            ValueError: ``image`` is not (H, W, 3) uint8, or the face's landmarks are degenerate.
        """
        check_image(image)
        points68 = self.landmarks.fit(image, predictor_box(face.landmarks))
        return face_chip(image, five_landmarks(points68))


def default_pipeline(cache_dir: Path | None = None, max_side: int = DETECTION_SIDE) -> FacePipeline:
    """A FacePipeline with the pretrained embedder, weights cached in ``cache_dir`` (user cache when None).

    Raises:
        faceid_desktop.model_files.ModelFileError: a model file is missing or altered.
    """
    return FacePipeline(FaceDetector(max_side), Embedder.pretrained(cache_dir))
