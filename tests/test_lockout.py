"""Lockout and audit log: the back-off rule, persistence across restarts, fail-safe loading, concurrency."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import time

import pytest

from faceid_desktop.lockout import (
    AuditLog, Lockout, LockoutError, LockoutPolicy, ProfileLock, after_attempt, lockout_delay, remaining,
)
from faceid_desktop.safefs import UntrustedPathError


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_delay_grows_from_the_fifth_failure_and_is_capped():
    policy = LockoutPolicy(max_failures=5, base_delay=30, factor=2, max_delay=900)
    assert [lockout_delay(n, policy) for n in range(4, 11)] == [0, 30, 60, 120, 240, 480, 900]
    assert lockout_delay(10**9, policy) == 900


def test_pure_rules():
    policy = LockoutPolicy()
    state = ProfileLock()
    for _ in range(5):
        state = after_attempt(state, False, 100.0, policy)
    assert state.failures == 5 and remaining(state, 100.0, policy) == 30.0
    assert remaining(state, 131.0, policy) == 0.0
    assert after_attempt(state, True, 101.0, policy) == ProfileLock()
    # a clock set back by a day cannot stretch the lock beyond max_delay
    assert remaining(state, 100.0 - 86400, policy) == policy.max_delay


def test_lockout_persists_across_restarts(tmp_path):
    clock = Clock()
    lockout = Lockout(tmp_path, clock=clock)
    for i in range(4):
        assert not lockout.record("me", False).locked
    status = lockout.record("me", False)
    assert status.locked and status.remaining == 30.0 and "5 failed" in status.reason
    restarted = Lockout(tmp_path, clock=clock)  # a new process, same data dir
    assert restarted.status("me").locked
    assert not restarted.status("other").locked
    clock.now += 31
    assert not restarted.status("me").locked
    assert restarted.record("me", False).remaining == 60.0  # the 6th failure doubles the delay
    clock.now += 61
    restarted.record("me", True)
    assert Lockout(tmp_path, clock=clock).status("me").failures == 0
    assert stat.S_IMODE(os.stat(tmp_path / "lockout.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o700


@pytest.mark.parametrize("content", [
    b"", b"{not json", b"\xff\xfe", b"[]", b'{"schema": 3, "locked_all_until": 0, "profiles": {}}', b"[" * 100_000,
    b'{"schema": 1, "locked_all_until": 0, "profiles": {"me": {"failures": -1, "locked_until": 0}}}',
    b'{"schema": 1, "locked_all_until": NaN, "profiles": {}}',
    b'{"schema": 1, "locked_all_until": 0, "profiles": {"../x": {"failures": 1, "locked_until": 0}}}',
])
def test_damaged_state_fails_safe_and_is_rewritten(tmp_path, content):
    clock = Clock()
    (tmp_path / "lockout.json").write_bytes(content)
    os.chmod(tmp_path / "lockout.json", 0o600)
    lockout = Lockout(tmp_path, clock=clock)
    status = lockout.status("me")
    assert status.locked and status.remaining == 30.0 and "damaged" in status.reason
    assert lockout.recovered and "damaged" in lockout.recovered
    doc = json.loads((tmp_path / "lockout.json").read_text())  # rewritten, valid
    assert doc["locked_all_until"] == clock.now + 30
    clock.now += 31
    assert not Lockout(tmp_path, clock=clock).status("me").locked


def test_group_writable_state_is_refused_with_the_fix(tmp_path):
    lockout = Lockout(tmp_path, clock=Clock())
    lockout.record("me", False)
    os.chmod(tmp_path / "lockout.json", 0o666)
    with pytest.raises(UntrustedPathError, match="chmod 600"):
        lockout.status("me")


def test_bad_input():
    with pytest.raises(LockoutError, match="max_failures"):
        LockoutPolicy(max_failures=0)
    with pytest.raises(LockoutError, match="invalid profile name"):
        Lockout().status("../etc")


def _hammer(root: str, profile: str, count: int) -> None:
    lockout, log = Lockout(root, policy=LockoutPolicy(max_failures=100)), AuditLog(root)
    for _ in range(count):
        lockout.record(profile, False)
        log.log(profile, "rejected", 0.61, "live", "no match")


def test_concurrent_processes_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_hammer, args=(str(tmp_path), "me", 25)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    assert Lockout(tmp_path, policy=LockoutPolicy(max_failures=100)).status("me").failures == 75
    entries, bad = AuditLog(tmp_path).entries()
    assert len(entries) == 75 and bad == 0


def test_audit_log_is_append_only_json_lines(tmp_path):
    log = AuditLog(tmp_path, clock=Clock(5.0))
    log.log("me", "unlocked", 0.25, "live", "match and live", "camera:0")
    log.log("me", "rejected", None, "not live", "no blink within 10 s")
    with open(log.path, "ab") as handle:
        handle.write(b'{"half a line\n')
    log.log("me", "locked out", None, None, "locked for 30 s")
    entries, bad = log.entries()
    assert [e.decision for e in entries] == ["unlocked", "rejected", "locked out"] and bad == 1
    assert entries[0].distance == 0.25 and entries[0].time == 5.0
    assert set(json.loads(log.path.read_text().splitlines()[0])) == {
        "time", "profile", "decision", "distance", "liveness", "reason", "source"}
    assert stat.S_IMODE(os.stat(log.path).st_mode) == 0o600
    with pytest.raises(LockoutError, match="decision"):
        log.log("me", "maybe", None, None, "")
    with pytest.raises(LockoutError, match="distance"):
        log.log("me", "rejected", float("nan"), None, "")


# --- issue 11: reservations, recovery, untrusted files ---------------------------------------------------


def _reserve(root: str, barrier, results) -> None:
    barrier.wait()  # all start the transaction at once
    reservation = Lockout(root).begin("me", 60)
    results.put(reservation.granted)


def test_parallel_attempts_at_most_five_run_the_rest_are_refused(tmp_path):
    """8 `faceid auth` started at once: the check and the reservation are one transaction."""
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(8), ctx.Queue()
    workers = [ctx.Process(target=_reserve, args=(str(tmp_path), barrier, results)) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
        assert w.exitcode == 0
    granted = [results.get(timeout=5) for _ in workers]
    assert granted.count(True) == 5 and granted.count(False) == 3
    status = Lockout(tmp_path).status("me")
    assert status.locked and "running" in status.reason


def test_backoff_starts_when_the_attempt_ends(tmp_path):
    clock = Clock()
    lockout = Lockout(tmp_path, clock=clock)
    reservations = [lockout.begin("me", 60) for _ in range(5)]
    assert all(r.granted for r in reservations)
    assert not lockout.begin("me", 60).granted  # 5 running: a 6th may not start
    clock.now += 50  # a long attempt: the lock must not have run out while it ran
    for r in reservations:
        status = lockout.finish(r, False)
    assert status.locked and status.remaining == 30.0 and status.failures == 5
    clock.now += 31
    sixth = lockout.begin("me", 60)
    assert sixth.granted and not lockout.begin("me", 60).granted  # after a lock: one at a time
    assert lockout.finish(sixth, False).remaining == 60.0
    clock.now += 61
    assert lockout.finish(lockout.begin("me", 60), True).failures == 0


def test_a_dead_attempt_ends_as_a_failure_at_its_deadline(tmp_path):
    clock = Clock()
    lockout = Lockout(tmp_path, clock=clock)
    for _ in range(5):
        assert lockout.begin("me", 10).granted  # then the processes are killed: no finish
    clock.now += 11
    status = lockout.status("me")
    assert status.locked and status.failures == 5 and status.remaining == pytest.approx(29.0)


def test_cancelled_attempt_is_not_a_failure(tmp_path):
    lockout = Lockout(tmp_path, clock=Clock())
    for _ in range(7):
        assert lockout.finish(lockout.begin("me", 10), None).failures == 0


def test_deleting_the_state_file_does_not_reset_the_count(tmp_path):
    clock = Clock()
    lockout, audit = Lockout(tmp_path, clock=clock), AuditLog(tmp_path, clock=clock)
    audit.log("me", "rejected", None, None, "refused: remote session (SSH_CONNECTION)")  # not an attempt
    audit.log("me", "rejected", None, None, "error: camera 7 could not be opened")  # not an attempt
    for _ in range(5):
        lockout.finish(lockout.begin("me", 10), False)
        audit.log("me", "rejected", 0.6, "live", "no match")
    (tmp_path / "lockout.json").unlink()
    status = Lockout(tmp_path, clock=clock).status("me")
    assert status.locked and status.failures == 5 and status.remaining == 30.0
    audit.log("me", "unlocked", 0.2, "live", "match and live")
    (tmp_path / "lockout.json").unlink()
    assert Lockout(tmp_path, clock=clock).status("me").failures == 0


def test_a_damaged_state_file_keeps_the_count_until_an_unlock(tmp_path):
    clock = Clock()
    (tmp_path / "profiles").mkdir(mode=0o700)
    (tmp_path / "profiles" / "me.json").write_text("{}")
    (tmp_path / "lockout.json").write_bytes(b"{damaged")
    os.chmod(tmp_path / "lockout.json", 0o600)
    lockout = Lockout(tmp_path, clock=clock)
    status = lockout.status("me")
    # the reason is the damage, not "after 5 failed attempts" that no one made
    assert status.locked and "damaged" in status.reason and "failed attempts" not in status.reason
    clock.now += 31
    attempt = lockout.begin("me", 10)
    assert attempt.granted
    assert lockout.finish(attempt, False).remaining > 30  # still at the lockout count: locked again, longer
    clock.now += 100
    lockout.finish(lockout.begin("me", 10), True)
    assert lockout.status("me").failures == 0


@pytest.mark.parametrize("name", ["lockout.json", "audit.jsonl", "lockout.lock"])
def test_fifo_in_place_of_a_state_file_is_refused_at_once(tmp_path, name):
    os.mkfifo(tmp_path / name, 0o600)
    start = time.monotonic()
    with pytest.raises(UntrustedPathError, match="FIFO"):
        Lockout(tmp_path).status("me") if name != "audit.jsonl" else AuditLog(tmp_path).log(
            "me", "rejected", None, None, "x")
    if name == "audit.jsonl":
        with pytest.raises(UntrustedPathError, match="FIFO"):
            AuditLog(tmp_path).entries()
    assert time.monotonic() - start < 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user (chown)")
@pytest.mark.parametrize("name", ["lockout.json", "audit.jsonl"])
def test_foreign_owned_state_files_are_refused(tmp_path, name):
    Lockout(tmp_path).record("me", False)
    AuditLog(tmp_path).log("me", "rejected", None, None, "no match")
    os.chown(tmp_path / name, 65534, 65534)
    with pytest.raises(UntrustedPathError, match="owned by .*chown"):
        Lockout(tmp_path).status("me") if name == "lockout.json" else AuditLog(tmp_path).entries()


def test_open_data_directory_is_refused(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    root.chmod(0o777)
    with pytest.raises(UntrustedPathError, match="chmod 700"):
        Lockout(root).status("me")
    root.chmod(0o700)
    tmp_path.chmod(0o777)  # the parent: anyone could rename the data directory away
    try:
        with pytest.raises(UntrustedPathError, match="rename"):
            Lockout(root).status("me")
    finally:
        tmp_path.chmod(0o700)


def test_a_stuck_holder_of_the_lock_cannot_hang_an_unlock(tmp_path, monkeypatch):
    import fcntl

    from faceid_desktop import lockout as module

    monkeypatch.setattr(module, "LOCK_TIMEOUT", 0.2)
    Lockout(tmp_path).status("me")
    fd = os.open(tmp_path / "lockout.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a stopped process holding the lock (a separate open file description)
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="held by another FaceID Desktop process"):
            Lockout(tmp_path).begin("me", 10)
        assert time.monotonic() - start < 1
    finally:
        os.close(fd)


def test_a_schema_1_state_file_is_still_read(tmp_path):
    clock = Clock()
    (tmp_path / "lockout.json").write_text(json.dumps(
        {"schema": 1, "locked_all_until": 0, "profiles": {"me": {"failures": 5, "locked_until": clock.now + 20}}}))
    os.chmod(tmp_path / "lockout.json", 0o600)
    lockout = Lockout(tmp_path, clock=clock)
    status = lockout.status("me")
    assert status.locked and status.failures == 5 and lockout.recovered is None
    lockout.record("other", False)
    assert json.loads((tmp_path / "lockout.json").read_text())["schema"] == 2


def test_a_full_disk_is_named_and_changes_nothing(tmp_path, monkeypatch):
    """Found by a newcomer: `faceid auth` on a full disk said only "[Errno 28] No space left on device"."""
    import errno

    from faceid_desktop import lockout as module

    clock = Clock()
    lockout, log = Lockout(tmp_path, clock=clock), AuditLog(tmp_path, clock=clock)
    lockout.record("me", False)
    state = lockout.path.read_bytes()

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module.os, "fsync", full)
    with pytest.raises(OSError) as raised:
        lockout.record("me", False)
    assert raised.value.filename == str(lockout.path) and "the disk is full" in str(raised.value)
    assert lockout.path.read_bytes() == state and sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name) == []
    monkeypatch.setattr(module.os, "write", full)
    with pytest.raises(OSError) as raised:
        log.log("me", "rejected", None, None, "test", "camera:0")
    assert raised.value.filename == str(log.path) and "the attempt was not logged" in str(raised.value)
