"""Lockout after repeated failed unlock attempts, and the audit log of attempts.

**Lockout.** After ``max_failures`` (5) consecutive failed attempts on a profile, further attempts are
refused for ``base_delay`` (30 s); each further failure doubles the delay, up to ``max_delay`` (15 min).
A success resets the count. The state lives in ``<data dir>/lockout.json`` (mode 0600 in a 0700
directory), written atomically (temporary file, fsync, rename) under an exclusive ``flock`` of
``<data dir>/lockout.lock``, so two processes (the unlock screen and ``faceid auth``) never lose a
failure. The file is validated on every load; a damaged or tampered file fails safe: every profile is
treated as locked for ``base_delay`` from now, and the file is rewritten. The delays follow the usual
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

import json
import math
import os
import secrets
import stat
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from .profile import check_name
from .storage import default_data_dir

try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks; concurrent writers may then lose an update
    fcntl = None  # type: ignore[assignment]

STATE_FILE, LOCK_FILE, AUDIT_FILE = "lockout.json", "lockout.lock", "audit.jsonl"
SCHEMA = 1
_DIR_MODE, _FILE_MODE = 0o700, 0o600
_MAX_STATE_BYTES = 1 << 20  # a real state file holds a few profiles; more is not ours
_MAX_FAILURES_STORED = 1_000_000

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
        failures: consecutive failed attempts since the last success.
        locked_until: seconds since the Unix epoch until which attempts are refused (0: never locked).
    """

    failures: int = 0
    locked_until: float = 0.0


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
    return ProfileLock(failures, max(state.locked_until, now + delay) if delay else state.locked_until)


def remaining(state: ProfileLock, now: float, policy: LockoutPolicy) -> float:
    """Seconds the profile stays locked at ``now``; a lock ending beyond ``now + max_delay`` (the clock was
    set back) counts as ``max_delay``."""
    return max(0.0, min(state.locked_until - now, policy.max_delay))


def _status(name: str, state: ProfileLock, now: float, policy: LockoutPolicy) -> LockStatus:
    left = remaining(state, now, policy)
    if left > 0:
        reason = f"locked for {math.ceil(left)} s after {state.failures} failed attempts"
    else:
        reason = f"{state.failures} failed attempts" if state.failures else "not locked"
    return LockStatus(name, left > 0, left, state.failures, reason)


# ---------------------------------------------------------------------------------------------- files


def _prepare_dir(root: Path) -> None:
    # A new data directory is private; an existing one keeps the modes its owner chose (a --data-dir may be
    # a folder of theirs): the state and log files themselves are 0600 and checked at every load.
    root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)


@contextmanager
def _flock(path: Path, exclusive: bool = True) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), _FILE_MODE)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), _FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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
    if not isinstance(doc, dict) or set(doc) != {"schema", "locked_all_until", "profiles"} or doc["schema"] != SCHEMA:
        raise _Corrupt("unexpected top-level fields or schema")
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
        if not isinstance(entry, dict) or set(entry) != {"failures", "locked_until"}:
            raise _Corrupt(f"profile {name}: unexpected fields")
        failures, until = entry["failures"], entry["locked_until"]
        if isinstance(failures, bool) or not isinstance(failures, int) or not 0 <= failures <= _MAX_FAILURES_STORED:
            raise _Corrupt(f"profile {name}: failures is not a count")
        if isinstance(until, bool) or not isinstance(until, (int, float)) or not math.isfinite(until) or until < 0:
            raise _Corrupt(f"profile {name}: locked_until is not a time")
        states[name] = ProfileLock(failures, float(until))
    return float(locked_all), states


def _encode_state(locked_all: float, states: dict[str, ProfileLock]) -> bytes:
    doc = {
        "schema": SCHEMA,
        "locked_all_until": locked_all,
        "profiles": {name: asdict(state) for name, state in sorted(states.items()) if state != ProfileLock()},
    }
    return (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode("ascii")


class Lockout:
    """The persistent lockout of the profiles under a data directory.

    Args:
        root: the data directory; :func:`faceid_desktop.storage.default_data_dir` when None. Created (0700)
            at the first write.
        policy: the rules; the defaults when None.
        clock: returns the time in seconds since the Unix epoch; ``time.time`` when None (tests inject one).

    Attributes:
        root, policy: as given. ``recovered``: the reason the last load failed safe, or None.
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
        """Whether ``profile`` may attempt an unlock now (check before running the camera).

        Raises:
            LockoutError: invalid profile name. OSError: the data directory cannot be written (a damaged
                state file is rewritten even here).
        """
        name = self._name(profile)
        with self._transaction() as (now, locked_all, states):
            return self._status_with_all(name, states.get(name, ProfileLock()), locked_all, now)

    def record(self, profile: str, accepted: bool) -> LockStatus:
        """Record an attempt's outcome and return the status after it.

        A success while locked is not possible through the API (check :meth:`status` first), but a
        success always resets, since the owner did authenticate.

        Raises:
            LockoutError: invalid profile name. OSError: the state cannot be written.
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
        if left_all > status.remaining:
            return LockStatus(name, True, left_all, state.failures,
                              f"locked for {math.ceil(left_all)} s: the lockout state file was damaged")
        return status

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[tuple[float, float, dict[str, ProfileLock]]]:
        _prepare_dir(self.root)
        with _flock(self.root / LOCK_FILE):
            now = float(self.clock())
            locked_all, states, damaged = self._load(now)
            yield now, locked_all, states
            if write or damaged:
                _write_atomically(self.path, _encode_state(locked_all, states))

    def _load(self, now: float) -> tuple[float, dict[str, ProfileLock], bool]:
        self.recovered = None
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return 0.0, {}, False
        except OSError as error:  # a symlink planted in place of the file, or unreadable
            return self._fail_safe(now, f"cannot open ({error.strerror})")
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_STATE_BYTES:
                return self._fail_safe(now, "not a small regular file")
            if info.st_mode & 0o022:
                return self._fail_safe(now, "writable by group or others")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                raw = handle.read(_MAX_STATE_BYTES + 1)
        finally:
            os.close(fd)
        try:
            locked_all, states = _decode_state(raw)
        except _Corrupt as problem:
            return self._fail_safe(now, str(problem))
        return locked_all, states, False

    def _fail_safe(self, now: float, why: str) -> tuple[float, dict[str, ProfileLock], bool]:
        self.recovered = f"{self.path}: damaged ({why}); all profiles locked for {self.policy.base_delay:g} s"
        return now + self.policy.base_delay, {}, True


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
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.path, flags, _FILE_MODE)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"{self.path}: short write to the audit log")
        finally:
            os.close(fd)

    def entries(self) -> tuple[list[AuditEntry], int]:
        """All readable entries, oldest first, and the number of lines that could not be read (damaged).

        Raises:
            OSError: the log exists but cannot be read.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return [], 0
        found, bad = [], 0
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                found.append(AuditEntry(**doc))
            except (ValueError, TypeError):
                bad += 1
        return found, bad


__all__ = [
    "AUDIT_FILE", "LOCKED_OUT", "REJECTED", "STATE_FILE", "UNLOCKED",
    "AuditEntry", "AuditLog", "LockStatus", "Lockout", "LockoutError", "LockoutPolicy", "ProfileLock",
    "after_attempt", "lockout_delay", "remaining",
]
