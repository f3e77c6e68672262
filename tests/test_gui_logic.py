"""The desktop app's pure helpers (no Qt): automatic capture, the unlock state machine (the core's scorer,
liveness, persistent lock-out and audit log), the frame slot."""

from __future__ import annotations

import dataclasses
import random
import threading
from pathlib import Path

import numpy as np
import pytest

from faceid_desktop.camera import Frame
from faceid_desktop.gui.analysis import FrameAnalysis
from faceid_desktop.newest_frame import LatestFrame
from faceid_desktop.gui.capture import (EYES_BASELINE_FRAMES, ONLY_REPEATS, STILL_REPEATS, CaptureSession,
                                        guidance_for, pose_of, pose_quotas, pose_summary)
from faceid_desktop.gui.unlock_logic import (CHECKING_LIVENESS, FACE_FOUND, LOCKED_OUT, REJECTED, SEARCHING,
                                             UNLOCKED, VERIFYING, LivenessOptions, UnlockController)
from faceid_desktop.liveness import BLINK, PROMPTS, LivenessSettings
from faceid_desktop.lockout import AuditLog, Lockout, LockoutPolicy
from faceid_desktop.profile import DecisionSettings, Profile, Template
from faceid_desktop.quality import Quality
from faceid_desktop.verification import ProfileScorer, profile_centre


class _Face:
    def __init__(self, seed: int) -> None:
        self.vector = np.random.default_rng(seed).normal(0, 0.1, 128).astype(np.float32)
        self.chip = np.zeros((150, 150, 3), np.uint8)


def good(t: float, yaw: float = 0.0, seed: int = 0) -> FrameAnalysis:
    frame = Frame(np.zeros((4, 4, 3), np.uint8), t, int(t * 10), "clip.mp4")
    quality = Quality(100.0, 120.0, yaw, 0.75, 120, 0.9)
    return FrameAnalysis(frame, ((0, 0, 10, 10),), (0, 0, 10, 10), _Face(seed), None, quality)


def bad(t: float, problem: str) -> FrameAnalysis:
    return FrameAnalysis(Frame(np.zeros((4, 4, 3), np.uint8), t, 0, "clip.mp4"), problem=problem)


def test_pose_quotas_and_guidance():
    assert pose_quotas(15) == {"right": 3, "front": 9, "left": 3}
    assert sum(pose_quotas(5).values()) == 5
    assert pose_of(0.0) == "front" and pose_of(0.3) == "left" and pose_of(-0.3) == "right"
    assert guidance_for("too small: move closer") == "move closer"
    assert guidance_for("no face") == "look into the camera"
    assert guidance_for(None) == "hold still"


def test_capture_covers_the_poses_it_asks_for_with_a_way_out():
    session = CaptureSession(target=4, min_interval=0.2, patience=1.0)  # quotas: 1 right, 2 front, 1 left
    assert session.offer(bad(0.0, "blurred: hold still")) == (False, "hold still")
    assert session.offer(good(0.1, seed=1))[0]
    assert session.offer(good(0.15, seed=2)) == (False, "hold still")  # too soon after the last capture
    assert session.offer(good(0.4, seed=3))[0]
    captured, guidance = session.offer(good(0.7, seed=4))  # front is full: ask for a turn
    assert not captured and guidance.startswith("turn slightly")
    assert session.offer(good(0.8, yaw=0.3, seed=5))[0]  # turned to the left
    assert session.offer(good(1.1, seed=6)) == (False, "turn slightly right")
    # asked, never given: a frontal face is still refused (the poses asked for are the poses captured) ...
    assert session.offer(good(5.0, seed=7)) == (False, "turn slightly right") and not session.done
    # ... and after `patience` seconds of asking, the way out is offered
    assert not session.waiting_for_turn(1.5) and session.waiting_for_turn(2.2)
    session.skip_turns()
    assert session.missing() == {"right": 0, "front": 1, "left": 0} and not session.waiting_for_turn(9.0)
    assert session.offer(good(5.2, seed=8))[0]
    assert session.done and len(session.templates) == len(session.chips) == 4
    assert session.poses == ["front", "front", "left", "front"]
    assert pose_summary(session.poses, session.turns_skipped) == "0 turned right, 3 front, 1 turned left; turns skipped"
    assert session.rejected == {"blurred: hold still": 1}
    assert session.templates[0].source == "clip.mp4#t=0.10"
    session.reset()
    assert not session.done and not session.templates and not session.turns_skipped


