"""Decisions: is this probe the profile's owner? One frame at a time, and over a stream of frames."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from .detection import Face
from .pipeline import Embedding, FacePipeline
from .background import BackgroundModel
from .profile import DecisionSettings, Profile
from .quality import MAX_OUTSIDE, MIN_BRIGHTNESS, MIN_FACE_WIDTH, MIN_LOWER_TEXTURE, assess, lower_face_texture

#: Faces with at least this share of the largest face's box area (about 70% of its width) count as the same
#: size when choosing the face a frame is about (see :func:`primary_face`). At 0.8, LFW photos framed on one
#: person beside a larger face were judged on the wrong face (2 of the 39 genuine rejects at FAR 1e-5 on the
#: owner protocol); a webcam user who sits centred in the preview is chosen over a larger passer-by.
SIMILAR_SIZE = 0.5

MATCH, NO_MATCH, NO_FACE, SEVERAL_FACES, TOO_SMALL, TOO_DARK = (
    "match", "no match", "no face", "several faces", "too small", "too dark"
)
#: A face whose detector box reaches beyond the frame (quality.MAX_OUTSIDE).
CUT_BY_EDGE = "face cut by the image edge"
#: A face whose mouth and chin are hidden (quality.lower_face_texture).
COVERED = "face covered below the eyes"
#: The alpha rule's reject: within the threshold, but not alpha nearer the owner than the nearest stranger.
NEAR_STRANGER = "alpha rule: not alpha nearer the owner than the nearest cohort stranger"


@dataclass(frozen=True)
class Decision:
    """The decision on one probe.

    Attributes:
        accepted: True when the probe is taken as the owner.
        reason: ``match``, or why it was rejected: ``no match``, ``no face``, ``too small``, ``too dark``,
            or :data:`NEAR_STRANGER` (alpha rule).
        distance: Euclidean distance from the probe to the profile (see :func:`distance_to_profile`);
            None when no face could be compared.
        threshold: the distance threshold the decision used.
        faces: faces found in the frame.
        nearest_negative: with the alpha rule, the probe's distance to the nearest cohort negative
            (accepted only if ``distance + alpha <= nearest_negative``); None with the threshold rule.
    """

    accepted: bool
    reason: str
    distance: float | None
    threshold: float
    faces: int
    nearest_negative: float | None = None

    def to_dict(self) -> dict:
        """The decision as plain JSON-ready values."""
        return asdict(self)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Vectors scaled to unit Euclidean length along the last axis (zero vectors stay zero).

    Args:
        vectors: (..., D) float array.

    Returns:
        float64 array of the same shape.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def profile_centre(templates: np.ndarray) -> np.ndarray:
    """A profile's centre: the unit-length mean of its unit-length templates.

    Args:
        templates: (T, 128) float embeddings, T >= 1.

    Returns:
        (128,) float64 unit vector.

    Raises:
        ValueError: no templates.
    """
    templates = np.asarray(templates, dtype=np.float64)
    if templates.ndim != 2 or templates.shape[0] == 0:
        raise ValueError("a profile needs at least one template")
    return unit(unit(templates).mean(axis=0))


def distance_to_profile(probes: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Distance from each probe to a profile: the Euclidean distance between the unit-length probe and
    the profile's centre (:func:`profile_centre`), from 0 (same direction) to 2.

    Why the centre of unit-length templates: with dlib's network it rejected fewer owners than the raw
    templates' mean at every FAR from 1e-3 to 1e-5, because it averages out each enrollment photo's pose,
    light and expression and ignores the embedding's length, which tracks image quality more than identity.
    SFace's embeddings are unit length already, and on the owner protocol (benchmarks/owner_protocol.py,
    benchmarks/scoring.py) the templates' plain mean, whose length shrinks as the templates spread, rejects
    about as many (FRR at FAR 1e-5 1.18% against 1.26%, three photos of 2,709) and both beat the minimum
    distance to any template (Howdy's rule, 1.62%). The centre stays: a threshold on it is the same angle
    for every profile, which the calibration tables and the default threshold are built on.

    Args:
        probes: (P, 128) or (128,) float embeddings.
        templates: (T, 128) float embeddings, T >= 1.

    Returns:
        (P,) float64 distances (a 0-d array for one (128,) probe).

    Raises:
        ValueError: no templates, or mismatched dimensions.
    """
    return distances(probes, templates, "mean")


#: The measures :func:`distances` knows: the profile's (``mean``) and two for comparison in benchmarks.
MEASURES = ("mean", "raw mean", "min")


