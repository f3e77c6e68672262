"""Automatic capture of enrollment faces from a live stream, covering several head poses (pure: no Qt).

A :class:`CaptureSession` is offered one :class:`~faceid_desktop.gui.analysis.FrameAnalysis` per analysed
frame and keeps the good ones (the rules of :func:`faceid_desktop.enrollment.enrollment_problem`, and open
eyes), at least ``min_interval`` seconds apart, until it holds ``target`` templates. The target is split between
three head poses (turned to the person's left, frontal, turned to their right, from the yaw estimate of
:func:`faceid_desktop.quality.head_pose`), and the poses asked for are the poses captured: a frame of a pose
whose share is full is not taken. A person who cannot turn their head (or a recorded clip) is offered a way
out after ``patience`` seconds of asking (:meth:`CaptureSession.skip_turns`): the rest is then captured
frontal, and the summary says so.

Eyes: with the 68-point landmarks the analysis carries the eye aspect ratio (EAR, Soukupova and Cech 2016);
a frame whose EAR is below :data:`EYES_CLOSED_EAR` or below :data:`EYES_OPEN_SHARE` of the person's own
open-eye level (a high percentile of the EARs seen so far) is refused, and nothing is captured before
:data:`EYES_BASELINE_FRAMES` EARs give that level, so the first capture cannot be a blink.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..enrollment import drop_duplicates
from ..profile import Template, frame_source
from ..verification import COVERED, CUT_BY_EDGE, NO_FACE, SEVERAL_FACES, is_too_small
from .analysis import FrameAnalysis

#: Default number of faces captured for a profile.
DEFAULT_TARGET = 15
#: |yaw| (inter-eye distances, see :class:`faceid_desktop.quality.Quality`) from which a head counts as turned.
TURNED_YAW = 0.12
#: Pose bins: yaw below -TURNED_YAW, between, above +TURNED_YAW. A positive yaw puts the nose right of the
#: eyes' midpoint in the image, which a camera sees when the person turns to their own left.
POSES = ("right", "front", "left")
#: A face already captured, to the bit (a folder of photos looping as the camera): not a second template.
SAME_PICTURE = "same picture"
#: Refusals of a picture already captured, with no new capture between, after which the guidance says that
#: the camera only repeats itself (a folder of too few photos, or one photo): moving would not help.
STILL_REPEATS = 3
#: The guidance then.
ONLY_REPEATS = ("the camera only shows pictures already captured (photos, not a live camera): use a live "
                "camera, or more photos")

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
    "eyes closed": "open your eyes",
    CUT_BY_EDGE: "face cut by the image edge: move to the middle",
    COVERED: "face covered below the eyes: uncover your mouth and chin",
    SAME_PICTURE: "the same picture again: move a little",
}

#: EAR below which eyes count as closed whoever they belong to.
EYES_CLOSED_EAR = 0.12
#: Share of the person's open-eye EAR below which a frame counts as a blink.
EYES_OPEN_SHARE = 0.65
#: EARs needed to know the person's open-eye level before the first capture.
EYES_BASELINE_FRAMES = 5


def guidance_for(problem: str | None) -> str:
    """One short instruction for a frame's problem (``None``: "hold still", a good frame)."""
    if problem is None:
        return "hold still"
    if is_too_small(problem):
        return f"{problem}: move closer"  # the sizes stay: they say how much closer
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


def pose_summary(poses: list[str], turns_skipped: bool = False) -> str:
    """The poses captured in words: ``3 turned right, 9 front, 3 turned left`` (``; turns skipped`` when the
    person went on without turning)."""
    counts = {pose: poses.count(pose) for pose in POSES}
    text = f"{counts['right']} turned right, {counts['front']} front, {counts['left']} turned left"
    return text + ("; turns skipped" if turns_skipped else "")


