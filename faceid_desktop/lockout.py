"""Lockout after repeated failed unlock attempts, and the audit log of attempts.

**Lockout.** After ``max_failures`` (5) consecutive failed attempts on a profile, further attempts are
refused for ``base_delay`` (30 s); each further failure doubles the delay, up to ``max_delay`` (15 min).
A success resets the count. The state lives in ``<data dir>/lockout.json`` (mode 0600 in a 0700
directory), written atomically (temporary file, fsync, rename) under an exclusive ``flock`` of
``<data dir>/lockout.lock``, so two processes (the unlock screen and ``faceid auth``) never lose a
failure.

**Reservations.** An attempt that takes time (``faceid auth``) reserves itself with :meth:`Lockout.begin`
before the camera delivers a frame: in one locked transaction the lock is checked and the attempt counted as
a failure, so however many attempts start at once, at most ``max_failures`` run before the lock (once the
count has reached ``max_failures``, one at a time). :meth:`Lockout.finish` records the outcome; the back-off
starts when the attempt ends, so a long attempt cannot outlive its own lock. A reservation whose process
died is treated as a failure that ended at its deadline. :meth:`Lockout.cancel` withdraws an attempt that
never looked at a face (the camera did not open).

**Recovery.** A missing state file is rebuilt from the audit log (the failures since the last unlock), so
deleting it does not restart the count. A damaged, foreign or tampered one fails safe: every profile is
locked for ``base_delay`` from now and keeps at least ``max_failures`` failures until its next successful
unlock (each further failure locks it again), and the file is rewritten. A state file, lock file or audit
log that another account owns or can write, or that is not a regular file, is refused
(:class:`~faceid_desktop.safefs.UntrustedPathError`). The delays follow the usual
exponential back-off of login throttling (e.g. NIST SP 800-63B, section 5.2.2, rate limiting: at most 100
consecutive failed attempts per account); the numbers are ours.

The clock is the wall clock (``time.time``), since the state must survive restarts; it is injectable for
tests. A clock set backwards cannot stretch a lockout: a stored end more than ``max_delay`` in the future
is cut to ``max_delay`` from now.

**Audit log.** ``<data dir>/audit.jsonl``: one JSON object per attempt and line (time, profile, decision,
distance, liveness, reason; never an image or an embedding), appended with ``O_APPEND`` in one write under
an exclusive ``flock``, so lines from concurrent processes never interleave.

Pure functions (:func:`lockout_delay`, :func:`after_attempt`, :func:`remaining`) hold the rules; the classes
only read and write files.
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from .profile import NAME_PATTERN, check_name
from .safefs import UntrustedPathError, check_directory, open_regular, read_regular
from .storage import default_data_dir

try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks; concurrent writers may then lose an update
    fcntl = None  # type: ignore[assignment]

STATE_FILE, LOCK_FILE, AUDIT_FILE = "lockout.json", "lockout.lock", "audit.jsonl"
SCHEMA = 2  # 2 adds the reservations of running attempts; 1 is still read
_DIR_MODE, _FILE_MODE = 0o700, 0o600
_MAX_STATE_BYTES = 1 << 20  # a real state file holds a few profiles; more is not ours
_MAX_FAILURES_STORED = 1_000_000
_MAX_PENDING = 1000  # reservations per profile; far more than max_failures ever lets start
_MAX_AUDIT_BYTES = 256 << 20  # the log grows by ~200 bytes per attempt: years of use
#: Audit reasons of attempts that did not compare a face (refused before, or failed to start): not failures.
NOT_COUNTED_PREFIXES = ("refused", "error")
#: The unlock screen's reason for an attempt that ended without a comparable face: not a failure either.
NOT_COUNTED_SUFFIX = "(no face could be compared)"

#: Audit decisions.
UNLOCKED, REJECTED, LOCKED_OUT = "unlocked", "rejected", "locked out"


class LockoutError(ValueError):
    """Bad input to the lockout or audit log (policy out of range, invalid profile name, bad entry)."""


@dataclass(frozen=True)
class LockoutPolicy:
    """How failures lock a profile.

    Attributes:
        max_failures: consecutive failures that start the lockout.
        base_delay: seconds of the first lockout; also the fail-safe lock after a damaged state file.
        factor: each failure after ``max_failures`` multiplies the delay by this.
        max_delay: longest lockout, seconds.

    Raises:
        LockoutError: values out of range.
    """

    max_failures: int = 5
    base_delay: float = 30.0
    factor: float = 2.0
    max_delay: float = 900.0

    def __post_init__(self) -> None:
        if isinstance(self.max_failures, bool) or not isinstance(self.max_failures, int) or not 1 <= self.max_failures <= 100:
            raise LockoutError(f"max_failures must be a whole number from 1 to 100, got {self.max_failures!r}")
        for name in ("base_delay", "factor", "max_delay"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise LockoutError(f"{name} must be a positive number, got {value!r}")
        if self.factor < 1 or self.max_delay < self.base_delay:
            raise LockoutError("factor must be >= 1 and max_delay >= base_delay")


@dataclass(frozen=True)
class ProfileLock:
    """The lockout state of one profile (pure data, as stored).

    Attributes:
        failures: consecutive failed attempts since the last success, counting the running ones.
        locked_until: seconds since the Unix epoch until which attempts are refused (0: never locked).
        pending: running attempts: reservation token -> deadline (epoch seconds) after which the attempt
            is taken as failed and ended.
    """

    failures: int = 0
    locked_until: float = 0.0
    pending: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class LockStatus:
    """What the caller needs to know before or after an attempt.

    Attributes:
        profile: the profile's name.
        locked: True while attempts are refused.
        remaining: seconds until attempts are allowed again (0 when not locked).
        failures: consecutive failures so far.
        reason: one line for the user, e.g. ``locked for 30 s after 5 failed attempts``.
    """

    profile: str
    locked: bool
    remaining: float
    failures: int
    reason: str


def lockout_delay(failures: int, policy: LockoutPolicy) -> float:
    """Seconds of lockout after ``failures`` consecutive failures: 0 below ``max_failures``, then
    ``base_delay * factor ** (failures - max_failures)``, at most ``max_delay``."""
    if failures < policy.max_failures:
        return 0.0
    exponent = failures - policy.max_failures
    # the cap is reached long before the power could overflow
    if exponent > 64:
        return policy.max_delay
    return min(policy.max_delay, policy.base_delay * policy.factor**exponent)


def after_attempt(state: ProfileLock, accepted: bool, now: float, policy: LockoutPolicy) -> ProfileLock:
    """The state after an attempt at ``now`` (epoch seconds): reset on success, else one more failure and,
    from ``max_failures`` on, locked for :func:`lockout_delay`."""
    if accepted:
        return ProfileLock()
    failures = min(state.failures + 1, _MAX_FAILURES_STORED)
    delay = lockout_delay(failures, policy)
    return ProfileLock(failures, max(state.locked_until, now + delay) if delay else state.locked_until,
                       state.pending)


def expire(state: ProfileLock, now: float, policy: LockoutPolicy) -> ProfileLock:
    """The state with the reservations whose deadline passed (their process died) ended as failures at their
    deadline: they were counted when they began, and the back-off runs from the deadline."""
    ended = [deadline for _, deadline in state.pending if deadline <= now]
    if not ended:
        return state
    until = state.locked_until
    delay = lockout_delay(state.failures, policy)
    if delay:
        until = max(until, max(ended) + delay)
    return ProfileLock(state.failures, until, tuple(p for p in state.pending if p[1] > now))


def may_begin(state: ProfileLock, now: float, policy: LockoutPolicy) -> bool:
    """Whether an attempt may start at ``now``: not locked, and either fewer than ``max_failures`` failures
    (running attempts included) or no attempt running (after a lock, one attempt at a time)."""
    if remaining(state, now, policy) > 0:
        return False
    return state.failures < policy.max_failures or not state.pending


def begin_attempt(state: ProfileLock, token: str, deadline: float) -> ProfileLock:
    """The state with an attempt reserved: counted as a failure until it ends (see :func:`finish_attempt`)."""
    return ProfileLock(min(state.failures + 1, _MAX_FAILURES_STORED), state.locked_until,
                       state.pending + ((token, deadline),))


def finish_attempt(state: ProfileLock, token: str, accepted: bool | None, now: float,
                   policy: LockoutPolicy) -> ProfileLock:
    """The state after the reserved attempt ``token`` ended at ``now``.

    ``accepted`` True resets everything; False keeps the failure it was counted as and starts the back-off
    from ``now``; None withdraws it (no face was ever compared, e.g. the camera did not open). A token no
    longer pending (expired, or cleared by a success meanwhile) changes nothing but a success.
    """
    if accepted:
        return ProfileLock()
    if token not in dict(state.pending):
        return state
    pending = tuple(p for p in state.pending if p[0] != token)
    if accepted is None:
        return ProfileLock(max(state.failures - 1, 0), state.locked_until, pending)
    delay = lockout_delay(state.failures, policy)
    until = max(state.locked_until, now + delay) if delay else state.locked_until
    return ProfileLock(state.failures, until, pending)


def remaining(state: ProfileLock, now: float, policy: LockoutPolicy) -> float:
    """Seconds the profile stays locked at ``now``; a lock ending beyond ``now + max_delay`` (the clock was
    set back) counts as ``max_delay``."""
    return max(0.0, min(state.locked_until - now, policy.max_delay))


def _status(name: str, state: ProfileLock, now: float, policy: LockoutPolicy) -> LockStatus:
    left = remaining(state, now, policy)
    if left > 0:
        reason = f"locked for {math.ceil(left)} s after {state.failures} failed attempts"
    elif not may_begin(state, now, policy):
        left = max(min(min(d for _, d in state.pending) - now, policy.max_delay), 0.001)
        reason = (f"locked: {_plural(len(state.pending), 'attempt')} running after {state.failures} "
                  "failed attempts (counting those); try again when they end")
    else:
        reason = f"{state.failures} failed attempts" if state.failures else "not locked"
    return LockStatus(name, left > 0, left, state.failures, reason)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def rebuild_from_audit(entries: list["AuditEntry"], policy: LockoutPolicy) -> dict[str, ProfileLock]:
    """Per-profile states from the audit log: the failures since each profile's last unlock, locked from the
    last failure as :func:`after_attempt` would have. Refusals and errors (reasons starting with
    :data:`NOT_COUNTED_PREFIXES`, or ending with :data:`NOT_COUNTED_SUFFIX`) and ``locked out`` lines are not
    failures."""
    states: dict[str, ProfileLock] = {}
    for entry in entries:
        if entry.decision == UNLOCKED:
            states.pop(entry.profile, None)
        elif (entry.decision == REJECTED and not entry.reason.startswith(NOT_COUNTED_PREFIXES)
              and not entry.reason.endswith(NOT_COUNTED_SUFFIX)):
            states[entry.profile] = after_attempt(states.get(entry.profile, ProfileLock()), False, entry.time, policy)
    return states


# ---------------------------------------------------------------------------------------------- files


def _prepare_dir(root: Path) -> None:
    # A new data directory is private; one that another account owns or can write (or rename away) is
    # refused, since it could hold that account's lockout state or audit log in place of ours.
    root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    check_directory(root)


@contextmanager
def _flock(path: Path, exclusive: bool = True) -> Iterator[None]:
    fd = open_regular(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        if fcntl is not None:
            _wait_for_lock(fd, path, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


#: Seconds to wait for another process's lock (wall clock); a transaction takes milliseconds, so only a
#: stopped or hung process holds it longer, and an unlock must not wait behind it forever.
LOCK_TIMEOUT = 10.0


def _wait_for_lock(fd: int, path: Path, operation: int) -> None:
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path}: held by another FaceID Desktop process for more than "
                                   f"{LOCK_TIMEOUT:g} s; try again") from None
            time.sleep(0.005)


def _named(error: OSError, path: Path, unchanged: str) -> OSError:
    """``error`` naming ``path`` (a failed write() names no file: "[Errno 28] No space left on device"
    alone left the user guessing which disk), saying what stayed as it was."""
    reason = "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
    return OSError(error.errno, f"{reason}; {unchanged}", str(path))


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), _FILE_MODE)
    except OSError as error:
        raise _named(error, path, "the lockout state was not changed") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            raise _named(error, path, "the lockout state was not changed") from None
        raise
    if os.name == "posix":
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself must survive a crash
        finally:
            os.close(dir_fd)


class _Corrupt(Exception):
    pass


def _reject_constant(token: str) -> None:
    raise _Corrupt(f"{token} is not a number JSON allows")


def _decode_state(raw: bytes) -> tuple[float, dict[str, ProfileLock]]:
    """(locked_all_until, per-profile states) from the file's bytes; raises _Corrupt on anything unexpected."""
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _Corrupt(f"not JSON ({error})") from None
    except RecursionError:
        raise _Corrupt("not JSON (nested too deeply)") from None
    if not isinstance(doc, dict) or set(doc) != {"schema", "locked_all_until", "profiles"} or doc["schema"] not in (1, SCHEMA):
        raise _Corrupt("unexpected top-level fields or schema")
    fields = {"failures", "locked_until"} | ({"pending"} if doc["schema"] == SCHEMA else set())
    locked_all = doc["locked_all_until"]
    if isinstance(locked_all, bool) or not isinstance(locked_all, (int, float)) or not math.isfinite(locked_all) or locked_all < 0:
        raise _Corrupt("locked_all_until is not a time")
    if not isinstance(doc["profiles"], dict):
        raise _Corrupt("profiles is not an object")
    states = {}
    for name, entry in doc["profiles"].items():
        try:
            check_name(name)
        except ValueError:
            raise _Corrupt(f"invalid profile name {name!r}") from None
        if not isinstance(entry, dict) or set(entry) != fields:
            raise _Corrupt(f"profile {name}: unexpected fields")
        failures, until = entry["failures"], entry["locked_until"]
        if isinstance(failures, bool) or not isinstance(failures, int) or not 0 <= failures <= _MAX_FAILURES_STORED:
            raise _Corrupt(f"profile {name}: failures is not a count")
        if isinstance(until, bool) or not isinstance(until, (int, float)) or not math.isfinite(until) or until < 0:
            raise _Corrupt(f"profile {name}: locked_until is not a time")
        pending = entry.get("pending", {})
        if not isinstance(pending, dict) or len(pending) > _MAX_PENDING:
            raise _Corrupt(f"profile {name}: pending is not a small object")
        for token, deadline in pending.items():
            if (not isinstance(token, str) or not 1 <= len(token) <= 64 or isinstance(deadline, bool)
                    or not isinstance(deadline, (int, float)) or not math.isfinite(deadline) or deadline < 0):
                raise _Corrupt(f"profile {name}: a pending attempt is not a token and a time")
        states[name] = ProfileLock(failures, float(until), tuple((t, float(d)) for t, d in pending.items()))
    return float(locked_all), states