def distances(probes: np.ndarray, templates: np.ndarray, measure: str) -> np.ndarray:
    """Distances from probes to templates by ``measure``: ``"mean"`` (the profile's measure, see
    :func:`distance_to_profile`), ``"raw mean"`` (to the raw templates' mean) or ``"min"`` (to the nearest
    raw template, Howdy's and face_recognition's rule). Shapes as :func:`distance_to_profile`.

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
        return np.linalg.norm(unit(probes) - profile_centre(templates), axis=-1)
    if measure == "raw mean":
        return np.linalg.norm(probes - templates.mean(axis=0), axis=-1)
    if measure == "min":
        return np.linalg.norm(probes[..., None, :] - templates, axis=-1).min(axis=-1)
    raise ValueError(f"unknown distance measure {measure!r} (one of {', '.join(MEASURES)})")


def decide_distance(distance: float, settings: DecisionSettings, faces: int = 1,
                    nearest_negative: float | None = None) -> Decision:
    """Decide one compared probe.

    Threshold rule: accept when ``distance <= settings.threshold``. Alpha rule (the tutorial's margin made
    sound): additionally require ``distance + settings.alpha <= nearest_negative``, the probe's distance to
    the nearest negative of a fixed cohort (:class:`ProfileScorer`); the threshold still bounds it, since a
    probe far from everyone would otherwise pass.

    Raises:
        ValueError: the alpha rule without ``nearest_negative``.
    """
    accepted = bool(distance <= settings.threshold)
    reason = MATCH if accepted else NO_MATCH
    if settings.rule == "alpha":
        if nearest_negative is None:
            raise ValueError("the alpha rule needs the distance to the nearest cohort negative")
        if accepted and distance + settings.alpha > nearest_negative:
            accepted, reason = False, NEAR_STRANGER
    return Decision(accepted, reason, float(distance), settings.threshold, faces,
                    None if nearest_negative is None else float(nearest_negative))


#: Size and seed of the alpha rule's fixed cohort of synthetic negatives drawn from the background model.
COHORT_SIZE, COHORT_SEED = 1000, 0


def fixed_cohort(background: BackgroundModel | None = None) -> np.ndarray:
    """The alpha rule's cohort: :data:`COHORT_SIZE` synthetic strangers' embeddings drawn with seed
    :data:`COHORT_SEED` from the background model (the shipped one when None), the same on every run.

    Returns:
        (COHORT_SIZE, 128) float64 embeddings on the scale of the unit-length embeddings (not exactly unit).
    """
    background = background if background is not None else BackgroundModel.load()
    return background.sample_images(COHORT_SIZE, np.random.default_rng(COHORT_SEED))


class ProfileScorer:
    """A profile made ready to score probes: its adapter (if any) applied, its centre computed, and for the
    alpha rule its cohort.

    Args:
        profile: the enrolled owner (at least one template).
        cohort: (K, 128) raw negatives for the alpha rule; :func:`fixed_cohort` (drawn on first use)
            when None.

    Raises:
        ValueError: a profile without templates.
    """

    def __init__(self, profile: Profile, cohort: np.ndarray | None = None) -> None:
        if not profile.templates:
            raise ValueError(f"profile {profile.name} has no templates: enroll first")
        self.profile = profile
        self._centre = profile_centre(self.space(profile.embeddings))
        self._cohort = None if cohort is None else self.space(cohort)

    def space(self, vectors: np.ndarray) -> np.ndarray:
        """Pretrained (..., 128) embeddings in the profile's space (through its adapter, if any), unit length."""
        return self.profile.adapter.apply(vectors) if self.profile.adapter is not None else unit(vectors)

    def distance(self, vectors: np.ndarray) -> np.ndarray:
        """Distances of pretrained (P, 128) or (128,) embeddings to the profile's centre (0 to 2)."""
        return np.linalg.norm(self.space(vectors) - self._centre, axis=-1)

    def nearest_negative(self, vectors: np.ndarray) -> np.ndarray:
        """Distances of pretrained (P, 128) or (128,) embeddings to the nearest cohort negative (0 to 2)."""
        if self._cohort is None:
            self._cohort = self.space(fixed_cohort())
        return np.sqrt(np.maximum(2.0 - 2.0 * (self.space(vectors) @ self._cohort.T).max(axis=-1), 0.0))

    def decide(self, vector: np.ndarray, faces: int = 1,
               settings: DecisionSettings | None = None) -> Decision:
        """Decide one pretrained (128,) embedding with the profile's settings (or ``settings``, e.g. a
        threshold being tuned)."""
        settings = settings or self.profile.settings
        nearest = self.nearest_negative(vector) if settings.rule == "alpha" else None
        return decide_distance(float(self.distance(vector)), settings, faces,
                               None if nearest is None else float(nearest))


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


@dataclass(frozen=True)
class FrameAnalysis:
    """One frame as verification sees it (:func:`analyse_frame`).

    Attributes:
        faces: every face the detector found, largest first.
        primary: the face the frame is about (:func:`primary_face`), embedded; None without a face.
        probe: ``primary`` when it can be compared, else None.
        reason: why it cannot be compared (``no face``, ``too small``, ``too dark``), or None.
    """

    faces: tuple[Face, ...]
    primary: Embedding | None
    probe: Embedding | None
    reason: str | None


