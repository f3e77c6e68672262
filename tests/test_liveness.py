"""Liveness: the blink rule on synthetic EAR series, the API, and the real media of ../shared/media.

The media tests run the check as the app does (our HOG detector, the 68-point model on its box), only up
to each attempt's timeout, so they take about a minute on 2 cores.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceid_desktop.landmarks68 import LANDMARKS_68_LICENCE, LandmarkError, eye_aspect_ratio, mean_ear, yaw_ratio
from faceid_desktop.liveness import (
    ANOTHER_FACE, ANOTHER_FACE_MARGIN, BLINK, PROMPTS, SECURE_NEEDS_BLINK, SLOW_CAMERA, TURN_LEFT, TURN_RIGHT, LiveUnlock, LivenessCheck,
    LivenessError, LivenessSettings,
)
from faceid_desktop.profile import DecisionSettings
from faceid_desktop.verification import Decision

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "liveness.py"


def _bench():
    spec = importlib.util.spec_from_file_location("_liveness_bench", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ synthetic faces (no model needed)


def _face(ear: float, yaw: float = 0.0, vertical: float = 1.0, dx: float = 0.0) -> np.ndarray:
    """(68, 2) landmarks of a frontal face with the given EAR, nose offset and vertical scale."""
    points = np.zeros((68, 2))
    points[:17, 0] = np.linspace(100, 300, 17)
    points[:17, 1] = 250
    for start, cx in ((36, 150.0), (42, 250.0)):
        half_h = ear * 40 / 2  # eye width 40 px: EAR = 2 * half_h / 40 ... averaged over two lid pairs
        points[start:start + 6] = [
            (cx - 20, 200), (cx - 7, 200 - half_h), (cx + 7, 200 - half_h),
            (cx + 20, 200), (cx + 7, 200 + half_h), (cx - 7, 200 + half_h),
        ]
    points[27:31] = [(200 + yaw * 200 * k / 3, 200 + 30 * k * vertical) for k in range(4)]
    points[31:36] = [(200 + yaw * 200, 290 * vertical)] * 5
    points[33] = (200 + yaw * 200, 200 + 100 * vertical)
    points[:, 0] += dx
    return points


def _feed(check: LivenessCheck, series, fps: float = 30.0):
    result = None
    for i, value in enumerate(series):
        points = value if isinstance(value, np.ndarray) or value is None else _face(value)
        result = check.update(i / fps, points)
    return result


def test_ear_formula():
    eye = np.array([(0, 0), (1, -1), (2, -1), (3, 0), (2, 1), (1, 1)], float)
    assert eye_aspect_ratio(eye) == pytest.approx(4 / 6)
    assert mean_ear(_face(0.3)) == pytest.approx(0.3)
    assert yaw_ratio(_face(0.3)) == pytest.approx(0.0)
    assert yaw_ratio(_face(0.3, yaw=0.1)) == pytest.approx(0.1)


def _blink_ear(t: float) -> float:
    """EAR of a blink starting at 0 s: closing over 80 ms, reopening over 200 ms (the lid's own speeds)."""
    closed = t / 0.08 if t < 0.08 else max(0.0, 1.0 - (t - 0.08) / 0.2)
    return 0.3 - 0.2 * max(0.0, closed)


@pytest.mark.parametrize("fps", [20, 24, 30, 60])
def test_a_blink_passes_at_any_frame_rate_that_shows_the_lid_reopen(fps):
    series = [0.3] * int(fps) + [_blink_ear(k / fps) for k in range(int(0.3 * fps) + 1)] + [0.3] * int(fps)
    result = _feed(LivenessCheck(), series, fps)
    assert result.live is True and len(result.blinks) == 1
    assert 0.05 <= result.blinks[0].duration <= 0.5


@pytest.mark.parametrize("fps", [10, 15, 18])
def test_a_camera_too_slow_to_see_a_lid_reopen_is_asked_for_head_turns(fps):
    """Below 19 frames/s a reopening lid shows one in-between frame, as three swapped stills do (open,
    half-closed, closed): no blink counts, and once the face matched convenience mode asks for the two turns;
    secure mode keeps its blink (turns alone are answered by a bent photo) and says why none is seen."""
    series = [0.3] * int(fps) + [_blink_ear(k / fps) for k in range(int(0.3 * fps) + 1)] + [0.3] * int(fps)
    check = LivenessCheck()
    result = _feed(check, series, fps)
    assert result.live is None and result.blinks == ()
    assert check.frame_rate == pytest.approx(fps) and check.too_slow_for_blinks
    assert result.reason == SLOW_CAMERA.format(rate=fps)
    for challenge in (None, (BLINK, TURN_LEFT)):
        check = LivenessCheck(challenge=challenge)
        check.start_challenge(0.0)
        prompts = set()
        for i, ear in enumerate(series + [0.3] * int(5 * fps)):  # the face holds still: no turn
            result = check.update(i / fps, _face(ear))
            prompts.add(result.prompt)
        assert result.live is False
        if challenge is None:
            assert set(check.challenge) == {TURN_LEFT, TURN_RIGHT}
            assert any(p.startswith(SLOW_CAMERA.format(rate=fps) + ": turn") for p in prompts), prompts
            assert "camera too slow for a blink: head turns asked" in result.reason
        else:
            assert check.challenge == challenge
            assert f"{SLOW_CAMERA.format(rate=fps)}: {SECURE_NEEDS_BLINK}" in prompts, prompts
            assert result.reason == f"no blink within 4 s (camera too slow for a blink: {SECURE_NEEDS_BLINK})"


def test_the_frame_rate_is_measured_over_the_last_second():
    check = LivenessCheck()
    assert check.frame_rate is None
    for i in range(30):  # 30 frames/s, then the machine gets busy: 12 frames/s
        check.update(i / 30, _face(0.3))
    assert check.frame_rate == pytest.approx(30) and not check.too_slow_for_blinks
    for i in range(1, 13):
        check.update(1.0 + i / 12, _face(0.3))
    assert check.frame_rate == pytest.approx(12) and check.too_slow_for_blinks


def test_noise_glitches_slow_closures_and_shallow_dips_are_not_blinks():
    rng = np.random.default_rng(0)
    noise = list(0.3 + rng.normal(0, 0.01, 300))
    glitch = [0.3] * 30 + [0.1] + [0.3] * 60  # one frame at 30 fps: 0.033 s
    closed = [0.3] * 30 + [0.1] * 30 + [0.3] * 60  # eyes closed for 1 s
    shallow = [0.3] * 30 + [0.2] * 5 + [0.3] * 60  # 67% of the open level
    for series in (noise, glitch, closed, shallow):
        assert _feed(LivenessCheck(LivenessSettings(timeout=100)), series).live is None


def test_a_single_frame_of_flicker_is_not_an_open_eye():
    """The EAR of a small blurred photo jumps for single frames (a NUAA photo, hand-held at 30 frames/s: 0.12
    with one frame at 0.18); a dip after such a frame is no blink. The same dip from an eye held open at 0.18
    (two frames or more) is one."""
    dip = [0.08, 0.10, 0.13, 0.15, 0.175] + [0.12] * 30

    def series(open_frames: int) -> list[float]:
        return [0.12] * 20 + [0.18] * open_frames + [0.12] * 5 + dip

    assert _feed(LivenessCheck(LivenessSettings(timeout=100)), series(1)).blinks == ()
    assert len(_feed(LivenessCheck(LivenessSettings(timeout=100)), series(2)).blinks) == 1


def _eye_picture(closure: float) -> np.ndarray:
    """A (40, 64) eye patch whose lids cover ``closure`` (0 open .. 1 closed) of two dark irises."""
    patch = np.full((40, 64), 170, np.uint8)
    for cx in (14, 50):
        cv2.circle(patch, (cx, 14), 6, 40, -1)
        lid = int(round(8 + 14 * closure))  # the upper lid comes down from row 8 to row 22
        patch[6:lid, cx - 10:cx + 11] = 190
    return patch


def _feed_with_eyes(check: LivenessCheck, series, fps: float = 30.0):
    result = None
    for i, (ear, patch) in enumerate(series):
        result = check.update(i / fps, _face(ear), eyes=patch)
    return result


def test_a_reopening_must_change_the_eyes_picture_from_frame_to_frame():
    # a lid reopening over 4 frames: each part-way frame looks different
    levels = [0.0] * 30 + [0.5, 1.0, 0.75, 0.5, 0.3, 0.1] + [0.0] * 30
    lid = [(0.3 - 0.2 * c, _eye_picture(c)) for c in levels]
    assert _feed_with_eyes(LivenessCheck(LivenessSettings(timeout=100)), lid).live is True
    # the same EAR curve (noisy landmarks on swapped stills), but the part-way frames all show the closed
    # still, or one half-closed still held for them all: not a lid
    held_closed = [(ear, _eye_picture(1.0 if 31 <= i <= 34 else 0.0)) for i, (ear, _) in enumerate(lid)]
    held_half = [(ear, _eye_picture(1.0 if i == 31 else 0.5 if 32 <= i <= 34 else 0.0)) for i, (ear, _) in enumerate(lid)]
    for series in (held_closed, held_half):
        assert _feed_with_eyes(LivenessCheck(LivenessSettings(timeout=100)), series).live is None
    # without the pixel rule both pass on their landmarks (what the rule adds)
    for series in (held_closed, held_half):
        assert _feed_with_eyes(LivenessCheck(LivenessSettings(timeout=100, eye_step=0.0)), series).live is True


def test_a_blink_must_be_deeper_than_the_landmarks_noise():
    from faceid_desktop.landmarks68 import rigid_jitter

    rng = np.random.default_rng(2)
    levels = [0.3] * 30 + [0.2, 0.1, 0.15, 0.2, 0.25, 0.28] + [0.3] * 30
    steady = [_face(ear) for ear in levels]
    shaky = []
    for face in steady:  # the brows and nose flicker by ~5 px: a hard-to-fit face, e.g. a small photo moving
        face = face.copy()
        face[17:36] += rng.normal(0, 5, (19, 2))
        shaky.append(face)
    assert rigid_jitter(steady[1], steady[0]) == pytest.approx(0.0, abs=1e-9)
    assert rigid_jitter(shaky[1], shaky[0]) > 0.03
    assert _feed(LivenessCheck(LivenessSettings(timeout=100)), steady).live is True
    assert _feed(LivenessCheck(LivenessSettings(timeout=100)), shaky).live is None
    assert _feed(LivenessCheck(LivenessSettings(timeout=100, min_blink_snr=0.0)), shaky).live is True


def test_a_reopening_that_falls_back_to_the_closed_level_is_not_a_lid():
    # a lid reopens one way: open, closing, closed, part-way, part-way, open
    lid = [0.3] * 30 + [0.2, 0.1, 0.1, 0.16, 0.2, 0.24, 0.3] + [0.3] * 30
    assert _feed(LivenessCheck(LivenessSettings(timeout=100)), lid).live is True
    # three swapped stills (open, half, closed): the closed still's noisy landmarks reach a part-way level
    # for a frame, fall back, then the half-closed still is shown twice: one real step, not a reopening
    swap = [0.3] * 30 + [0.2, 0.1, 0.1, 0.16, 0.1, 0.22, 0.22, 0.3] + [0.3] * 30
    assert _feed(LivenessCheck(LivenessSettings(timeout=100)), swap).live is None


def test_frames_whose_eyes_run_off_the_frame_are_left_out_of_the_blink_check():
    from faceid_desktop.landmarks68 import eyes_in_frame

    assert eyes_in_frame((480, 640), _face(0.3))
    assert eyes_in_frame((480, 640, 3), _face(0.3))
    # the face's top out of view: the eyes 8 px below the frame's top edge (a photo held too high)
    assert not eyes_in_frame((480, 640), _face(0.3) - (0, 192))
    assert not eyes_in_frame((480, 640), _face(0.3) + (450, 0))  # past the right edge
    series = [0.3] * 30 + [_blink_ear(k / 30) for k in range(10)] + [0.3] * 30
    for in_frame, live in ((True, True), (False, None)):
        check = LivenessCheck(LivenessSettings(timeout=100))
        for i, ear in enumerate(series):
            result = check.update(i / 30, _face(ear), in_frame=in_frame)
        assert result.live is live
    assert result.face_frames == len(series)  # the face is still seen and followed
    assert result.reason == "eyes at the edge of the picture: move into view"  # what the user reads
    assert check.update(3.0, _face(0.3)).reason == "waiting for a blink"  # back in view
    with pytest.raises(LandmarkError):
        eyes_in_frame((480, 640), np.zeros((5, 2)))


def test_eye_patch_follows_the_eye_corners():
    from faceid_desktop.landmarks68 import EYE_PATCH_SIZE, eye_patch

    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 255, (480, 640), np.uint8), (0, 0), 3)
    points = _face(0.3)
    patch = eye_patch(image, points)
    assert patch.shape == EYE_PATCH_SIZE and patch.dtype == np.uint8
    # the face moved by (37, 11) px: the same patch
    moved = np.roll(image, (11, 37), axis=(0, 1))
    assert np.abs(eye_patch(moved, points + (37, 11)).astype(int) - patch).mean() < 1.0
    with pytest.raises(LandmarkError):
        eye_patch(image.astype(np.float32), points)
    with pytest.raises(LandmarkError):
        eye_patch(image, points[:5])


