"""Liveness (presentation attack detection) on recorded media: APCER and BPCER per source.

Reads a folder laid out like ``../shared/media`` (``live/*.mp4`` genuine clips; ``attack/replay_video/``,
``attack/print_and_screen/``, ``attack/nuaa/{real,print}/``). Each video is one attempt from its first
frame; each still image (printed photo, phone screen, NUAA print, and the first frame of every live clip
as "the owner's photo") is turned into a hand-held-photo stream: ``--still-seconds`` at 30 frames/s, moved
by a smooth random hand tremor (shift, scale, roll, tilt and turn of the photo, pixel noise), and once more
with "flicks" (the photo tilted back by 60 degrees for 0.2 s every 1.5 s, to fake a blink by
foreshortening). ISO/IEC 30107-3 terms: APCER = attacks accepted as live / attacks, BPCER = genuine
attempts refused / genuine attempts. Also: the time to pass of genuine clips, BPCER for attempts starting
every second of every live clip, the recapture-blur cue on and off, and frames/s of the check
(detection + 68 landmarks + sharpness + update) on ``--threads`` threads.

    python benchmarks/liveness.py [--media DIR] [--threads 2] [--still-seconds S]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from faceid_desktop.alignment import face_chip
from faceid_desktop.camera import open_source
from faceid_desktop.datasets import data_dir
from faceid_desktop.detection import FaceDetector
from faceid_desktop.images import read_bgr
from faceid_desktop.landmarks68 import Landmarks68
from faceid_desktop.liveness import LivenessCheck, LivenessSettings, chip_sharpness
from faceid_desktop.verification import primary_face

#: The recapture cue's threshold tried here (median chip sharpness of the attempt); see the module docstring
#: of faceid_desktop.liveness. quality.MIN_SHARPNESS (8) is plain blur; 20 is between the replay (11) and
#: the blurriest live clip (36).
RECAPTURE_SHARPNESS = 20.0

Trace = list[tuple[float, np.ndarray | None, tuple | None, float | None]]


def trace_frames(frames, detector: FaceDetector, landmarks: Landmarks68, until: float | None = None) -> tuple[Trace, float]:
    """Per frame (seconds, (68, 2) landmarks or None, box or None, chip sharpness or None) of an iterable of
    (seconds, BGR image), and the wall-clock seconds spent per frame on the check's own work."""
    trace: Trace = []
    spent = 0.0
    for t, bgr in frames:
        if until is not None and trace and t - trace[0][0] > until:
            break
        started = time.perf_counter()
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        faces = detector.detect(rgb)
        if faces:
            face = primary_face(faces, rgb.shape)
            trace.append((t, landmarks.fit_face(rgb, face.landmarks), face.box, chip_sharpness(face_chip(rgb, face.landmarks))))
        else:
            trace.append((t, None, None, None))
        spent += time.perf_counter() - started
    return trace, spent / max(len(trace), 1)


def run(trace: Trace, settings: LivenessSettings, start: float = 0.0, challenge: str | None = None):
    """Feed a trace from ``start`` seconds on; the final LivenessResult (pending when the trace ends first)."""
    check = LivenessCheck(settings, challenge)
    result = None
    for t, points, box, sharp in trace:
        if t < start:
            continue
        result = check.update(t - start, points, box, sharp)
        if result.live is not None:
            break
    return result


def video_frames(path: Path):
    """(seconds, BGR frame) of a video."""
    with open_source(path, dark_threshold=100.0) as source:
        for frame in source:
            yield frame.timestamp, frame.image


