"""The live pipeline on recorded clips: frames per second, time to unlock, and the multi-frame rule.

Each clip's person is enrolled from the clip's first seconds (as the enrollment wizard would from the
camera), then the rest of the clip is verified frame by frame as a camera stream. Every other clip is an
impostor stream for that profile. For several M-of-N rules the script prints the share of genuine
streams unlocked within the timeout, the median time from the first frame with a face to "unlocked", and
the impostor attempts (one per timeout span of every other clip) that were falsely unlocked. Frames per
second are measured on the live path (detect, align, embed, decide), with the app's threads (faceid_desktop.threads) or ``--threads``.

Splices (a red-team attack): the owner's photo held up by hand, another clip's person blinking in its place,
then the photo again, in convenience mode, the stranger's face bare or masked below the eyes (then it cannot
be compared). Every enrolled owner against every other clip with a blink: the share unlocked is the APCER of
the attack; liveness must be bound to the face that matched.

``--dim`` plays every clip as a dim laptop webcam would deliver it: each frame scaled to a mean grey level of
55 (of 255) with sensor noise (sigma 3), as a real dim 640x480 webcam clip measured 51-62.

A clip whose person cannot be enrolled is reported with the reasons and still serves as an impostor.

    python benchmarks/live.py [--videos DIR] [--threads N] [--dim]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from faceid_desktop.threads import configure_threads

from faceid_desktop.camera import VIDEO_SUFFIXES, Frame, open_source
from faceid_desktop.datasets import data_dir
from faceid_desktop.enrollment import EnrollmentResult, enroll_frames
from faceid_desktop.pipeline import default_pipeline
from faceid_desktop.profile import DecisionSettings
from faceid_desktop.landmarks68 import Landmarks68
from faceid_desktop.liveness import LiveUnlock, LivenessCheck, LivenessSettings
from faceid_desktop.verification import (NO_FACE, Decision, decide_distance, distance_to_profile, find_probe,
                                         primary_face)

ENROLL_SHARE, ENROLL_MAX_SECONDS = 0.4, 4.0
RULES = ((1, 1), (2, 3), (2, 5), (3, 5), (4, 8))


DIM_MEAN, DIM_NOISE = 55.0, 3.0


def dimmed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uint8 frame as a dim webcam delivers it: scaled to a mean grey level of :data:`DIM_MEAN` with
    Gaussian sensor noise of :data:`DIM_NOISE` (see the module docstring)."""
    scaled = image.astype(np.float32) * (DIM_MEAN / max(float(image.mean()), 1.0))
    return np.clip(scaled + rng.normal(0.0, DIM_NOISE, image.shape), 0, 255).astype(np.uint8)


def frames_of(path: Path, dim: bool):
    """The clip's frames as (timestamp, BGR image), made dim when ``dim`` (see the module docstring)."""
    rng = np.random.default_rng(0)
    with open_source(path) as source:
        for frame in source:
            yield frame.timestamp, dimmed(frame.image, rng) if dim else frame.image


def frame_scores(pipeline, path: Path, dim: bool) -> tuple[list[float], list[np.ndarray | None], float, float]:
    """(timestamps, probe vectors or None, seconds of wall time, video duration) for every frame."""
    stamps, vectors = [], []
    started = time.perf_counter()
    for timestamp, bgr in frames_of(path, dim):
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        probe, _, _ = find_probe(pipeline, image)
        stamps.append(timestamp)
        vectors.append(None if probe is None else probe.vector)
    return stamps, vectors, time.perf_counter() - started, stamps[-1] if stamps else 0.0


