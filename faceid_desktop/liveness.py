"""Presentation attack detection (liveness): eye blinks over time (convenience), and prompted actions (secure).

Licence: the checks here need dlib's 68-point landmark model, trained on iBUG 300-W, whose licence
excludes commercial use (see :mod:`faceid_desktop.landmarks68`); show :data:`LANDMARKS_68_LICENCE` next
to the setting that turns liveness on.

**Blinks.** Per frame, the eye aspect ratio (EAR) of both eyes is averaged (Soukupova and Cech,
"Real-Time Eye Blink Detection using Facial Landmarks", CVWW 2016, eq. 1). The paper thresholds the EAR
(0.2) or feeds 13 frames of it to an SVM, both tied to a frame rate and to an average eye. Here, so that
it works at any frame rate (only timestamps are used), for narrow eyes and behind glasses (every level is
relative to the same face's own open eye), and is not fooled by a photo held in a hand, a blink is a
frame whose EAR (the *trough*) is as below. Only frames whose eye region lies wholly inside the frame
(:func:`~faceid_desktop.landmarks68.eyes_in_frame`) take part: when the top of a face leaves the view, dlib's
eye points are guesses on the frame's edge that flicker like a blink (the only hand-held photos that passed
the rules below in ``benchmarks/liveness.py`` were such frames: photos held too high, 2 of 50 stills).

1. the lowest of the ``open_window`` (0.5 s) before it and the ``reopen_within`` (0.3 s) after it, with
   at least ``min_history`` (0.3 s) of the face seen before: a closing *then* an opening;
2. at most ``depth_ratio`` (50%) of the lower of the two open-eye peaks around it (the second-highest EAR
   of the window before, so that a single frame of landmark flicker is not taken for an open eye: a
   hand-held blurred photo passed on such a one-frame peak, 2 of 32 repeated stills at 30 frames/s, none
   after and no live blink lost; the highest EAR of the window after, where a reopening leaves few open
   frames, and the second-highest lost live blinks): full blinks on the clips of ``../shared/media/live``
   reach 13-49% of them, while landmark noise on a still photo moves the EAR by a few percent, and the
   landmark flicker of a blurred re-captured video, or eye movements and narrowing, by 25-50% (measured:
   ``benchmarks/liveness.py``);
3. with both peaks at least ``open_ratio`` (70%) of the face's *open level*, the 70th percentile of its
   EAR over the ``baseline_window`` (2 s) before: the adaptive baseline per clip;
4. ``min_blink``-``max_blink`` (0.05-0.5 s) wide at half its depth (from the first frame below half-way
   on the closing side to the first frame back above it on the opening side): spontaneous blinks last
   0.1-0.4 s (Soukupova and Cech, section 1); a one-frame landmark glitch at 30 frames/s is 0.033 s wide,
   eyes kept closed or a look downwards last longer;
5. with the face's vertical proportions (nose length over eye span, :func:`vertical_ratio`) within
   ``max_vertical_change`` (15%) of their median around the dip: tilting a photo shrinks the eyes'
   height and the nose's together (foreshortening); a blink moves only the eyelids (live blinks: at most
   10%); secure mode allows :data:`SECURE_MAX_VERTICAL_CHANGE` (6%): there an attacker answering the
   "Blink" prompt with a photo folded back below the eyes (which shrinks the nose's top with the eyes) is
   the likeliest photo attack, and every blink of the live clips still answered the blink prompt as often;
6. reopening through the lid positions in between: at least ``opening_frames`` (2) frames part-way up
   (20-85% of the way from the trough back to the open peak) spanning 15% of the depth. An eyelid reopens
   over 100-250 ms, 3-7 frames at 25-30 frames/s; two swapped photos (eyes open, eyes closed) reopen in one
   frame, and a third, half-closed photo gives one level shown twice. Measured (``benchmarks/liveness.py``,
   swapped stills made from every live clip): two-still swaps accepted 61% -> 6%, three-still 56% -> 6%;
   the price is blinks that dlib's landmarks see snapping open (one of the 6 blinking clips' first blink).
   The reopening is counted from the last frame back at the closed level (below 20%): a lid moves one way,
   while the closed still of a swap, its landmarks noisy behind glasses, reached a part-way level for a
   frame and fell back (three-still swaps 1 -> 0 of 18; no blink of the live clips lost; one of the clips
   with thick drawn-on rims lost its only blink);
7. with those part-way frames *looking* part-way: in the eye patch (:func:`~faceid_desktop.landmarks68.eye_patch`,
   both eyes cut out upright from their corners), each counted frame must differ from the previous distinct
   one (the closed eye first) and from the open eye by ``eye_step`` (10%) of the closed eye's own distance
   to the open one (1 - normalised correlation). A swapped still held for several frames repeats one
   picture of the eye, whatever its noisy landmarks say; a lid changes it from frame to frame. Measured:
   three-still swaps 2 -> 1 of 18, no blinking clip lost (15% and 20% lose one; ``benchmarks/liveness.py``).
8. deeper than the landmarks' own noise: the lids' travel (the EAR drop times the eye's width, in outer
   eye-corner distances) at least ``min_blink_snr`` (2) times the median frame-to-frame movement of the
   blink-free points (brows, nose, eye corners) beyond a similarity transform
   (:func:`~faceid_desktop.landmarks68.rigid_jitter`) over the ``open_window`` before. On a small photo in
   motion dlib's points flicker, and a flicker of the lid points looks like a shallow blink. Measured: live
   blinks 3.9-12.0 times that noise (median 9.4), the printed-photo "blinks" that passed 0.9, 4.2 and 4.9
   (printed photos 3 -> 1 of 18; the two others pass any threshold a live blink passes). Not higher: thick
   dark spectacle rims drawn tight around the eyes make the landmarks flicker, and at 2.5 two of those
   clips lost their blinks.
   Pixel cues that compare the closed eye with the open one (to catch the landmark flicker of a photo)
   were tried and dropped: after alignment by landmarks, a hand-held photo's eye region changes as much
   between frames as a live eye that blinks.

A blink is reported ``reopen_within`` (0.3 s) after its trough. ``timeout`` is 12 s, not the 4 s of the
face decision: the prompt "Blink" appears only once the face matched, but in recorded clips (people who
were not asked) the first full blink came at 0.3-11.3 s; with 12 s every blinking clip passed from every
start second (``benchmarks/liveness.py``), with 10 s 2 of 23 starts did not.

**Eyes that cannot be seen** (dark sunglasses, a hand: :func:`~faceid_desktop.landmarks68.eye_visibility`
below :data:`HIDDEN_BRIGHTNESS` and :data:`HIDDEN_CONTRAST` over a second) are said so; convenience mode then
asks for the two head turns (:mod:`faceid_desktop.challenge`) instead of a blink that could never be seen.
Secure mode does not: it keeps its blink and says it must see one (:data:`SECURE_NEEDS_BLINK`), because
head turns alone are answered by a photo bent along a vertical line through the nose (the half beyond the
fold foreshortens and the yaw ratio moves as in a turn; a printed photo with dark lenses drawn on, bent
toward the side asked, passed secure mode's turns-only fallback in simulation, ``benchmarks/liveness.py``).

**Secure mode** (``challenge``, the default of ``faceid auth``): :mod:`faceid_desktop.challenge` asks for
blink, turn left and turn right in a random order, each within 4 s of its prompt, the prompts starting when
the face matched; an action not asked (a turn the other way) fails. In the benchmark no hand-held photo,
screen photo, repeated still or two- and three-still swap passed it; of the live clips replayed from 20
random offsets 1 of 160 did (3.1% answered random two-action sequences, hence three), and of attackers
answering the prompts with a photo folded below the eyes and bent along the nose, 1 of 26 (0 of 26 in a
later run, with dim faces brightened for the landmarks).

**Cameras too slow to see a lid move**: below 19 frames/s (:attr:`LivenessCheck.too_slow_for_blinks`, the
median frame interval of the last second) a reopening lid shows one in-between frame, as three swapped
stills do (open, half-closed, closed: at 15 frames/s they passed 6 of 6 before this rule), so no blink is
counted there and, once the face matched, convenience mode asks for the two head turns instead
(:data:`SLOW_CAMERA`), as for hidden eyes; secure mode says the camera is too slow for the blink it needs.

**What it does not stop**: a live deepfake driven by the attacker's own face, a 3-D mask, and in convenience
mode a replayed video (a recording shows real blinks), a photo with the eyes cut out held over a live face
(real lids blink through the holes), or, where the head turns replace the blink, a photo with dark lenses
bent along the nose; see the README's Liveness section.

No Qt and no module state: one :class:`LivenessCheck` per unlock attempt, fed frame by frame.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import cv2
import numpy as np

from .alignment import CHIP_SIZE, face_chip
from .challenge import (
    ACTIONS,
    BLINK,
    FAILED,
    PASSED,
    PROMPTS,
    TURN_LEFT,
    TURN_RIGHT,
    ChallengeError,
    ChallengeRun,
    ChallengeSettings,
    random_sequence,
)
from .detection import Face
from .quality import FACE_COLUMNS, FACE_ROWS
from .landmarks68 import (
    LANDMARKS_68_LICENCE,
    Landmarks68,
    LandmarkError,
    check_landmarks,
    eye_view,
    eye_visibility,
    mean_ear,
    rigid_jitter,
    vertical_ratio,
    yaw_ratio,
)
from .profile import DecisionSettings
from .verification import Decision, StreamDecision, StreamVerifier

#: The two modes the user picks from: a blink (convenience) or a random challenge (secure).
CONVENIENCE, SECURE = "convenience", "secure"
#: What each mode stops, in words shown next to the setting (README: Liveness).
MODE_TEXT = {
    CONVENIENCE: "Convenience: blink once (turn your head if your eyes cannot be seen). Stops photos held up "
                 "to the camera; a video of you blinking, photos edited or swapped into one, a photo with the "
                 "eyes cut out, or with dark glasses and bent, can pass.",
    SECURE: "Secure: blink, turn left and turn right when asked, in a random order. Also stops replayed "
            "videos; a live deepfake or a 3-D mask can pass.",
}
#: Seconds without a YuNet face after which frames are no longer followed by the 68 landmarks alone.
TRACK_FOR = 1.0
#: Eyes count as hidden (dark sunglasses, a hand) when, over the last second, the median brightness and
#: contrast of the eye regions relative to the face (:func:`~faceid_desktop.landmarks68.eye_visibility`)
#: are both below these: bare eyes and clear glasses measured at least 0.28 and 0.37 (5th percentiles of
#: the live clips), eyes under drawn-on dark lenses 0.12-0.21 and 0.0.
HIDDEN_BRIGHTNESS, HIDDEN_CONTRAST = 0.25, 0.25
#: Shown while the face's eyes run off the edge of the picture: those frames are left out of the blink check.
EYES_OFF_FRAME = "eyes at the edge of the picture: move into view"
#: Shown when the eyes cannot be seen; convenience mode then asks for head turns instead of a blink.
EYES_HIDDEN = "Your eyes cannot be seen (sunglasses?)"
#: Shown (with the measured rate) when the camera gives too few frames to see a lid reopen; convenience mode
#: then asks for head turns instead of a blink, as with hidden eyes.
SLOW_CAMERA = "Camera too slow to see a blink ({rate:.0f} frames/s)"
#: Added in secure mode to :data:`EYES_HIDDEN` or :data:`SLOW_CAMERA` while a blink is asked: its head turns
#: never stand alone (a photo bent along the nose answers them).
SECURE_NEEDS_BLINK = "secure mode must see you blink"
#: Why secure mode failed when face recognition found a face that is not the owner's during the challenge.
ANOTHER_FACE = "another face during the challenge"
#: Distance beyond the threshold from which a recognised face counts as another person's for
#: :meth:`LivenessCheck.another_face`: an owner's frame just over the threshold (a head turned for a prompt,
#: motion blur) does not fail the challenge, a stranger's does (benchmarks/live.py at 0.95, the default then: the
#: owners' frames reach 0.80, the closest impostor frame 1.18).
ANOTHER_FACE_MARGIN = 0.1
#: Seconds of faces that could not be compared (covered, too dark, cut by the edge) after which the face
#: counts as another person's for :meth:`LivenessCheck.another_face`: longer than an owner's face takes to
#: come back into view after a turn, shorter than a prompted action.
UNKNOWN_FACE_SECONDS = 0.5
#: Secure mode's ``max_vertical_change`` (rule 5): a photo folded back below the eyes, as an attacker
#: answering prompts would fold it for "Blink", shrinks the nose's top with the eyes.
SECURE_MAX_VERTICAL_CHANGE = 0.06
#: Frames (the last ones, within a second) the camera's frame rate is measured over, at least.
_RATE_FRAMES = 6

PENDING, LIVE, NOT_LIVE = "pending", "live", "not live"
UNLOCKED, REJECTED = "unlocked", "rejected"

__all__ = [
    "ACTIONS", "BLINK", "CONVENIENCE", "LANDMARKS_68_LICENCE", "MODE_TEXT", "PROMPTS", "SECURE",
    "TURN_LEFT", "TURN_RIGHT", "Blink", "ChallengeSettings", "LivenessCheck", "LivenessError", "LivenessResult",
    "LivenessSettings", "LiveUnlock", "UnlockState", "random_sequence", "LandmarkError",
]


class LivenessError(ValueError):
    """Bad input to the liveness check (settings out of range, unknown challenge, time going backwards)."""


@dataclass(frozen=True)
class LivenessSettings:
    """Parameters of the liveness check; the module docstring says where each comes from.

    Attributes:
        timeout: seconds from the first frame with a face within which liveness must be shown.
        required_blinks: blinks needed in passive (no challenge) mode.
        baseline_window: seconds of past open-eye frames the open level is taken from.
        min_history: seconds of face frames needed before a dip can count (the open level must exist).
        open_window: seconds before a trough where the open-eye peak is looked for.
        reopen_within: seconds after a trough within which the eye must open again (also the reporting delay).
        depth_ratio: a trough must be at most this fraction of the lower neighbouring peak.
        open_ratio: both peaks must be at least this fraction of the open level (70th percentile, 2 s).
        min_blink, max_blink: allowed width of the dip at half its depth, seconds.
        max_vertical_change: largest relative change of :func:`vertical_ratio` during a blink.
        opening_frames: frames part-way up (20-85% of the dip's depth) the reopening must show: a lid
            reopens over 100-250 ms, a swapped still in one frame (0: not checked). A camera too slow to
            show that many in 100 ms (2: below 19 frames/s) sees no blink: head turns are asked instead.
        eye_step: with eye patches (:func:`~faceid_desktop.landmarks68.eye_patch`), each part-way frame
            counted by ``opening_frames`` must look unlike the eye before it in the reopening and unlike the
            open eye, by this share of how much the closed eye differs from the open one (0: not checked).
        min_blink_snr: the lids' travel in a blink (EAR drop x eye width) must be at least this many times
            the landmark noise of the same face (median :func:`~faceid_desktop.landmarks68.rigid_jitter` of
            the ``open_window`` before it; 0: not checked).
        min_sharpness: the recapture cue, off when None: liveness fails when the median
            :func:`chip_sharpness` of the face's frames is below this (20 in the benchmark).
        max_gap: seconds without a face after which the evidence so far is dropped (the face left).
        max_jump: centre displacement between consecutive frames, in face widths, taken for another face:
            the evidence so far is dropped, so one person cannot blink for another's photo.
        mirrored: the frames are mirrored (a selfie preview); swaps what "left" and "right" mean in the
            challenge.
        keep_series: keep the per-frame (time, EAR) series in the results (for plots and debugging).
    """

    timeout: float = 12.0
    required_blinks: int = 1
    baseline_window: float = 2.0
    min_history: float = 0.3
    open_window: float = 0.5
    reopen_within: float = 0.3
    depth_ratio: float = 0.5
    open_ratio: float = 0.7
    min_blink: float = 0.05
    max_blink: float = 0.5
    max_vertical_change: float = 0.15
    opening_frames: int = 2
    eye_step: float = 0.1
    min_blink_snr: float = 2.0
    min_sharpness: float | None = None
    max_gap: float = 0.5
    max_jump: float = 0.5
    mirrored: bool = False
    keep_series: bool = True

    def __post_init__(self) -> None:
        positive = ("timeout", "baseline_window", "open_window", "max_blink", "reopen_within", "max_gap", "max_jump")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise LivenessError(f"liveness setting {name} must be a positive number of seconds or a ratio, got {value!r}")
        for name in ("min_history", "min_blink"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise LivenessError(f"liveness setting {name} must be >= 0, got {value!r}")
        for name in ("depth_ratio", "open_ratio"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < 1):
                raise LivenessError(f"liveness setting {name} must be a ratio in (0, 1), got {value!r}")
        if self.min_sharpness is not None and not (math.isfinite(self.min_sharpness) and self.min_sharpness >= 0):
            raise LivenessError(f"min_sharpness must be None or >= 0, got {self.min_sharpness!r}")
        if self.min_blink >= self.max_blink:
            raise LivenessError(f"min_blink ({self.min_blink}) must be below max_blink ({self.max_blink})")
        if not (isinstance(self.min_blink_snr, (int, float)) and math.isfinite(self.min_blink_snr)
                and self.min_blink_snr >= 0):
            raise LivenessError(f"min_blink_snr must be >= 0, got {self.min_blink_snr!r}")
        if not (isinstance(self.eye_step, (int, float)) and 0 <= self.eye_step < 1):
            raise LivenessError(f"eye_step must be in [0, 1), got {self.eye_step!r}")
        if not (0 < self.max_vertical_change < 1):
            raise LivenessError(f"max_vertical_change must be in (0, 1), got {self.max_vertical_change}")
        if isinstance(self.required_blinks, bool) or not isinstance(self.required_blinks, int) or not 1 <= self.required_blinks <= 10:
            raise LivenessError(f"required_blinks must be a whole number from 1 to 10, got {self.required_blinks!r}")


@dataclass(frozen=True)
class Blink:
    """One blink found.

    Attributes:
        start, end: seconds (the caller's clock): first frame below the close level, first frame back above it.
        open_level: the open-eye EAR it was measured against.
        min_ear: the lowest EAR of the dip.
    """

    start: float
    end: float
    open_level: float
    min_ear: float

    @property
    def duration(self) -> float:
        """Seconds below the close level."""
        return self.end - self.start

    @property
    def depth(self) -> float:
        """Lowest EAR as a fraction of the open level (0 = fully closed)."""
        return self.min_ear / self.open_level


@dataclass(frozen=True)
class LivenessResult:
    """The state of a liveness check after a frame.

    Attributes:
        live: True (shown live), False (failed: timeout or a wrong action), None (pending: keep feeding frames).
        reason: one line for the user or the audit log, e.g. ``blinked``, ``no blink within 8.0 s``.
        elapsed: seconds since the first frame with a face (0 before it).
        frames: frames fed so far; ``face_frames``: those with a face.
        blinks: blinks found on the current face.
        challenge: the actions asked (secure mode, see :mod:`faceid_desktop.challenge`), or None (a blink).
        challenge_satisfied: every action was done as asked (False in convenience mode).
        ear: the latest frame's EAR, None when it had no face.
        yaw: the latest yaw ratio (:func:`~faceid_desktop.landmarks68.yaw_ratio`, median of 5 frames)
            relative to the straight-ahead reference, positive to the person's own left (secure mode; None
            before the reference exists).
        prompt: what to ask the user now ('' when nothing: before the challenge starts, once decided).
        ear_series: ((seconds, EAR), ...) of the face frames when ``keep_series``; empty otherwise.
    """

    live: bool | None
    reason: str
    elapsed: float
    frames: int
    face_frames: int
    blinks: tuple[Blink, ...]
    challenge: tuple[str, ...] | None
    challenge_satisfied: bool
    ear: float | None
    yaw: float | None
    prompt: str = ""
    ear_series: tuple[tuple[float, float], ...] = field(default=(), repr=False)

    @property
    def state(self) -> str:
        """``pending``, ``live`` or ``not live``."""
        return PENDING if self.live is None else (LIVE if self.live else NOT_LIVE)

    def to_dict(self, series: bool = False) -> dict[str, Any]:
        """Plain JSON-ready values (the EAR series only when ``series``), for ``--json`` and the audit log."""
        doc = asdict(self)
        doc["state"] = self.state
        if not series:
            doc.pop("ear_series")
        return doc


def chip_sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian of the grey face region of a (112, 112, 3) uint8 RGB face chip.

    The recapture cue tried against replayed videos: a face filmed off a screen is blurred twice (see
    ``benchmarks/liveness.py``). Same measure as :mod:`faceid_desktop.quality` (which takes the whole chip),
    on the face only.

    Raises:
        LivenessError: the chip is not (112, 112, 3) uint8.
    """
    if chip.dtype != np.uint8 or chip.shape != (CHIP_SIZE, CHIP_SIZE, 3):
        raise LivenessError(f"expected a ({CHIP_SIZE}, {CHIP_SIZE}, 3) uint8 face chip, got {chip.dtype} {chip.shape}")
    grey = cv2.cvtColor(chip[FACE_ROWS, FACE_COLUMNS], cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


#: With ``opening_frames`` >= 2, the part-way frames of a reopening must span this share of the dip's depth.
_OPENING_SPREAD = 0.15
#: Seconds an eyelid takes at least to reopen (100-250 ms measured on the live clips): ``opening_frames``
#: part-way frames must fit in it, so a blink is only judged at 19 frames/s or more (2 frames per 100 ms,
#: with 10% jitter of the frame interval allowed). 80 ms let 24-25 frames/s through with one frame, where a
#: three-still swap (half-closed still shown once) then passed in 27 of 27 red-team streams; with 100 ms
#: none did, at the price of 3 of the 14 blinks of the two 24-25 frames/s live clips (BPCER unchanged).
#: Below that rate a lid shows one in-between frame, as three swapped stills do (at 15 frames/s they
#: passed 6 of 6), so convenience mode asks for head turns instead (:data:`SLOW_CAMERA`).
_MIN_REOPENING = 0.1


def _frames_within(seconds: float, interval: float) -> int:
    """Frames a camera whose median frame interval is ``interval`` seconds shows in ``seconds`` (a camera's
    intervals jitter: 10% of a frame is forgiven, so that 19-20 frames/s show 2 frames in 100 ms)."""
    return int(seconds / interval + 0.1 + 1e-9)


#: Dips shallower than this (trough over the lower neighbouring peak) are not even recorded as candidates.
_CANDIDATE_RATIO = 0.8


#: Rows of an :func:`~faceid_desktop.landmarks68.eye_patch` that hold the eyes and lids (the corners sit on
#: row 14; brows above, cheeks below are left out: they move with expressions, not with blinks).
_EYE_ROWS = slice(6, 23)


def _eye_vector(patch: np.ndarray) -> np.ndarray:
    """The eye rows of a patch as a zero-mean unit vector: lighting and contrast changes do not count."""
    values = patch[_EYE_ROWS].astype(np.float32).ravel()
    values -= values.mean()
    norm = float(np.linalg.norm(values))
    return values / norm if norm > 0 else values


def _distinct_states(trough_eyes: np.ndarray, open_eyes: list[np.ndarray], part_way: list[np.ndarray],
                     step: float) -> int:
    """How many of the ``part_way`` eye patches (in time order) each differ from the previous distinct one
    (the closed eye first) and from the open eye by ``step`` times the closed eye's distance to the open one
    (distance: 1 - normalised correlation). A lid that reopens changes the eye from frame to frame; a
    swapped still shown for several frames repeats one state, however its noisy landmarks move."""
    reference = np.mean([_eye_vector(p) for p in open_eyes], axis=0)
    reference /= max(float(np.linalg.norm(reference)), 1e-9)
    state = _eye_vector(trough_eyes)
    change = 1.0 - float(state @ reference)
    if change <= 0.0:
        return 0
    floor = step * change
    count = 0
    for patch in part_way:
        vector = _eye_vector(patch)
        if 1.0 - float(vector @ state) >= floor and 1.0 - float(vector @ reference) >= floor:
            count += 1
            state = vector
    return count


def _eye_width(points: np.ndarray) -> float:
    """Mean width of the two eyes (corner to corner) over the outer eye-corner distance (about 0.3)."""
    span = float(np.linalg.norm(points[45] - points[36]))
    if span == 0.0:
        return 0.0
    return float(np.linalg.norm(points[39] - points[36]) + np.linalg.norm(points[45] - points[42])) / 2.0 / span


class _Frame(NamedTuple):
    """One face frame as the blink rule sees it."""

    t: float  # seconds
    ear: float  # mean eye aspect ratio
    vertical: float  # vertical_ratio
    eyes: np.ndarray | None  # eye_patch, or None
    jitter: float | None  # rigid_jitter against the previous face frame, or None (first frame, a gap)
    eye_width: float  # mean eye width over the outer eye-corner distance


class _BlinkDetector:
    """The blink rule of the module docstring on a stream of (seconds, EAR, vertical ratio).

    Each face frame is judged as a possible trough once ``reopen_within`` seconds of later frames are in,
    so a blink is reported that long after its lowest point.
    """

    def __init__(self, settings: LivenessSettings) -> None:
        self.s = settings
        # (t, ear, vertical, eye patch or None) of the last seconds
        self.frames: deque[_Frame] = deque()
        self.next_candidate = 0  # index in ``frames`` of the oldest frame not yet judged
        self.blinks: list[Blink] = []
        self.candidates: list[dict[str, float]] = []  # every dip judged, for benchmarks and tuning

    def update(self, frame: _Frame) -> Blink | None:
        s = self.s
        t = frame.t
        self.frames.append(frame)
        keep_from = t - s.baseline_window - s.open_window - s.reopen_within
        while self.frames[0].t < keep_from:
            self.frames.popleft()
            self.next_candidate = max(0, self.next_candidate - 1)
        found = None
        while self.next_candidate < len(self.frames) and self.frames[self.next_candidate].t <= t - s.reopen_within:
            blink = self._judge(self.next_candidate)
            self.next_candidate += 1
            if blink is not None and (not self.blinks or blink.start >= self.blinks[-1].end):
                self.blinks.append(blink)
                found = blink
        return found

    def _judge(self, i: int) -> Blink | None:
        s = self.s
        frames = list(self.frames)
        tm, trough, _, trough_eyes, _, eye_width = frames[i]
        before = [f for f in frames[:i] if f.t >= tm - s.open_window]
        after = [f for f in frames[i + 1:] if f.t <= tm + s.reopen_within]
        if not before or not after or frames[0].t > tm - s.min_history:
            return None  # not enough past to know the open eye
        if min(f.ear for f in before) <= trough or min(f.ear for f in after) < trough:
            return None  # not the lowest point of its neighbourhood (a flat bottom counts at its first frame)
        # the open eye before the dip is its window's second-highest EAR: one frame of landmark flicker on a
        # blurred photo is not an open eye; after it the highest (a reopening leaves few open frames)
        pre = sorted(f.ear for f in before)[-2] if len(before) >= 2 else before[0].ear
        post = max(f.ear for f in after)
        if trough > _CANDIDATE_RATIO * min(pre, post):
            return None
        history = [f.ear for f in frames if tm - s.open_window - s.baseline_window <= f.t < tm - s.open_window]
        open_level = float(np.percentile(history, 70)) if len(history) >= 3 else pre
        # the dip's width at half its depth: from the first frame below half-way on the closing side to the
        # first frame back above half-way on the opening side
        half_pre, half_post = (trough + pre) / 2.0, (trough + post) / 2.0
        start = tm
        for f in reversed(before):
            if f.ear >= half_pre:
                break
            start = f.t
        end = next((f.t for f in after if f.ear >= half_post), math.inf)
        window = before + [frames[i]] + after
        reference = float(np.median([f.vertical for f in window]))
        inside = [f.vertical for f in window if start <= f.t < end]
        change = max(abs(v / reference - 1.0) for v in inside) if reference > 0 else math.inf
        # the reopening: frames after the trough until the eye is back (85% of the way up), those of them
        # part-way up (above 20%), and how far apart their levels are (a still shown twice has one level)
        depth = post - trough
        rising, rising_eyes = [], []
        for f in after:
            if f.ear >= trough + 0.85 * depth:
                break
            if f.ear > trough + 0.2 * depth:
                rising.append(f.ear)
                rising_eyes.append(f.eyes)
            else:  # back at the closed level: the reopening has not begun yet
                rising, rising_eyes = [], []
        spread = (max(rising) - min(rising)) / depth if len(rising) >= 2 and depth > 0 else 0.0
        # the open eye before the dip: its three widest-open frames
        open_eyes = [f.eyes for f in sorted(before, key=lambda f: -f.ear)[:3]]
        patches = trough_eyes is not None and all(e is not None for e in open_eyes + rising_eyes)
        states = (_distinct_states(trough_eyes, open_eyes, rising_eyes, s.eye_step)
                  if patches and s.eye_step > 0 else None)
        # the lids' travel (in outer eye-corner distances) against the blink-free points' frame-to-frame noise
        lids = (min(pre, post) - trough) * eye_width
        jitters = [f.jitter for f in before if f.jitter is not None]
        jitter = float(np.median(jitters)) if len(jitters) >= 2 and s.min_blink_snr > 0 else None
        candidate = {"t": tm, "lids": lids, "jitter": jitter, "trough": trough, "pre": pre, "post": post, "open": open_level,
                     "duration": end - start, "vertical_change": change, "opening_frames": len(rising),
                     "opening_spread": spread, "opening_states": states}
        self.candidates.append(candidate)
        if not (s.min_blink <= end - start <= s.max_blink):
            return None  # a glitch of one frame, or eyes kept closed
        if trough > s.depth_ratio * min(pre, post) or min(pre, post) < s.open_ratio * open_level:
            return None  # too shallow, or not from an open eye
        if change > s.max_vertical_change:
            return None  # the whole face shrank vertically: a tilted photo
        interval = float(np.median(np.diff([f.t for f in window]))) if len(window) > 1 else 0.0
        if interval > 0 and _frames_within(_MIN_REOPENING, interval) < s.opening_frames:
            return None  # too few frames to see a lid reopen: swapped stills would look the same
        needed = s.opening_frames
        if len(rising) < needed or (needed >= 2 and spread < _OPENING_SPREAD):
            return None  # the eye snapped open: swapped stills, not an eyelid
        if states is not None and states < needed:
            return None  # the part-way frames repeat one picture of the eye: stills swapped, not a lid
        if jitter is not None and lids < s.min_blink_snr * jitter:
            return None  # no deeper than the landmarks' own noise on this face: a photo's flicker
        return Blink(start, end, min(pre, post), trough)


class LivenessCheck:
    """One liveness attempt: feed it every frame, read the :class:`LivenessResult` it returns.

    Convenience mode (``challenge=None``) passes once ``required_blinks`` blinks are seen, and fails when
    ``timeout`` seconds pass from the first frame with a face. Secure mode (``challenge`` a sequence of
    actions, :func:`~faceid_desktop.challenge.random_sequence`) waits for :meth:`start_challenge` (the face
    matched), then asks each action in turn (:class:`~faceid_desktop.challenge.ChallengeRun`). Once
    decided, the result no longer changes.

    Frames are fed by :meth:`update_frame` (a frame in which the detector looked for faces) or
    :meth:`track_frame` (a frame the face recognition skipped: the 68 landmarks are fitted where the face
    was in the previous frame), so the eye check sees every camera frame however slow recognition is.

    Args:
        settings: thresholds; the defaults when None.
        challenge: None (a blink), or the actions to ask in order (a single action name is one step).
        landmarks: a :class:`~faceid_desktop.landmarks68.Landmarks68` to share between attempts (loading the
            model takes about a second); one is loaded at the first frame when None.
        challenge_settings: the challenge's thresholds and window; the defaults (with ``settings.mirrored``)
            when None.

    Raises:
        LivenessError: an unknown or repeated action.
    """

    def __init__(
        self,
        settings: LivenessSettings | None = None,
        challenge: str | tuple[str, ...] | list[str] | None = None,
        landmarks: Landmarks68 | None = None,
        challenge_settings: ChallengeSettings | None = None,
    ) -> None:
        self.settings = settings or LivenessSettings()
        if isinstance(challenge, str):
            challenge = (challenge,)
        self.challenge = None if challenge is None else tuple(challenge)
        self._secure = self.challenge is not None
        self.challenge_settings = challenge_settings or ChallengeSettings(mirrored=self.settings.mirrored)
        self._run: ChallengeRun | None = None
        if self.challenge is not None:
            try:
                self._run = ChallengeRun(self.challenge, self.challenge_settings)
            except ChallengeError as error:
                raise LivenessError(f"unknown challenge: {error}") from None
        self._landmarks = landmarks
        self._frames = 0
        self._face_frames = 0
        self._start: float | None = None
        self._last_t: float | None = None
        self._last_face: tuple[float, float, float, float] | None = None  # t, centre x, centre y, width
        self._last_points: np.ndarray | None = None
        self._box_shape: tuple[float, float, float] | None = None  # fit box relative to the points (tracking)
        self._seeded_at: float | None = None
        self._series: list[tuple[float, float]] = []
        self._sharpness: list[float] = []
        self._visibility: deque[tuple[float, float, float]] = deque()  # (t, brightness, contrast), last second
        self._turns_because: str | None = None  # why head turns replaced the blink (eyes hidden, slow camera)
        self._times: deque[float] = deque()  # timestamps of the frames of the last second
        self._eyes_off_frame = False  # the latest face's eyes ran off the picture (left out of the blink check)
        self._prompts_from: float | None = None  # when start_challenge was called
        self._identity_failure: str | None = None  # why the challenge failed on another face (another_face)
        self._blink_settings = self.settings
        if self._secure:
            self._blink_settings = dataclasses.replace(self.settings, max_vertical_change=min(
                self.settings.max_vertical_change, SECURE_MAX_VERTICAL_CHANGE))
        self._detector = _BlinkDetector(self._blink_settings)
        self._result: LivenessResult | None = None

    @property
    def eyes_hidden(self) -> bool:
        """True when the eyes could not be seen over the last second (dark sunglasses, a hand)."""
        if len(self._visibility) < 5:
            return False
        brightness = float(np.median([v[1] for v in self._visibility]))
        contrast = float(np.median([v[2] for v in self._visibility]))
        return brightness < HIDDEN_BRIGHTNESS and contrast < HIDDEN_CONTRAST

    @property
    def frame_rate(self) -> float | None:
        """Frames per second over the last second (from the median interval of at least 6 frames), or None
        before that."""
        if len(self._times) < _RATE_FRAMES:
            return None
        interval = float(np.median(np.diff(self._times)))
        return 1.0 / interval if interval > 0 else None

    @property
    def too_slow_for_blinks(self) -> bool:
        """True when the camera gives fewer frames than a lid's reopening needs to be seen
        (``opening_frames`` in 100 ms): a blink then looks like swapped stills and is not counted."""
        rate = self.frame_rate
        return (rate is not None and self.settings.opening_frames > 0
                and _frames_within(_MIN_REOPENING, 1.0 / rate) < self.settings.opening_frames)

    @property
    def landmarks(self) -> Landmarks68:
        """The 68-point predictor used by :meth:`update_frame` (loaded once, on first use)."""
        if self._landmarks is None:
            self._landmarks = Landmarks68()
        return self._landmarks

    @property
    def challenge_started(self) -> bool:
        """True once the challenge's prompts started (never in convenience mode with visible eyes)."""
        return self._run is not None and self._run.started

    def start_challenge(self, timestamp: float) -> None:
        """Show the challenge's first prompt from ``timestamp`` on (the face matched); nothing more in
        convenience mode, or when already started. From then on, when the eyes cannot be seen
        (:attr:`eyes_hidden`) or the camera is too slow to see a lid move (:attr:`too_slow_for_blinks`), in
        convenience mode the action asked becomes the two head turns in a random order: a blink could never
        be seen, or not told from swapped stills. Secure mode keeps its sequence and says why the blink is
        not seen: turns alone are answered by a bent photo."""
        if self._prompts_from is None:
            self._prompts_from = float(timestamp)
            if self._run is not None:
                self._run.start(timestamp)

    def _blink_unseen(self) -> str | None:
        """Why no blink can be seen now (:data:`EYES_HIDDEN`, :data:`SLOW_CAMERA`), or None."""
        if self.eyes_hidden:
            return EYES_HIDDEN
        if self.too_slow_for_blinks:
            return SLOW_CAMERA.format(rate=self.frame_rate)
        return None

    def _ask_turns_if_blinks_unseen(self, timestamp: float) -> None:
        if self._secure or self._prompts_from is None or self._turns_because is not None:
            return
        because = self._blink_unseen()
        if because is None:
            return
        self._turns_because = because
        turns = (TURN_LEFT, TURN_RIGHT) if secrets.randbelow(2) else (TURN_RIGHT, TURN_LEFT)
        self.challenge = turns
        self._run = ChallengeRun(turns, self.challenge_settings)
        self._run.start(timestamp)

    def update_frame(self, timestamp: float, image: np.ndarray, face: Face | None) -> LivenessResult:
        """Fit the 68 landmarks on ``face`` (found by the detector in ``image``) and :meth:`update` with them.

        Args:
            timestamp: seconds, any monotonic clock (a camera :class:`~faceid_desktop.camera.Frame`'s).
            image: (H, W, 3) uint8 RGB frame.
            face: the face the decision is about (e.g. :func:`~faceid_desktop.verification.primary_face`),
                or None when the detector found none.

        Raises:
            LivenessError: time went backwards; LandmarkError: a malformed image or box.
        """
        if face is None:
            return self.update(timestamp, None)
        box = self.landmarks.face_box(image, face.landmarks)
        points = self.landmarks.fit(image, box)
        self._remember_box(points, box)
        self._seeded_at = timestamp
        self._see_eyes(timestamp, image, points)
        sharpness = None
        if self.settings.min_sharpness is not None:
            sharpness = chip_sharpness(face_chip(image, face.landmarks))
        eyes, in_frame = eye_view(image, points)
        return self.update(timestamp, points, face.box, sharpness, eyes, in_frame)

    def track_frame(self, timestamp: float, image: np.ndarray) -> LivenessResult:
        """A frame the detector did not look at: fit the 68 landmarks where the face was in the previous
        frame (dlib's predictor corrects a shift of a fraction of the face), and :meth:`update` with them.
        Without a face found in the last :data:`TRACK_FOR` seconds, the frame counts as one without a face.

        Args:
            timestamp: seconds, the same clock as :meth:`update_frame`'s.
            image: (H, W, 3) uint8 RGB frame.

        Raises:
            LivenessError: time went backwards; LandmarkError: a malformed image.
        """
        if (self._last_points is None or self._box_shape is None or self._seeded_at is None
                or not 0 <= timestamp - self._seeded_at <= TRACK_FOR):
            return self.update(timestamp, None)
        centre, scale = _centre_scale(self._last_points)
        dx, dy, side = self._box_shape
        cx, cy, half = centre[0] + dx * scale, centre[1] + dy * scale, side * scale / 2.0
        box = (int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half)))
        points = self.landmarks.fit(image, box)
        self._see_eyes(timestamp, image, points)
        eyes, in_frame = eye_view(image, points)
        return self.update(timestamp, points, eyes=eyes, in_frame=in_frame)

    def _see_eyes(self, timestamp: float, image: np.ndarray, points: np.ndarray) -> None:
        brightness, contrast = eye_visibility(image, points)
        self._visibility.append((timestamp, brightness, contrast))
        while self._visibility and self._visibility[0][0] < timestamp - 1.0:
            self._visibility.popleft()

    def _remember_box(self, points: np.ndarray, box: tuple[int, int, int, int]) -> None:
        centre, scale = _centre_scale(points)
        if scale > 0:
            self._box_shape = (((box[0] + box[2]) / 2.0 - centre[0]) / scale,
                               ((box[1] + box[3]) / 2.0 - centre[1]) / scale, (box[2] - box[0]) / scale)

    def update(
        self,
        timestamp: float,
        landmarks: np.ndarray | None,
        box: tuple[int, int, int, int] | None = None,
        sharpness: float | None = None,
        eyes: np.ndarray | None = None,
        in_frame: bool = True,
    ) -> LivenessResult:
        """Add one frame.

        Args:
            timestamp: seconds, non-decreasing between calls.
            landmarks: the face's (68, 2) float landmarks in pixels, or None when the frame has no face.
            box: the face's (left, top, right, bottom) in pixels, to notice another face taking its place;
                the landmarks' bounding box when None.
            sharpness: :func:`chip_sharpness` of the face's chip; only used when ``min_sharpness`` is set.
            eyes: the face's :func:`~faceid_desktop.landmarks68.eye_patch`, for the ``eye_step`` rule (a
                blink whose frames come without patches is judged on the landmarks alone; :meth:`update_frame`
                and :meth:`track_frame` always give them).
            in_frame: :func:`~faceid_desktop.landmarks68.eyes_in_frame`: False when the eye region runs off
                the frame, and the frame is then left out of the blink check (the face is still followed).

        Raises:
            LivenessError: ``timestamp`` is not finite or earlier than the previous frame's.
            LandmarkError: landmarks not (68, 2) finite numbers.
        """
        if not (isinstance(timestamp, (int, float)) and math.isfinite(timestamp)):
            raise LivenessError(f"timestamp must be finite seconds, got {timestamp!r}")
        if self._last_t is not None and timestamp < self._last_t:
            raise LivenessError(f"timestamps must not go backwards: {timestamp} after {self._last_t}")
        self._last_t = timestamp
        self._frames += 1
        self._times.append(timestamp)
        while len(self._times) > _RATE_FRAMES and self._times[0] < timestamp - 1.0:
            self._times.popleft()
        if self._result is not None and self._result.live is not None:
            return self._result
        points = None if landmarks is None else check_landmarks(landmarks)
        ear = yaw = None
        previous, self._last_points = self._last_points, points
        if points is not None:
            self._face_frames += 1
            if self._start is None:
                self._start = timestamp
            self._follow_face(timestamp, points, box)
            ear = mean_ear(points)
            self._eyes_off_frame = not in_frame
            if in_frame:
                if self.settings.keep_series:
                    self._series.append((timestamp, ear))
                jitter = None if previous is None else rigid_jitter(points, previous)
                self._detector.update(_Frame(timestamp, ear, vertical_ratio(points), eyes, jitter, _eye_width(points)))
            if self._run is not None:
                yaw = yaw_ratio(points)
            if sharpness is not None:
                self._sharpness.append(float(sharpness))
        elif self._last_face is not None and timestamp - self._last_face[0] > self.settings.max_gap:
            self._reset_evidence()
        self._ask_turns_if_blinks_unseen(timestamp)
        if self._run is not None and yaw is None and points is not None:
            yaw = yaw_ratio(points)
        self._result = self._decide(timestamp, ear, yaw)
        return self._result

    def _follow_face(self, t: float, points: np.ndarray, box: tuple[int, int, int, int] | None) -> None:
        if box is not None:
            left, top, right, bottom = box
        else:
            (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
        face = (t, (left + right) / 2.0, (top + bottom) / 2.0, max(float(right - left), 1.0))
        last = self._last_face
        if last is not None:
            moved = math.hypot(face[1] - last[1], face[2] - last[2]) / max(face[3], last[3])
            if t - last[0] > self.settings.max_gap or moved > self.settings.max_jump:
                self._reset_evidence()  # another face (or the same after leaving): start over
        self._last_face = face

    def _reset_evidence(self) -> None:
        self._detector = _BlinkDetector(self._blink_settings)
        self._last_face = None
        self._sharpness = []

    def another_face(self, timestamp: float) -> None:
        """Face recognition found, at ``timestamp``, a face that is not the owner's where the followed face
        is: what the eyes did so far proves nothing about the owner. The blinks seen are dropped (also a
        blink that already made the result live: convenience mode keeps waiting for a blink on the owner's
        face); in secure mode a started challenge fails (a stranger answering the prompts between pictures
        of the owner, found by trying it: ``faceid auth`` unlocked)."""
        if self._run is not None and self._run.started and (self._result is None or self._result.live is None):
            self._identity_failure = ANOTHER_FACE
        self._reset_evidence()
        self.drop_blinks()

    def drop_blinks(self) -> None:
        """Forget the blinks seen (convenience mode; one not bound to the owner's face, see
        :class:`LiveUnlock`): a live result they made becomes pending again."""
        self._detector = _BlinkDetector(self._blink_settings)
        if self._run is None and self._result is not None and self._result.live:
            self._result = None

    def _decide(self, t: float, ear: float | None, yaw_now: float | None) -> LivenessResult:
        s = self.settings
        elapsed = 0.0 if self._start is None else t - self._start
        blinks = tuple(self._detector.blinks)
        live: bool | None = None
        satisfied = False
        prompt = ""
        yaw = None
        if self._run is None:
            if len(blinks) >= s.required_blinks:
                live, reason = True, f"blinked ({len(blinks)})"
            else:
                reason = (EYES_OFF_FRAME if self._eyes_off_frame
                          else SLOW_CAMERA.format(rate=self.frame_rate) if self.too_slow_for_blinks
                          else "waiting for a blink")
        else:
            status = self._run.update(t, yaw_now, blinks[-1].start if blinks else None)
            yaw, prompt, reason = status.yaw, status.prompt, status.reason
            if self._turns_because and prompt:
                prompt = f"{self._turns_because}: {prompt[0].lower()}{prompt[1:]}"
            if self._turns_because and status.state == FAILED:
                reason = f"{reason} ({_why(self._turns_because)}: head turns asked)"
            unseen = self._blink_unseen() if self._secure else None
            if unseen and prompt == PROMPTS[BLINK]:
                prompt = f"{unseen}: {SECURE_NEEDS_BLINK}"
            if unseen and status.state == FAILED and reason.startswith(f"no {BLINK}"):
                reason = f"{reason} ({_why(unseen)}: {SECURE_NEEDS_BLINK})"
            if self._identity_failure is not None:
                live, reason, prompt = False, self._identity_failure, ""
            elif status.state == PASSED:
                live, satisfied = True, True
            elif status.state == FAILED:
                live = False
        if live and s.min_sharpness is not None:
            sharp = float(np.median(self._sharpness)) if self._sharpness else 0.0
            if sharp < s.min_sharpness:
                live, satisfied, prompt = False, False, ""
                reason = f"face too blurred to tell from a replayed video (sharpness {sharp:.0f} < {s.min_sharpness:g})"
        if live is None and self._run is None and self._start is not None and elapsed > s.timeout:
            live = False
            reason = f"no blink within {s.timeout:g} s"
            if self.eyes_hidden:
                reason += f": {EYES_HIDDEN[0].lower()}{EYES_HIDDEN[1:]}"
        elif live is None and self._start is None:
            reason = "no face"
        return LivenessResult(
            live, reason, elapsed, self._frames, self._face_frames, blinks, self.challenge, satisfied,
            ear, yaw, prompt, tuple(self._series),
        )


def _why(because: str) -> str:
    """A failure reason's words for :data:`EYES_HIDDEN` or :data:`SLOW_CAMERA` (with its rate)."""
    return "eyes not visible" if because == EYES_HIDDEN else "camera too slow for a blink"


def _centre_scale(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The landmarks' centroid and RMS distance from it (pixels): where a face is and how big."""
    centre = points.mean(axis=0)
    return centre, float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))