def test_capture_refuses_closed_eyes_and_waits_for_the_open_level():
    def eyes(t: float, ear: float, yaw: float = 0.0) -> FrameAnalysis:
        return dataclasses.replace(good(t, yaw, seed=int(t * 10)), ear=ear)

    session = CaptureSession(target=2, min_interval=0.0)
    # the first frames measure the person's open eyes: nothing is captured yet, so never a first blink
    assert session.offer(eyes(0.0, 0.1)) == (False, "open your eyes")  # closed for anyone
    for i in range(EYES_BASELINE_FRAMES - 1):
        assert session.offer(eyes(0.1 * (i + 1), 0.30)) == (False, "hold still")
    assert session.offer(eyes(1.0, 0.30))[0]
    assert session.offer(eyes(1.1, 0.18)) == (False, "open your eyes")  # a blink for these eyes
    assert session.rejected["eyes closed"] == 2
    narrow = CaptureSession(target=2, min_interval=0.0)  # narrow eyes, always about 0.19: fine
    results = [narrow.offer(eyes(0.1 * i, 0.19 + 0.001 * (i % 2)))[0] for i in range(8)]
    assert sum(results) == 2 and narrow.done


def test_capture_takes_the_same_picture_once():
    """A folder of photos looping as the camera offers the same face again: one template, as the CLI keeps."""
    session = CaptureSession(target=3, min_interval=0.0)
    assert session.offer(good(0.1, seed=1))[0]
    assert session.offer(good(0.2, seed=1)) == (False, "the same picture again: move a little")
    assert session.offer(good(0.3, seed=2))[0] and len(session.templates) == 2
    assert session.rejected == {"same picture": 1}
    # a folder of too few photos (here one) repeats itself: moving would not help, and the person is told so
    for i in range(STILL_REPEATS - 1):
        assert session.offer(good(0.4 + i, seed=2)) == (False, "the same picture again: move a little")
    assert session.offer(good(9.0, seed=1)) == (False, ONLY_REPEATS)
    assert "live camera" in ONLY_REPEATS
    assert session.offer(good(9.5, seed=3))[0] and session.done


def test_capture_rejects_bad_target():
    with pytest.raises(ValueError, match="target"):
        CaptureSession(target=1)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _scorer(settings: DecisionSettings = DecisionSettings()) -> ProfileScorer:
    rng = np.random.default_rng(0)
    templates = tuple(Template(rng.normal(0, 0.1, 128), 1.0, f"t{i}", 0.9) for i in range(3))
    return ProfileScorer(Profile("me", "model", templates, settings))


def probe_at(scorer: ProfileScorer, distance: float, seed: int = 1) -> np.ndarray:
    """A unit (128,) vector at exactly ``distance`` from the profile's centre (the core's measure)."""
    centre = profile_centre(scorer.profile.embeddings)
    other = np.random.default_rng(seed).normal(size=128)
    other -= (other @ centre) * centre
    other /= np.linalg.norm(other)
    theta = 2 * np.arcsin(distance / 2)
    probe = np.cos(theta) * centre + np.sin(theta) * other
    assert float(scorer.distance(probe)) == pytest.approx(distance)
    return probe


def _face(ear: float) -> np.ndarray:
    """(68, 2) landmarks of a frontal face whose eyes have aspect ratio ``ear`` (as tests/test_liveness.py)."""
    points = np.zeros((68, 2))
    points[:17, 0] = np.linspace(100, 300, 17)
    points[:17, 1] = 250
    for start, cx in ((36, 150.0), (42, 250.0)):
        h = ear * 40 / 2
        points[start:start + 6] = [(cx - 20, 200), (cx - 7, 200 - h), (cx + 7, 200 - h),
                                   (cx + 20, 200), (cx + 7, 200 + h), (cx - 7, 200 + h)]
    points[27:31] = [(200, 200 + 30 * k) for k in range(4)]
    points[31:36] = [(200, 290)] * 5
    points[33] = (200, 300)
    return points