def live_attempt(pipeline, clip: Path, cut: float, templates: np.ndarray, settings: DecisionSettings,
                 landmarks: Landmarks68, dim: bool) -> tuple[float | None, str, int, float]:
    """One unlock attempt with liveness (passive blink check) on the clip after ``cut`` seconds, as the
    unlock screen runs it: (seconds from the attempt's first frame to unlocked or None, reason, frames,
    wall seconds)."""
    attempt = LiveUnlock(settings, LivenessCheck(landmarks=landmarks))
    frames, state, started = 0, None, time.perf_counter()
    for timestamp, bgr in frames_of(clip, dim):
        if timestamp < cut:
            continue
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        probe, reason, faces = find_probe(pipeline, image)
        decision = (decide_distance(float(distance_to_profile(probe.vector, templates)), settings, faces)
                    if probe is not None else Decision(False, reason or NO_FACE, None, settings.threshold, faces))
        state = attempt.update(timestamp, decision, image=image, face=None if probe is None else probe.face)
        frames += 1
        if state.done:
            break
    wall = time.perf_counter() - started
    if state is None:
        return None, "no frames", frames, wall
    return (state.elapsed if state.state == "unlocked" else None), state.reason, frames, wall


def first_blink(clip: Path, pipeline, landmarks: Landmarks68, dim: bool) -> tuple[float, float] | None:
    """(start, end) seconds of the first blink the convenience check finds in a clip on its own, or None."""
    check = LivenessCheck(dataclasses.replace(LivenessSettings(), timeout=1e6), landmarks=landmarks)
    for timestamp, bgr in frames_of(clip, dim):
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        faces = pipeline.detector.detect(image)
        result = check.update_frame(timestamp, image, primary_face(faces, image.shape) if faces else None)
        if result.blinks:
            return result.blinks[0].start, result.blinks[0].end
    return None


def masked(rgb: np.ndarray, face) -> np.ndarray:
    """The frame with the face covered from just above the nose tip down (a light blue mask)."""
    left, top, right, bottom = (int(v) for v in face.box)
    nose_y = int(face.landmarks[2][1])
    covered = rgb.copy()
    cv2.rectangle(covered, (left - 4, nose_y - (bottom - top) // 10), (right + 4, bottom + (bottom - top) // 8),
                  (140, 180, 200), -1)
    return covered


def splice_attempt(pipeline, owner_photo: np.ndarray, stranger: Path, blink: tuple[float, float], templates,
                   settings: DecisionSettings, landmarks: Landmarks68, dim: bool, mask: bool, seed: int) -> str:
    """One convenience-mode attempt on: the owner's photo held by hand for 1 s, the stranger from 1 s before
    their first blink to 0.3 s after it (masked below the eyes with ``mask``), then the photo for 2 s.
    Returns the final state's reason, prefixed ``UNLOCKED:`` when it unlocked."""
    from liveness import handheld_frames  # benchmarks/liveness.py: a photo held in a hand

    def photo(seconds: float, offset: float, part: int):
        for t, bgr in handheld_frames(owner_photo, seconds, seed=seed * 2 + part):
            yield offset + t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), False

    def stranger_frames(offset: float):
        for t, bgr in frames_of(stranger, dim):
            if blink[0] - 1.0 <= t <= blink[1] + 0.3:
                yield offset + t - (blink[0] - 1.0), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), mask

    length = blink[1] + 0.3 - (blink[0] - 1.0)
    stream = itertools.chain(photo(1.0, 0.0, 0), stranger_frames(1.0), photo(2.0, 1.0 + length + 1 / 30, 1))
    attempt = LiveUnlock(settings, LivenessCheck(landmarks=landmarks))
    state = None
    for timestamp, image, cover in stream:
        if cover:
            faces = pipeline.detector.detect(image)
            image = masked(image, primary_face(faces, image.shape)) if faces else image
        probe, reason, faces = find_probe(pipeline, image)
        decision = (decide_distance(float(distance_to_profile(probe.vector, templates)), settings, faces)
                    if probe is not None else Decision(False, reason or NO_FACE, None, settings.threshold, faces))
        state = attempt.update(timestamp, decision, image=image, face=None if probe is None else probe.face)
        if state.done:
            break
    if state is None:
        return "no frames"
    return f"UNLOCKED: {state.reason}" if state.state == "unlocked" else state.reason


