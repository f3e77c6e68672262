"""What the screens need to know about one camera frame: where the faces are, whether the face can be used,
and its embedding and decision against a profile (pure: no Qt, runs in the processing thread).

These compose the core's own steps (:func:`~faceid_desktop.verification.analyse_frame`,
:class:`~faceid_desktop.verification.ProfileScorer`, :func:`~faceid_desktop.enrollment.examine`,
:func:`~faceid_desktop.quality.assess`) and keep the face boxes even when a frame is rejected, so the
preview can draw them. No distance or decision is computed here: the core decides.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from ..camera import Frame
from ..enrollment import examine
from ..landmarks68 import Landmarks68, mean_ear
from ..pipeline import Embedding, FacePipeline
from ..profile import DecisionSettings
from ..quality import Quality, assess
from ..verification import NO_FACE, TOO_DARK, Decision, ProfileScorer, analyse_frame

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
        distance: the core's distance from ``face`` to the profile (unit-length embeddings, 0 to 2, through
            the profile's adapter if any; verification only, and only when the face can be compared).
        seconds: wall time the analysis took.
        nearest_negative: distance from ``face`` to the nearest negative of the alpha rule's cohort, when
            measured; None otherwise.
        decision: the core's decision on this frame (verification only), else None.
        ear: the mean eye aspect ratio of ``face`` from the 68 landmarks (enrollment, when the landmark model
            is given), else None.
    """

    frame: Frame
    boxes: tuple[Box, ...] = ()
    box: Box | None = None
    face: Embedding | None = field(default=None, repr=False)
    problem: str | None = NO_FACE
    quality: Quality | None = None
    distance: float | None = None
    seconds: float = 0.0
    nearest_negative: float | None = None
    decision: Decision | None = None
    ear: float | None = None


def frame_rgb(frame: Frame) -> np.ndarray:
    """The frame as a new (H, W, 3) uint8 RGB array (never a view of the frame, which the preview also
    reads); an infrared camera's grey frame, (H, W) or (H, W, 1), is spread over the three channels."""
    image = frame.image
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def analyse_for_enrollment(pipeline: FacePipeline, frame: Frame,
                           landmarks: Callable[[], Landmarks68] | None = None) -> FrameAnalysis:
    """Analyse a frame as enrollment would: one sizeable face, sharp, lit and roughly frontal.

    The largest face is embedded unless another sizeable face already rules the frame out (as
    :func:`faceid_desktop.enrollment.enroll_frames` does), and its quality measured even when a problem
    is found, so the guidance can use the head pose.

    Args:
        landmarks: returns the 68-point landmark model (loaded on first use); given, the eyes' aspect ratio
            of a usable face is measured too (``ear``), so that a blink is not enrolled.
    """
    started = time.perf_counter()
    image = frame_rgb(frame)
    faces, found, problem = examine(pipeline, image)
    boxes = tuple(tuple(int(v) for v in f.box) for f in faces)
    if not found:  # no face, or several sizeable ones
        return FrameAnalysis(frame, boxes, boxes[0] if boxes else None, None, _dark(problem, frame), None, None,
                             time.perf_counter() - started)
    quality = assess(found[0].face, found[0].chip)
    ear = None
    if landmarks is not None and problem is None:
        ear = mean_ear(landmarks().fit_face(image, found[0].face.landmarks))
    return FrameAnalysis(frame, boxes, boxes[0], found[0], problem, quality, None, time.perf_counter() - started,
                         ear=ear)


def analyse_for_verification(pipeline: FacePipeline, frame: Frame) -> tuple[FrameAnalysis, np.ndarray]:
    """Analyse a frame as verification does (the core's :func:`~faceid_desktop.verification.analyse_frame`,
    which :func:`~faceid_desktop.verification.find_probe` uses), without deciding it.

    Returns:
        (the analysis, with ``face`` the embedded primary face even when it cannot be compared and
        ``problem`` why not; the frame as (H, W, 3) uint8 RGB, for the liveness check).
    """
    started = time.perf_counter()
    image = frame_rgb(frame)
    found = analyse_frame(pipeline, image)
    boxes = tuple(tuple(int(v) for v in f.box) for f in found.faces)
    box = tuple(int(v) for v in found.primary.face.box) if found.primary is not None else None
    return FrameAnalysis(frame, boxes, box, found.primary, _dark(found.reason, frame), None, None,
                         time.perf_counter() - started), image


def _dark(problem: str | None, frame: Frame) -> str | None:
    """"too dark" instead of "no face" for an unlit frame (Frame.dark): the darkness of the whole frame is
    what explains a missing face; a found face is judged on its own light."""
    return TOO_DARK if problem == NO_FACE and frame.dark else problem


def score_frame(pipeline: FacePipeline, scorer: ProfileScorer, settings: DecisionSettings, frame: Frame,
                nearest: bool = False) -> FrameAnalysis:
    """Analyse a frame and decide it with the core's :meth:`~faceid_desktop.verification.ProfileScorer.decide`
    under ``settings``, as ``faceid verify`` decides.

    Args:
        nearest: also measure the distance to the nearest cohort negative under the threshold rule (so the
            alpha rule can be tried on this frame without analysing it again).
    """
    analysis, _ = analyse_for_verification(pipeline, frame)
    if analysis.problem is not None or analysis.face is None:
        decision = Decision(False, analysis.problem or NO_FACE, None, settings.threshold, len(analysis.boxes))
        return dataclasses.replace(analysis, decision=decision)
    vector = analysis.face.vector
    decision = scorer.decide(vector, len(analysis.boxes), settings)
    negative = decision.nearest_negative
    if negative is None and nearest:
        negative = float(scorer.nearest_negative(vector))
    return dataclasses.replace(analysis, distance=decision.distance, nearest_negative=negative, decision=decision,
                               seconds=analysis.seconds)