@pytest.fixture
def files(tmp_path: Path):
    clock = Clock()
    lockout = Lockout(tmp_path, LockoutPolicy(max_failures=2, base_delay=10.0, max_delay=100.0), clock)
    return lockout, AuditLog(tmp_path, clock), clock


def test_unlock_needs_m_of_n_and_reports_the_time(files):
    lockout, audit, _ = files
    settings = DecisionSettings(threshold=0.4, frames_to_accept=2, window=5, timeout=4.0)
    scorer = _scorer(settings)
    controller = UnlockController(scorer, settings, lockout, audit, source="camera:0")
    assert controller.update(None, "no face", 0, 0.0).state == SEARCHING
    assert controller.update(None, "too small", 1, 0.1).state == FACE_FOUND
    status = controller.update(probe_at(scorer, 0.3), None, 1, 0.2)
    assert status.state == VERIFYING and status.decision.distance == pytest.approx(0.3)
    assert status.decision == scorer.decide(probe_at(scorer, 0.3), 1, settings)  # the core decides
    status = controller.update(probe_at(scorer, 0.35), None, 1, 0.3)
    assert status.state == UNLOCKED and status.elapsed == pytest.approx(0.2) and status.matches == 2
    assert controller.update(probe_at(scorer, 0.9), None, 1, 0.4).state == UNLOCKED  # until locked again
    controller.reset()
    status = controller.update(probe_at(scorer, 0.9), None, 1, 0.5)
    assert status.state == VERIFYING and status.generation == controller.generation == 1
    [entry], bad = audit.entries()
    assert bad == 0 and (entry.decision, entry.profile, entry.source) == ("unlocked", "me", "camera:0")
    assert entry.distance == pytest.approx(0.35) and entry.liveness is None


def test_unlock_alpha_rule_uses_the_cohort():
    settings = DecisionSettings(threshold=1.0, rule="alpha", alpha=0.3, frames_to_accept=1, window=1)
    cohort = np.random.default_rng(5).normal(0, 0.1, (20, 128))
    profile = Profile("me", "model", (Template(cohort[0] * 0.1 + 0.05, 1.0, "t", 0.9),), settings)
    scorer = ProfileScorer(profile, cohort=cohort)
    controller = UnlockController(scorer)
    probe = cohort[3]  # a cohort member: nearer to itself than to the profile, so the alpha rule refuses it
    status = controller.update(probe, None, 1, 0.0)
    assert status.decision == scorer.decide(probe, 1, settings)
    assert status.decision.nearest_negative == pytest.approx(0.0, abs=1e-6) and status.state == VERIFYING


def test_try_again_after_a_failed_attempt_starts_a_new_one(files):
    lockout, audit, _ = files
    settings = DecisionSettings(threshold=0.4, timeout=1.0)
    scorer = _scorer(settings)
    far, near = probe_at(scorer, 0.9), probe_at(scorer, 0.1)
    controller = UnlockController(scorer, settings, lockout, audit)
    t = 0.0
    while (status := controller.update(far, None, 1, t)).state != REJECTED:
        t += 0.1
    assert status.outcome == "last attempt rejected: no match within 1 s"
    t += 0.1
    assert controller.update(near, None, 1, t).state == REJECTED  # the owner steps in: waits for Try again
    controller.reset()  # "Try again"
    states = [controller.update(near, None, 1, t + 0.1 * i).state for i in range(1, 4)]
    assert UNLOCKED in states and controller.failures == 0