def test_foreshortening_is_not_a_blink():
    # a photo tilted back for 0.2 s: eyes and nose shrink vertically together
    frames = [_face(0.3)] * 30 + [_face(0.12, vertical=0.4)] * 6 + [_face(0.3)] * 30
    assert _feed(LivenessCheck(LivenessSettings(timeout=100)), frames).live is None


def test_timeout_uses_timestamps_and_result_is_final():
    check = LivenessCheck(LivenessSettings(timeout=2.0))
    assert check.update(0.0, None).reason == "no face"
    assert check.update(1.0, _face(0.3)).live is None
    result = check.update(3.1, _face(0.3))
    assert result.live is False and result.reason == "no blink within 2 s" and result.elapsed == pytest.approx(2.1)
    assert check.update(3.2, _face(0.3)) is result
    with pytest.raises(LivenessError, match="backwards"):
        check.update(1.0, _face(0.3))


def test_another_face_drops_the_evidence():
    # the blink happens on a face far from the one tracked before: it still counts for the new face only
    # once that face has its own open-eye history, so a blink right after the swap does not pass
    series = [_face(0.3)] * 30 + [_face(0.3 if k not in (1, 2, 3) else 0.1, dx=300) for k in range(20)]
    assert _feed(LivenessCheck(LivenessSettings(timeout=100)), series).live is None


