"""Enrollment: choosing the faces a profile is made of, from photos, folders and videos."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from itertools import takewhile
from typing import Iterable, Sequence

import cv2
import numpy as np

from .camera import DEFAULT_DARK_THRESHOLD, VIDEO_SUFFIXES, Frame, is_camera, open_source
from .images import ImageError, read_rgb
from .detection import Face
from .pipeline import Embedding, FacePipeline
from .profile import Template, frame_source, split_source
from .quality import assess
from .verification import (NO_FACE, SEVERAL_FACES, SIMILAR_SIZE, TOO_DARK, distance_to_profile, face_problem,
                           profile_centre)

#: During enrollment another face of at least this share of the largest face's box area (about 70% of its
#: width: verification's "same size", :data:`~faceid_desktop.verification.SIMILAR_SIZE`) makes it unclear who
#: is enrolling: a camera or video frame is dropped, and in a photo the owner is the face that matches the
#: other inputs (:func:`owner_among`); smaller faces (people behind) are ignored. At 0.25 (half the width)
#: one LFW image in seven was dropped for a bystander and owners lost templates: FRR at FAR 1e-5 on the
#: owner protocol 1.51% against 1.44% at 0.5 (benchmarks/owner_protocol.py).
SEVERAL_FACES_AREA = SIMILAR_SIZE

#: Templates kept from one video: enough poses for a robust mean, few enough to stay quick.
TEMPLATES_PER_VIDEO = 15
#: Frames examined per second of video; neighbouring frames are near duplicates.
VIDEO_SAMPLE_RATE = 6.0
#: Seconds a camera is filmed when enrolling from it.
CAMERA_SECONDS = 6.0
#: A face farther than this from the centre of the others (unit-length distance, as the profile measures it)
#: is another person: FAR about 1e-3 and FRR about 0.3% on the owner protocol (benchmarks/owner_protocol.py).
SAME_PERSON_DISTANCE = 1.1
#: Embeddings closer than this come from the same image (float rounding only).
DUPLICATE_DISTANCE = 1e-4


@dataclass
class EnrollmentResult:
    """What enrollment kept and why it dropped the rest.

    Attributes:
        templates: the kept samples, in input order (the owner's faces of group photos last).
        dropped: reason -> count of inputs or frames dropped (``no face``, ``several faces``, ``too dark``,
            ``blurred: hold still``, ``unreadable``, ...).
        errors: one line per unreadable input.
    """

    templates: list[Template] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def enrollment_problem(found: list[Embedding]) -> str | None:
    """Why a frame's faces cannot become a template (the first problem), or None when the largest can.

    Stricter than verification's :func:`~faceid_desktop.verification.select_probe`: the face must be the only
    sizeable one, and sharp, well lit and roughly frontal (see :mod:`faceid_desktop.quality`).
    """
    if not found:
        return NO_FACE
    if len(sizeable_faces([f.face for f in found])) > 1:
        return SEVERAL_FACES
    return template_problem(found[0])


def template_problem(face: Embedding) -> str | None:
    """Why one face cannot become a template (the first problem), or None: it must be comparable
    (:func:`~faceid_desktop.verification.face_problem`), sharp, well lit and roughly frontal
    (:mod:`faceid_desktop.quality`)."""
    reason = face_problem(face)
    if reason is not None:
        return reason
    problems = assess(face.face, face.chip).problems()
    return problems[0] if problems else None


def sizeable_faces(faces: list[Face]) -> list[Face]:
    """The faces (largest first, as detected) of at least :data:`SEVERAL_FACES_AREA` of the largest's area:
    the ones that could be the person enrolling."""
    return [f for f in faces if faces and f.area >= SEVERAL_FACES_AREA * faces[0].area]


def owner_among(vectors: np.ndarray, reference: np.ndarray) -> int | None:
    """Which of the sizeable faces of one photo is the owner: the only one within
    :data:`SAME_PERSON_DISTANCE` of the centre of the owner's other templates (the profile's measure,
    :func:`~faceid_desktop.verification.distance_to_profile`).

    In a group photo the largest face is not always the owner (on the owner protocol's enrollment photos, 2
    of the 44 with a second face of similar size); dropping such photos cost owners templates: FRR at FAR
    1e-5 1.37% -> 1.26% when they are enrolled this way (benchmarks/owner_protocol.py).

    Args:
        vectors: (K, 128) float unit-length embeddings of the photo's sizeable faces.
        reference: (M, 128) float embeddings of the owner from other photos or frames; M may be 0.

    Returns:
        The index into ``vectors``, or None: no reference, no face close enough, or more than one.
    """
    if len(reference) == 0 or len(vectors) == 0:
        return None
    close = np.flatnonzero(np.atleast_1d(distance_to_profile(vectors, reference)) <= SAME_PERSON_DISTANCE)
    return int(close[0]) if len(close) == 1 else None


def examine(pipeline: FacePipeline, image: np.ndarray) -> tuple[list[Face], list[Embedding], str | None]:
    """Look at an (H, W, 3) uint8 RGB frame as enrollment does: detect, and embed only the largest face unless
    another sizeable one already rules the frame out.

    Returns:
        (every face found, largest first; the largest embedded, or [] when none was embedded; why the frame
        cannot become a template (:func:`enrollment_problem`), or None).
    """
    faces = pipeline.detector.detect(image)
    if len(sizeable_faces(faces)) > 1:
        return faces, [], SEVERAL_FACES
    found = pipeline.embed_faces(image, faces[:1])
    return faces, found, enrollment_problem(found)


def _template(found: list[Embedding], source: str) -> Template:
    quality = assess(found[0].face, found[0].chip)
    return Template(found[0].vector.astype(np.float32), time.time(), source, round(quality.score, 4))


@dataclass
class GroupPhoto:
    """A photo with several sizeable faces, kept aside until the owner's other templates tell which is theirs.

    Attributes:
        source: the photo's resolved path.
        faces: its sizeable faces, embedded (largest first).
    """

    source: str
    faces: list[Embedding]


def enroll_photo(pipeline: FacePipeline, path: Path, result: EnrollmentResult,
                 group_photos: list[GroupPhoto] | None = None) -> None:
    """Add the largest face of one photo to ``result``, or count why it was dropped; a photo with several
    sizeable faces goes to ``group_photos`` when given (see :func:`resolve_group_photos`), else is dropped."""
    try:
        image = read_rgb(path)
    except ImageError as error:
        result.errors.append(str(error))
        result.dropped["unreadable"] += 1
        return
    faces, found, problem = examine(pipeline, image)
    source = str(Path(path).resolve())
    if problem is None:
        result.templates.append(_template(found, source))
    elif problem == SEVERAL_FACES and group_photos is not None:
        group_photos.append(GroupPhoto(source, pipeline.embed_faces(image, sizeable_faces(faces))))
    else:
        result.dropped[problem] += 1


def resolve_group_photos(group_photos: list[GroupPhoto], result: EnrollmentResult,
                         reference: Sequence[Template] = ()) -> None:
    """Enroll the owner's face of each group photo (:func:`owner_among`, against ``reference`` and the
    templates already in ``result``), or count it dropped as ``several faces`` (no other template to tell
    the owner by, no face or several faces like the owner) or for the owner's face's own problem."""
    known = np.array([t.embedding for t in list(reference) + result.templates], np.float32).reshape(-1, 128)
    for photo in group_photos:
        pick = owner_among(np.array([f.vector for f in photo.faces], np.float32), known)
        if pick is None:
            result.dropped[SEVERAL_FACES] += 1
            continue
        problem = template_problem(photo.faces[pick])
        if problem is not None:
            result.dropped[problem] += 1
            continue
        result.templates.append(_template([photo.faces[pick]], photo.source))


def enroll_video(pipeline: FacePipeline, path: Path, result: EnrollmentResult,
                 per_video: int = TEMPLATES_PER_VIDEO, dark_threshold: float = DEFAULT_DARK_THRESHOLD) -> None:
    """Pick up to ``per_video`` good frames of a video file; see :func:`enroll_frames`.

    Raises:
        faceid_desktop.camera.SourceError: the video cannot be opened.
    """
    with open_source(Path(path).resolve(), dark_threshold=dark_threshold) as source:
        enroll_frames(pipeline, source, result, per_video)


def enroll_frames(pipeline: FacePipeline, frames: Iterable[Frame], result: EnrollmentResult,
                  per_video: int = TEMPLATES_PER_VIDEO) -> None:
    """Pick up to ``per_video`` good frames of a stream (a video, a camera), spread over its length.

    Frames are sampled at :data:`VIDEO_SAMPLE_RATE` per second; each usable one is a candidate. The stream's
    time is cut into ``per_video`` equal spans and the best-quality candidate of each span is kept, so the
    templates cover the poses and expressions the person went through rather than one moment.
    """
    candidates: list[tuple[float, float, Template]] = []
    last_sampled = -np.inf
    for frame in frames:
        if frame.timestamp - last_sampled < 1.0 / VIDEO_SAMPLE_RATE:
            continue
        last_sampled = frame.timestamp
        _, found, problem = examine(pipeline, cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB))
        if problem is not None:
            # an unlit frame explains a missing face; a found face is judged on its own light
            result.dropped[TOO_DARK if problem == NO_FACE and frame.dark else problem] += 1
            continue
        template = _template(found, frame_source(frame.source, frame.timestamp))
        candidates.append((frame.timestamp, template.quality, template))
    if not candidates:
        return
    start, end = candidates[0][0], candidates[-1][0]
    span = max(end - start, 1e-9) / per_video
    best: dict[int, tuple[float, float, Template]] = {}
    for candidate in candidates:
        slot = min(int((candidate[0] - start) / span), per_video - 1)
        if slot not in best or candidate[1] > best[slot][1]:
            best[slot] = candidate
    kept = [best[slot] for slot in sorted(best)]
    result.templates.extend(c[2] for c in kept)
    if len(candidates) > len(kept):
        result.dropped["similar frame"] += len(candidates) - len(kept)


def collect_templates(pipeline: FacePipeline, inputs: list[Path | int],
                      camera_seconds: float = CAMERA_SECONDS,
                      dark_threshold: float = DEFAULT_DARK_THRESHOLD,
                      reference: Sequence[Template] = ()) -> EnrollmentResult:
    """Build the templates of a new profile from photo files, videos and cameras (folders already expanded).

    Args:
        inputs: photo and video paths, and cameras (indices or device nodes), each filmed for
            ``camera_seconds`` of wall-clock time (checked on every frame, dark ones included).
        dark_threshold: see :func:`faceid_desktop.camera.open_source`; frames without a face that are this
            dark are counted as ``too dark``.
        reference: the profile's templates when adding to one: with the inputs' own single-face templates
            they tell which face of a group photo is the owner's (:func:`resolve_group_photos`).

    Unreadable photos are reported in ``errors`` and skipped; a video or camera that cannot be opened raises.

    Raises:
        faceid_desktop.camera.SourceError: a video or camera cannot be opened.
    """
    result = EnrollmentResult()
    group_photos: list[GroupPhoto] = []
    for item in inputs:
        if is_camera(item):
            with open_source(item, dark_threshold=dark_threshold, wall_timeout=camera_seconds) as source:
                enroll_frames(pipeline, takewhile(lambda f: f.timestamp < camera_seconds, source), result)
        elif item.suffix.lower() in VIDEO_SUFFIXES:
            enroll_video(pipeline, item, result, dark_threshold=dark_threshold)
        else:
            enroll_photo(pipeline, item, result, group_photos)
    resolve_group_photos(group_photos, result, reference)
    return result


def drop_duplicates(templates: list[Template], existing: Sequence[Template] = ()) -> list[Template]:
    """The templates that are not already in ``existing`` or earlier in ``templates`` (the same photo or
    video frame given twice has the same embedding to within float rounding)."""
    kept: list[Template] = []
    for template in templates:
        if all(np.linalg.norm(template.embedding - other.embedding) > DUPLICATE_DISTANCE
               for other in list(existing) + kept):
            kept.append(template)
    return kept


def strangers(templates: Sequence[Template], existing: Sequence[Template] = ()) -> list[tuple[str, float]]:
    """Templates that look like a different person from the rest: (source, distance) pairs.

    With an existing profile each new template is compared with the mean of the existing ones; in a new
    profile each template is compared with the others, each input counting once (the unit centre of the
    inputs' own centres, a video's frames being one input): 7 photos of one person and a video of another
    name the video, not a photo outvoted by the video's 15 frames. Farther than :data:`SAME_PERSON_DISTANCE`
    means another person, so a profile never mixes two people by mistake (which would lock its owner out and
    let the other person in).
    """
    flagged = []
    for i, template in enumerate(templates):
        if existing:
            others = np.array([t.embedding for t in existing])
        else:
            by_input: dict[str, list[np.ndarray]] = {}
            for j, other in enumerate(templates):
                if j != i:
                    by_input.setdefault(split_source(other.source)[0], []).append(other.embedding)
            others = np.array([profile_centre(np.array(group)) for group in by_input.values()])
        if not len(others):
            continue
        distance = float(distance_to_profile(template.embedding, others))
        if distance > SAME_PERSON_DISTANCE:
            flagged.append((template.source, distance))
    return flagged
