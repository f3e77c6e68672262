"""The unlock screen's state machine (pure: no Qt): attempts decided by the core, liveness, the persistent
lock-out and the audit log.

An attempt starts at the first frame with a face. Each frame's primary face is decided by the core's
:class:`~faceid_desktop.verification.ProfileScorer` with the profile's *saved* settings (a threshold being
tried in the tuning panel applies there only: one loosened past the confirmation and not applied would
otherwise unlock strangers here; an applied one takes effect from the next frame), exactly as ``faceid
verify`` decides it. The attempt itself is
the core's: :class:`~faceid_desktop.liveness.LiveUnlock` when liveness is on (the face must match under the
M-of-N rule *and* liveness must pass), else :class:`~faceid_desktop.verification.StreamVerifier`.

A finished attempt is recorded in the core's :class:`~faceid_desktop.lockout.Lockout` (a file in the data
directory, so a lock-out survives a restart of the app and is shared with the command line) and logged in
its :class:`~faceid_desktop.lockout.AuditLog`. An attempt in which no face could be compared (too dark, too
small all along) is logged but is no failure. After a failed attempt the screen stays :data:`REJECTED` until
the face has left the picture for :data:`ABSENCE_TO_RETRY` seconds or the user asks to try again
(:meth:`UnlockController.reset`): attempts are not restarted back to back.

:class:`UnlockController` runs in the processing thread (its lock-out and audit writes are file I/O, and the
68-point landmarks it fits take milliseconds); the GUI thread only calls :meth:`UnlockController.set_settings`,
:meth:`~UnlockController.set_liveness` and :meth:`~UnlockController.reset`, which leave a request that the
next frame applies, and so never wait for the processing thread.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..detection import Face
from ..landmarks68 import Landmarks68
from ..challenge import ChallengeSettings, random_sequence
from ..liveness import LivenessCheck, LivenessResult, LivenessSettings, LiveUnlock
from ..lockout import LOCKED_OUT as AUDIT_LOCKED_OUT
from ..lockout import REJECTED as AUDIT_REJECTED
from ..lockout import UNLOCKED as AUDIT_UNLOCKED
from ..lockout import AuditLog, Lockout
from ..profile import DecisionSettings
from ..verification import NO_FACE, Decision, ProfileScorer, StreamVerifier

SEARCHING, FACE_FOUND, VERIFYING, CHECKING_LIVENESS, UNLOCKED, LOCKED_OUT, REJECTED = (
    "searching", "face found", "verifying", "checking liveness", "unlocked", "locked out", "rejected")
STATES = (SEARCHING, FACE_FOUND, VERIFYING, CHECKING_LIVENESS, UNLOCKED, LOCKED_OUT, REJECTED)

#: Failed attempts before the first lock-out, and its length in seconds (the core's LockoutPolicy defaults).
MAX_ATTEMPTS, BACKOFF = 5, 30.0

#: Seconds of stream time without a frame after which a running attempt is dropped unrecorded: the screen
#: was not shown (another tab) or the camera stalled, so the attempt's timeout says nothing about the user.
MAX_FRAME_GAP = 2.0
#: Seconds of stream time without a face that end the :data:`REJECTED` state after a failed attempt: the next
#: attempt starts when the face has gone and come back (or on "Try again"), not at once, so that a stranger
#: who just stays in front of the screen uses one of the owner's attempts, not all of them within 20 s. More
#: than one frame: a face missed for a frame or two by the detector is not someone stepping away.
ABSENCE_TO_RETRY = 1.0
#: Seconds the unlock screen stays locked when the lock-out state cannot be read (then it reads it again).
UNREADABLE_LOCK_SECONDS = 30.0


@dataclass(frozen=True)
class LivenessOptions:
    """Whether and how the unlock screen checks liveness.

    Attributes:
        enabled: check liveness (presentation attack detection) before unlocking.
        challenge: secure mode: ask for a random sequence of actions (blink, turn left or right, look up)
            instead of waiting for a blink (convenience mode).
        settings: the core's liveness parameters (timeout 10 s by default).
        challenge_settings: the secure mode's steps, window and pose thresholds.
    """

    enabled: bool = True
    challenge: bool = False
    settings: LivenessSettings = field(default_factory=LivenessSettings)
    challenge_settings: ChallengeSettings = field(default_factory=ChallengeSettings)


@dataclass(frozen=True)
class UnlockStatus:
    """What the unlock screen shows after a frame.

    Attributes:
        state: one of :data:`STATES`.
        decision: the core's decision on this frame (None while locked out or unlocked).
        matches: matching frames among the last N of the current attempt.
        elapsed: stream seconds since the attempt started (at unlock: the time it took).
        failures: consecutive failed attempts (from the persistent lock-out).
        locked_for: seconds of lock-out left (0 when not locked out).
        liveness: the liveness check's latest result (None when liveness is off or no attempt runs).
        hint: what the user should do (``Blink to unlock``, the challenge's prompt), or ''.
        outcome: one line about the last finished attempt (``rejected: no blink within 10 s``), or ''.
        generation: the controller's generation this status belongs to (see :meth:`UnlockController.reset`).
        error: a lock-out or audit file problem met since the last status (one line), or ''.
    """

    state: str
    decision: Decision | None = None
    matches: int = 0
    elapsed: float = 0.0
    failures: int = 0
    locked_for: float = 0.0
    liveness: LivenessResult | None = None
    hint: str = ""
    outcome: str = ""
    generation: int = 0
    error: str = ""


class _Attempt:
    """One attempt: the core's LiveUnlock (liveness on) or StreamVerifier (off), with one interface."""

    def __init__(self, settings: DecisionSettings, liveness: LivenessOptions,
                 landmarks: Landmarks68 | None, rng: random.Random | None) -> None:
        self.compared = False
        self.challenge: tuple[str, ...] | None = None
        self.live: LiveUnlock | None = None
        self.stream: StreamVerifier | None = None
        self.hint = ""  # the prompt of the latest frame: none until the face matched
        if liveness.enabled:
            if liveness.challenge:
                # None draws from the operating system's randomness (secrets): a challenge cannot be predicted
                self.challenge = random_sequence(liveness.challenge_settings.steps, rng)
            check = LivenessCheck(liveness.settings, self.challenge, landmarks, liveness.challenge_settings)
            self.live = LiveUnlock(settings, check)
        else:
            self.stream = StreamVerifier(settings)

    def observe(self, timestamp: float, image: np.ndarray) -> None:
        """A frame recognition skipped: the liveness check still sees it."""
        if self.live is not None:
            state = self.live.observe(timestamp, image)
            if state is not None:
                self.hint = state.prompt

    def set_settings(self, settings: DecisionSettings) -> None:
        """Use new thresholds from the next frame on; a new M-of-N window needs a new attempt."""
        if self.stream is not None and settings.window == self.stream.settings.window:
            self.stream.settings = settings

    def update(self, timestamp: float, decision: Decision, image: np.ndarray | None, face: Face | None,
               landmarks: np.ndarray | None) -> tuple[str, str, int, float, LivenessResult | None]:
        """(``pending`` / ``unlocked`` / ``rejected``, reason, matches, elapsed, liveness result)."""
        self.compared |= decision.distance is not None
        if self.live is not None:
            state = self.live.update(timestamp, decision, image=image if landmarks is None else None,
                                     face=face, landmarks=landmarks)
            self.hint = state.prompt
            return state.state, state.reason, state.match.matches, state.elapsed, state.reported_liveness
        result = self.stream.update(decision, timestamp)
        state = {"accepted": "unlocked", "rejected": "rejected"}.get(result.state, "pending")
        reason = "match" if state == "unlocked" else (
            f"no match within {self.stream.settings.timeout:g} s" if state == "rejected" else "")
        return state, reason, result.matches, result.elapsed, None


class UnlockController:
    """Feed it each analysed frame; it decides the frame, runs the attempt, records and logs its outcome.

    Args:
        scorer: the profile, ready to score (its adapter, centre and cohort).
        settings: the decision settings (threshold, rule, alpha, M, N, timeout); the profile's when None.
        lockout: the persistent lock-out; None: no lock-out at all (the enrollment wizard's live test).
        audit: the audit log; None: attempts are not logged.
        liveness: whether and how liveness is checked (off when None).
        landmarks: returns the shared 68-point model (loaded once per processing thread, on first use).
        source: where the frames come from (``camera:0``, a file), for the audit log.
        rng: the challenge's random generator; None (the default): the operating system's (secrets).
    """

    def __init__(self, scorer: ProfileScorer, settings: DecisionSettings | None = None,
                 lockout: Lockout | None = None, audit: AuditLog | None = None,
                 liveness: LivenessOptions | None = None,
                 landmarks: Callable[[], Landmarks68] | None = None, source: str = "",
                 rng: random.Random | None = None) -> None:
        self.scorer = scorer
        self.name = scorer.profile.name
        self._settings = settings or scorer.profile.settings
        self.lockout = lockout
        self.audit = audit
        self._liveness = liveness or LivenessOptions(enabled=False)
        self._landmarks = landmarks
        self.source = source
        self._rng = rng
        self._lock = threading.Lock()
        self._pending_settings: DecisionSettings | None = None
        self._pending_liveness: LivenessOptions | None = None
        self._requested = 0  # generation asked for by the GUI thread
        self._generation = 0  # generation applied by the processing thread
        self._attempt: _Attempt | None = None
        self._unlocked: UnlockStatus | None = None
        self._checked = False  # the lock-out file was read since the last reset
        self._locked_until = 0.0  # lock-out end, on the lock-out's clock (epoch seconds)
        self._lock_logged = False  # "locked out" was logged for the current lock-out
        self._last_t: float | None = None  # the previous frame's timestamp
        self._rejected: UnlockStatus | None = None  # the failed attempt shown until the face leaves
        self._absent_since: float | None = None  # stream time the face left while rejected
        self.failures = 0
        self.outcome = ""
        self.errors: list[str] = []  # lock-out or audit writes that failed (shown, never raised)

    # -- requests from the GUI thread (applied at the next frame) -------------------------------------------

    @property
    def settings(self) -> DecisionSettings:
        """The decision settings in force from the next frame on."""
        with self._lock:
            return self._pending_settings or self._settings

    @property
    def liveness(self) -> LivenessOptions:
        """The liveness options in force from the next attempt on."""
        with self._lock:
            return self._pending_liveness or self._liveness

    @property
    def generation(self) -> int:
        """The newest generation asked for: statuses of older generations are stale."""
        with self._lock:
            return self._requested

    def set_settings(self, settings: DecisionSettings) -> None:
        """Decide with ``settings`` from the next frame on (a running attempt keeps its evidence)."""
        with self._lock:
            self._pending_settings = settings

    def set_liveness(self, liveness: LivenessOptions) -> None:
        """Check liveness this way from the next frame on (a running attempt is dropped)."""
        with self._lock:
            self._pending_liveness = liveness
            self._requested += 1

    def reset(self) -> None:
        """Lock again after an unlock, or try again after a failed attempt: look for a face from the next
        frame on."""
        with self._lock:
            self._requested += 1

    def _apply_requests(self) -> None:
        with self._lock:
            settings, self._pending_settings = self._pending_settings, None
            liveness, self._pending_liveness = self._pending_liveness, None
            requested = self._requested
        if settings is not None:
            self._settings = settings
            if self._attempt is not None:
                self._attempt.set_settings(settings)
        if liveness is not None:
            self._liveness = liveness
        if requested != self._generation:
            self._generation = requested
            self._attempt = None
            self._unlocked = None
            self._rejected = None
            self._checked = False
            self.outcome = ""  # "unlocked in 0.96 s" under "Verifying..." after Lock again read as stale

    # -- frames (processing thread) -------------------------------------------------------------------------

    def decide(self, vector: np.ndarray | None, reason: str | None, faces: int) -> Decision:
        """The core's decision on one frame's primary face (``vector`` None: it could not be compared)."""
        if vector is None:
            return Decision(False, reason or NO_FACE, None, self._settings.threshold, faces)
        return self.scorer.decide(vector, faces, self._settings)

    def observe(self, timestamp: float, image: np.ndarray) -> None:
        """A camera frame the face recognition skipped (the machine is busy): the running attempt's liveness
        check sees it, so a blink between two recognised frames is not missed. Nothing when no attempt runs.

        Args:
            timestamp: the frame's stream time in seconds, between the previous and next :meth:`update`'s.
            image: the (H, W, 3) uint8 RGB frame.
        """
        attempt = self._attempt
        if attempt is None or self._unlocked is not None or (self._last_t is not None and timestamp < self._last_t):
            return
        if self._last_t is not None and timestamp - self._last_t > MAX_FRAME_GAP:
            # back from another tab: the frames skipped just before the first one recognised would carry the
            # old attempt over the gap (its face timeout long past), so the gap drops it here too
            self._attempt = None
        else:
            attempt.observe(timestamp, image)
        self._last_t = timestamp

    def update(self, vector: np.ndarray | None, reason: str | None, faces: int, timestamp: float,
               image: np.ndarray | None = None, face: Face | None = None,
               landmarks: np.ndarray | None = None) -> UnlockStatus:
        """Decide one frame and advance the attempt.

        Args:
            vector: the primary face's (128,) pretrained embedding, or None when it cannot be compared.
            reason: why it cannot be compared (``no face``, ``too small``, ...), when ``vector`` is None.
            faces: faces found in the frame.
            timestamp: the frame's stream time in seconds.
            image: the (H, W, 3) uint8 RGB frame, with ``face``: liveness fits the 68 landmarks in it.
            face: the primary face (even one too small to compare), or None.
            landmarks: the face's (68, 2) landmarks instead of ``image`` and ``face`` (tests).
        """
        self._apply_requests()
        if self._unlocked is not None:
            return self._unlocked
        if self._last_t is not None and not 0 <= timestamp - self._last_t <= MAX_FRAME_GAP:
            self._attempt = None  # a gap, or a restarted camera whose clock began again: start over
        self._last_t = timestamp
        decision = self.decide(vector, reason, faces)
        # the lock-out file is read at the first frame and when an attempt would start (another process,
        # e.g. `faceid`, may have changed it), not at every frame
        locked = self._locked_for(refresh=not self._checked or (
            self._attempt is None and faces > 0 and self._locked_until <= self._now()))
        if locked > 0:
            self._attempt = None
            if faces and not self._lock_logged:  # someone tried while locked: once per lock-out
                self._lock_logged = True
                self._log(AUDIT_LOCKED_OUT, None, None, f"locked for {locked:.0f} s")
            return self._status(LOCKED_OUT, decision, locked_for=locked)
        if self._rejected is not None:
            self._absent_since = None if faces else (timestamp if self._absent_since is None else self._absent_since)
            if faces or timestamp - self._absent_since < ABSENCE_TO_RETRY:
                return dataclasses.replace(self._rejected, decision=decision, error=self._take_errors())
            self._rejected = self._absent_since = None
        if self._attempt is None:
            if faces == 0:
                return self._status(SEARCHING, decision)
            landmarks_model = self._landmarks() if (self._liveness.enabled and self._landmarks) else None
            self._attempt = _Attempt(self._settings, self._liveness, landmarks_model, self._rng)
        attempt = self._attempt
        state, why, matches, elapsed, live = attempt.update(timestamp, decision, image, face, landmarks)
        liveness_state = None if live is None else live.state
        if state == "unlocked":
            self._attempt = None
            self._record(True)
            self.outcome = f"unlocked in {elapsed:.2f} s"
            self._log(AUDIT_UNLOCKED, decision.distance, liveness_state, why)
            status = self._status(UNLOCKED, decision, matches, elapsed, live)
            self._unlocked = dataclasses.replace(status, error="")  # repeated until reset: the error once
            return status
        if state == "rejected":
            self._attempt = None
            self.outcome = f"last attempt rejected: {why}"
            if attempt.compared:
                locked = self._record(False)
                if locked > 0:
                    why = f"{why}; locked for {locked:.0f} s"
                self._log(AUDIT_REJECTED, decision.distance, liveness_state, why)
                if locked > 0:
                    return self._status(LOCKED_OUT, decision, matches, elapsed, live, locked_for=locked)
                status = self._status(REJECTED, decision, matches, elapsed, live)
                self._rejected, self._absent_since = dataclasses.replace(status, error=""), None
                return status
            else:
                self._log(AUDIT_REJECTED, None, liveness_state, f"{why} (no face could be compared)")
            return self._status(SEARCHING if faces == 0 else FACE_FOUND, decision, matches, elapsed, live)
        if decision.distance is None:
            shown = FACE_FOUND if faces else SEARCHING
        elif live is not None and matches >= self._settings.frames_to_accept:
            shown = CHECKING_LIVENESS  # the face matches: only liveness is missing
        else:
            shown = VERIFYING
        return self._status(shown, decision, matches, elapsed, live, hint=attempt.hint)

    # -- internals ------------------------------------------------------------------------------------------

    def _status(self, state: str, decision: Decision | None, matches: int = 0, elapsed: float = 0.0,
                live: LivenessResult | None = None, locked_for: float = 0.0, hint: str = "") -> UnlockStatus:
        return UnlockStatus(state, decision, matches, elapsed, self.failures, locked_for, live, hint,
                            self.outcome, self._generation, self._take_errors())

    def _take_errors(self) -> str:
        error = "; ".join(self.errors)
        self.errors.clear()
        return error

    def _now(self) -> float:
        return float(self.lockout.clock()) if self.lockout is not None else 0.0

    def _locked_for(self, refresh: bool) -> float:
        """Seconds of lock-out left; reads the lock-out file only when ``refresh`` (it may have changed in
        another process, e.g. ``faceid``), else uses what was read last."""
        if self.lockout is None:
            return 0.0
        if refresh:
            self._checked = True
            try:
                status = self.lockout.status(self.name)
            except (OSError, ValueError) as error:
                # Fail closed: a state file that cannot be trusted (another owner, a FIFO, damage) must not
                # lift a lock-out; look again after a short wait.
                self._error(f"lock-out state not readable, locked for {UNREADABLE_LOCK_SECONDS:.0f} s: {error}")
                self._set_locked(UNREADABLE_LOCK_SECONDS)
                return UNREADABLE_LOCK_SECONDS
            if self.lockout.recovered:
                self._error(self.lockout.recovered)
            self.failures = status.failures
            self._set_locked(status.remaining)
        left = self._locked_until - self._now()
        if left <= 0 and self._lock_logged:
            self._lock_logged = False
        return max(0.0, left)

    def _set_locked(self, remaining: float) -> None:
        self._locked_until = self._now() + remaining if remaining > 0 else 0.0

    def _record(self, accepted: bool) -> float:
        """Record the attempt's outcome; the seconds of lock-out it started (0: none)."""
        if self.lockout is None:
            return 0.0
        try:
            status = self.lockout.record(self.name, accepted)
        except (OSError, ValueError) as error:
            self._error(f"lock-out state not saved: {error}")
            return 0.0
        self.failures = status.failures
        self._set_locked(status.remaining)
        return status.remaining

    def _log(self, decision: str, distance: float | None, liveness: str | None, reason: str) -> None:
        if self.audit is None:
            return
        try:
            self.audit.log(self.name, decision, distance, liveness, reason, self.source)
        except (OSError, ValueError) as error:
            self._error(f"audit log not written: {error}")

    def _error(self, text: str) -> None:
        self.errors.append(" ".join(text.split()))