def test_unlock_lockout_persists_and_is_logged(files, tmp_path):
    lockout, audit, clock = files
    settings = DecisionSettings(threshold=0.4, timeout=1.0)
    scorer = _scorer(settings)
    far = probe_at(scorer, 0.9)
    t = 0.0

    def attempt(controller: UnlockController) -> str:
        nonlocal t
        outcome = controller.outcome
        for _ in range(30):
            status = controller.update(far, None, 1, t)
            t += 0.1
            if controller.outcome != outcome or status.state == LOCKED_OUT:
                return status.state
        raise AssertionError("no attempt ended")

    controller = UnlockController(scorer, settings, lockout, audit)
    assert attempt(controller) == REJECTED and controller.failures == 1
    # a stranger who stays in front of the screen: no new attempt, so no second failure
    for _ in range(50):
        status = controller.update(far, None, 1, t)
        t += 0.1
        assert status.state == REJECTED and controller.failures == 1 and "rejected" in status.outcome
    # the face leaves for less than ABSENCE_TO_RETRY (a detector miss): still the same failed attempt
    for _ in range(3):
        assert controller.update(None, "no face", 0, t).state == REJECTED
        t += 0.1
    assert controller.update(far, None, 1, t).state == REJECTED
    t += 0.1
    while controller.update(None, "no face", 0, t).state == REJECTED:  # gone for good: a new attempt may start
        t += 0.1
    status_state = attempt(controller)
    assert status_state == LOCKED_OUT and lockout.status("me").locked
    near = probe_at(scorer, 0.1)
    assert controller.update(near, None, 1, t).state == LOCKED_OUT  # even the owner waits
    # a restart of the app: a new controller over the same data directory is still locked out
    again = UnlockController(scorer, settings, Lockout(tmp_path, lockout.policy, clock), audit)
    status = again.update(None, "no face", 0, 0.0)
    assert status.state == LOCKED_OUT and status.locked_for == pytest.approx(10.0)
    clock.now += 10.5
    again.update(near, None, 1, 0.1)
    assert again.update(near, None, 1, 0.2).state == UNLOCKED
    assert not lockout.status("me").locked and lockout.status("me").failures == 0
    entries, _ = audit.entries()
    assert [e.decision for e in entries] == ["rejected", "rejected", "locked out", "unlocked"]
    assert "locked for 10 s" in entries[1].reason and entries[1].distance == pytest.approx(0.9)


def test_unlock_without_a_compared_face_is_no_failure(files):
    lockout, audit, _ = files
    controller = UnlockController(_scorer(), DecisionSettings(timeout=0.5), lockout, audit)
    for i in range(10):
        controller.update(None, "too dark", 1, i * 0.1)
    assert controller.failures == 0 and not lockout.status("me").locked
    [entry], _ = audit.entries()
    assert entry.decision == "rejected" and "no face could be compared" in entry.reason


def test_a_gap_in_the_frames_drops_the_attempt_unrecorded(files):
    lockout, audit, _ = files
    scorer = _scorer()
    controller = UnlockController(scorer, DecisionSettings(timeout=1.0), lockout, audit)
    controller.update(probe_at(scorer, 1.3), None, 1, 0.0)
    controller.update(probe_at(scorer, 1.3), None, 1, 0.5)
    status = controller.update(probe_at(scorer, 1.3), None, 1, 30.0)  # back from another tab
    assert status.state == VERIFYING and status.elapsed == 0.0
    assert controller.failures == 0 and audit.entries() == ([], 0)


def test_frames_skipped_before_the_return_from_another_tab_do_not_resume_the_old_attempt(files):
    """Found by a newcomer: Unlock, a few seconds on the Enroll tab, back to Unlock: "not recognised within
    4 s" at once, one attempt used up. The camera frames recognition skipped, fed to liveness before the
    first frame recognised on return, carried the old attempt over the gap."""
    lockout, audit, _ = files
    settings = DecisionSettings(timeout=1.0)
    scorer = _scorer(settings)
    options = LivenessOptions(enabled=True, settings=LivenessSettings(timeout=3.0))
    controller = UnlockController(scorer, settings, lockout, audit, options)
    far = probe_at(scorer, 1.3)
    controller.update(far, None, 1, 0.0)
    controller.update(far, None, 1, 0.5)
    blank = np.zeros((48, 64, 3), np.uint8)
    for t in (29.8, 29.9):  # the latest camera frames, skipped by recognition, seen first on return
        controller.observe(t, blank)
    status = controller.update(far, None, 1, 30.0)
    assert status.state == VERIFYING and status.elapsed == 0.0
    assert controller.failures == 0 and audit.entries() == ([], 0)


