"""The newest frame of a live source read on its own thread (faceid_desktop.newest_frame), and the live
attempt of `faceid auth` / `verify --live` on a camera slower to recognise than to read: liveness must see
the camera's every frame, not recognition's pace (a blink needs 19 frames/s)."""

from __future__ import annotations

import math
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from faceid_desktop.camera import Frame, SourceError
from faceid_desktop.cli import live
from faceid_desktop.newest_frame import NewestFrames, live_frames
from faceid_desktop.profile import DecisionSettings


class PacedCamera:
    """A 'camera' whose frame k is taken at k / ``fps`` seconds of the wall clock from the first read (its
    timestamp); a read returns the next frame not yet taken, waiting for it, and frames taken while nobody
    read are lost, as a camera without buffers does. After ``count`` frames it ends, or fails as an
    unplugged camera does when ``fail``."""

    kind, name = "camera", "camera:9"

    def __init__(self, count: int, fps: float = 30.0, fail: bool = False) -> None:
        self.count, self.fps, self.fail = count, fps, fail
        self.read = 0  # the next frame's number
        self.start: float | None = None
        self.dark_frames, self.timed_out, self.closed = 0, False, False
        self.reader: str | None = None

    def __iter__(self):
        return self

    def __next__(self) -> Frame:
        self.reader = threading.current_thread().name
        now = time.monotonic()
        if self.start is None:
            self.start = now
        k = max(self.read, math.ceil((now - self.start) * self.fps))
        if k >= self.count:
            if self.fail:
                raise SourceError("camera 9 stopped delivering frames (was it unplugged?)")
            raise StopIteration
        time.sleep(max(0.0, self.start + k / self.fps - time.monotonic()))
        self.read = k + 1
        return Frame(np.full((24, 32, 3), k % 256, np.uint8), k / self.fps, k, self.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.closed = True


def seen_indices(frames, work_seconds: float) -> tuple[list[int], int]:
    """Every frame index seen, skipped ones included, in order; and how many were the newest."""
    seen, newest = [], 0
    for frame, skipped in frames:
        seen += [f.index for f in skipped] + [frame.index]
        newest += 1
        time.sleep(work_seconds)
    return seen, newest


def test_slow_consumer_takes_the_newest_and_misses_no_frame():
    camera = PacedCamera(30)
    with NewestFrames(camera) as frames:
        seen, newest = seen_indices(frames, work_seconds=0.08)
    assert seen == list(range(30))
    assert newest < 20  # recognition took the newest frames only
    assert camera.reader == "faceid-camera"


def test_camera_failure_is_raised_after_its_frames():
    camera = PacedCamera(3, fail=True)
    seen = []
    with pytest.raises(SourceError, match="unplugged"):
        with NewestFrames(camera) as frames:
            for frame, skipped in frames:
                seen += [f.index for f in skipped] + [frame.index]
    assert seen == [0, 1, 2]


def test_leaving_early_stops_the_reading_thread():
    camera = PacedCamera(10_000)
    with NewestFrames(camera) as frames:
        for frame, _ in frames:
            if frame.index >= 2:
                break
    started = time.monotonic()
    while any(t.name == "faceid-camera" for t in threading.enumerate()) and time.monotonic() - started < 2:
        time.sleep(0.01)
    assert not any(t.name == "faceid-camera" for t in threading.enumerate())
    assert camera.read < 20


def test_recorded_clips_are_read_frame_by_frame_on_the_calling_thread():
    clip = PacedCamera(5, fps=1000.0)
    clip.kind = "video"
    with live_frames(clip) as frames:
        seen = [(frame.index, skipped) for frame, skipped in frames]
    assert seen == [(i, []) for i in range(5)]
    assert clip.reader == threading.current_thread().name


def test_live_attempt_on_a_slow_machine_shows_liveness_every_camera_frame(monkeypatch):
    """Recognition at ~12 frames/s on a 30 frames/s camera: every frame still reaches the liveness check
    (skipped ones through ``observe``), so its frame rate is the camera's and a blink can be judged."""

    class SlowDetector:
        def detect(self, image):
            time.sleep(0.08)
            return []

    verifier = SimpleNamespace(pipeline=SimpleNamespace(detector=SlowDetector()),
                               profile=SimpleNamespace(settings=DecisionSettings()), scorer=None)
    attempts = []
    make = live.make_attempt

    def spied(*args, **kwargs):
        attempt = make(*args, **kwargs)
        attempts.append(attempt)
        return attempt

    monkeypatch.setattr(live, "make_attempt", spied)
    camera = PacedCamera(45)
    result = live.live_attempt(verifier, camera, "camera:9", timeout=10.0)
    assert camera.closed and not result["accepted"]
    check = attempts[0].liveness
    assert check._frames == 45  # every camera frame
    assert check.frame_rate == pytest.approx(30.0, rel=0.1)
    assert result["frames"] < 30  # recognition decided only some
