"""Challenge-response liveness (the *secure* mode): a random sequence of actions, each to be done within a
window after its prompt.

Why: a blink proves little against a recording of the owner, who blinks in any video of them. A recording
cannot know which actions will be asked, in which order, or when; it answers only when its own movements
happen to match, in time, every prompt. Each step fails as soon as the face does an action that was not
asked (a turn or a look the other way), so a recording that moves at random fails early. The figures
(how often the live clips of ``../shared/media`` answer random sequences when replayed from random
offsets) are printed by ``benchmarks/liveness.py``.

Actions: :data:`BLINK` (a blink as :mod:`faceid_desktop.liveness` detects it, starting after the prompt)
and :data:`TURN_LEFT` / :data:`TURN_RIGHT`: the yaw ratio (:func:`~faceid_desktop.landmarks68.yaw_ratio`,
where the nose tip sits between the jaw's ends, median of the last 5 frames) changed by at least
``turn_threshold`` from the straight-ahead reference, the person's own left or right. The ratio is
unchanged by any affine map of the image, so a flat photo turned, tilted or moved in front of the camera
keeps it (hand-held photos in ``benchmarks/liveness.py``: within +-0.08; head turns of live clips: 0.2-0.33).
A bent photo does not keep it: folded back along a vertical line through the nose, the half beyond the
fold foreshortens and the ratio moves by 0.15-0.4 at 60-75 degrees, as in a real turn (the 68 landmarks
fitted on it look like a turned head too). So head turns never stand alone in secure mode: its sequence
always holds a blink, which a still photo cannot give (:mod:`faceid_desktop.liveness`).
Blinks never fail a step: they are involuntary.

Not used, measured: head pose by ``cv2.solvePnP`` on a generic 3-D face (Mallick, LearnOpenCV 2016) from
dlib's landmarks swings by -13..+20 degrees of yaw and -35..+9 of pitch on hand-held *flat* photos (the
landmark noise is amplified), so it would let a photo answer "turn" or "look up" prompts; and a pitch
ratio (nose tip between the eye and mouth lines) moves by +-0.2 on them, as much as a real nod, so there
is no "look up" action.

No Qt and no module state: one :class:`ChallengeRun` per attempt.
"""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass

import numpy as np

BLINK, TURN_LEFT, TURN_RIGHT = "blink", "turn left", "turn right"
#: The actions a sequence is drawn from.
ACTIONS = (BLINK, TURN_LEFT, TURN_RIGHT)
#: What the user reads for each action (the screen and ``faceid auth``'s stderr).
PROMPTS = {BLINK: "Blink", TURN_LEFT: "Turn your head to your left", TURN_RIGHT: "Turn your head to your right"}

PENDING, PASSED, FAILED = "pending", "passed", "failed"

#: A turn counts only after this many frames (since its prompt) part-way into it: between these fractions
#: of ``turn_threshold``. A head turning at 30 frames/s shows 5-15 such frames; a swap between two photos of
#: differently turned heads, none or one.
_PARTWAY = (0.25, 0.9)
_PARTWAY_FRAMES = 2


class ChallengeError(ValueError):
    """Bad challenge settings, an unknown action, or time going backwards."""