def test_threshold_change_applies_to_the_next_frame():
    scorer = _scorer()
    controller = UnlockController(scorer, DecisionSettings(threshold=0.4, frames_to_accept=1, window=1))
    controller.set_settings(DecisionSettings(threshold=0.2, frames_to_accept=1, window=1))
    assert controller.settings.threshold == 0.2  # seen at once by the GUI thread
    assert controller.update(probe_at(scorer, 0.3), None, 1, 0.0).state == VERIFYING
    controller.set_settings(DecisionSettings(threshold=0.35, frames_to_accept=1, window=1))
    assert controller.update(probe_at(scorer, 0.3), None, 1, 0.1).state == UNLOCKED


def test_liveness_must_pass_before_unlocking(files):
    lockout, audit, _ = files
    settings = DecisionSettings(threshold=0.4)
    scorer = _scorer(settings)
    near = probe_at(scorer, 0.2)
    options = LivenessOptions(enabled=True, settings=LivenessSettings(timeout=3.0))
    controller = UnlockController(scorer, settings, lockout, audit, options)
    ears = [0.3] * 30 + [0.3, 0.2, 0.08, 0.05, 0.12, 0.18, 0.24, 0.3] + [0.3] * 20  # a blink after 1 s
    seen = []
    for i, ear in enumerate(ears):
        status = controller.update(near, None, 1, i / 30, landmarks=_face(ear))
        seen.append((status.state, status.hint))
        if status.state == UNLOCKED:
            break
    assert seen[0] == (VERIFYING, "")  # one matching frame of the two needed: no prompt yet
    assert seen[1] == (CHECKING_LIVENESS, PROMPTS[BLINK])  # the face matches; now it must blink
    assert seen[-1][0] == UNLOCKED and len(seen) > 30  # not before the blink
    assert status.liveness.live and len(status.liveness.blinks) == 1
    [entry], _ = audit.entries()
    assert (entry.decision, entry.liveness, entry.reason) == ("unlocked", "live", "match and live")


def test_a_still_face_never_unlocks_with_liveness(files):
    lockout, audit, _ = files
    settings = DecisionSettings(threshold=0.4)
    scorer = _scorer(settings)
    options = LivenessOptions(enabled=True, settings=LivenessSettings(timeout=2.0))
    controller = UnlockController(scorer, settings, lockout, audit, options)
    still = _face(0.3)
    states = {controller.update(probe_at(scorer, 0.1), None, 1, i / 30, landmarks=still).state for i in range(75)}
    assert UNLOCKED not in states and controller.failures == 1
    [entry], _ = audit.entries()
    assert entry.decision == "rejected" and entry.liveness == "not live" and "no blink within 2 s" in entry.reason


def test_challenge_prompt_is_drawn_per_attempt():
    scorer = _scorer()
    options = LivenessOptions(enabled=True, challenge=True)
    controller = UnlockController(scorer, None, liveness=options, rng=random.Random(3))
    status = controller.update(probe_at(scorer, 0.1), None, 1, 0.0, landmarks=_face(0.3))
    assert status.hint == ""  # the face has not matched yet (two frames needed)
    status = controller.update(probe_at(scorer, 0.1), None, 1, 0.033, landmarks=_face(0.3))
    assert status.hint in PROMPTS.values() and len(status.liveness.challenge) == 3
    assert set(status.liveness.challenge) <= set(PROMPTS)
    controller.set_liveness(LivenessOptions(enabled=False))
    assert controller.update(probe_at(scorer, 0.1), None, 1, 0.1, landmarks=_face(0.3)).hint == ""


