"""The unlock screen's state machine (pure: no Qt): attempts under the multi-frame rule, lock-out and back-off.

An attempt starts at the first frame with a face and is decided by the core's
:class:`~faceid_desktop.verification.StreamVerifier` (M of the last N frames within the timeout). Each
frame is decided here from its distance with the *current* settings, so a threshold moved in the tuning
panel applies to the very next frame. A timed-out attempt in which a face was compared counts as a failure;
after ``max_attempts`` failures the screen locks out for ``backoff`` seconds, and each further failure
locks it out again for ``growth`` times as long as the previous lock-out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..profile import DecisionSettings
from ..verification import NO_FACE, Decision, StreamVerifier, decide_distance

SEARCHING, FACE_FOUND, VERIFYING, UNLOCKED, LOCKED_OUT = "searching", "face found", "verifying", "unlocked", "locked out"
STATES = (SEARCHING, FACE_FOUND, VERIFYING, UNLOCKED, LOCKED_OUT)

#: Failed attempts before the first lock-out.
MAX_ATTEMPTS = 5
#: Seconds of the first lock-out; each further one lasts BACKOFF_GROWTH times longer.
BACKOFF, BACKOFF_GROWTH = 30.0, 2.0


@dataclass(frozen=True)
class UnlockStatus:
    """What the unlock screen shows after a frame.

    Attributes:
        state: one of :data:`STATES`.
        decision: the decision on this frame (None while locked out or unlocked).
        matches: matching frames among the last N of the current attempt.
        elapsed: stream seconds since the attempt started (at unlock: the time it took).
        failures: failed attempts since the last unlock or lock-out.
        locked_for: seconds of lock-out left (0 when not locked out).
    """

    state: str
    decision: Decision | None = None
    matches: int = 0
    elapsed: float = 0.0
    failures: int = 0
    locked_for: float = 0.0


class UnlockController:
    """Feed it each analysed frame's distance (or why there is none); it says the screen's state.

    Args:
        settings: the decision settings (threshold, M, N, timeout); replace with :meth:`set_settings`.
        max_attempts: failed attempts before the first lock-out.
        backoff: seconds of the first lock-out; growth: factor by which each further lock-out grows.
        clock: wall clock in seconds for the lock-out (monotonic; injectable for tests).
    """

    def __init__(self, settings: DecisionSettings, max_attempts: int = MAX_ATTEMPTS, backoff: float = BACKOFF,
                 growth: float = BACKOFF_GROWTH, clock: Callable[[], float] = time.monotonic) -> None:
        if max_attempts < 1 or backoff < 0 or growth < 1:
            raise ValueError("max_attempts must be >= 1, backoff >= 0 and growth >= 1")
        self.settings = settings
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.growth = growth
        self._clock = clock
        self.failures = 0
        self.lockouts = 0
        self._stream: StreamVerifier | None = None
        self._compared = False
        self._locked_until = 0.0
        self._unlocked: UnlockStatus | None = None

    def set_settings(self, settings: DecisionSettings) -> None:
        """Use new settings from the next frame on (a running attempt keeps its evidence when N is unchanged)."""
        if self._stream is not None and settings.window != self.settings.window:
            self._stream = None
        self.settings = settings
        if self._stream is not None:
            self._stream.settings = settings

    def reset(self) -> None:
        """Lock again after an unlock (failures and lock-outs are kept until an unlock clears them)."""
        self._unlocked = None
        self._stream = None

    @property
    def locked_out(self) -> bool:
        """True while a lock-out lasts."""
        return self._clock() < self._locked_until

    def update(self, distance: float | None, reason: str | None, faces: int, timestamp: float) -> UnlockStatus:
        """Decide one frame.

        Args:
            distance: the primary face's distance to the profile, or None when it could not be compared.
            reason: why it could not be compared (``no face``, ``too small``, ...), when ``distance`` is None.
            faces: faces found in the frame.
            timestamp: the frame's stream time in seconds.
        """
        if self._unlocked is not None:
            return self._unlocked
        now = self._clock()
        if now < self._locked_until:
            return UnlockStatus(LOCKED_OUT, failures=self.failures, locked_for=self._locked_until - now)
        if distance is None:
            decision = Decision(False, reason or NO_FACE, None, self.settings.threshold, faces)
        else:
            decision = decide_distance(distance, self.settings, faces)
        if self._stream is None:
            if faces == 0:
                return UnlockStatus(SEARCHING, decision, failures=self.failures)
            self._stream = StreamVerifier(self.settings)
            self._compared = False
        self._compared |= distance is not None
        result = self._stream.update(decision, timestamp)
        if result.state == "accepted":
            self.failures = self.lockouts = 0
            self._stream = None
            self._unlocked = UnlockStatus(UNLOCKED, decision, result.matches, result.elapsed)
            return self._unlocked
        if result.state == "rejected":
            self._stream = None
            if self._compared:
                self.failures += 1
                if self.failures >= self.max_attempts or self.lockouts:
                    seconds = self.backoff * self.growth ** self.lockouts
                    self.lockouts += 1
                    self.failures = 0
                    self._locked_until = now + seconds
                    return UnlockStatus(LOCKED_OUT, decision, result.matches, result.elapsed, 0, seconds)
            return UnlockStatus(SEARCHING if faces == 0 else FACE_FOUND, decision, result.matches,
                                result.elapsed, self.failures)
        state = VERIFYING if distance is not None else (FACE_FOUND if faces else SEARCHING)
        return UnlockStatus(state, decision, result.matches, result.elapsed, self.failures)
