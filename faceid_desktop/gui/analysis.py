"""What the screens need to know about one camera frame: where the faces are, whether the face can be used,
and its embedding and distance to a profile (pure: no Qt, runs in the processing thread).

These compose the core's own steps (detector, :func:`~faceid_desktop.verification.primary_face`,
:func:`~faceid_desktop.enrollment.enrollment_problem`, :func:`~faceid_desktop.quality.assess`) and keep the
face boxes even when a frame is rejected, so the preview can draw them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..camera import Frame
from ..enrollment import SEVERAL_FACES_AREA, enrollment_problem
from ..pipeline import Embedding, FacePipeline
from ..quality import Quality, assess
from ..verification import NO_FACE, SEVERAL_FACES, distance_to_profile, face_problem, primary_face

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FrameAnalysis:
    """The analysis of one frame.

    Attributes:
        frame: the frame analysed (BGR image, timestamp in seconds, index, source).
        boxes: every face box found, (left, top, right, bottom) pixels of the frame.
        box: the box of the face the frame is about (the largest, or the primary face when verifying);
            None when no face was found.
        face: that face, embedded; None when it could not be embedded (no face, or ruled out first).
        problem: why the face cannot be used (``no face``, ``several faces``, ``too small``, ``too dark``,
            ``blurred: hold still``, ``face the camera``, ...), or None when it can.
        quality: the quality measures of ``face``; None without a face.
        distance: Euclidean distance from ``face`` to the profile (verification only, and only when the face
            can be compared); None otherwise.
        seconds: wall time the analysis took.
    """

    frame: Frame
    boxes: tuple[Box, ...] = ()
    box: Box | None = None
    face: Embedding | None = field(default=None, repr=False)
    problem: str | None = NO_FACE
    quality: Quality | None = None
    distance: float | None = None
    seconds: float = 0.0


def profile_embeddings(profile) -> np.ndarray:
    """(T, 128) float32 embeddings of a profile's templates (``Profile.embeddings``, property or method)."""
    embeddings = profile.embeddings
    return np.asarray(embeddings() if callable(embeddings) else embeddings, dtype=np.float32)


def _rgb(frame: Frame) -> np.ndarray:
    return cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)


def analyse_for_enrollment(pipeline: FacePipeline, frame: Frame) -> FrameAnalysis:
    """Analyse a frame as enrollment would: one sizeable face, sharp, lit and roughly frontal.

    The largest face is embedded unless another sizeable face already rules the frame out (as
    :func:`faceid_desktop.enrollment.enroll_frames` does), and its quality measured even when a problem
    is found, so the guidance can use the head pose.
    """
    started = time.perf_counter()
    image = _rgb(frame)
    faces = pipeline.detector.detect(image)
    boxes = tuple(tuple(int(v) for v in f.box) for f in faces)
    if not faces:
        return FrameAnalysis(frame, boxes, None, None, NO_FACE, None, None, time.perf_counter() - started)
    if any(other.area >= SEVERAL_FACES_AREA * faces[0].area for other in faces[1:]):
        return FrameAnalysis(frame, boxes, boxes[0], None, SEVERAL_FACES, None, None,
                             time.perf_counter() - started)
    found = pipeline.embed_faces(image, faces[:1])
    problem = enrollment_problem(found)
    quality = assess(found[0].face, found[0].chip)
    return FrameAnalysis(frame, boxes, boxes[0], found[0], problem, quality, None, time.perf_counter() - started)


def analyse_for_verification(pipeline: FacePipeline, templates: np.ndarray, frame: Frame) -> FrameAnalysis:
    """Analyse a frame as verification does (:func:`faceid_desktop.verification.find_probe`) and measure the
    distance of its primary face to ``templates``.

    Args:
        templates: (T, 128) float embeddings of the profile, T >= 1.
    """
    started = time.perf_counter()
    image = _rgb(frame)
    faces = pipeline.detector.detect(image)
    boxes = tuple(tuple(int(v) for v in f.box) for f in faces)
    if not faces:
        return FrameAnalysis(frame, boxes, None, None, NO_FACE, None, None, time.perf_counter() - started)
    primary = primary_face(faces, image.shape)
    [probe] = pipeline.embed_faces(image, [primary])
    box = tuple(int(v) for v in primary.box)
    problem = face_problem(probe)
    quality = assess(probe.face, probe.chip)
    distance = None if problem else float(distance_to_profile(probe.vector, templates))
    return FrameAnalysis(frame, boxes, box, probe, problem, quality, distance, time.perf_counter() - started)