def analyse_frame(pipeline: FacePipeline, image: np.ndarray) -> FrameAnalysis:
    """Detect the faces of an (H, W, 3) uint8 RGB frame and embed only the primary one, keeping every
    face found (a preview draws them all; liveness fits landmarks on the primary one).

    Other, smaller faces (people passing behind) do not block a decision and cost no embedding.
    """
    faces = tuple(pipeline.detector.detect(image))
    if not faces:
        return FrameAnalysis(faces, None, None, NO_FACE)
    [primary] = pipeline.embed_faces(image, [primary_face(list(faces), image.shape)])
    reason = face_problem(primary)
    return FrameAnalysis(faces, primary, None if reason else primary, reason)


def find_probe(pipeline: FacePipeline, image: np.ndarray) -> tuple[Embedding | None, str | None, int]:
    """Detect the faces of an (H, W, 3) uint8 RGB frame and embed only the primary one.

    Returns:
        (probe, None, faces found) when the primary face can be compared, else (None, reason, faces found)
        with reason ``no face``, ``too small`` or ``too dark``. Other, smaller faces (people passing
        behind) do not block a decision and cost no embedding.
    """
    analysis = analyse_frame(pipeline, image)
    return analysis.probe, analysis.reason, len(analysis.faces)


def select_probe(found: list[Embedding], frame_shape: tuple[int, ...]) -> tuple[Embedding | None, str | None]:
    """:func:`find_probe` for faces already embedded (largest first): (probe, None) or (None, reason)."""
    if not found:
        return None, NO_FACE
    primary = primary_face([e.face for e in found], frame_shape)
    probe = next(e for e in found if e.face is primary)
    reason = face_problem(probe)
    return (None, reason) if reason else (probe, None)


def too_small(width: int) -> str:
    """The reason for a face ``width`` pixels wide, narrower than :data:`~faceid_desktop.quality.MIN_FACE_WIDTH`;
    it starts with :data:`TOO_SMALL`'s words so that "too small" finds it."""
    return f"face too small: {width} px wide, need {MIN_FACE_WIDTH} px"


def is_too_small(reason: str | None) -> bool:
    """Whether a reason is a too-small face (:data:`TOO_SMALL` or :func:`too_small`'s)."""
    return reason is not None and (reason == TOO_SMALL or reason.startswith("face too small"))


def face_problem(face: Embedding) -> str | None:
    """Why one face cannot be compared, or None: :func:`too_small` (with its width in pixels),
    :data:`CUT_BY_EDGE`, :data:`TOO_DARK` or :data:`COVERED`, the first that applies."""
    if face.face.width < MIN_FACE_WIDTH:
        return too_small(face.face.width)
    if face.face.outside > MAX_OUTSIDE:
        return CUT_BY_EDGE
    if assess(face.face, face.chip).brightness < MIN_BRIGHTNESS:
        return TOO_DARK
    if lower_face_texture(face.chip) < MIN_LOWER_TEXTURE:
        return COVERED
    return None


class Verifier:
    """Decide frames against one profile with one pipeline.

    Args:
        pipeline: detection, alignment and embedding.
        profile: the enrolled owner (at least one template).
    """

    def __init__(self, pipeline: FacePipeline, profile: Profile) -> None:
        self.scorer = ProfileScorer(profile)
        self.pipeline = pipeline
        self.profile = profile

    def verify_image(self, image: np.ndarray) -> Decision:
        """Decide one (H, W, 3) uint8 RGB frame; the reason says why a frame was rejected."""
        probe, reason, faces = find_probe(self.pipeline, image)
        if probe is None:
            return Decision(False, reason or NO_FACE, None, self.profile.settings.threshold, faces)
        return self.scorer.decide(probe.vector, faces)


def match_progress(matches: int, frames: int, settings: DecisionSettings) -> str:
    """How far the multi-frame rule got, as one clause without parentheses (it is often quoted inside them),
    e.g. ``1 of the last 5 frames matched, 2 needed`` or, for a stream shorter than the window,
    ``0 of 1 frame matched, 2 needed``.

    Args:
        matches: matching frames among the last ``settings.window``.
        frames: frames seen so far.
        settings: the rule (``frames_to_accept`` of the last ``window``).
    """
    seen = min(frames, settings.window)
    if frames < settings.window or seen == frames == 1:
        counted = f"{seen} frame{'' if seen == 1 else 's'}"
    else:  # the window is full: older frames no longer count
        counted = "the last frame" if seen == 1 else f"the last {seen} frames"
    return f"{matches} of {counted} matched, {settings.frames_to_accept} needed"


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