def handheld_frames(image: np.ndarray, seconds: float, fps: float = 30.0, seed: int = 0, flick: bool = False):
    """(seconds, BGR frame) of a still photo held in a hand in front of the camera.

    The photo plane is rotated (tilt, turn, roll: a few degrees of smooth tremor plus slow sways of up to
    15 and 10 degrees), scaled (+-3%) and shifted (random walk of ~2 px per frame, bounded), seen through a
    pinhole camera of focal length = image width, with Gaussian pixel noise (sigma 3). ``flick`` adds a
    60-degree tilt for 0.2 s every 1.5 s.
    """
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    focal = float(width)
    k = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    k_inv = np.linalg.inv(k)
    shift = np.zeros(2)
    phases = rng.uniform(0, 2 * np.pi, 4)
    for i in range(int(seconds * fps)):
        t = i / fps
        tilt = np.radians(15 * np.sin(2 * np.pi * 0.3 * t + phases[0]) + rng.normal(0, 0.5))
        if flick and (t % 1.5) < 0.2:
            tilt += np.radians(60)
        turn = np.radians(10 * np.sin(2 * np.pi * 0.2 * t + phases[1]) + rng.normal(0, 0.5))
        roll = np.radians(3 * np.sin(2 * np.pi * 0.5 * t + phases[2]))
        scale = 1 + 0.03 * np.sin(2 * np.pi * 0.25 * t + phases[3])
        shift = np.clip(shift + rng.normal(0, 2, 2), -20, 20)
        rx = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
        ry = np.array([[np.cos(turn), 0, np.sin(turn)], [0, 1, 0], [-np.sin(turn), 0, np.cos(turn)]])
        rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
        h = k @ rz @ ry @ rx @ k_inv
        h = np.array([[scale, 0, shift[0] + (1 - scale) * width / 2], [0, scale, shift[1] + (1 - scale) * height / 2], [0, 0, 1]]) @ h
        frame = cv2.warpPerspective(image, h / h[2, 2], (width, height), borderMode=cv2.BORDER_REPLICATE)
        noisy = frame.astype(np.float32) + rng.normal(0, 3, frame.shape).astype(np.float32)
        yield t, np.clip(noisy, 0, 255).astype(np.uint8)


def first_frame(path: Path) -> np.ndarray:
    """The first frame of a video, BGR."""
    with open_source(path, dark_threshold=100.0) as source:
        return next(iter(source)).image