@pytest.mark.parametrize("challenge, yaw, live", [(TURN_LEFT, 0.2, True), (TURN_LEFT, -0.2, False),
                                                  (TURN_RIGHT, -0.2, True), (TURN_RIGHT, 0.05, None)])
def test_turn_challenge(challenge, yaw, live):
    frames = [_face(0.3)] * 20 + [_face(0.3, yaw=yaw * k / 5) for k in range(1, 5)] + [_face(0.3, yaw=yaw)] * 5
    check = LivenessCheck(LivenessSettings(timeout=100), challenge=challenge)
    check.start_challenge(0.5)
    result = _feed(check, frames)
    assert result.live is live and result.challenge == (challenge,)
    mirrored = LivenessCheck(LivenessSettings(timeout=100, mirrored=True), challenge=challenge)
    mirrored.start_challenge(0.5)
    assert _feed(mirrored, frames).live is (None if live is None else not live)


def test_no_prompt_before_the_challenge_starts():
    check = LivenessCheck(challenge=(TURN_LEFT, BLINK))
    result = _feed(check, [_face(0.3)] * 20 + [_face(0.3, yaw=0.2)] * 5)
    assert result.live is None and result.prompt == "" and not check.challenge_started
    check.start_challenge(1.0)
    assert check.update(1.0, _face(0.3)).prompt == PROMPTS[TURN_LEFT]