def test_latest_frame_keeps_only_the_newest():
    slot = LatestFrame()
    assert slot.newer_than(0, 0.01) is None
    frames = [Frame(np.zeros((2, 2, 3), np.uint8), i / 10, i, "x") for i in range(3)]
    for frame in frames:
        slot.put(frame)
    sequence, frame = slot.newer_than(0, 0.01)
    assert frame.index == 2 and sequence == 3
    assert slot.newer_than(sequence, 0.01) is None
    threading.Timer(0.05, slot.put, (frames[0],)).start()
    assert slot.newer_than(sequence, 2.0)[1].index == 0


# -- camera list (faceid_desktop.camera_list: pure, fake captures, never a real device) -------------------

class FakeCapture:
    """A cv2.VideoCapture stand-in: ``frames`` are what read() returns (None: a failed read)."""

    def __init__(self, opened: bool, frames=()) -> None:
        self.opened, self.frames, self.released = opened, list(frames), False

    def isOpened(self) -> bool:  # noqa: N802
        return self.opened

    def read(self):
        if not self.frames:
            return False, None
        image = self.frames.pop(0)
        return image is not None, image

    def release(self) -> None:
        self.released = True


def test_camera_specs_are_stored_absolute(tmp_path):
    from faceid_desktop.camera import camera_index
    from faceid_desktop.camera_list import absolute_spec

    assert absolute_spec("0") == "0" and absolute_spec("camera:2") == "2" and absolute_spec(" 3 ") == "3"
    assert absolute_spec("clips/a.mp4", cwd=tmp_path) == str(tmp_path / "clips" / "a.mp4")
    assert absolute_spec("../x/../b", cwd=tmp_path / "sub") == str(tmp_path / "b")
    assert absolute_spec(str(tmp_path / "f")) == str(tmp_path / "f")
    assert absolute_spec("~/v.mp4").startswith(str(Path.home()))
    assert camera_index("camera:4") == 4 and camera_index(1) == 1 and camera_index("a.mp4") is None
    with pytest.raises(ValueError):
        absolute_spec("  ")


def test_list_devices_names_working_and_infrared_cameras(tmp_path):
    from faceid_desktop.camera_list import CameraDevice, is_grey, list_devices, preferred_camera

    (tmp_path / "video0").mkdir()
    (tmp_path / "video0" / "name").write_text("Integrated Camera: Integrated C\n")
    (tmp_path / "video2").mkdir()
    (tmp_path / "video2" / "name").write_text("Integrated Camera: Integrated I\n")
    colour = np.dstack([np.full((4, 6), v, np.uint8) for v in (10, 80, 200)])
    grey = np.full((4, 6, 3), 90, np.uint8)
    captures = {0: FakeCapture(True, [colour]), 1: FakeCapture(True, [None] * 5),  # a metadata node
                2: FakeCapture(True, [None, grey]), 3: FakeCapture(False)}
    opened = []

    def open_capture(index):
        opened.append(index)
        return captures[index]

    devices = list_devices(range(4), open_capture, root=tmp_path)
    assert [d.index for d in devices] == [0, 2, 1]  # working first; 3 cannot be opened: not listed
    assert devices[0] == CameraDevice(0, "Integrated Camera: Integrated C", True, False, (6, 4))
    assert devices[1].grey and devices[1].works and "infrared" in devices[1].label()
    assert not devices[2].works and devices[2].problem == "no frame" and devices[2].name == "camera 1"
    assert all(c.released for c in captures.values())
    assert devices[0].label() == "camera 0: Integrated Camera: Integrated C (6x4)"
    # the camera in use is not opened a second time
    opened.clear()
    assert [d.index for d in list_devices(range(3), open_capture, root=tmp_path, skip=[0])][:1] == [0]
    assert 0 not in opened
    assert preferred_camera(devices).index == 0  # colour first
    assert preferred_camera([devices[1]]).index == 2  # an infrared camera alone works too
    assert preferred_camera([devices[2]]) is None
    assert is_grey(np.zeros((3, 3), np.uint8)) and not is_grey(colour)


