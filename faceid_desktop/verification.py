"""Decisions: is this probe the profile's owner? One frame at a time, and over a stream of frames."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from .detection import Face
from .pipeline import Embedding, FacePipeline
from .profile import DecisionSettings, Profile
from .quality import MIN_BRIGHTNESS, MIN_FACE_WIDTH, assess

#: Faces with at least this share of the largest face's box area count as the same size when choosing the
#: face a frame is about (see :func:`primary_face`).
SIMILAR_SIZE = 0.8

MATCH, NO_MATCH, NO_FACE, SEVERAL_FACES, TOO_SMALL, TOO_DARK = (
    "match", "no match", "no face", "several faces", "too small", "too dark"
)


@dataclass(frozen=True)
class Decision:
    """The decision on one probe.

    Attributes:
        accepted: True when the probe is taken as the owner.
        reason: ``match``, or why it was rejected: ``no match``, ``no face``, ``too small``, ``too dark``.
        distance: Euclidean distance from the probe to the profile (see :func:`distance_to_profile`);
            None when no face could be compared.
        threshold: the distance threshold the decision used.
        faces: faces found in the frame.
    """

    accepted: bool
    reason: str
    distance: float | None
    threshold: float
    faces: int

    def to_dict(self) -> dict:
        """The decision as plain JSON-ready values."""
        return asdict(self)


def distance_to_profile(probes: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Distance from each probe to a profile's templates: the distance to the templates' mean.

    The mean of the templates (the template centroid) was chosen over the minimum distance to any template
    because it averages out each enrollment photo's pose, light and expression; the owner-protocol
    benchmark prints both side by side.

    Args:
        probes: (P, 128) or (128,) float embeddings.
        templates: (T, 128) float embeddings, T >= 1.

    Returns:
        (P,) float64 distances (a 0-d array for one (128,) probe).

    Raises:
        ValueError: no templates, or mismatched dimensions.
    """
    return distances(probes, templates, "mean")


def distances(probes: np.ndarray, templates: np.ndarray, measure: str) -> np.ndarray:
    """Distances from probes to templates by ``measure``: ``"mean"`` (to the templates' mean) or ``"min"``
    (to the nearest template, Howdy's and face_recognition's rule). Shapes as :func:`distance_to_profile`.

    Raises:
        ValueError: no templates, mismatched dimensions, or an unknown measure.
    """
    probes = np.asarray(probes, dtype=np.float64)
    templates = np.asarray(templates, dtype=np.float64)
    if templates.ndim != 2 or templates.shape[0] == 0:
        raise ValueError("a profile needs at least one template")
    if probes.shape[-1] != templates.shape[1]:
        raise ValueError(f"probe dimension {probes.shape[-1]} != template dimension {templates.shape[1]}")
    if measure == "mean":
        return np.linalg.norm(probes - templates.mean(axis=0), axis=-1)
    if measure == "min":
        return np.linalg.norm(probes[..., None, :] - templates, axis=-1).min(axis=-1)
    raise ValueError(f"unknown distance measure {measure!r} (mean or min)")


def decide_distance(distance: float, settings: DecisionSettings, faces: int = 1) -> Decision:
    """Threshold rule: accept when ``distance <= settings.threshold``."""
    accepted = bool(distance <= settings.threshold)
    return Decision(accepted, MATCH if accepted else NO_MATCH, float(distance), settings.threshold, faces)


def primary_face(faces: list[Face], frame_shape: tuple[int, ...]) -> Face:
    """The face a frame is about: the largest, or among faces of about its size (box area at least
    :data:`SIMILAR_SIZE` of the largest) the one nearest the frame's centre, where a user sits in front
    of a webcam and where a portrait is framed.

    Args:
        faces: the detector's output, largest first, not empty.
        frame_shape: (H, W, ...) of the frame, pixels.
    """
    centre = np.array([frame_shape[1], frame_shape[0]], np.float64) / 2.0
    candidates = [f for f in faces if f.area >= SIMILAR_SIZE * faces[0].area]

    def off_centre(face: Face) -> float:
        left, top, right, bottom = face.box
        return float(np.hypot(*(np.array([left + right, top + bottom]) / 2.0 - centre)))

    return min(candidates, key=off_centre)