def test_bad_input():
    with pytest.raises(LivenessError, match="unknown challenge"):
        LivenessCheck(challenge="smile")
    with pytest.raises(LivenessError, match="unknown challenge"):
        LivenessCheck(challenge=(BLINK, BLINK))
    with pytest.raises(LivenessError, match="timeout"):
        LivenessSettings(timeout=0)
    with pytest.raises(LivenessError, match="min_blink"):
        LivenessSettings(min_blink=0.6)
    with pytest.raises(LivenessError, match="eye_step"):
        LivenessSettings(eye_step=1.0)
    with pytest.raises(LivenessError, match="min_blink_snr"):
        LivenessSettings(min_blink_snr=float("nan"))
    with pytest.raises(LandmarkError, match=r"\(68, 2\)"):
        LivenessCheck().update(0.0, np.zeros((5, 2)))
    assert "commercial" in LANDMARKS_68_LICENCE


def _decision(ok: bool) -> Decision:
    return Decision(ok, "match" if ok else "no match", 0.3 if ok else 0.8, 0.43, 1)


def test_unlock_needs_match_and_liveness():
    blink = [0.3] * 30 + [0.2, 0.1, 0.1, 0.15, 0.2, 0.25] + [0.3] * 20
    unlock = LiveUnlock(DecisionSettings(), LivenessCheck())
    states = [unlock.update(i / 30, _decision(True), landmarks=_face(e)) for i, e in enumerate(blink)]
    assert states[0].reason == "waiting for a match" and states[0].prompt == ""  # no prompt before the match
    assert states[2].state == "pending" and "waiting for a blink" in states[2].reason
    assert states[2].prompt == PROMPTS[BLINK]  # the owner matched: now asked to blink
    assert states[0].reported_liveness is None and states[2].reported_liveness is states[2].liveness
    done = next(s for s in states if s.done)
    assert done.state == "unlocked" and done.reason == "match and live" and 1.1 < done.elapsed < 1.6


def test_a_stranger_is_told_not_recognised_and_never_asked_to_blink():
    blink = [0.3] * 30 + [0.2, 0.1, 0.1, 0.15, 0.2, 0.25] + [0.3] * 200
    unlock = LiveUnlock(DecisionSettings(timeout=4.0), LivenessCheck(LivenessSettings(timeout=6.0)))
    states = [unlock.update(i / 30, _decision(False), landmarks=_face(e)) for i, e in enumerate(blink)]
    done = next(s for s in states if s.done)
    assert done.state == "rejected" and done.reason == "not recognised within 4 s" and 4.0 < done.elapsed < 4.1
    assert all(s.prompt == "" for s in states)
    # the blink was a stranger's (every frame of it compared and not matched): dropped; and `verify --live`,
    # `auth` and the app report liveness as not asked
    assert not done.liveness.blinks and all(s.reported_liveness is None for s in states)