def _row(name: str, kind: str, result, frames: int) -> str:
    if result is None:
        return f"  {name:<44} {kind:<15} {frames:>5}  no frame"
    state = {True: "LIVE", False: "refused", None: "pending"}[result.live]
    passed = f"{result.elapsed:5.2f} s" if result.live else "   -   "
    return f"  {name:<44} {kind:<15} {frames:>5}  {state:<8} {passed}  blinks {len(result.blinks)}  {result.reason}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, help="folder laid out like ../shared/media (default: that one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--still-seconds", type=float, default=None,
                        help="length of each hand-held still stream (default: the liveness timeout + 1 s)")
    args = parser.parse_args(argv)
    media = args.media
    if media is None:
        shared = data_dir()
        if shared is None:
            print("liveness: shared data folder not found (set FACEID_DATA or pass --media)", file=sys.stderr)
            return 2
        media = shared / "media"
    if not (media / "live").is_dir():
        print(f"liveness: {media} has no live/ folder", file=sys.stderr)
        return 2
    import torch  # only to hold the thread count the app runs with

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    default = LivenessSettings()
    settings = {
        f"blink, {default.timeout:g} s (default)": default,
        "blink, 4 s (unlock timeout)": dataclasses.replace(default, timeout=4.0),
        f"blink + recapture cue, {default.timeout:g} s": dataclasses.replace(default, min_sharpness=RECAPTURE_SHARPNESS),
    }
    still_seconds = args.still_seconds or default.timeout + 1.0
    detector, landmarks = FaceDetector(), Landmarks68()

    sources = []  # (name, kind, genuine, trace)
    per_frame = []
    for path in sorted((media / "live").glob("*.mp4")):
        trace, cost = trace_frames(video_frames(path), detector, landmarks)
        per_frame.append(cost)
        sources.append((path.name, "live clip", True, trace))
    for path in sorted((media / "attack" / "replay_video").glob("*.mp4")):
        trace, cost = trace_frames(video_frames(path), detector, landmarks)
        per_frame.append(cost)
        genuine = "replay" not in path.stem
        sources.append((path.name, "live clip" if genuine else "replay video", genuine, trace))
    stills = []
    for path in sorted((media / "attack" / "print_and_screen").glob("*.jpg")):
        kind = "printed photo" if path.stem.startswith("print") else "screen photo" if path.stem.startswith("screen") else "repeated still"
        stills.append((path.name, kind, read_bgr(path)))
    for sub, kind in (("print", "printed photo"), ("real", "repeated still")):
        for path in sorted((media / "attack" / "nuaa" / sub).glob("*.jpg")):
            stills.append((f"nuaa/{sub}/{path.name}", kind, read_bgr(path)))
    for path in sorted((media / "live").glob("*.mp4")):
        stills.append((f"{path.stem} frame 0", "repeated still", first_frame(path)))
    for i, (name, kind, image) in enumerate(stills):
        for flick in (False, True):
            frames = handheld_frames(image, still_seconds, seed=i, flick=flick)
            trace, cost = trace_frames(frames, detector, landmarks)
            per_frame.append(cost)
            sources.append((f"{name}{' (flicks)' if flick else ''}", kind, False, trace))

    for label, setting in settings.items():
        print(f"\n== {label}")
        print(f"  {'source':<44} {'kind':<15} {'frames':>5}  result   passed at")
        outcome: dict[str, list[bool]] = {}
        for name, kind, genuine, trace in sources:
            result = run(trace, setting)
            print(_row(name, kind, result, len(trace)))
            live = bool(result is not None and result.live)
            blinking = genuine and not any(s in name for s in ("d20", "person1"))
            group = ("genuine, blinking" if blinking else "genuine, not blinking") if genuine else kind
            outcome.setdefault(group, []).append(live)
        print("  summary:")
        for group, lives in outcome.items():
            if group.startswith("genuine"):
                refused = lives.count(False)
                print(f"    BPCER {group:<24} {100 * refused / len(lives):5.1f}%  ({refused}/{len(lives)} refused)")
            else:
                accepted = lives.count(True)
                print(f"    APCER {group:<24} {100 * accepted / len(lives):5.1f}%  ({accepted}/{len(lives)} accepted)")

    print("\n== genuine clips: when the blinks come (every blink found over the whole clip, default rule)")
    for name, kind, genuine, trace in sources:
        if not genuine:
            continue
        result = run(trace, dataclasses.replace(default, timeout=1e6, required_blinks=10))
        ends = [f"{b.end:.2f}" for b in result.blinks] if result else []
        print(f"  {name:<24} length {trace[-1][0]:5.1f} s  blinks ended at: {' '.join(ends) or 'none'}")

    print("\n== attempts starting every 1 s of the blinking live clips (each needs its whole timeout in the clip)")
    blinking = [(n, tr) for n, k, g, tr in sources if g and not any(s in n for s in ("d20", "person1"))]
    for timeout in (2.0, 4.0, 6.0, 8.0, 10.0, 12.0):
        setting = dataclasses.replace(default, timeout=timeout)
        refused = total = 0
        waits = []
        for _, trace in blinking:
            length = trace[-1][0]
            start = 0.0
            while start + timeout <= length or start == 0.0:
                result = run(trace, setting, start)
                live = bool(result and result.live)
                if live or start + timeout <= length:
                    total += 1
                    refused += not live
                    if live:
                        waits.append(result.elapsed)
                start += 1.0
        median = f"{statistics.median(waits):.2f} s" if waits else "-"
        print(f"  timeout {timeout:4.1f} s: BPCER {100 * refused / max(total, 1):5.1f}% ({refused}/{total}), median time to pass {median}")

    print(f"\n== speed: {1.0 / statistics.median(per_frame):.0f} frames/s per source (median; detection + 68 landmarks "
          f"+ chip sharpness + rule) on {args.threads} threads; indicative on a shared machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
