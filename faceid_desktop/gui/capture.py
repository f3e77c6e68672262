"""Automatic capture of enrollment faces from a live stream, covering several head poses (pure: no Qt).

A :class:`CaptureSession` is offered one :class:`~faceid_desktop.gui.analysis.FrameAnalysis` per analysed
frame and keeps the good ones (the rules of :func:`faceid_desktop.enrollment.enrollment_problem`), at
least ``min_interval`` seconds apart, until it holds ``target`` templates. The target is split between three
head poses (turned to the person's left, frontal, turned to their right, from the yaw estimate of
:func:`faceid_desktop.quality.head_pose`); when a pose cannot be had for ``patience`` seconds (a person who
does not turn, or a recorded clip) any good pose is taken, so capture always finishes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..profile import Template
from ..verification import NO_FACE, SEVERAL_FACES
from .analysis import FrameAnalysis

#: Default number of faces captured for a profile.
DEFAULT_TARGET = 15
#: |yaw| (inter-eye distances, see :class:`faceid_desktop.quality.Quality`) from which a head counts as turned.
TURNED_YAW = 0.12
#: Pose bins: yaw below -TURNED_YAW, between, above +TURNED_YAW. A positive yaw puts the nose right of the
#: eyes' midpoint in the image, which a camera sees when the person turns to their own left.
POSES = ("right", "front", "left")

#: What to tell the person for each problem the core reports (anything else is shown as it is).
GUIDANCE = {
    NO_FACE: "look into the camera",
    SEVERAL_FACES: "only one face, please",
    "too small": "move closer",
    "too small: move closer": "move closer",
    "too dark": "too dark: add light",
    "too bright": "too bright: avoid direct light",
    "blurred: hold still": "hold still",
    "face the camera": "face the camera",
}


def guidance_for(problem: str | None) -> str:
    """One short instruction for a frame's problem (``None``: "hold still", a good frame)."""
    if problem is None:
        return "hold still"
    return GUIDANCE.get(problem, problem)


def pose_of(yaw: float) -> str:
    """The pose bin (``right``, ``front`` or ``left``: where the person turned) of a yaw estimate."""
    if yaw < -TURNED_YAW:
        return "right"
    if yaw > TURNED_YAW:
        return "left"
    return "front"


def pose_quotas(target: int) -> dict[str, int]:
    """How many captures each pose should get: about a quarter turned each way, the rest frontal."""
    side = target // 4
    return {"right": side, "front": target - 2 * side, "left": side}


@dataclass
class CaptureSession:
    """Collects enrollment templates from analysed frames.

    Args:
        target: templates to collect (>= 2).
        min_interval: seconds of stream time between two captures (neighbouring frames are near duplicates).
        patience: seconds without a capture after which any good pose is accepted.

    Attributes:
        templates: the captured templates, in capture order.
        chips: (150, 150, 3) uint8 RGB aligned chips of the templates (for on-device training).
        poses: the pose bin of each capture.
        rejected: problem -> count of frames not used.
    """

    target: int = DEFAULT_TARGET
    min_interval: float = 0.3
    patience: float = 3.0
    templates: list[Template] = field(default_factory=list)
    chips: list[np.ndarray] = field(default_factory=list, repr=False)
    poses: list[str] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    _last_capture: float | None = None
    _waiting_since: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.target, int) or self.target < 2:
            raise ValueError(f"capture target must be a whole number >= 2, got {self.target!r}")
        if self.min_interval < 0 or self.patience < 0:
            raise ValueError("min_interval and patience must be >= 0 seconds")

    @property
    def done(self) -> bool:
        """True once ``target`` templates are captured."""
        return len(self.templates) >= self.target

    def missing(self) -> dict[str, int]:
        """Captures each pose still needs (0 when its quota is met)."""
        quotas = pose_quotas(self.target)
        return {pose: max(0, quotas[pose] - self.poses.count(pose)) for pose in POSES}

    def offer(self, analysis: FrameAnalysis, now: float | None = None) -> tuple[bool, str]:
        """Offer one analysed frame.

        Args:
            analysis: from :func:`~faceid_desktop.gui.analysis.analyse_for_enrollment`.
            now: stream time in seconds (default: the frame's timestamp).

        Returns:
            (captured, guidance): whether the frame became a template, and what to tell the person.
        """
        now = analysis.frame.timestamp if now is None else now
        if self._waiting_since is None:
            self._waiting_since = now
        if self.done:
            return False, "done"
        if analysis.problem is not None or analysis.face is None or analysis.quality is None:
            reason = analysis.problem or NO_FACE
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            return False, guidance_for(reason)
        if self._last_capture is not None and now - self._last_capture < self.min_interval:
            return False, "hold still"
        pose = pose_of(analysis.quality.yaw)
        missing = self.missing()
        relaxed = now - self._waiting_since >= self.patience
        if missing[pose] == 0 and not relaxed and any(missing.values()):
            wanted = max((p for p in POSES if missing[p]), key=lambda p: missing[p])
            return False, "face the camera" if wanted == "front" else f"turn slightly {wanted}"
        frame = analysis.frame
        self.templates.append(Template(analysis.face.vector.astype(np.float32), time.time(),
                                       f"{frame.source}#t={frame.timestamp:.2f}",
                                       round(float(analysis.quality.score), 4)))
        self.chips.append(analysis.face.chip)
        self.poses.append(pose)
        self._last_capture = now
        self._waiting_since = now
        return True, "captured"

    def reset(self) -> None:
        """Forget every capture (start again)."""
        self.templates.clear()
        self.chips.clear()
        self.poses.clear()
        self.rejected.clear()
        self._last_capture = self._waiting_since = None