def test_secure_mode_prompts_each_action_after_the_match():
    unlock = LiveUnlock(DecisionSettings(), LivenessCheck(challenge=(TURN_LEFT, BLINK)))
    frames = [_face(0.3)] * 20 + [_face(0.3, yaw=0.05 * k) for k in range(1, 5)] + [_face(0.3, yaw=0.2)] * 8 \
        + [_face(0.3)] * 10 + [_face(e) for e in (0.2, 0.1, 0.1, 0.15, 0.2, 0.25)] + [_face(0.3)] * 15
    states = [unlock.update(i / 30, _decision(True), landmarks=f) for i, f in enumerate(frames)]
    prompts = [s.prompt for s in states if not s.done]
    assert prompts[0] == "" and PROMPTS[TURN_LEFT] in prompts and PROMPTS[BLINK] in prompts
    assert prompts.index(PROMPTS[TURN_LEFT]) < prompts.index(PROMPTS[BLINK])
    done = next(s for s in states if s.done)
    assert done.state == "unlocked", done.reason


BLINK_EARS = [0.2, 0.1, 0.1, 0.15, 0.2, 0.25]


def test_a_strangers_blink_before_the_owners_photo_does_not_count():
    """Convenience mode, found by trying it: a stranger blinks in front of the camera, then holds up the
    owner's photo: the blink was not the owner's (its frames were compared and did not match)."""
    unlock = LiveUnlock(DecisionSettings(timeout=4.0), LivenessCheck(LivenessSettings(timeout=6.0)))
    stranger = [(0.3, False)] * 30 + [(e, False) for e in BLINK_EARS] + [(0.3, False)] * 20
    photo = [(0.3, True)] * 150
    states = [unlock.update(i / 30, _decision(ok), landmarks=_face(e)) for i, (e, ok) in enumerate(stranger + photo)]
    assert not any(s.state == "unlocked" for s in states)
    assert next(s for s in states if s.done).state == "rejected"


@pytest.mark.parametrize("every", [1, 10], ids=["every frame recognised", "recognition at 3 frames/s"])
def test_a_strangers_blink_between_pictures_of_the_owner_does_not_count(every):
    """Photo of the owner, the stranger's own blinking face, the photo again: the blink is not bound to the
    owner, however few frames recognition decides."""

    class Tracked(LivenessCheck):
        def track_frame(self, timestamp, image):
            return self.update(timestamp, image)

    unlock = LiveUnlock(DecisionSettings(timeout=4.0), Tracked(LivenessSettings(timeout=6.0)))
    frames = [(0.3, True)] * 30 + [(0.3, False)] * 12 + [(e, False) for e in BLINK_EARS] \
        + [(0.3, False)] * 12 + [(0.3, True)] * 150
    states = []
    for i, (ear, owner) in enumerate(frames):
        if i % every == 0:
            states.append(unlock.update(i / 30, _decision(owner), landmarks=_face(ear)))
        else:
            states.append(unlock.observe(i / 30, _face(ear)))
    assert not any(s is not None and s.state == "unlocked" for s in states)


def test_secure_mode_fails_when_another_face_answers_the_prompts():
    """Secure mode, found by trying it (``faceid auth`` unlocked): the owner's photo matches, a stranger
    does the prompted actions, the photo comes back for the final match."""
    unlock = LiveUnlock(DecisionSettings(), LivenessCheck(challenge=(TURN_LEFT, BLINK)))
    owner = [(_face(0.3), True)] * 20
    stranger = [(_face(0.3, yaw=0.05 * k), False) for k in range(1, 5)] + [(_face(0.3, yaw=0.2), False)] * 8 \
        + [(_face(0.3), False)] * 10 + [(_face(e), False) for e in BLINK_EARS] + [(_face(0.3), False)] * 5
    frames = owner + stranger + owner * 3
    states = [unlock.update(i / 30, _decision(ok), landmarks=f) for i, (f, ok) in enumerate(frames)]
    done = next(s for s in states if s.done)
    assert done.state == "rejected" and done.reason == ANOTHER_FACE


COVERED_FACE = Decision(False, "covered below the eyes", None, 0.43, 1)


