"""Enrollment: choosing the faces a profile is made of, from photos, folders and videos."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .camera import open_source
from .images import ImageError, read_rgb
from .pipeline import Embedding, FacePipeline
from .profile import Template
from .quality import assess
from .verification import gate

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mov", ".mkv")
#: Templates kept from one video: enough poses for a robust mean, few enough to stay quick.
TEMPLATES_PER_VIDEO = 15
#: Frames examined per second of video; neighbouring frames are near duplicates.
VIDEO_SAMPLE_RATE = 6.0


@dataclass
class EnrollmentResult:
    """What enrollment kept and why it dropped the rest.

    Attributes:
        templates: the kept samples, in input order.
        dropped: reason -> count of inputs or frames dropped (``no face``, ``several faces``, ``too dark``,
            ``blurred: hold still``, ``unreadable``, ...).
        errors: one line per unreadable input.
    """

    templates: list[Template] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def enrollment_problem(found: list[Embedding]) -> str | None:
    """Why a frame's faces cannot become a template (the first problem), or None when the largest can.

    Stricter than verification's :func:`~faceid_desktop.verification.gate`: a template must also be sharp,
    well lit and roughly frontal (see :mod:`faceid_desktop.quality`).
    """
    reason = gate(found)
    if reason is not None:
        return reason
    problems = assess(found[0].face, found[0].chip).problems()
    return problems[0] if problems else None


def _template(found: list[Embedding], source: str) -> Template:
    quality = assess(found[0].face, found[0].chip)
    return Template(found[0].vector.astype(np.float32), time.time(), source, round(quality.score, 4))


def enroll_photo(pipeline: FacePipeline, path: Path, result: EnrollmentResult) -> None:
    """Add the largest face of one photo to ``result``, or count why it was dropped."""
    try:
        image = read_rgb(path)
    except ImageError as error:
        result.errors.append(str(error))
        result.dropped["unreadable"] += 1
        return
    found = pipeline.process(image)
    problem = enrollment_problem(found)
    if problem is None:
        result.templates.append(_template(found, str(path)))
    else:
        result.dropped[problem] += 1


def enroll_video(pipeline: FacePipeline, path: Path, result: EnrollmentResult,
                 per_video: int = TEMPLATES_PER_VIDEO) -> None:
    """Pick up to ``per_video`` good frames of a video, spread over its length.

    Frames are sampled at :data:`VIDEO_SAMPLE_RATE` per second; each usable one is a candidate. The video's
    time is cut into ``per_video`` equal spans and the best-quality candidate of each span is kept, so the
    templates cover the poses and expressions the person went through rather than one moment.

    Raises:
        faceid_desktop.camera.SourceError: the video cannot be opened.
    """
    candidates: list[tuple[float, float, Template]] = []
    last_sampled = -np.inf
    with open_source(path) as source:
        for frame in source:
            if frame.timestamp - last_sampled < 1.0 / VIDEO_SAMPLE_RATE:
                continue
            last_sampled = frame.timestamp
            found = pipeline.process(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB))
            problem = enrollment_problem(found)
            if problem is not None:
                result.dropped[problem] += 1
                continue
            template = _template(found, f"{path}#t={frame.timestamp:.2f}")
            candidates.append((frame.timestamp, template.quality, template))
        result.dropped["too dark"] += source.skipped_dark
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
    result.dropped["similar frame"] += len(candidates) - len(kept)


def collect_templates(pipeline: FacePipeline, inputs: list[Path]) -> EnrollmentResult:
    """Build the templates of a new profile from photo files and videos (folders already expanded).

    Unreadable photos are reported in ``errors`` and skipped; a video that cannot be opened raises.

    Raises:
        faceid_desktop.camera.SourceError: a video cannot be opened.
    """
    result = EnrollmentResult()
    for path in inputs:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            enroll_video(pipeline, path, result)
        else:
            enroll_photo(pipeline, path, result)
    return result
