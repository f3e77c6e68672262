"""The desktop app's pure helpers (no Qt): automatic capture, the unlock state machine, the frame slot."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from faceid_desktop.camera import Frame
from faceid_desktop.gui.analysis import FrameAnalysis
from faceid_desktop.gui.camera_worker import LatestFrame
from faceid_desktop.gui.capture import CaptureSession, guidance_for, pose_of, pose_quotas
from faceid_desktop.gui.unlock_logic import (FACE_FOUND, LOCKED_OUT, SEARCHING, UNLOCKED, VERIFYING,
                                             UnlockController)
from faceid_desktop.profile import DecisionSettings
from faceid_desktop.quality import Quality


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


def test_capture_covers_poses_then_relaxes():
    session = CaptureSession(target=4, min_interval=0.2, patience=1.0)  # quotas: 1 right, 2 front, 1 left
    assert session.offer(bad(0.0, "blurred: hold still")) == (False, "hold still")
    assert session.offer(good(0.1, seed=1))[0]
    assert session.offer(good(0.15, seed=2)) == (False, "hold still")  # too soon after the last capture
    assert session.offer(good(0.4, seed=3))[0]
    captured, guidance = session.offer(good(0.7, seed=4))  # front is full: ask for a turn
    assert not captured and guidance.startswith("turn slightly")
    assert session.offer(good(0.8, yaw=0.3, seed=5))[0]  # turned to the left
    assert not session.offer(good(1.0, seed=6))[0]
    assert session.offer(good(2.0, seed=7))[0]  # no right turn for `patience` seconds: any pose will do
    assert session.done and len(session.templates) == len(session.chips) == 4
    assert session.poses == ["front", "front", "left", "front"]
    assert session.rejected == {"blurred: hold still": 1}
    assert session.templates[0].source == "clip.mp4#t=0.10"
    session.reset()
    assert not session.done and not session.templates


def test_capture_rejects_bad_target():
    with pytest.raises(ValueError, match="target"):
        CaptureSession(target=1)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_unlock_needs_m_of_n_and_reports_the_time():
    settings = DecisionSettings(threshold=0.4, frames_to_accept=2, window=5, timeout=4.0)
    controller = UnlockController(settings, clock=Clock())
    assert controller.update(None, "no face", 0, 0.0).state == SEARCHING
    assert controller.update(None, "too small", 1, 0.1).state == FACE_FOUND
    assert controller.update(0.3, None, 1, 0.2).state == VERIFYING
    status = controller.update(0.35, None, 1, 0.3)
    assert status.state == UNLOCKED and status.elapsed == pytest.approx(0.2) and status.matches == 2
    assert controller.update(0.9, None, 1, 0.4).state == UNLOCKED  # stays unlocked until locked again
    controller.reset()
    assert controller.update(0.9, None, 1, 0.5).state == VERIFYING


def test_unlock_locks_out_after_failures_with_growing_backoff():
    clock = Clock()
    controller = UnlockController(DecisionSettings(threshold=0.4, timeout=1.0), max_attempts=2, backoff=10.0,
                                  clock=clock)
    t = 0.0

    def fail_once() -> str:
        nonlocal t
        before = (controller.failures, controller.lockouts)
        for _ in range(20):
            state = controller.update(0.9, None, 1, t).state
            t += 0.1
            if (controller.failures, controller.lockouts) != before:
                return state
        raise AssertionError("no attempt failed")

    assert fail_once() == FACE_FOUND and controller.failures == 1
    assert fail_once() == LOCKED_OUT
    assert controller.update(0.1, None, 1, t).state == LOCKED_OUT  # even the owner waits
    clock.now = 10.5
    assert fail_once() == LOCKED_OUT  # one more failure after a lock-out locks again, twice as long
    assert controller.update(0.1, None, 1, t).locked_for == pytest.approx(20.0)
    clock.now = 31.0
    controller.update(0.1, None, 1, t)
    assert controller.update(0.1, None, 1, t + 0.1).state == UNLOCKED
    assert controller.lockouts == 0 and controller.failures == 0


def test_unlock_without_a_compared_face_is_no_failure():
    controller = UnlockController(DecisionSettings(timeout=0.5), max_attempts=1, clock=Clock())
    for i in range(10):
        controller.update(None, "too dark", 1, i * 0.1)
    assert controller.failures == 0 and not controller.locked_out


def test_threshold_change_applies_to_the_next_frame():
    controller = UnlockController(DecisionSettings(threshold=0.4, frames_to_accept=1, window=1), clock=Clock())
    controller.set_settings(DecisionSettings(threshold=0.2, frames_to_accept=1, window=1))
    assert controller.update(0.3, None, 1, 0.0).state == VERIFYING
    controller.set_settings(DecisionSettings(threshold=0.35, frames_to_accept=1, window=1))
    assert controller.update(0.3, None, 1, 0.1).state == UNLOCKED


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