def test_a_face_that_cannot_be_compared_binds_no_liveness():
    """The same attacks with the attacker's lower face covered, so that recognition never compares it (no
    distance, so no 'another face' by distance): its blink does not count, its prompts fail the challenge."""
    unlock = LiveUnlock(DecisionSettings(timeout=4.0), LivenessCheck(LivenessSettings(timeout=6.0)))
    frames = [(0.3, True)] * 30 + [(0.3, None)] * 12 + [(e, None) for e in BLINK_EARS] \
        + [(0.3, None)] * 12 + [(0.3, True)] * 150
    states = [unlock.update(i / 30, COVERED_FACE if ok is None else _decision(ok), landmarks=_face(e))
              for i, (e, ok) in enumerate(frames)]
    assert not any(s.state == "unlocked" for s in states)
    secure = LiveUnlock(DecisionSettings(), LivenessCheck(challenge=(TURN_LEFT, BLINK)))
    owner = [(_face(0.3), True)] * 20
    masked = [(_face(0.3, yaw=0.05 * k), None) for k in range(1, 5)] + [(_face(0.3, yaw=0.2), None)] * 8 \
        + [(_face(0.3), None)] * 10 + [(_face(e), None) for e in BLINK_EARS] + [(_face(0.3), None)] * 5
    states = [secure.update(i / 30, COVERED_FACE if ok is None else _decision(ok), landmarks=f)
              for i, (f, ok) in enumerate(owner + masked + owner * 3)]
    done = next(s for s in states if s.done)
    assert done.state == "rejected" and done.reason == ANOTHER_FACE


def test_an_owners_frame_just_over_the_threshold_does_not_fail_the_challenge():
    """A head turned for a prompt can push one of the owner's frames a little over the threshold: that is
    not another person (ANOTHER_FACE_MARGIN); the challenge goes on."""
    unlock = LiveUnlock(DecisionSettings(), LivenessCheck(challenge=(TURN_LEFT, BLINK)))
    frames = [_face(0.3)] * 20 + [_face(0.3, yaw=0.05 * k) for k in range(1, 5)] + [_face(0.3, yaw=0.2)] * 8 \
        + [_face(0.3)] * 10 + [_face(e) for e in BLINK_EARS] + [_face(0.3)] * 15
    borderline = Decision(False, "no match", 0.43 + ANOTHER_FACE_MARGIN / 2, 0.43, 1)
    states = [unlock.update(i / 30, borderline if 22 <= i <= 24 else _decision(True), landmarks=f)
              for i, f in enumerate(frames)]
    assert next(s for s in states if s.done).state == "unlocked"


def test_frames_recognition_skipped_still_reach_the_eye_check():
    """The app decides only some frames when busy; LiveUnlock.observe feeds the others to liveness (here a
    stand-in for the tracked 68-point fit), so a blink between two decided frames is seen."""
    blink = [0.3] * 30 + [0.2, 0.1, 0.1, 0.15, 0.2, 0.25] + [0.3] * 20

    class Tracked(LivenessCheck):
        def track_frame(self, timestamp, image):
            return self.update(timestamp, image)  # the "image" is the landmarks here

    unlock = LiveUnlock(DecisionSettings(frames_to_accept=2, window=3), Tracked())
    state = None
    for i, ear in enumerate(blink):
        if i % 10 == 0:  # recognition at 3 frames/s
            state = unlock.update(i / 30, _decision(True), landmarks=_face(ear))
        else:
            state = unlock.observe(i / 30, _face(ear)) or state
        if state is not None and state.done:
            break
    assert state.state == "unlocked" and len(state.liveness.blinks) == 1


# ------------------------------------------------------------------ real media


@pytest.fixture(scope="module")
def media(shared: Path) -> Path:
    folder = shared / "media"
    if not (folder / "live").is_dir():
        pytest.skip(f"no media folder at {folder} (see ../shared/media/README.md)")
    return folder


@pytest.fixture(scope="module")
def tools():
    cv2.setNumThreads(2)
    from faceid_desktop.detection import FaceDetector
    from faceid_desktop.landmarks68 import Landmarks68

    return _bench(), FaceDetector(), Landmarks68()


def _trace(tools, frames, settings: LivenessSettings):
    bench, detector, landmarks = tools
    return bench.trace_frames(frames, detector, landmarks, until=settings.timeout + 0.5)[0]


def _attempt(tools, frames, settings: LivenessSettings, challenge: str | None = None):
    return tools[0].run(_trace(tools, frames, settings), settings, challenge=challenge)


BLINKING = ["liveportrait_d0.mp4", "liveportrait_d10.mp4", "liveportrait_d3.mp4", "liveportrait_d9.mp4",
            "selfie_blinks.mp4", "talking_head_aoc.mp4"]


@pytest.mark.parametrize("clip", BLINKING)
def test_blinking_people_pass_within_the_default_timeout(media, tools, clip):
    result = _attempt(tools, tools[0].video_frames(media / "live" / clip), LivenessSettings())
    assert result.live is True, result.reason
    assert result.elapsed <= LivenessSettings().timeout


@pytest.mark.parametrize("clip", ["liveportrait_d0.mp4", "liveportrait_d3.mp4"])
def test_blinking_people_pass_in_dim_light(media, tools, clip):
    """As a dim laptop webcam delivers them (frame mean 55 of 255, sensor noise) these clips showed no blink
    until the face was brightened before the 68 points were fitted (landmarks68.DIM_FACE)."""
    frames = tools[0].dim_frames(tools[0].video_frames(media / "live" / clip), seed=0)
    result = _attempt(tools, frames, LivenessSettings())
    assert result.live is True, result.reason


