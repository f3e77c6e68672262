"""The secure mode's challenge (pure: yaw ratios and blink times in, a decision out)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from faceid_desktop.challenge import (
    ACTIONS, BLINK, FAILED, PASSED, PENDING, PROMPTS, TURN_LEFT, TURN_RIGHT, ChallengeError, ChallengeRun,
    ChallengeSettings, random_sequence,
)


def _run(run: ChallengeRun, frames, start: float = 0.5, fps: float = 30.0):
    """Feed (yaw ratio, blink start or None) per frame; the challenge starts at ``start`` seconds."""
    status = None
    for i, (yaw, blink) in enumerate(frames):
        t = i / fps
        if t >= start:
            run.start(start)
        status = run.update(t, yaw, blink)
        if status.state != PENDING:
            break
    return status


def _still(n, yaw=0.0, blink=None):
    return [(yaw, blink)] * n


def _turn(yaw, hold=10):
    """A head turning to ``yaw`` over 5 frames (through the poses in between), then held."""
    return [(yaw * k / 5, None) for k in range(1, 5)] + _still(hold, yaw=yaw)


def test_a_sequence_done_in_order_passes():
    run = ChallengeRun((TURN_LEFT, TURN_RIGHT))
    frames = _still(30) + _turn(0.2) + _still(10) + _turn(-0.2)
    status = _run(run, frames)
    assert status.state == PASSED and status.reason == "did: turn left, turn right"


def test_a_jump_to_a_turned_pose_is_no_turn():
    """Two photos swapped (frontal, then turned): the pose jumps without the poses in between."""
    frames = _still(30) + _still(40, yaw=0.2) + _still(100)
    status = _run(ChallengeRun((TURN_LEFT,), ChallengeSettings(window=2.0)), frames)
    assert status.state == FAILED and status.reason == "no turn left within 2 s"


def test_prompts_follow_the_steps():
    run = ChallengeRun((BLINK, TURN_RIGHT))
    assert run.update(0.0, 0.0, None).prompt == ""  # not started: no prompt (the face has not matched)
    for i in range(1, 20):
        run.update(i / 30, 0.0, None)
    run.start(0.7)
    assert run.update(0.7, 0.0, None).prompt == PROMPTS[BLINK]
    assert run.update(0.8, 0.0, 0.1).prompt == PROMPTS[BLINK]  # a blink from before the prompt: no answer
    status = run.update(1.2, 0.0, 1.0)
    assert status.step == 1 and status.prompt == PROMPTS[TURN_RIGHT]
    for k, (yaw, _) in enumerate(_turn(-0.2, hold=5)):  # the yaw is a median of 5 frames
        status = run.update(1.3 + k / 30, yaw, 1.0)
    assert status.state == PASSED


def test_an_action_not_asked_fails():
    status = _run(ChallengeRun((TURN_LEFT, BLINK)), _still(30) + _still(5, yaw=-0.2))
    assert status.state == FAILED and status.reason == "turned right (asked: turn left)"


def test_a_one_frame_flicker_is_no_turn():
    frames = _still(30) + _still(1, yaw=0.3) + _still(1) + _still(1, yaw=-0.3) + _still(200)
    status = _run(ChallengeRun((TURN_LEFT,), ChallengeSettings(window=2.0)), frames)
    assert status.state == FAILED and status.reason == "no turn left within 2 s"


def test_blinks_never_fail_and_the_window_is_wall_time():
    settings = ChallengeSettings(window=2.0)
    status = _run(ChallengeRun((TURN_LEFT, BLINK), settings), _still(30) + _still(100, blink=2.0))
    assert status.state == FAILED and status.reason == "no turn left within 2 s"


def test_a_pose_held_since_before_the_prompt_is_no_answer():
    # turned left all along: the reference is the turned pose, and a head held that way never answers
    status = _run(ChallengeRun((TURN_LEFT, BLINK)), _still(200, yaw=0.3))
    assert status.state == FAILED and "no turn left" in status.reason
    # turned before the prompt (after the reference): not an answer until the head came back and turned again
    run = ChallengeRun((TURN_LEFT, BLINK))
    frames = _still(20) + _turn(0.3, hold=26)
    assert _run(run, frames, start=0.8).state == PENDING
    assert _run(run, _still(5) + _turn(0.3, hold=5), start=0.0).step == 1


def test_mirrored_frames_swap_left_and_right():
    frames = _still(30) + _turn(0.2)
    assert _run(ChallengeRun((TURN_RIGHT,), ChallengeSettings(mirrored=True)), frames).state == PASSED
    assert _run(ChallengeRun((TURN_LEFT,), ChallengeSettings(mirrored=True)), frames).state == FAILED


def test_random_sequences():
    assert random_sequence(2, 7) == random_sequence(2, random.Random(7))
    seen = {random_sequence(2, seed) for seed in range(200)}
    # every ordered pair of the blink and a turn: head turns never come alone (a bent photo answers them)
    assert seen == {(BLINK, TURN_LEFT), (TURN_LEFT, BLINK), (BLINK, TURN_RIGHT), (TURN_RIGHT, BLINK)}
    assert {random_sequence(2, np.random.default_rng(seed)) for seed in range(50)} == seen
    assert {random_sequence(1, seed) for seed in range(20)} == {(BLINK,)}
    assert set(random_sequence(3, np.random.default_rng(1))) == set(ACTIONS)
    assert len(random_sequence()) == 2 and BLINK in random_sequence()
    for bad in (0, 4, True):
        with pytest.raises(ChallengeError, match="steps"):
            random_sequence(bad)
    with pytest.raises(ChallengeError, match="rng"):
        random_sequence(2, "seed")
    for bad in ((), ("smile",), (BLINK, BLINK)):
        with pytest.raises(ChallengeError, match="different actions"):
            ChallengeRun(bad)
    with pytest.raises(ChallengeError, match="window"):
        ChallengeSettings(window=0)