def simulate(stamps, matches, m: int, n: int, timeout: float) -> list[float | None]:
    """Run the M-of-N rule over a stream, restarting after each accept or timeout.

    Returns one entry per attempt: seconds from the attempt's first frame with a face to the accept, or
    None when the attempt timed out.
    """
    attempts, window, start = [], [], None
    for t, match in zip(stamps, matches):
        if match is None and start is None:
            continue  # an attempt starts at the first frame with a face
        if start is None:
            start, window = t, []
        window = (window + [bool(match)])[-n:]
        if t - start > timeout:
            attempts.append(None)
            start = None
        elif sum(window) >= m:
            attempts.append(t - start)
            start = None
    return attempts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, help="folder of clips, one person each (default: shared media/live)")
    parser.add_argument("--threads", type=int, help="torch and OpenCV threads (default: the app's)")
    parser.add_argument("--dim", action="store_true", help="play every clip as a dim webcam (mean grey level 55)")
    args = parser.parse_args(argv)
    folder = args.videos
    if folder is None:
        shared = data_dir()
        if shared is None:
            print("live: shared data folder not found (set FACEID_DATA or pass --videos)", file=sys.stderr)
            return 2
        folder = shared / "media" / "live"
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if len(clips) < 2:
        print(f"live: {folder}: need at least two clips", file=sys.stderr)
        return 2
    configure_threads(args.threads)
    pipeline = default_pipeline()
    settings = DecisionSettings()

    data = {}
    frames_total = wall_total = 0.0
    for clip in clips:
        stamps, vectors, wall, duration = frame_scores(pipeline, clip, args.dim)
        frames_total += len(stamps)
        wall_total += wall
        cut = min(duration * ENROLL_SHARE, ENROLL_MAX_SECONDS)
        result = EnrollmentResult()
        frames = (Frame(image, t, i, str(clip)) for i, (t, image) in enumerate(frames_of(clip, args.dim)) if t < cut)
        enroll_frames(pipeline, frames, result)
        if not result.templates:
            dropped = ", ".join(f"{n} x {r}" for r, n in result.dropped.most_common()) or "no frames"
            print(f"  {clip.name}: cannot be enrolled from its first {cut:.1f} s ({dropped}); an impostor only")
            data[clip.name] = (stamps, vectors, cut, None)
            continue
        templates = np.stack([t.embedding for t in result.templates])
        data[clip.name] = (stamps, vectors, cut, templates)
        print(f"  {clip.name}: {len(stamps)} frames, {duration:.1f} s, enrolled {len(templates)} templates "
              f"from the first {cut:.1f} s, {len(stamps) / wall:.1f} frames/s", file=sys.stderr)

    def distances_for(templates, vectors):
        return [None if v is None else float(distance_to_profile(v, templates)) for v in vectors]

    genuine_frames, impostor_frames = [], []
    per_rule = {rule: {"genuine": [], "impostor": []} for rule in RULES}
    for name, (stamps, vectors, cut, templates) in data.items():
        if templates is None:
            continue
        rest = [(t, v) for t, v in zip(stamps, vectors) if t >= cut]
        d = distances_for(templates, [v for _, v in rest])
        genuine_frames += [x for x in d if x is not None]
        for rule in RULES:
            matches = [None if x is None else x <= settings.threshold for x in d]
            attempts = simulate([t for t, _ in rest], matches, *rule, settings.timeout)
            per_rule[rule]["genuine"].append(attempts[0] if attempts else None)
        for other, (o_stamps, o_vectors, _, _) in data.items():
            if other == name:
                continue
            d = distances_for(templates, o_vectors)
            impostor_frames += [x for x in d if x is not None]
            for rule in RULES:
                matches = [None if x is None else x <= settings.threshold for x in d]
                per_rule[rule]["impostor"] += simulate(o_stamps, matches, *rule, settings.timeout)

    g, i = np.array(genuine_frames), np.array(impostor_frames)
    print(f"Live pipeline on {len(clips)} clips in {folder}{' made dim' if args.dim else ''} "
          f"({torch.get_num_threads()} torch / {cv2.getNumThreads()} OpenCV threads, torch {torch.__version__})")
    print(f"frames per second (detect + align + embed + decide): {frames_total / wall_total:.1f} "
          f"({1000 * wall_total / frames_total:.1f} ms per frame)")
    print(f"threshold {settings.threshold}, timeout {settings.timeout} s")
    print(f"per frame: genuine {len(g)} frames, FRR {np.mean(g > settings.threshold):.2%}, "
          f"distance median {np.median(g):.3f}, max {g.max():.3f}; impostor {len(i)} frames, "
          f"FAR {np.mean(i <= settings.threshold):.2e}, distance min {i.min():.3f}")
    print(f"{'rule (M of N)':<16}{'genuine unlocked':>18}{'median s to unlock':>20}{'max s':>8}"
          f"{'impostor attempts':>19}{'false unlocks':>15}")
    for rule in RULES:
        genuine = per_rule[rule]["genuine"]
        times = [t for t in genuine if t is not None]
        impostor = per_rule[rule]["impostor"]
        false = sum(1 for t in impostor if t is not None)
        median = f"{statistics.median(times):.2f}" if times else "-"
        longest = f"{max(times):.2f}" if times else "-"
        print(f"{f'{rule[0]} of {rule[1]}':<16}{f'{len(times)}/{len(genuine)}':>18}{median:>20}{longest:>8}"
              f"{len(impostor):>19}{false:>15}")

    landmarks = Landmarks68()
    print(f"\nWith liveness (passive blink check, as the unlock screen and faceid auth run it; "
          f"rule {settings.frames_to_accept} of {settings.window}, one attempt per clip from the end of enrollment):")
    times, live_frames, live_wall = [], 0, 0.0
    for clip in clips:
        _, _, cut, templates = data[clip.name]
        if templates is None:
            continue
        elapsed, reason, frames, wall = live_attempt(pipeline, clip, cut, templates, settings, landmarks, args.dim)
        live_frames += frames
        live_wall += wall
        times.append(elapsed)
        shown = "-" if elapsed is None else f"{elapsed:.2f} s"
        print(f"  {clip.name:<26} {'unlocked' if elapsed is not None else 'not unlocked':<14} {shown:>8}  ({reason})")
    unlocked = [t for t in times if t is not None]
    median = f"{statistics.median(unlocked):.2f} s" if unlocked else "-"
    print(f"unlocked {len(unlocked)}/{len(times)}, median time to unlock {median}; "
          f"frames per second with liveness: {live_frames / live_wall:.1f}")

    print("\nSplices (convenience mode): the owner's photo held up for 1 s, another clip's person blinking in its "
          "place, the photo again for 2 s")
    blinks = {clip.name: first_blink(clip, pipeline, landmarks, args.dim) for clip in clips}
    for clip, blink in blinks.items():
        if blink is None:
            print(f"  ({clip}: no blink found, not used as the stranger)")
    for mask in (False, True):
        outcomes = []
        for k, owner in enumerate(clips):
            templates = data[owner.name][3]
            if templates is None:
                continue
            owner_photo = next(bgr for _, bgr in frames_of(owner, args.dim))
            for stranger in clips:
                blink = blinks[stranger.name]
                if stranger == owner or blink is None:
                    continue
                reason = splice_attempt(pipeline, owner_photo, stranger, blink, templates, settings, landmarks,
                                        args.dim, mask, seed=k)
                outcomes.append(reason.startswith("UNLOCKED"))
                if outcomes[-1]:
                    print(f"  UNLOCKED: {owner.name}'s photo with {stranger.name}{' masked' if mask else ''}")
        print(f"  stranger {'masked below the eyes' if mask else 'bare-faced'}: APCER "
              f"{100 * sum(outcomes) / max(len(outcomes), 1):.1f}% ({sum(outcomes)}/{len(outcomes)} unlocked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