def test_a_dim_face_gets_the_landmarks_of_the_lit_one(media, tools):
    from faceid_desktop.landmarks68 import DIM_FACE

    _, detector, landmarks = tools
    bgr = tools[0].first_frame(media / "live" / "selfie_blinks.mp4")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    face = detector.detect(rgb)[0]
    box = landmarks.face_box(rgb, face.landmarks)
    lit = landmarks.fit(rgb, box)
    dim = (rgb.astype(np.float32) * 0.35).astype(np.uint8)  # face mean about 45
    left, top, right, bottom = box
    assert dim[top:bottom, left:right].mean() < DIM_FACE
    error = np.linalg.norm(landmarks.fit(dim, box) - lit, axis=1)
    assert np.median(error) <= 1.0 and error[36:48].max() <= 1.5  # pixels (dlib's are whole); face ~290 px


@pytest.mark.parametrize("still", ["print_and_screen/print_F1.jpg", "print_and_screen/screen_F2.jpg",
                                   "nuaa/print/0001_00_00_01_0.jpg", "live/selfie_blinks.mp4"])
def test_a_hand_held_photo_never_passes(media, tools, still):
    from faceid_desktop.images import read_bgr

    path = media / ("attack" if not still.startswith("live") else "") / still
    image = tools[0].first_frame(path) if path.suffix == ".mp4" else read_bgr(path)
    settings = LivenessSettings()
    # 20 frames/s (the slowest rate at which blinks are judged), tremor and 60-degree flicks in one stream,
    # to keep the test short; the benchmark runs every still at 30 frames/s, with and without flicks
    trace = _trace(tools, tools[0].handheld_frames(image, settings.timeout + 0.5, fps=20.0, seed=3, flick=True),
                   settings)
    assert sum(points is not None for _, points, *_ in trace) > len(trace) / 2  # the face is seen
    result = tools[0].run(trace, settings)
    assert result.live is not True and result.blinks == (), result.reason
    for challenge in ((TURN_LEFT, TURN_RIGHT), (TURN_RIGHT, BLINK), (BLINK, TURN_LEFT)):
        assert tools[0].run(trace, settings, challenge=challenge).live is not True  # a flat photo does not turn


def test_replayed_video(media, tools):
    path = media / "attack" / "replay_video" / "person1_replay.mp4"
    settings = LivenessSettings()
    trace = _trace(tools, tools[0].video_frames(path), settings)
    # A known limit: the replayed man blinks, and the blink check alone is no defence against a replay (with
    # the landmarks fitted in YuNet-derived boxes its shallow, blurred blink happens to go unseen in this one
    # sample; README). The recapture cue, off by default, rejects it for its blur.
    cue = tools[0].run(trace, LivenessSettings(min_sharpness=tools[0].RECAPTURE_SHARPNESS))
    assert cue.live is False


def test_a_photo_with_the_eyes_cut_out_is_stopped_by_the_secure_mode_only(media, tools):
    """A paper mask: the owner's photo moved with a live head, real lids blinking through two holes. The
    blink is real, so convenience mode passes it (a known limit, README); the head turns of secure mode
    are not done by a flat photo."""
    bench = tools[0]
    path = media / "live" / "talking_head_aoc.mp4"
    settings = LivenessSettings()
    clip = _trace(tools, bench.video_frames(path), settings)
    trace = _trace(tools, bench.cutout_frames(path, clip), settings)
    assert bench.run(trace, settings).live is True
    for challenge in ((TURN_LEFT, TURN_RIGHT), (TURN_RIGHT, BLINK, TURN_LEFT)):
        assert bench.run(trace, settings, challenge=challenge).live is not True


def test_a_photo_folded_back_below_the_eyes_is_stopped_by_the_secure_mode(media, tools):
    """The red team's fold (the eyes and all above them shrink as if closing): a flat photo never turns, so
    secure mode refuses it whatever convenience mode makes of it (6 of 26 passed there; README)."""
    from faceid_desktop.images import read_bgr

    bench, detector, landmarks = tools
    image = read_bgr(media / "attack" / "nuaa" / "real" / "0001_00_00_02_0.jpg")
    [(_, points, *_)] = bench.trace_frames([(0.0, image)], detector, landmarks)[0]
    trace = _trace(tools, bench.folded_frames(image, points, seed=15), LivenessSettings())
    for challenge in ((TURN_LEFT, TURN_RIGHT), (BLINK, TURN_RIGHT, TURN_LEFT)):
        assert bench.run(trace, LivenessSettings(), challenge=challenge).live is not True
    # an attacker answering prompts would fold it when asked to blink (and bend it for the turns): secure
    # mode's blink allows the face's vertical proportions to change by 6%, not 15%, and refuses this fold
    assert bench.run(trace, LivenessSettings()).live is True
    assert bench.run(trace, LivenessSettings(), challenge=(BLINK,)).live is not True