@dataclass
class CaptureSession:
    """Collects enrollment templates from analysed frames.

    Args:
        target: templates to collect (>= 2).
        min_interval: seconds of stream time between two captures (neighbouring frames are near duplicates).
        patience: seconds of asking for a head turn after which :meth:`waiting_for_turn` offers the way out.

    Attributes:
        templates: the captured templates, in capture order.
        chips: (150, 150, 3) uint8 RGB aligned chips of the templates (for on-device training).
        poses: the pose bin of each capture.
        rejected: problem -> count of frames not used.
        turns_skipped: the person asked to go on without turning (the rest is captured frontal).
    """

    target: int = DEFAULT_TARGET
    min_interval: float = 0.3
    patience: float = 3.0
    templates: list[Template] = field(default_factory=list)
    chips: list[np.ndarray] = field(default_factory=list, repr=False)
    poses: list[str] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    turns_skipped: bool = False
    _last_capture: float | None = None
    _asking_since: float | None = None
    _asking_for: str | None = None
    _ears: deque = field(default_factory=lambda: deque(maxlen=90), repr=False)
    _repeats: int = 0

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
        if self.turns_skipped:
            return {"right": 0, "front": max(0, self.target - len(self.templates)), "left": 0}
        quotas = pose_quotas(self.target)
        return {pose: max(0, quotas[pose] - self.poses.count(pose)) for pose in POSES}

    def waiting_for_turn(self, now: float) -> bool:
        """True when a head turn has been asked for ``patience`` seconds (stream time) without one: time to
        offer the way out (:meth:`skip_turns`)."""
        return (not self.turns_skipped and self._asking_for in ("left", "right") and self._asking_since is not None
                and now - self._asking_since >= self.patience)

    def skip_turns(self) -> None:
        """Go on without the turned poses: every further capture may be frontal (the person cannot turn)."""
        self.turns_skipped = True
        self._asking_since = self._asking_for = None

    def open_level(self) -> float | None:
        """The person's open-eye EAR (90th percentile of those seen), or None before any."""
        return float(np.percentile(self._ears, 90)) if self._ears else None

    def offer(self, analysis: FrameAnalysis, now: float | None = None) -> tuple[bool, str]:
        """Offer one analysed frame.

        Args:
            analysis: from :func:`~faceid_desktop.gui.analysis.analyse_for_enrollment`.
            now: stream time in seconds (default: the frame's timestamp).

        Returns:
            (captured, guidance): whether the frame became a template, and what to tell the person.
        """
        now = analysis.frame.timestamp if now is None else now
        if self.done:
            return False, "done"
        if analysis.problem is not None or analysis.face is None or analysis.quality is None:
            return False, self._reject(analysis.problem or NO_FACE)
        frame = analysis.frame
        template = Template(analysis.face.vector.astype(np.float32), time.time(),
                            frame_source(frame.source, frame.timestamp), round(float(analysis.quality.score), 4))
        if not drop_duplicates([template], self.templates):
            # the same picture again (a folder of photos looping as the camera): one template, as the CLI
            # keeps; checked before the pose and the eyes, which a repeated picture cannot change
            self._repeats += 1
            guidance = self._reject(SAME_PICTURE)
            return False, ONLY_REPEATS if self._repeats >= STILL_REPEATS else guidance
        self._repeats = 0
        closed = False
        if analysis.ear is not None:
            level = self.open_level()
            closed = analysis.ear < max(EYES_CLOSED_EAR, EYES_OPEN_SHARE * level if level is not None else 0.0)
            if not closed:  # a blink is not part of the open-eye level
                self._ears.append(float(analysis.ear))
        # the pose first: a frame of a full pose is refused whatever its eyes, and the person told to turn
        pose = pose_of(analysis.quality.yaw)
        missing = self.missing()
        if missing[pose] == 0 and any(missing.values()):
            wanted = max((p for p in POSES if missing[p]), key=lambda p: missing[p])
            if wanted != self._asking_for:
                self._asking_for, self._asking_since = wanted, now
            return False, "face the camera" if wanted == "front" else f"turn slightly {wanted}"
        if closed:
            return False, self._reject("eyes closed")
        if analysis.ear is not None and len(self._ears) < EYES_BASELINE_FRAMES:
            return False, "hold still"
        if self._last_capture is not None and now - self._last_capture < self.min_interval:
            return False, "hold still"
        self.templates.append(template)
        self.chips.append(analysis.face.chip)
        self.poses.append(pose)
        self._last_capture = now
        self._asking_for = self._asking_since = None
        return True, "captured"

    def _reject(self, reason: str) -> str:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return guidance_for(reason)

    def reset(self) -> None:
        """Forget every capture (start again)."""
        self.templates.clear()
        self.chips.clear()
        self.poses.clear()
        self.rejected.clear()
        self._ears.clear()
        self.turns_skipped = False
        self._repeats = 0
        self._last_capture = self._asking_since = self._asking_for = None