@dataclass(frozen=True)
class UnlockState:
    """The combined decision of face matching and liveness after a frame.

    Attributes:
        state: ``pending``, ``unlocked`` (the face matches now and liveness passed) or ``rejected``.
        reason: one line: ``match and live``, ``not recognised``, the liveness failure, or the timeout.
        elapsed: seconds since the attempt's first frame.
        match: the multi-frame face decision (its own timeout is stretched to the attempt's).
        liveness: the liveness check's result.
        prompt: what to ask the user now: '' until the face matched (a stranger is never asked to blink),
            then ``Blink`` or the challenge's current action.
        matched: the face has matched in this attempt, so liveness has been asked for.
    """

    state: str
    reason: str
    elapsed: float
    match: StreamDecision
    liveness: LivenessResult
    prompt: str = ""
    matched: bool = False

    @property
    def reported_liveness(self) -> LivenessResult | None:
        """The liveness result to show or audit: None until the face matched. The eye check runs on every
        frame from the start, but a face never recognised was never asked to be live, and its eye check is
        not a result (the CLI reports it as ``not asked``)."""
        return self.liveness if self.matched else None

    @property
    def done(self) -> bool:
        """True once unlocked or rejected."""
        return self.state != PENDING


class LiveUnlock:
    """One unlock attempt: the face must match (the profile's M-of-N rule) and liveness must pass.

    The order is the face first: a face that does not reach ``frames_to_accept`` matching frames within
    the profile's ``timeout`` is rejected as ``not recognised``, and is never asked for a blink or an action.
    Once it matched, the prompt appears: in convenience mode a blink (one seen since the attempt began
    counts: the eye check runs on every frame from the start), within the liveness ``timeout`` from the
    attempt's start; in secure mode the challenge starts then, each action within its window. The attempt
    unlocks at the first frame where liveness has passed and ``frames_to_accept`` of the last ``window``
    frames match, so the match is about the face that is there when liveness is shown.

    Frames go to :meth:`update` when the face recognition decided them and to :meth:`observe` when it
    skipped them (a busy machine): liveness sees both.

    Args:
        settings: the profile's decision settings.
        liveness: a fresh :class:`LivenessCheck` for this attempt.
    """

    def __init__(self, settings: DecisionSettings, liveness: LivenessCheck) -> None:
        self.face_timeout = settings.timeout
        if liveness.challenge is None:
            self.timeout = max(settings.timeout, liveness.settings.timeout)
        else:
            self.timeout = settings.timeout + len(liveness.challenge) * liveness.challenge_settings.window
        # the stream verifier's own timeout would reject a match that waits for a blink; ours applies
        self._stream = StreamVerifier(dataclasses.replace(settings, timeout=3600.0))
        self.liveness = liveness
        self._start: float | None = None
        self._matched_at: float | None = None
        self._match: StreamDecision | None = None
        self._final: UnlockState | None = None
        # (timestamp, matched) of the frames face recognition compared, for binding a blink to the owner
        self._compared: deque[tuple[float, bool]] = deque(maxlen=256)
        self._unknown_since: float | None = None  # start of the current run of faces that could not be compared

    def observe(self, timestamp: float, image: np.ndarray) -> UnlockState | None:
        """A frame recognition skipped: liveness follows the face in it (:meth:`LivenessCheck.track_frame`).

        Returns:
            The state (the match as of the last decided frame), or None before the first decided frame.

        Raises:
            LivenessError, LandmarkError: as :meth:`LivenessCheck.track_frame`.
        """
        if self._final is not None:
            return self._final
        if self._start is None:
            self._start = timestamp
        live = self.liveness.track_frame(timestamp, image)
        if self._match is None:
            return None
        return self._judge(timestamp, self._match, live)

    def update(self, timestamp: float, decision: Decision, image: np.ndarray | None = None,
               face: Face | None = None, landmarks: np.ndarray | None = None) -> UnlockState:
        """Add one decided frame: its face decision, and either the frame and face (landmarks are fitted) or
        the face's (68, 2) ``landmarks`` directly (None for both when no face was found).

        Args:
            timestamp: seconds, non-decreasing.
            decision: :meth:`~faceid_desktop.verification.Verifier.verify_image` on this frame.
            image: (H, W, 3) uint8 RGB frame, needed with ``face``.
            face: the face the decision is about.
            landmarks: (68, 2) float pixels, instead of ``image`` and ``face``.

        Raises:
            LivenessError, LandmarkError: as :meth:`LivenessCheck.update`.
        """
        if self._start is None:
            self._start = timestamp
        if self._final is not None:
            # decided on a frame only liveness saw (:meth:`observe`): the caller acts on it now, so the
            # time it took is the time until now
            return dataclasses.replace(self._final, elapsed=max(self._final.elapsed, timestamp - self._start))
        match = self._stream.update(decision, timestamp)
        self._match = match
        if decision.distance is not None:
            self._compared.append((timestamp, bool(decision.accepted)))
            self._unknown_since = None
            if decision.distance > decision.threshold + ANOTHER_FACE_MARGIN:
                self.liveness.another_face(timestamp)
        elif decision.faces:
            # a face that could not be compared (covered below the eyes, too dark, cut by the edge): whose it
            # is is unknown, so it binds no blink; for longer than UNKNOWN_FACE_SECONDS it counts as another
            # face (a masked attacker doing the prompts between pictures of the owner is never compared)
            self._compared.append((timestamp, False))
            if self._unknown_since is None:
                self._unknown_since = timestamp
            if timestamp - self._unknown_since >= UNKNOWN_FACE_SECONDS:
                self.liveness.another_face(timestamp)
        else:
            self._unknown_since = None
        if self._matched_at is None and match.state == "accepted":
            self._matched_at = timestamp
            self.liveness.start_challenge(timestamp)
        if face is not None and image is not None:
            live = self.liveness.update_frame(timestamp, image, face)
        else:
            live = self.liveness.update(timestamp, landmarks, None if face is None else face.box)
        return self._judge(timestamp, match, live)

    def _blink_bound(self, live: LivenessResult) -> bool:
        """Whether the blink that made ``live`` live was the owner's: the last frame with a face that face
        recognition decided before the blink began was compared and matched (the frames decided during and
        after it matched too, or :meth:`LivenessCheck.another_face` would have dropped it). Otherwise a
        stranger's blink between two pictures of the owner would count when recognition runs slower than
        the camera."""
        if not live.blinks:
            return True  # live by head turns (eyes hidden): bound by the challenge's own rule
        start = live.blinks[-1].start
        return next((ok for t, ok in reversed(self._compared) if t <= start), False)

    def _judge(self, timestamp: float, match: StreamDecision, live: LivenessResult) -> UnlockState:
        if live.live and self.liveness.challenge is None and not self._blink_bound(live):
            self.liveness.drop_blinks()
            live = dataclasses.replace(live, live=None, reason="waiting for a blink", blinks=())
        latest_matched = bool(self._compared) and self._compared[-1][1]
        elapsed = timestamp - self._start
        if self._matched_at is None:
            if elapsed > self.face_timeout:
                state = UnlockState(REJECTED, f"not recognised within {self.face_timeout:g} s", elapsed, match, live)
            else:
                return UnlockState(PENDING, "waiting for a match", elapsed, match, live)
        elif live.live is False:
            state = UnlockState(REJECTED, live.reason, elapsed, match, live, matched=True)
        elif live.live and match.state == "accepted" and latest_matched:
            # the latest face compared is the owner's: not a stranger who took over after the match
            state = UnlockState(UNLOCKED, "match and live", elapsed, match, live, matched=True)
        elif elapsed > self.timeout:
            why = "no match" if match.state != "accepted" else live.reason
            state = UnlockState(REJECTED, f"{why} within {self.timeout:g} s", elapsed, match, live, matched=True)
        else:
            if live.live:
                return UnlockState(PENDING, "waiting for a match", elapsed, match, live, matched=True)
            prompt = live.prompt if self.liveness.challenge is not None else PROMPTS[BLINK]
            return UnlockState(PENDING, live.reason, elapsed, match, live, prompt, matched=True)
        self._final = state
        return state
