"""A live attempt (face match and liveness on a stream of frames), shared by ``verify --live`` and ``auth``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from ..formats import IMAGE_SUFFIXES
from .common import InputError, plural

def dark_reason(decision, frame):
    """The frame's decision, with "too dark" as the reason when no face was found in an unlit frame: the
    darkness of the whole frame explains a missing face, and nothing else (an IR camera's lit face on a
    black background is found and judged on its own light)."""
    import dataclasses

    from ..verification import NO_FACE, TOO_DARK

    if frame.dark and decision.reason == NO_FACE:
        return dataclasses.replace(decision, reason=TOO_DARK)
    return decision


#: Seconds a stream may run past its timeout on the wall clock before it is cut (the decision rule, on the
#: stream's own clock, normally ends it first).
WALL_MARGIN = 0.5


#: The liveness modes of ``--mode``: a blink (convenience) or a random sequence of actions (secure).
MODES = ("convenience", "secure")
MODE_HELP = ("convenience: one blink (stops most photos and swapped stills, not all); secure: blink, turn left and turn right asked "
             "one after the other in a random order on stderr, e.g. 'Turn your head to your left' then 'Blink' (also stops replayed "
             "videos)")


def make_attempt(verifier, timeout: float | None, challenge: tuple[str, ...] | None, landmarks=None):
    """The core's :class:`~faceid_desktop.liveness.LiveUnlock` for the profile of ``verifier``: ``timeout``
    (seconds) replaces the profile's face timeout and the blink timeout when given. ``landmarks`` defaults
    to the pipeline's own 68-point model (one copy: about 70 MB and 2 s to load)."""
    import dataclasses

    from ..liveness import LiveUnlock, LivenessCheck, LivenessSettings

    settings = verifier.profile.settings
    liveness = LivenessSettings() if timeout is None else LivenessSettings(timeout=timeout)
    if timeout is not None:
        settings = dataclasses.replace(settings, timeout=timeout)
    if landmarks is None:
        landmarks = getattr(verifier.pipeline, "landmarks", None)
    return LiveUnlock(settings, LivenessCheck(liveness, challenge, landmarks))


def live_attempt(verifier, source, source_name: str, timeout: float | None = None,
                 challenge: tuple[str, ...] | None = None, landmarks=None, on_prompt=None) -> dict:
    """One unlock attempt with liveness on an open frame source (video, image folder or camera): the face
    must match (the profile's M-of-N rule) and liveness must pass (a blink, or the ``challenge``'s actions),
    within the attempt's time (see :func:`make_attempt`), on the stream's clock (a camera's is the wall
    clock); the source's own ``wall_timeout`` may end it earlier. ``on_prompt(text)`` is called each time
    the prompt changes to a new one (after the face matched). On a camera, recognition takes the newest frame
    and liveness also sees the frames it skipped (:func:`~faceid_desktop.newest_frame.live_frames`)."""
    import cv2

    from ..newest_frame import live_frames
    from ..verification import NO_FACE, Decision, find_probe

    attempt = make_attempt(verifier, timeout, challenge, landmarks)
    settings = verifier.profile.settings
    started = time.perf_counter()
    state = None
    prompt = ""
    with source, live_frames(source) as frames:
        for frame, skipped in frames:
            for older in skipped:
                attempt.observe(older.timestamp, cv2.cvtColor(older.image, cv2.COLOR_BGR2RGB))
            rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
            probe, reason, faces = find_probe(verifier.pipeline, rgb)
            decision = (verifier.scorer.decide(probe.vector, faces) if probe is not None
                        else dark_reason(Decision(False, reason or NO_FACE, None, settings.threshold, faces), frame))
            state = attempt.update(frame.timestamp, decision, image=rgb, face=None if probe is None else probe.face)
            if state.prompt and state.prompt != prompt and on_prompt is not None:
                on_prompt(state.prompt)
            prompt = state.prompt
            if state.done:
                break
    wall = time.perf_counter() - started
    dark = source.dark_frames
    if state is None:
        return {"input": source_name, "kind": "live", "accepted": False, "state": "ended", "elapsed": 0.0,
                "wall_seconds": round(wall, 3), "distance": None, "threshold": settings.threshold,
                "reason": "timed out: no frame" if source.timed_out else "no frames", "liveness": None,
                "challenge": list(challenge) if challenge else None, "dark_frames": dark}
    if state.done:
        reason = state.reason
    elif source.timed_out:
        reason = f"timed out after {attempt.timeout:g} s of wall-clock time: {state.reason}"
    else:
        reason = f"the frames ended before a decision: {state.reason}"
    if state.state != "unlocked" and dark and state.match.last.distance is None:
        reason += f"; {plural(dark, 'frame')} of {state.match.frames} too dark"
    return {"input": source_name, "kind": "live", "accepted": state.state == "unlocked",
            "state": state.state if state.done else "ended", "elapsed": round(state.elapsed, 3),
            "frames": state.match.frames, "matches": state.match.matches, "wall_seconds": round(wall, 3),
            "distance": state.match.last.distance, "threshold": settings.threshold, "reason": reason,
            "liveness": live.state if (live := state.reported_liveness) else "not asked",
            "blinks": len(live.blinks) if live else 0,
            "challenge": list(challenge) if challenge else None, "dark_frames": dark}