def test_a_photo_with_dark_lenses_bent_along_the_nose_is_refused_by_the_secure_mode(media, tools):
    """Dark lenses drawn on the owner's photo hide the eyes; bending the photo back along the nose, toward
    the side each prompt asks, answers head turns (the yaw ratio moves as in a real turn). Convenience mode
    asks for turns when the eyes are hidden and passes it (a known limit, README); secure mode keeps its
    blink and says it must see one (before: it too switched to turns and passed 7 of 10 such photos)."""
    bench, detector, landmarks = tools
    image = bench.first_frame(media / "live" / "talking_head_aoc.mp4")
    [(_, points, *_)] = bench.trace_frames([(0.0, image)], detector, landmarks)[0]
    sequence = (TURN_RIGHT, BLINK, TURN_LEFT)
    check = LivenessCheck(challenge=sequence, landmarks=landmarks)
    result = bench.photo_attacker_attempt(image, points, check, detector, landmarks, lenses=True, seconds=7.0)
    assert check.eyes_hidden and check.challenge == sequence
    assert result.live is False and result.reason.endswith(f"(eyes not visible: {SECURE_NEEDS_BLINK})"), result.reason


def test_blink_challenge_on_a_live_clip(media, tools):
    # a steady selfie: the one-step blink challenge passes; a talking head that turns while "asked" to blink
    # fails it (a recording cannot follow the prompts)
    result = _attempt(tools, tools[0].video_frames(media / "live" / "selfie_blinks.mp4"), LivenessSettings(),
                      challenge=BLINK)
    assert result.live is True and result.challenge_satisfied
    talking = _attempt(tools, tools[0].video_frames(media / "live" / "talking_head_aoc.mp4"), LivenessSettings(),
                       challenge=BLINK)
    assert talking.live is False and talking.reason.startswith("turned")


def test_the_68_points_are_fitted_in_hogs_own_box_of_the_yunet_face(shared):
    """dlib's predictor was trained on HOG boxes: Landmarks68.face_box finds HOG's box of the face YuNet found
    (as HOG on the whole photo would give it), and falls back on the box derived from YuNet's points when
    HOG sees nothing there."""
    import dlib

    from faceid_desktop.detection import FaceDetector
    from faceid_desktop.images import read_rgb
    from faceid_desktop.landmarks68 import Landmarks68, predictor_box

    image = read_rgb(shared / "faces" / "seed" / "NOT_ME" / "NOT_ME_1.jpg")
    face = FaceDetector().detect(image)[0]
    model = Landmarks68()
    box = model.face_box(image, face.landmarks)
    [hog] = dlib.get_frontal_face_detector()(image, 0)
    assert np.abs(np.array(box) - [hog.left(), hog.top(), hog.right(), hog.bottom()]).max() <= 0.1 * (hog.right() - hog.left())
    grey = np.full_like(image, 128)  # the same place without a face: the derived box
    assert model.face_box(grey, face.landmarks) == predictor_box(face.landmarks)
    assert model.fit_face(image, face.landmarks).shape == (68, 2)


def test_hidden_eyes_are_asked_for_head_turns(media, tools):
    """Dark lenses drawn over the eyes of a live clip: the check says the eyes cannot be seen and asks for the
    two head turns instead of a blink that could never be seen."""
    from faceid_desktop.liveness import EYES_HIDDEN
    from faceid_desktop.verification import primary_face

    bench, detector, landmarks = tools
    unlock = LiveUnlock(DecisionSettings(), LivenessCheck(landmarks=landmarks))
    state = None
    for t, bgr in bench.video_frames(media / "live" / "talking_head_aoc.mp4"):
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        face = primary_face(detector.detect(rgb), rgb.shape)
        points = landmarks.fit_face(rgb, face.landmarks)
        for eye in (points[36:42], points[42:48]):  # dark lenses
            centre, width = eye.mean(axis=0), np.ptp(eye[:, 0])
            cv2.ellipse(rgb, (int(centre[0]), int(centre[1])), (int(width * 0.9), int(width * 0.6)), 0, 0, 360,
                        (15, 15, 15), -1)
        state = unlock.update(t, _decision(True), image=rgb, face=face)
        if state.prompt.startswith(EYES_HIDDEN) or state.done or t > 2.0:
            break
    assert unlock.liveness.eyes_hidden and state.prompt.startswith(EYES_HIDDEN)
    assert set(unlock.liveness.challenge) == {TURN_LEFT, TURN_RIGHT}