def _encode_state(locked_all: float, states: dict[str, ProfileLock]) -> bytes:
    doc = {
        "schema": SCHEMA,
        "locked_all_until": locked_all,
        "profiles": {name: {"failures": state.failures, "locked_until": state.locked_until,
                            "pending": dict(state.pending)}
                     for name, state in sorted(states.items()) if state != ProfileLock()},
    }
    return (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode("ascii")


@dataclass(frozen=True)
class Reservation:
    """The answer of :meth:`Lockout.begin`.

    Attributes:
        profile: the profile's name.
        token: identifies the running attempt for :meth:`Lockout.finish`; None when the attempt was refused.
        deadline: epoch seconds after which the attempt counts as failed and ended even if never finished.
        status: the lock status before the attempt (when refused: why).
    """

    profile: str
    token: str | None
    deadline: float
    status: LockStatus

    @property
    def granted(self) -> bool:
        """True when the attempt may run."""
        return self.token is not None


class Lockout:
    """The persistent lockout of the profiles under a data directory.

    Args:
        root: the data directory; :func:`faceid_desktop.storage.default_data_dir` when None. Created (0700)
            at the first write.
        policy: the rules; the defaults when None.
        clock: returns the time in seconds since the Unix epoch; ``time.time`` when None (tests inject one).

    Attributes:
        root, policy: as given. ``recovered``: the reason the last load failed safe or rebuilt the state, or
        None.
    """

    def __init__(self, root: Path | None = None, policy: LockoutPolicy | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_data_dir()
        self.policy = policy or LockoutPolicy()
        self.clock = clock or time.time
        self.recovered: str | None = None

    @property
    def path(self) -> Path:
        """The state file, ``root / "lockout.json"``."""
        return self.root / STATE_FILE

    def status(self, profile: str) -> LockStatus:
        """Whether ``profile`` may attempt an unlock now (an early check; :meth:`begin` is the one that
        counts).

        Raises:
            LockoutError: invalid profile name. UntrustedPathError: the data directory, state or lock file is
                another account's, writable by others, or not a regular file. OSError: the data directory
                cannot be written (a damaged state file is rewritten even here).
        """
        name = self._name(profile)
        with self._transaction() as (now, locked_all, states):
            return self._status_with_all(name, states.get(name, ProfileLock()), locked_all, now)

    def begin(self, profile: str, duration: float) -> Reservation:
        """Check the lock and, if the attempt may run, reserve it, in one locked transaction.

        Call it before the camera delivers its first frame. The attempt counts as a failure from now until
        :meth:`finish` says otherwise; if its process dies, it ends as a failure ``duration`` seconds from
        now.

        Args:
            profile: the profile's name.
            duration: the longest the attempt can take, start-up included, seconds (> 0).

        Raises:
            LockoutError: invalid profile name or duration. UntrustedPathError, OSError: as :meth:`status`.
        """
        name = self._name(profile)
        if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
            raise LockoutError(f"an attempt's duration must be positive seconds, got {duration!r}")
        with self._transaction(write=True) as (now, locked_all, states):
            state = states.get(name, ProfileLock())
            status = self._status_with_all(name, state, locked_all, now)
            if status.locked:
                return Reservation(name, None, now, status)
            token = secrets.token_hex(8)
            states[name] = begin_attempt(state, token, now + duration)
            return Reservation(name, token, now + duration, status)

    def finish(self, reservation: Reservation, accepted: bool | None) -> LockStatus:
        """End a reserved attempt: ``accepted`` True (a match: the count resets), False (a failure: the
        back-off, if due, starts now) or None (withdrawn: no face was compared, e.g. the camera did not open).

        Raises:
            LockoutError: a refused reservation. UntrustedPathError, OSError: as :meth:`status`.
        """
        if reservation.token is None:
            raise LockoutError("this attempt was refused; there is nothing to finish")
        name = self._name(reservation.profile)
        with self._transaction(write=True) as (now, locked_all, states):
            state = finish_attempt(states.get(name, ProfileLock()), reservation.token, accepted, now, self.policy)
            states[name] = state
            return self._status_with_all(name, state, locked_all, now)

    def record(self, profile: str, accepted: bool) -> LockStatus:
        """Record the outcome of an attempt that was not reserved (it began and ended now) and return the
        status after it.

        A success always resets, since the owner did authenticate.

        Raises:
            LockoutError: invalid profile name. UntrustedPathError, OSError: as :meth:`status`.
        """
        name = self._name(profile)
        with self._transaction(write=True) as (now, locked_all, states):
            state = after_attempt(states.get(name, ProfileLock()), bool(accepted), now, self.policy)
            states[name] = state
            return self._status_with_all(name, state, locked_all, now)

    def reset(self, profile: str) -> None:
        """Forget the failures of ``profile`` (e.g. after the owner logged in with the password)."""
        name = self._name(profile)
        with self._transaction(write=True) as (_, _all, states):
            states.pop(name, None)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _name(profile: str) -> str:
        try:
            return check_name(profile)
        except ValueError as error:
            raise LockoutError(str(error)) from None

    def _status_with_all(self, name: str, state: ProfileLock, locked_all: float, now: float) -> LockStatus:
        status = _status(name, state, now, self.policy)
        left_all = remaining(ProfileLock(0, locked_all), now, self.policy)
        if left_all > 0 and left_all >= status.remaining:  # the damage, not the counts it left, is the reason
            return LockStatus(name, True, left_all, state.failures,
                              f"locked for {math.ceil(left_all)} s: the lockout state file was damaged")
        return status

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[tuple[float, float, dict[str, ProfileLock]]]:
        _prepare_dir(self.root)
        with _flock(self.root / LOCK_FILE):
            now = float(self.clock())
            locked_all, states, changed = self._load(now)
            for name, state in list(states.items()):
                expired = expire(state, now, self.policy)
                if expired is not state:
                    states[name], changed = expired, True
            yield now, locked_all, states
            if write or changed:
                _write_atomically(self.path, _encode_state(locked_all, states))

    def _load(self, now: float) -> tuple[float, dict[str, ProfileLock], bool]:
        self.recovered = None
        try:
            fd = open_regular(self.path)  # another account's file, a FIFO or a symlink: refused, not read
        except FileNotFoundError:
            return self._rebuild(now)
        try:
            if os.fstat(fd).st_size > _MAX_STATE_BYTES:
                return self._fail_safe(now, "too large")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                raw = handle.read(_MAX_STATE_BYTES + 1)
        finally:
            os.close(fd)
        try:
            locked_all, states = _decode_state(raw)
        except _Corrupt as problem:
            return self._fail_safe(now, str(problem))
        return locked_all, states, False

    def _rebuild(self, now: float) -> tuple[float, dict[str, ProfileLock], bool]:
        # A deleted state file must not restart the count: the audit log holds every ended attempt.
        entries, _ = AuditLog(self.root).entries()
        states = rebuild_from_audit(entries, self.policy)
        if states:
            self.recovered = f"{self.path}: missing; rebuilt from the audit log"
        return 0.0, states, bool(states)

    def _fail_safe(self, now: float, why: str) -> tuple[float, dict[str, ProfileLock], bool]:
        # The damaged file's counts are lost; those of the audit log are a floor, and every known profile
        # keeps max_failures until its next success, so damaging the file cannot buy fresh attempts.
        try:
            entries, _ = AuditLog(self.root).entries()
        except OSError:
            entries = []
        states = rebuild_from_audit(entries, self.policy)
        for name in self._known_profiles() | set(states):
            state = states.get(name, ProfileLock())
            states[name] = ProfileLock(max(state.failures, self.policy.max_failures),
                                       max(state.locked_until, now + self.policy.base_delay))
        self.recovered = (f"{self.path}: damaged ({why}); all profiles locked for {self.policy.base_delay:g} s "
                          "and counted as failed until their next unlock")
        return now + self.policy.base_delay, states, True

    def _known_profiles(self) -> set[str]:
        try:
            names = os.listdir(self.root / "profiles")
        except OSError:
            return set()
        return {n[:-5] for n in names if n.endswith(".json") and NAME_PATTERN.fullmatch(n[:-5])}


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log (no image, no embedding).

    Attributes:
        time: seconds since the Unix epoch.
        profile: the profile's name.
        decision: ``unlocked``, ``rejected`` or ``locked out``.
        distance: the face's distance to the profile, None when no face was compared.
        liveness: the liveness result's state (``live``, ``not live``, ``pending``), None when not checked.
        reason: one line, e.g. ``match and live``, ``no blink within 10 s``.
        source: where the frames came from (``camera:0``, a file), or empty.
    """

    time: float
    profile: str
    decision: str
    distance: float | None
    liveness: str | None
    reason: str
    source: str = ""

    def __post_init__(self) -> None:
        check_finite = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)  # noqa: E731
        if not check_finite(self.time):
            raise LockoutError(f"audit time must be finite seconds, got {self.time!r}")
        try:
            check_name(self.profile)
        except ValueError as error:
            raise LockoutError(str(error)) from None
        if self.decision not in (UNLOCKED, REJECTED, LOCKED_OUT):
            raise LockoutError(f"audit decision must be unlocked, rejected or locked out, got {self.decision!r}")
        if self.distance is not None and not check_finite(self.distance):
            raise LockoutError(f"audit distance must be None or a finite number, got {self.distance!r}")
        for name in ("reason", "source"):
            if not isinstance(getattr(self, name), str):
                raise LockoutError(f"audit {name} must be text")
        if self.liveness is not None and not isinstance(self.liveness, str):
            raise LockoutError("audit liveness must be None or text")


class AuditLog:
    """The append-only log of unlock attempts, ``<root>/audit.jsonl``.

    Args:
        root: the data directory; :func:`faceid_desktop.storage.default_data_dir` when None.
        clock: epoch seconds for :meth:`log`; ``time.time`` when None.
    """

    def __init__(self, root: Path | None = None, clock: Callable[[], float] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_data_dir()
        self.clock = clock or time.time

    @property
    def path(self) -> Path:
        """The log file, ``root / "audit.jsonl"``."""
        return self.root / AUDIT_FILE

    def log(self, profile: str, decision: str, distance: float | None, liveness: str | None, reason: str,
            source: str = "") -> AuditEntry:
        """Append one attempt at the clock's time; returns the entry written.

        Raises:
            LockoutError: an invalid field. OSError: the log cannot be written.
        """
        entry = AuditEntry(float(self.clock()), profile, decision, distance, liveness, reason, source)
        self.append(entry)
        return entry

    def append(self, entry: AuditEntry) -> None:
        """Append ``entry`` as one JSON line, in one write, under an exclusive lock of the log file."""
        line = (json.dumps(asdict(entry), allow_nan=False, ensure_ascii=True) + "\n").encode("ascii")
        _prepare_dir(self.root)
        fd = open_regular(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _FILE_MODE)
        try:
            if fcntl is not None:
                _wait_for_lock(fd, self.path, fcntl.LOCK_EX)
            try:
                written = os.write(fd, line)
            except OSError as error:
                raise _named(error, self.path, "the attempt was not logged") from None
            if written != len(line):
                raise OSError(f"{self.path}: short write to the audit log")
        finally:
            os.close(fd)

    def entries(self) -> tuple[list[AuditEntry], int]:
        """All readable entries, oldest first, and the number of lines that could not be read (damaged).

        Raises:
            UntrustedPathError: the log is another account's, writable by others, or not a regular file.
            OSError: the log exists but cannot be read.
        """
        try:
            raw = read_regular(self.path, _MAX_AUDIT_BYTES)
        except FileNotFoundError:
            return [], 0
        found, bad = [], 0
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                found.append(AuditEntry(**doc))
            except (ValueError, TypeError, RecursionError):
                bad += 1
        return found, bad


__all__ = [
    "AUDIT_FILE", "LOCKED_OUT", "REJECTED", "STATE_FILE", "UNLOCKED",
    "AuditEntry", "AuditLog", "LockStatus", "Lockout", "LockoutError", "LockoutPolicy", "ProfileLock",
    "Reservation", "UntrustedPathError", "after_attempt", "begin_attempt", "expire", "finish_attempt", "lockout_delay", "may_begin",
    "rebuild_from_audit", "remaining",
]