def pick_challenge(mode: str) -> tuple[str, ...] | None:
    """The actions to ask in ``secure`` mode (random, from the operating system's randomness: an attacker
    cannot prepare a recording for them), None in ``convenience`` mode."""
    from ..challenge import ChallengeSettings, random_sequence

    return random_sequence(ChallengeSettings().steps) if mode == "secure" else None


def say_prompt(text: str) -> None:
    """A prompt on stderr, which pam_exec shows to the user."""
    print(f"{text} ...", file=sys.stderr, flush=True)


def live_sources(inputs: Sequence[str]) -> list[Path | int]:
    """Inputs of a live check: videos, cameras (index or device node) and image folders (a folder is one
    stream of frames), checked by :func:`~faceid_desktop.camera.check_source`.

    Raises:
        InputError: a single photo (it cannot show liveness).
        SourceError: an empty name, a camera index out of range, or a path that does not exist or cannot be
            read as frames.
    """
    from ..camera import check_source

    items: list[Path | int] = []
    for raw in inputs:
        path = Path(raw)
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            raise InputError(f"{raw}: a single photo cannot show liveness; give a video, a folder of frames "
                             "or a camera")
        items.append(check_source(raw)[1])
    return items


def print_live(args: argparse.Namespace, result: dict, accepted: str = "UNLOCKED") -> None:
    """Print a live attempt's result in one line (nothing with ``--json``: the caller prints the JSON);
    ``accepted`` is the verdict word when it passed (``verify --live`` unlocks nothing)."""
    if args.json:
        return
    verdict = accepted if result["accepted"] else "REJECTED"
    distance = "-" if result["distance"] is None else f"{result['distance']:.3f}"
    print(f"{result['input']}: {verdict} ({result['reason']}); liveness {result['liveness']}, "
          f"{plural(result.get('blinks', 0), 'blink')}; distance {distance}, threshold {result['threshold']:.3f}; "
          f"{result['elapsed']:.2f} s")


def attempt_limit(verifier, timeout: float | None, challenge: tuple[str, ...] | None = None) -> float:
    """Seconds a live attempt may take: what :class:`~faceid_desktop.liveness.LiveUnlock` allows (convenience:
    the longer of the face and blink timeouts; secure: the face timeout plus each action's window)."""
    return make_attempt(verifier, timeout, challenge).timeout


def open_live(item: Path | int, limit: float, dark_threshold: float):
    """Open the source of a live attempt of ``limit`` seconds; a camera's iteration ends on the wall clock
    shortly after the limit, whatever its frames are (dark, faceless, late). A video or folder is timed by
    its playback clock (a folder at :data:`~faceid_desktop.camera.LIVE_FOLDER_FPS`), so that a recorded clip
    decides the same on a fast or a slow machine."""
    from ..camera import LIVE_FOLDER_FPS, is_camera, open_source

    wall = limit + WALL_MARGIN if is_camera(item) else None
    return open_source(item, fps=LIVE_FOLDER_FPS, dark_threshold=dark_threshold, wall_timeout=wall)