def find_probe(pipeline: FacePipeline, image: np.ndarray) -> tuple[Embedding | None, str | None, int]:
    """Detect the faces of an (H, W, 3) uint8 RGB frame and embed only the primary one.

    Returns:
        (probe, None, faces found) when the primary face can be compared, else (None, reason, faces found)
        with reason ``no face``, ``too small`` or ``too dark``. Other, smaller faces (people passing
        behind) do not block a decision and cost no embedding.
    """
    faces = pipeline.detector.detect(image)
    if not faces:
        return None, NO_FACE, 0
    [probe] = pipeline.embed_faces(image, [primary_face(faces, image.shape)])
    reason = face_problem(probe)
    return (None, reason, len(faces)) if reason else (probe, None, len(faces))


def select_probe(found: list[Embedding], frame_shape: tuple[int, ...]) -> tuple[Embedding | None, str | None]:
    """:func:`find_probe` for faces already embedded (largest first): (probe, None) or (None, reason)."""
    if not found:
        return None, NO_FACE
    primary = primary_face([e.face for e in found], frame_shape)
    probe = next(e for e in found if e.face is primary)
    reason = face_problem(probe)
    return (None, reason) if reason else (probe, None)


def face_problem(face: Embedding) -> str | None:
    """Why one face cannot be compared (``too small``, ``too dark``), or None."""
    if face.face.width < MIN_FACE_WIDTH:
        return TOO_SMALL
    if assess(face.face, face.chip).brightness < MIN_BRIGHTNESS:
        return TOO_DARK
    return None


class Verifier:
    """Decide frames against one profile with one pipeline.

    Args:
        pipeline: detection, alignment and embedding.
        profile: the enrolled owner (at least one template).
    """

    def __init__(self, pipeline: FacePipeline, profile: Profile) -> None:
        if not profile.templates:
            raise ValueError(f"profile {profile.name} has no templates: enroll first")
        self.pipeline = pipeline
        self.profile = profile
        self._templates = profile.embeddings

    def verify_image(self, image: np.ndarray) -> Decision:
        """Decide one (H, W, 3) uint8 RGB frame; the reason says why a frame was rejected."""
        probe, reason, faces = find_probe(self.pipeline, image)
        settings = self.profile.settings
        if probe is None:
            return Decision(False, reason or NO_FACE, None, settings.threshold, faces)
        distance = float(distance_to_profile(probe.vector, self._templates))
        return decide_distance(distance, settings, faces)


@dataclass(frozen=True)
class StreamDecision:
    """The state of a multi-frame decision.

    Attributes:
        state: ``pending`` (keep feeding frames), ``accepted`` or ``rejected`` (timed out).
        elapsed: seconds from the first frame to this one.
        frames: frames seen so far.
        matches: matching frames among the last ``window``.
        last: the decision on the latest frame.
    """

    state: str
    elapsed: float
    frames: int
    matches: int
    last: Decision

    @property
    def done(self) -> bool:
        """True once accepted or rejected."""
        return self.state != "pending"


class StreamVerifier:
    """The multi-frame rule: accept when ``frames_to_accept`` of the last ``window`` frames match, within
    ``timeout`` seconds of the first frame; reject when the timeout passes first.

    Frames that cannot be compared (no face, several faces, ...) count as non-matching frames of the window,
    so a stranger stepping in resets the evidence. Settings come from the profile's DecisionSettings.
    """

    def __init__(self, settings: DecisionSettings) -> None:
        self.settings = settings
        self._window: deque[bool] = deque(maxlen=settings.window)
        self._start: float | None = None
        self._frames = 0

    def update(self, decision: Decision, timestamp: float) -> StreamDecision:
        """Add one frame's decision at ``timestamp`` (seconds, any monotonic clock)."""
        if self._start is None:
            self._start = timestamp
        self._frames += 1
        self._window.append(decision.accepted)
        elapsed = timestamp - self._start
        matches = sum(self._window)
        if elapsed > self.settings.timeout:
            state = "rejected"
        elif matches >= self.settings.frames_to_accept:
            state = "accepted"
        else:
            state = "pending"
        return StreamDecision(state, elapsed, self._frames, matches, decision)