@dataclass(frozen=True)
class ChallengeSettings:
    """Parameters of the challenge.

    Attributes:
        steps: actions in a sequence: 3, every action once in a random order (replayed live clips answered
            3.1% of random 2-action sequences, see ``benchmarks/liveness.py``).
        window: seconds after a prompt within which its action must be done; people react to a prompt in
            0.5-1.5 s and turn in under a second.
        turn_threshold: change of the yaw ratio from the reference that counts as a turn (hand-held photos
            stay within 0.08, asked head turns reach 0.2-0.3).
        baseline: seconds of face frames whose median yaw ratio is the straight-ahead reference.
        mirrored: the frames are mirrored (a selfie preview): swaps what "left" and "right" mean.
    """

    steps: int = 3
    window: float = 4.0
    turn_threshold: float = 0.12
    baseline: float = 0.4
    mirrored: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 1 <= self.steps <= len(ACTIONS):
            raise ChallengeError(f"steps must be a whole number from 1 to {len(ACTIONS)}, got {self.steps!r}")
        for name in ("window", "turn_threshold"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ChallengeError(f"challenge setting {name} must be a positive number, got {value!r}")
        if not (math.isfinite(self.baseline) and self.baseline >= 0):
            raise ChallengeError(f"challenge setting baseline must be >= 0 seconds, got {self.baseline!r}")


def random_sequence(steps: int = 2, rng: random.Random | np.random.Generator | int | None = None) -> tuple[str, ...]:
    """``steps`` different actions of :data:`ACTIONS` in a random order, always with the blink: head turns
    alone are answered by a bent photo (module docstring).

    Args:
        steps: how many (1 to 3).
        rng: a ``random.Random``, a ``numpy.random.Generator`` or an int seed (tests, benchmarks); None uses
            the operating system's randomness (``secrets``), so an attacker cannot predict it.

    Raises:
        ChallengeError: ``steps`` out of range or ``rng`` of another type.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= len(ACTIONS):
        raise ChallengeError(f"steps must be a whole number from 1 to {len(ACTIONS)}, got {steps!r}")
    if isinstance(rng, bool):
        raise ChallengeError("rng must be a random.Random, a numpy Generator, an int seed or None, not a bool")
    if isinstance(rng, int):
        rng = random.Random(rng)
    if rng is None:
        below = secrets.randbelow
    elif isinstance(rng, random.Random):
        below = rng.randrange
    elif isinstance(rng, np.random.Generator):
        below = rng.integers
    else:
        raise ChallengeError(f"rng must be a random.Random, a numpy Generator, an int seed or None, not {type(rng).__name__}")
    turns = [a for a in ACTIONS if a != BLINK]
    chosen = [turns.pop(int(below(len(turns)))) for _ in range(steps - 1)]
    chosen.insert(int(below(steps)), BLINK)
    return tuple(chosen)


@dataclass(frozen=True)
class ChallengeStatus:
    """Where a challenge stands after a frame.

    Attributes:
        state: ``pending``, ``passed`` or ``failed``.
        step: index of the action asked now (``len(sequence)`` once passed).
        prompt: what to tell the user now ('' before the challenge starts and once it is decided).
        reason: one line (``did: turn left, blink``, ``no turn left within 4 s``, ``turned right (asked: turn left)``).
        yaw: the latest yaw ratio relative to the reference, positive to the person's own left (None before
            the reference exists).
    """

    state: str
    step: int
    prompt: str
    reason: str
    yaw: float | None = None


class ChallengeRun:
    """One challenge: call :meth:`start` when the prompts may be shown (the face matched), then
    :meth:`update` for every frame with the face's yaw ratio and the start of its latest blink.

    Args:
        sequence: the actions, e.g. from :func:`random_sequence`.
        settings: thresholds; the defaults when None.

    Raises:
        ChallengeError: an unknown or repeated action, or an empty sequence.
    """

    def __init__(self, sequence: tuple[str, ...] | list[str], settings: ChallengeSettings | None = None) -> None:
        sequence = tuple(sequence)
        unknown = [a for a in sequence if a not in ACTIONS]
        if not sequence or unknown or len(set(sequence)) != len(sequence):
            raise ChallengeError(f"a challenge is 1-{len(ACTIONS)} different actions of: {', '.join(ACTIONS)}; "
                                 f"got {sequence!r}")
        self.sequence = sequence
        self.settings = settings or ChallengeSettings()
        self._poses: list[tuple[float, float]] = []  # (t, yaw) until the reference exists
        self._recent: list[float] = []  # the last yaw ratios, for the median
        self._reference: float | None = None
        self._started: float | None = None
        self._step = 0
        self._prompted_at = 0.0
        self._done: list[str] = []
        self._absent: set[str] = set()  # actions not seen in some frame since the current prompt
        self._partway = {TURN_LEFT: 0, TURN_RIGHT: 0}  # frames part-way into each turn since the prompt
        self._status: ChallengeStatus | None = None

    @property
    def started(self) -> bool:
        """True once :meth:`start` was called."""
        return self._started is not None

    def start(self, timestamp: float) -> None:
        """Show the first prompt at ``timestamp`` (seconds, the frames' clock); later calls do nothing."""
        if self._started is None:
            self._started = self._prompted_at = float(timestamp)
            self._absent = set()

    def update(self, timestamp: float, yaw: float | None, blink_started: float | None) -> ChallengeStatus:
        """Add one frame.

        Args:
            timestamp: seconds, non-decreasing.
            yaw: the face's :func:`~faceid_desktop.landmarks68.yaw_ratio`, None when the frame has no face.
            blink_started: start (seconds) of the latest blink found so far, or None.

        Returns:
            The :class:`ChallengeStatus`; once passed or failed it no longer changes.
        """
        if self._status is not None and self._status.state != PENDING:
            return self._status
        s = self.settings
        rel_yaw = None
        if yaw is not None:
            # a median of 5 frames: dlib's landmarks flicker for a frame or two, a head turn lasts longer
            self._recent = (self._recent + [float(yaw)])[-5:]
            smooth = float(np.median(self._recent))
            if self._reference is None:
                self._poses.append((timestamp, smooth))
                if timestamp - self._poses[0][0] >= s.baseline and len(self._poses) >= 3:
                    self._reference = float(np.median([p[1] for p in self._poses]))
            if self._reference is not None:
                rel_yaw = (smooth - self._reference) * (-1.0 if s.mirrored else 1.0)
                raw = (float(yaw) - self._reference) * (-1.0 if s.mirrored else 1.0)
                # a head turns through the poses in between; a swapped photo jumps to the turned pose
                if _PARTWAY[0] * s.turn_threshold < abs(raw) < _PARTWAY[1] * s.turn_threshold:
                    self._partway[TURN_LEFT if raw > 0 else TURN_RIGHT] += 1
        if self._started is None:
            self._status = ChallengeStatus(PENDING, 0, "", "waiting for a match", rel_yaw)
            return self._status
        asked = self.sequence[self._step]
        seen = self._actions_seen(rel_yaw, blink_started)
        previous = self._done[-1] if self._done else None
        # A pose held since before the prompt is no answer: the action must begin after it.
        if asked in seen and (asked == BLINK or (asked in self._absent and self._partway[asked] >= _PARTWAY_FRAMES)):
            self._done.append(asked)
            self._step += 1
            self._prompted_at = timestamp
            self._absent = set(ACTIONS) - seen
            self._partway = {TURN_LEFT: 0, TURN_RIGHT: 0}
            if self._step == len(self.sequence):
                self._status = ChallengeStatus(PASSED, self._step, "", f"did: {', '.join(self._done)}",
                                               rel_yaw)
                return self._status
            asked = self.sequence[self._step]
        else:
            self._absent |= set(ACTIONS) - seen
            # A head movement that was not asked fails (the last step's own pose may linger while it returns).
            wrong = [a for a in seen if a not in (asked, BLINK, previous)]
            if wrong:
                self._status = ChallengeStatus(FAILED, self._step, "", f"{_past(wrong[0])} (asked: {asked})",
                                               rel_yaw)
                return self._status
            if timestamp - self._prompted_at > s.window:
                self._status = ChallengeStatus(FAILED, self._step, "", f"no {asked} within {s.window:g} s",
                                               rel_yaw)
                return self._status
        self._status = ChallengeStatus(PENDING, self._step, PROMPTS[asked], f"waiting for: {asked}",
                                       rel_yaw)
        return self._status

    def _actions_seen(self, yaw: float | None, blink_started: float | None) -> set[str]:
        seen = set()
        if blink_started is not None and blink_started >= self._prompted_at:
            seen.add(BLINK)
        if yaw is not None:
            if yaw >= self.settings.turn_threshold:
                seen.add(TURN_LEFT)
            elif yaw <= -self.settings.turn_threshold:
                seen.add(TURN_RIGHT)
        return seen


def _past(action: str) -> str:
    return {TURN_LEFT: "turned left", TURN_RIGHT: "turned right", BLINK: "blinked"}[action]
