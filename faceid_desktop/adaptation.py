"""Adapting a saved profile on the device: gather its chips, train, and turn the result into a profile.

The training itself is :func:`faceid_desktop.training.train_owner`; this module is the glue the CLI
(``faceid train``) and the desktop app share: where the owner's chips come from, and how a
:class:`~faceid_desktop.training.TrainingResult` becomes a profile's :class:`~faceid_desktop.profile.Adapter`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from .formats import VIDEO_SUFFIXES
from .images import ImageError, read_rgb
from .pipeline import FacePipeline
from .profile import DEFAULT_THRESHOLD, MAX_DISTANCE, MIN_THRESHOLD, Adapter, Profile, split_source
from .training import ADAPTED_THRESHOLD, HEAD_PREFIX, TrainingResult

#: A recovered face must embed this close to the stored template (unit length) to count as the same
#: sample: the same pixels give the same embedding to ~1e-6; a re-encoded file stays well below this.
_SAME_SAMPLE = 0.05


def _read_source(source: str) -> np.ndarray | None:
    """The RGB frame a template was captured from, or None when it cannot be read again."""
    name, seconds = split_source(source)
    path = Path(name)
    if not path.is_file():
        return None
    if seconds is not None and path.suffix.lower() in VIDEO_SUFFIXES:
        capture = cv2.VideoCapture(str(path))
        try:
            capture.set(cv2.CAP_PROP_POS_MSEC, seconds * 1000.0)
            ok, frame = capture.read()
        finally:
            capture.release()
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None
    try:
        return read_rgb(path)
    except ImageError:
        return None


def chips_from_sources(pipeline: FacePipeline, profile: Profile) -> tuple[np.ndarray, list[str]]:
    """Re-read the photos and video frames a profile was enrolled from and cut the enrolled faces again.

    A face counts only if it embeds within 0.05 of its stored template, so a file that changed since
    enrollment is not mistaken for the owner.

    Returns:
        ((N, 150, 150, 3) uint8 RGB chips, sources that could not be recovered: camera captures, moved or
        changed files).
    """
    chips, missing = [], []
    for template in profile.templates:
        image = _read_source(template.source)
        found = pipeline.process(image) if image is not None else []
        best = min(found, key=lambda e: float(np.linalg.norm(e.vector - template.embedding)), default=None)
        if best is None or np.linalg.norm(best.vector - template.embedding) > _SAME_SAMPLE:
            missing.append(template.source)
        else:
            chips.append(best.chip)
    return (np.stack(chips) if chips else np.zeros((0, 150, 150, 3), np.uint8)), missing


def largest_face_chips(pipeline: FacePipeline, images: list[np.ndarray]) -> np.ndarray:
    """The chip of the largest face of each (H, W, 3) uint8 RGB image: (M, 150, 150, 3) uint8 (images
    without a face are skipped)."""
    chips = [found[0].chip for found in (pipeline.process(image, max_faces=1) for image in images) if found]
    return np.stack(chips) if chips else np.zeros((0, 150, 150, 3), np.uint8)


def adapter_from_result(result: TrainingResult) -> Adapter:
    """The profile adapter of a finished ``head`` training run.

    Raises:
        ValueError: the run was cancelled, or trained more than the affine head (the profile stores only
            that: a stage or MLP adapter would need the network's chips at every decision, and measured worse).
    """
    if result.cancelled or not result.adapter:
        raise ValueError("training was cancelled: nothing to keep")
    keys = {f"{HEAD_PREFIX}linear.weight", f"{HEAD_PREFIX}linear.bias"}
    if set(result.adapter) != keys:
        raise ValueError(f"only an affine head can be stored in a profile, got {', '.join(sorted(result.adapter))}")
    return Adapter(result.adapter[f"{HEAD_PREFIX}linear.weight"].numpy(),
                   result.adapter[f"{HEAD_PREFIX}linear.bias"].numpy())


def default_threshold(adapter: Adapter | None) -> float:
    """The default threshold of a space: the adapted space is spread about twice as wide
    (:data:`~faceid_desktop.training.ADAPTED_THRESHOLD` vs :data:`~faceid_desktop.profile.DEFAULT_THRESHOLD`,
    both at FAR 1e-4 on the owner protocol)."""
    return ADAPTED_THRESHOLD if adapter is not None else DEFAULT_THRESHOLD


def carried_threshold(profile: Profile, adapter: Adapter | None) -> float:
    """The threshold ``profile`` should have once its adapter is ``adapter`` (None: dropped).

    A threshold of one space means nothing in another, so what is carried over is its estimated false
    accept rate: a profile at its space's default gets the new space's default; a calibrated (or tuned)
    threshold gets the threshold of the same estimated FAR in the new space
    (:func:`~faceid_desktop.loosening.calibrate_any`), kept within the allowed range and rounded: to 0.001
    without an adapter, where the user sets thresholds; to 1e-6 with one, fine enough that dropping the
    adapter again gives back exactly the threshold the user chose.

    Raises:
        CalibrationError: the shipped tables cannot be read.
    """
    from .loosening import calibrate_any

    threshold = profile.settings.threshold
    if abs(threshold - default_threshold(profile.adapter)) < 5e-4 or len(profile.templates) < 2:
        return default_threshold(adapter)
    far = calibrate_any(profile).far_at(threshold)
    target = calibrate_any(replace(profile, adapter=adapter))
    # The exact inverse of far_at: stopping at the grid point below, as threshold_for_far does, lowered the
    # threshold by up to 0.001 at each carry, so 0.9 came back from the adapted space as 0.899.
    carried = target.threshold_at_far(min(max(far, 1e-9), 0.5))
    return float(np.clip(round(carried, 3 if adapter is None else 6), MIN_THRESHOLD, MAX_DISTANCE))


def with_adapter(profile: Profile, adapter: Adapter | None) -> Profile:
    """The profile with ``adapter`` (None drops it) and its threshold carried over to the new space
    (:func:`carried_threshold`: the default stays the default, a calibrated threshold keeps its estimated FAR).

    Raises:
        CalibrationError: the shipped tables cannot be read.
    """
    threshold = carried_threshold(profile, adapter)
    return replace(profile, adapter=adapter, settings=replace(profile.settings, threshold=threshold))