def test_settings_are_private_atomic_and_read_old_files(tmp_path):
    import os
    import stat

    from faceid_desktop.gui.settings import AppSettings

    home = tmp_path / "home"
    home.mkdir(mode=0o755)  # as earlier versions of the app left it
    os.chmod(home, 0o755)
    (home / "gui.ini").write_text("[General]\ncamera=clip.mp4\ngeometry=@ByteArray(\\x1\\xd9)\nliveness=false\n")
    os.chmod(home / "gui.ini", 0o644)
    settings = AppSettings(home / "gui.ini")  # QSettings' file of an earlier version
    assert (settings.camera, settings.liveness, settings.geometry, settings.screen) == ("clip.mp4", False, b"", "unlock")
    settings.camera = "/abs/clip.mp4"
    settings.geometry = b"\x01\xd9\xd0"
    settings.sync()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700 and stat.S_IMODE((home / "gui.ini").stat().st_mode) == 0o600
    again = AppSettings(home / "gui.ini")
    assert (again.camera, again.liveness, again.geometry) == ("/abs/clip.mp4", False, b"\x01\xd9\xd0")
    assert sorted(p.name for p in home.iterdir()) == ["gui.ini"]  # no temporary file left
    with pytest.raises(ValueError):
        settings.set("camera", "two\nlines")
    (home / "gui.ini").write_bytes(b"\xff\xfe not an ini")
    assert AppSettings(home / "gui.ini").camera == ""  # damaged: empty, rewritten at the next sync



def test_an_unreadable_lockout_state_keeps_the_unlock_screen_locked(tmp_path):
    """A lock-out file the app cannot trust (another owner, a FIFO, damage) never lifts a lock: the screen
    stays locked, says why, and does not judge the face."""

    class Refusing(Lockout):
        def status(self, name):
            raise OSError(f"{self.path}: not a regular file")

    lockout = Refusing(tmp_path, LockoutPolicy(max_failures=2, base_delay=10.0, max_delay=100.0), Clock())
    settings = DecisionSettings(threshold=0.4, frames_to_accept=1, window=1)
    scorer = _scorer(settings)
    controller = UnlockController(scorer, settings, lockout, AuditLog(tmp_path, Clock()))
    status = controller.update(probe_at(scorer, 0.1), None, 1, 0.0)
    assert status.state == LOCKED_OUT
    assert status.locked_for > 0 and "not readable" in status.error


def test_an_unlit_frame_without_a_face_reads_too_dark():
    """The app says "too dark", not "no face", when a dark camera frame shows no face (issue: a dark IR
    camera); a lit frame without a face still reads "no face"."""
    from types import SimpleNamespace

    from faceid_desktop.gui.analysis import analyse_for_verification

    pipeline = SimpleNamespace(detector=SimpleNamespace(detect=lambda image: []))
    black = np.zeros((48, 64, 3), np.uint8)
    dark, _ = analyse_for_verification(pipeline, Frame(black, 0.0, 0, "camera:0", dark=True))
    lit, _ = analyse_for_verification(pipeline, Frame(black + 128, 0.1, 1, "camera:0"))
    assert (dark.problem, lit.problem) == ("too dark", "no face")


def test_settings_that_cannot_be_used_or_saved_say_so_in_one_line(tmp_path):
    from faceid_desktop.gui.settings import AppSettings, SettingsError

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "gui.ini").mkdir()  # a directory where the file should be
    with pytest.raises(SettingsError, match="not a regular file"):
        AppSettings(tmp_path / "a" / "gui.ini")
    (tmp_path / "b").write_text("a file where the data directory should be")
    settings = AppSettings(tmp_path / "b" / "gui.ini")
    settings.camera = "0"
    with pytest.raises(SettingsError, match="could not be saved") as caught:
        settings.sync()
    assert "\n" not in str(caught.value)


def test_rates_below_what_an_estimate_can_say_are_shown_as_bounds():
    from faceid_desktop.gui.tuning_panel import rate_text

    assert rate_text(0.042) == "4.2%" and rate_text(0.0012) == "0.12%" and rate_text(3e-5) == "3.0e-05"
    assert rate_text(2.9e-9) == "< 1.0e-06" and rate_text(5.7e-8, 1e-4) == "< 0.01%"
