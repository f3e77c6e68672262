"""Liveness (presentation attack detection) on recorded media: APCER and BPCER per attack type and mode.

Reads a folder laid out like ``../shared/media`` (``live/*.mp4`` genuine clips; ``attack/replay_video/``,
``attack/print_and_screen/``, ``attack/nuaa/{real,print}/``) and makes more attacks from it:

* every still image (printed photo, phone screen, NUAA print, the first frame of every live clip as "the
  owner's photo") as a hand-held-photo stream: ``--still-seconds`` at ``--still-fps``, moved by a smooth
  random hand tremor (shift, scale, roll, tilt and turn of the photo, pixel noise), and once more with
  "flicks" (the photo tilted back by 60 degrees for 0.2 s every 1.5 s, to fake a blink by foreshortening);
* **two-still and three-still swaps** from every live clip with a blink: its eyes-open, eyes-closed (and,
  for three stills, half-closed) frames pasted on a 640x480 canvas with jitter and pixel noise, 30 frames/s,
  the closed still shown for 0.1, 0.2 or 0.3 s at 1.5, 3.0 and 4.5 s (the half-closed one a frame before and
  after it);
* **stills animated into a blink** (:data:`ANIMATIONS`): cross-fades of the open and closed stills over 2-4
  frames, and three-still swaps at 15 and 25 frames/s, at 1.5, 3.0 and 4.5 s (a video made from photos; at
  15 frames/s the check sees too few frames for a blink and asks for head turns);
* **photos folded back just below the eyes** (:func:`folded_frames`, from a red-team try): each still enlarged
  1.5 times, folded back by up to 80 degrees four times, 25 frames/s;
* **photos with the eyes cut out** (a paper mask), one per blinking live clip: its first frame, moved with
  the head, over the clip, the live eyes blinking through two holes;
* **spectacles** drawn on every blinking live clip (dark rims of 2 and 7 pixels, tight round the eyes),
  as more genuine attempts;
* **dim light**: every live clip, and every still's hand-held stream (no flicks), as a dim laptop webcam
  delivers them (``benchmarks/live.py --dim``: frame mean grey level 55, sensor noise);
* **every live clip replayed as a recording** against the secure mode: ``--offsets`` random start offsets,
  each with a random challenge sequence, counting how often the recording happens to answer.

Modes: **convenience** (one blink within the timeout, from the first face) and **secure** (a random
sequence of the actions, each within its window after its prompt; the prompts start 0.5 s after the
first face, when a face would match). ISO/IEC 30107-3 terms: APCER = attacks accepted as live / attacks,
BPCER = genuine attempts refused / genuine attempts. The live clips were not recorded answering prompts,
so the secure mode's BPCER cannot be measured here; the share of single prompts that the clips' own head
turns and blinks answer is printed as an honest proxy of how detectable each action is. Also: the time to
pass of genuine clips, BPCER for attempts starting every second of every live clip, and frames/s of the
check (detection + 68 landmarks + rule) on ``--threads`` threads.

    python benchmarks/liveness.py [--media DIR] [--threads 2] [--still-seconds S] [--still-fps 30] [--offsets 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from faceid_desktop.alignment import face_chip
from faceid_desktop.camera import open_source
from faceid_desktop.challenge import ACTIONS, ChallengeSettings, random_sequence
from faceid_desktop.datasets import data_dir
from faceid_desktop.detection import FaceDetector
from faceid_desktop.images import read_bgr
from faceid_desktop.landmarks68 import Landmarks68, eye_view, mean_ear
from faceid_desktop.liveness import LivenessCheck, LivenessSettings, chip_sharpness
from faceid_desktop.verification import primary_face

#: The recapture cue's threshold tried here (median chip sharpness of the attempt); see the module docstring
#: of faceid_desktop.liveness. quality.MIN_SHARPNESS (8) is plain blur; 20 is between the replay (11) and
#: the blurriest live clip (36).
RECAPTURE_SHARPNESS = 20.0
#: Seconds after the first face at which the secure mode's prompts start (when a face would have matched).
PROMPT_AFTER = 0.5
#: Seconds an attacker answering prompts takes to react (people take 0.5-1.5 s).
REACTION = 0.6

# (seconds, (68, 2) landmarks or None, box or None, chip sharpness or None, eye patch or None, eyes in frame)
Trace = list[tuple[float, np.ndarray | None, tuple | None, float | None, np.ndarray | None, bool]]


def trace_frames(frames, detector: FaceDetector, landmarks: Landmarks68, until: float | None = None) -> tuple[Trace, float]:
    """Per frame (seconds, (68, 2) landmarks or None, box or None, chip sharpness or None, (40, 64) eye patch or
    None, whether the eye patch lies inside the frame) of an iterable of
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
            points = landmarks.fit_face(rgb, face.landmarks)
            trace.append((t, points, face.box, chip_sharpness(face_chip(rgb, face.landmarks)),
                          *eye_view(rgb, points)))
        else:
            trace.append((t, None, None, None, None, True))
        spent += time.perf_counter() - started
    return trace, spent / max(len(trace), 1)


def run(trace: Trace, settings: LivenessSettings, start: float = 0.0, challenge=None):
    """Feed a trace from ``start`` seconds on; the final LivenessResult (pending when the trace ends first).
    With a ``challenge`` (a sequence of actions) the prompts start :data:`PROMPT_AFTER` seconds after the
    first face."""
    check = LivenessCheck(settings, challenge)
    result = None
    first = None
    for t, points, box, sharp, eyes, in_frame in trace:
        if t < start:
            continue
        if points is not None and first is None:
            first = t
        if first is not None and t - first >= PROMPT_AFTER:
            check.start_challenge(t - start)
        result = check.update(t - start, points, box, sharp, eyes, in_frame)
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


def blink_frames(trace: Trace) -> tuple[int, int, int] | None:
    """Indexes of an eyes-open, a half-closed and an eyes-closed frame around the first blink of a clip's
    trace (the widest blink rule, so that every clip with a blink gives its stills), or None."""
    check = LivenessCheck(dataclasses.replace(LivenessSettings(), depth_ratio=0.7, min_blink_snr=0.0, timeout=1e6))
    index = {}
    blinks = ()
    for i, (t, points, *_) in enumerate(trace):
        if points is not None:
            index[t] = i
            blinks = check.update(t, points).blinks
            if blinks:
                break
    if not blinks:
        return None
    blink = blinks[0]
    around = {i: mean_ear(trace[i][1]) for t, i in index.items() if blink.start - 0.4 <= t <= blink.end + 0.3}
    closed, opened = min(around, key=around.get), max(around, key=around.get)
    middle = (around[closed] + around[opened]) / 2.0
    half = min((i for i in around if i not in (closed, opened)), key=lambda i: abs(around[i] - middle))
    return opened, half, closed


def _on_canvas(image: np.ndarray, shift: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A still 440 px tall or wide on a grey 640x480 canvas, moved by one more step of a random walk of jitter
    (1 px per frame, within 6 px), with pixel noise (sigma 3): (the new shift, the BGR frame)."""
    shift = np.clip(shift + rng.normal(0, 1.0, 2), -6, 6)
    h, w = image.shape[:2]
    scale = 440.0 / max(h, w)
    matrix = np.float32([[scale, 0, 320 - w * scale / 2 + shift[0]], [0, scale, 240 - h * scale / 2 + shift[1]]])
    canvas = cv2.warpAffine(image, matrix, (640, 480), borderValue=(90, 90, 90))
    noisy = canvas.astype(np.float32) + rng.normal(0, 3, canvas.shape).astype(np.float32)
    return shift, np.clip(noisy, 0, 255).astype(np.uint8)


def swap_frames(stills: dict[str, np.ndarray], three: bool, shown: float, seconds: float = 6.0, fps: float = 30.0,
                seed: int = 0):
    """(seconds, BGR frame) of swapped stills: ``stills['open']`` on a 640x480 canvas, ``stills['closed']``
    for ``shown`` seconds at 1.5, 3.0 and 4.5 s (with ``three``: ``stills['half']`` one frame before and
    after), a random walk of jitter (1 px per frame, within 6 px) and pixel noise (sigma 3)."""
    rng = np.random.default_rng(seed)
    shift = np.zeros(2)
    frame_time = 1.0 / fps
    for i in range(int(seconds * fps)):
        t = i * frame_time
        name = "open"
        for at in (1.5, 3.0, 4.5):
            lead = frame_time if three else 0.0
            if three and (at <= t < at + lead or at + lead + shown <= t < at + 2 * lead + shown):
                name = "half"
            elif at + lead <= t < at + lead + shown:
                name = "closed"
        image = stills[name]
        shift, frame = _on_canvas(image, shift, rng)
        yield t, frame


def animated_frames(stills: dict[str, np.ndarray], events: list[str], fps: float, seconds: float = 6.0,
                    seed: int = 0):
    """(seconds, BGR frame) of stills animated into blinks, as an attacker with editing software would:
    ``stills['open']`` on a 640x480 canvas (jitter and noise as :func:`swap_frames`), and at 1.5, 3.0 and 4.5 s
    the frames named by ``events``, one per frame: a still's name, or ``fade:A`` for a cross-fade of the open
    and closed stills with A the closed still's weight."""
    rng = np.random.default_rng(seed)
    shift = np.zeros(2)
    starts = [int(round(at * fps)) for at in (1.5, 3.0, 4.5)]
    for i in range(int(seconds * fps)):
        name = next((events[i - s] for s in starts if 0 <= i - s < len(events)), "open")
        if name.startswith("fade:"):
            alpha = float(name[5:])
            image = cv2.addWeighted(stills["open"], 1.0 - alpha, stills["closed"], alpha, 0.0)
        else:
            image = stills[name]
        shift, frame = _on_canvas(image, shift, rng)
        yield i / fps, frame


#: Stills animated into a blink (found by a red-team try beyond the swaps above): (name, events, frames/s).
ANIMATIONS = (
    ("cross-fade 2/1/3", ["fade:0.33", "fade:0.67", "closed", "fade:0.75", "fade:0.5", "fade:0.25"], 30.0),
    ("cross-fade 3/2/3", ["fade:0.25", "fade:0.5", "fade:0.75", "closed", "closed", "fade:0.75", "fade:0.5",
                          "fade:0.25"], 30.0),
    ("cross-fade 3/1/4", ["fade:0.25", "fade:0.5", "fade:0.75", "closed", "fade:0.8", "fade:0.6", "fade:0.4",
                          "fade:0.2"], 25.0),
    ("three-still 15 fps", ["half", "closed", "closed", "half"], 15.0),
    ("three-still 25 fps", ["half", "closed", "closed", "half"], 25.0),
)


def glasses_frames(path: Path, trace: Trace, thickness: int):
    """(seconds, BGR frame) of a live clip with dark spectacle rims drawn on: an ellipse round each eye
    (0.95 x 0.7 eye widths: tight, so that the rims come near the lids), a bridge and the temples, placed
    by the clip's own 68 landmarks (``trace``, from :func:`trace_frames` on the clip), ``thickness`` pixels."""
    last = None
    colour = (25, 25, 25)
    for (t, image), (_, points, *_) in zip(video_frames(path), trace):
        last = points if points is not None else last
        image = image.copy()
        if last is not None:
            rims = []
            for eye in (last[36:42], last[42:48]):
                centre, width = eye.mean(axis=0), float(np.linalg.norm(eye[3] - eye[0]))
                axes = (int(width * 0.95), int(width * 0.7))
                cv2.ellipse(image, (int(centre[0]), int(centre[1])), axes, 0, 0, 360, colour, thickness, cv2.LINE_AA)
                rims.append((centre, axes))
            (c1, a1), (c2, a2) = rims
            cv2.line(image, (int(c1[0] + a1[0]), int(c1[1])), (int(c2[0] - a2[0]), int(c2[1])), colour, thickness,
                     cv2.LINE_AA)
            for (c, a), side, jaw in (((c1, a1), -1, last[0]), ((c2, a2), 1, last[16])):
                cv2.line(image, (int(c[0] + side * a[0]), int(c[1])), (int(jaw[0]), int(jaw[1]) - 5), colour,
                         thickness, cv2.LINE_AA)
        yield t, image


def cutout_frames(path: Path, trace: Trace):
    """(seconds, BGR frame) of a live clip behind a photo of its own first frame with the eyes cut out (a
    paper mask): the photo is moved with the head (a similarity transform from the first frame's eye corners
    and nose to each frame's, by the clip's own 68 landmarks, ``trace``), and through the two holes (ellipses
    of 0.8 x 0.55 eye widths round each eye) the live eyes blink. The attacker's best case: holes that stay
    on the eyes."""
    photo = photo_points = None
    anchors = [36, 39, 42, 45, 27, 30, 33]
    for (t, image), (_, points, *_) in zip(video_frames(path), trace):
        if points is None:
            yield t, image
            continue
        if photo is None:
            photo, photo_points = image.copy(), points
        matrix, _ = cv2.estimateAffinePartial2D(photo_points[anchors].astype(np.float32),
                                                points[anchors].astype(np.float32))
        if matrix is None:
            yield t, image
            continue
        frame = cv2.warpAffine(photo, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        holes = np.zeros(image.shape[:2], np.uint8)
        for eye in (points[36:42], points[42:48]):
            centre, width = eye.mean(axis=0), float(np.linalg.norm(eye[3] - eye[0]))
            cv2.ellipse(holes, (int(centre[0]), int(centre[1])), (int(width * 0.8), int(width * 0.55)), 0, 0, 360,
                        255, -1, cv2.LINE_AA)
        frame[holes > 127] = image[holes > 127]
        yield t, frame


def _held_close(image: np.ndarray, points: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray, float]:
    """A still enlarged ``zoom`` times about its nose and centred, its landmarks moved with it, and the row of
    the red team's fold: one eye height below the lower lids."""
    h, w = image.shape[:2]
    centre = points[27:36].mean(axis=0)
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 0, zoom)
    matrix[:, 2] += (w / 2 - centre[0], h / 2 - centre[1])
    image = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    moved = points @ matrix[:, :2].T + matrix[:, 2]
    lower, upper = moved[[40, 41, 46, 47], 1].mean(), moved[[37, 38, 43, 44], 1].mean()
    return image, moved, float(lower + (lower - upper))


def folded_frames(image: np.ndarray, points: np.ndarray, fps: float = 25.0, seconds: float = 7.0,
                  degrees: float = 80.0, zoom: float = 1.5, seed: int = 0):
    """(seconds, BGR frame) of a photo held close and folded back again and again just below the eyes (found
    by a red-team try): the still enlarged ``zoom`` times about its nose, then at 1.5, 3.0, 4.5 and 6.0 s
    everything above a horizontal line one eye height below the lower lids tilted away by up to ``degrees``
    (a raised-cosine pulse of 0.45 s; foreshortened by the cosine, seen head-on), so that the eyes, and all
    above them, shrink vertically as if closing; jitter and noise as :func:`swap_frames`. ``points``: the
    still's 68 landmarks."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    image, _, fold = _held_close(image, points, zoom)
    rows = np.arange(h, dtype=np.float32)
    columns = np.repeat(np.arange(w, dtype=np.float32)[None, :], h, axis=0)
    shift = np.zeros(2)
    for i in range(int(seconds * fps)):
        t = i / fps
        x = min(abs(t - at) for at in (1.5, 3.0, 4.5, 6.0)) / 0.45
        level = 0.5 * (1 + np.cos(2 * np.pi * x)) if x < 0.5 else 0.0
        cosine = np.cos(np.radians(level * degrees))
        source = np.where(rows < fold, fold - (fold - rows) / cosine, rows).astype(np.float32)
        frame = cv2.remap(image, columns, np.repeat(source[:, None], w, axis=1), cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        shift = np.clip(shift + rng.normal(0, 1.0, 2), -6, 6)
        frame = cv2.warpAffine(frame, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), (w, h),
                               borderMode=cv2.BORDER_REPLICATE)
        noisy = frame.astype(np.float32) + rng.normal(0, 3, frame.shape).astype(np.float32)
        yield t, np.clip(noisy, 0, 255).astype(np.uint8)


def photo_attacker_attempt(image: np.ndarray, points: np.ndarray, check: LivenessCheck, detector: FaceDetector,
                           landmarks: Landmarks68, lenses: bool = False, fold: bool = False, fps: float = 30.0,
                           seconds: float = 10.0, seed: int = 0):
    """One attempt of an attacker who holds the owner's photo and answers each prompt :data:`REACTION` s after
    it: a head turn by bending the photo back along a vertical line through the nose tip by up to 65 degrees
    in 0.4 s (the half on the side asked foreshortens as a turned head's far half does); with ``fold``, a
    blink by the red team's fold (:func:`folded_frames`: the photo enlarged 1.5x, folded back 80 degrees
    along a line just below the eyes in 0.45 s pulses, one a second). ``lenses`` draws dark lenses on the
    photo (the eyes then read as hidden). Seen through a pinhole of focal length = image width, pixel noise
    sigma 3. Frames go to ``check.update_frame`` (eye visibility needs the pixels, so this runs live, not
    from a trace); prompts start :data:`PROMPT_AFTER` s after the first face. ``points``: the still's 68
    landmarks. Returns the final LivenessResult."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    image = image.copy()
    if lenses:
        for eye in (points[36:42], points[42:48]):
            centre, width = eye.mean(axis=0), float(np.ptp(eye[:, 0]))
            cv2.ellipse(image, (int(centre[0]), int(centre[1])), (int(width * 0.9), int(width * 0.6)), 0, 0, 360,
                        (10, 10, 10), -1)
    fold_line = float(h)
    if fold:
        image, points, fold_line = _held_close(image, points, 1.5)
    x0, focal = float(points[30, 0]), float(w)
    columns, rows = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
    angle, side, first, result = 0.0, 0, None, None
    prompt, prompted = "", 0.0
    for i in range(int(seconds * fps)):
        t = i / fps
        if result is not None and result.prompt.lower() != prompt:
            prompt, prompted = result.prompt.lower(), t
        since = t - prompted
        wanted = 0 if since < REACTION else \
            1 if prompt.endswith("to your left") else -1 if prompt.endswith("to your right") else 0
        step = 65.0 / (0.4 * fps)
        if wanted and wanted != side and angle > 0:  # unbend before bending the other half
            angle = max(0.0, angle - step)
        else:
            side = wanted or side
            angle = min(65.0, angle + step) if wanted else max(0.0, angle - step)
        source_x = columns.copy()
        if angle > 0 and side:
            c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
            offset = (columns - x0) * side
            bent = offset > 0
            source_x[bent] = x0 + side * offset[bent] / np.maximum(c - offset[bent] * s / focal, 1e-3)
        cosine = 1.0
        if fold and prompt.endswith("blink") and since >= REACTION:
            x = ((since - REACTION) % 1.0) / 0.45
            cosine = np.cos(np.radians(80.0 * 0.5 * (1 - np.cos(2 * np.pi * x)))) if x < 1 else 1.0
        source_y = np.where(rows < fold_line, fold_line - (fold_line - rows) / cosine, rows).astype(np.float32)
        frame = cv2.remap(image, np.repeat(source_x[None, :], h, axis=0), np.repeat(source_y[:, None], w, axis=1),
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        noisy = frame.astype(np.float32) + rng.normal(0, 3, frame.shape).astype(np.float32)
        rgb = cv2.cvtColor(np.clip(noisy, 0, 255).astype(np.uint8), cv2.COLOR_BGR2RGB)
        faces = detector.detect(rgb)
        face = primary_face(faces, rgb.shape) if faces else None
        if face is not None and first is None:
            first = t
        if first is not None and t - first >= PROMPT_AFTER:
            check.start_challenge(t)
        result = check.update_frame(t, rgb, face)
        if result.live is not None:
            break
    return result


def first_frame(path: Path) -> np.ndarray:
    """The first frame of a video, BGR."""
    with open_source(path, dark_threshold=100.0) as source:
        return next(iter(source)).image


def folded_sources(stills, detector: FaceDetector, landmarks: Landmarks68, per_frame: list[float]) -> list:
    """(name, "folded photo", False, trace) of :func:`folded_frames` of every still with a face, at 25 frames/s."""
    sources = []
    for i, (name, _, image) in enumerate(stills):
        [(_, points, *_)] = trace_frames([(0.0, image)], detector, landmarks)[0]
        if points is None:
            continue
        trace, cost = trace_frames(folded_frames(image, points, seed=i), detector, landmarks)
        per_frame.append(cost)
        sources.append((f"{name} folded", "folded photo", False, trace))
    return sources


def _row(name: str, kind: str, result, frames: int) -> str:
    if result is None:
        return f"  {name:<44} {kind:<15} {frames:>5}  no frame"
    state = {True: "LIVE", False: "refused", None: "pending"}[result.live]
    passed = f"{result.elapsed:5.2f} s" if result.live else "   -   "
    return f"  {name:<44} {kind:<15} {frames:>5}  {state:<8} {passed}  blinks {len(result.blinks)}  {result.reason}"


def _summary(outcome: dict[str, list[bool]], indent: str = "    ") -> None:
    for group, lives in outcome.items():
        if group.startswith("genuine"):
            refused = lives.count(False)
            print(f"{indent}BPCER {group:<26} {100 * refused / len(lives):5.1f}%  ({refused}/{len(lives)} refused)")
        else:
            accepted = lives.count(True)
            print(f"{indent}APCER {group:<26} {100 * accepted / len(lives):5.1f}%  ({accepted}/{len(lives)} accepted)")


def _group(name: str, kind: str, genuine: bool) -> str:
    if not genuine:
        return kind
    if kind.startswith("glasses"):
        return f"genuine, {kind} rims"
    blinking = not any(s in name for s in ("d20", "person1"))
    light = ", dim light" if kind.endswith("dim") else ""
    return f"genuine{light}, blinking" if blinking else f"genuine{light}, not blinking"


def dim_frames(frames, seed: int):
    """(seconds, BGR frame) of ``frames`` as a dim webcam delivers them (:func:`live.dimmed`)."""
    if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by file path (the tests)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
    from live import dimmed

    rng = np.random.default_rng(seed)
    for t, image in frames:
        yield t, dimmed(image, rng)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, help="folder laid out like ../shared/media (default: that one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--still-seconds", type=float, default=None,
                        help="length of each hand-held still stream (default: the liveness timeout + 1 s)")
    parser.add_argument("--still-fps", type=float, default=30.0,
                        help="frame rate of the hand-held streams (a webcam's usual rate; below 19 frames/s the "
                        "check asks for head turns, not a blink)")
    parser.add_argument("--offsets", type=int, default=20, help="random start offsets per replayed live clip")
    parser.add_argument("--traces", type=Path, help="a pickle file: the per-frame landmarks of every source are "
                        "saved there, or read from it when it exists (to try rules without tracing again)")
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
    from faceid_desktop.threads import configure_threads

    configure_threads(args.threads)
    default = LivenessSettings()
    still_seconds = args.still_seconds or default.timeout + 1.0
    detector, landmarks = FaceDetector(), Landmarks68()

    if args.traces is not None and args.traces.is_file():
        import pickle

        with open(args.traces, "rb") as handle:
            sources, per_frame = pickle.load(handle)  # a file this script wrote (trusted, local)
    else:
        sources = []  # (name, kind, genuine, trace)
        per_frame = []
        clips = {}
        for path in sorted((media / "live").glob("*.mp4")):
            trace, cost = trace_frames(video_frames(path), detector, landmarks)
            per_frame.append(cost)
            clips[path] = trace
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
                frames = handheld_frames(image, still_seconds, fps=args.still_fps, seed=i, flick=flick)
                trace, cost = trace_frames(frames, detector, landmarks)
                per_frame.append(cost)
                sources.append((f"{name}{' (flicks)' if flick else ''}", kind, False, trace))
            frames = dim_frames(handheld_frames(image, still_seconds, fps=args.still_fps, seed=i), seed=i)
            trace, cost = trace_frames(frames, detector, landmarks)
            per_frame.append(cost)
            sources.append((f"{name} (dim)", "photo, dim light", False, trace))
        for k, path in enumerate(clips):
            trace, cost = trace_frames(dim_frames(video_frames(path), seed=k), detector, landmarks)
            per_frame.append(cost)
            sources.append((f"{path.name} (dim)", "live clip, dim", True, trace))
        sources += folded_sources(stills, detector, landmarks, per_frame)
        for path, clip_trace in clips.items():
            if blink_frames(clip_trace) is None:
                continue
            for thickness in (2, 7):
                trace, cost = trace_frames(glasses_frames(path, clip_trace, thickness), detector, landmarks)
                per_frame.append(cost)
                sources.append((f"{path.stem} rims {thickness} px", f"glasses {thickness} px", True, trace))
            trace, cost = trace_frames(cutout_frames(path, clip_trace), detector, landmarks)
            per_frame.append(cost)
            sources.append((f"{path.stem} eyes cut out", "cut-out photo", False, trace))
        for k, (path, clip_trace) in enumerate(clips.items()):
            picked = blink_frames(clip_trace)
            if picked is None:
                print(f"  (no blink in {path.name}: no swapped stills made from it)")
                continue
            images = [image for _, image in video_frames(path)]
            still_images = dict(zip(("open", "half", "closed"), (images[i] for i in picked)))
            for three in (False, True):
                for shown in (0.1, 0.2, 0.3):
                    kind = "three-still swap" if three else "two-still swap"
                    trace, cost = trace_frames(swap_frames(still_images, three, shown, seed=k), detector, landmarks)
                    per_frame.append(cost)
                    sources.append((f"{path.stem} {kind.split()[0]} {shown:g} s", kind, False, trace))
            for label, events, fps in ANIMATIONS:
                kind = "cross-fade" if label.startswith("cross") else "three-still, other rates"
                trace, cost = trace_frames(animated_frames(still_images, events, fps, seed=k), detector, landmarks)
                per_frame.append(cost)
                sources.append((f"{path.stem} {label}", kind, False, trace))
        if args.traces is not None:
            import pickle

            with open(args.traces, "wb") as handle:
                pickle.dump((sources, per_frame), handle)

    variants = {
        f"convenience: blink, {default.timeout:g} s (default)": default,
        "convenience, reopening not checked": dataclasses.replace(default, opening_frames=0),
        "convenience, 1 frame part-way up": dataclasses.replace(default, opening_frames=1),
        "convenience, eye patches not compared (eye_step 0)": dataclasses.replace(default, eye_step=0.0),
        "convenience + recapture cue": dataclasses.replace(default, min_sharpness=RECAPTURE_SHARPNESS),
    }
    for label, setting in variants.items():
        print(f"\n== {label}")
        print(f"  {'source':<44} {'kind':<16} {'frames':>5}  result   passed at")
        outcome: dict[str, list[bool]] = {}
        for name, kind, genuine, trace in sources:
            result = run(trace, setting)
            if label.endswith("(default)"):
                print(_row(name, kind, result, len(trace)))
            outcome.setdefault(_group(name, kind, genuine), []).append(bool(result is not None and result.live))
        print("  summary:")
        _summary(outcome)

    steps = ChallengeSettings().steps
    print(f"\n== secure: {steps} of {', '.join(ACTIONS)} in a random order; attacks tried with every sequence")
    pairs = sorted({random_sequence(steps, seed) for seed in range(200)})
    outcome = {}
    for name, kind, genuine, trace in sources:
        if genuine:
            continue
        accepted = [bool((r := run(trace, default, challenge=pair)) is not None and r.live) for pair in pairs]
        outcome.setdefault(kind, []).extend(accepted)
        if any(accepted):
            print(f"  {name:<44} {kind:<16} answered {sum(accepted)}/{len(pairs)} sequences")
    rng = random.Random(0)
    replayed, single, waits = [], {a: [] for a in ACTIONS}, []
    for name, kind, genuine, trace in sources:
        if kind != "live clip":  # the clips as recorded (not those with glasses drawn on)
            continue
        length = trace[-1][0]
        for _ in range(args.offsets):
            start = rng.uniform(0.0, max(length - 3.0, 0.0))
            result = run(trace, default, start, challenge=random_sequence(steps, rng))
            replayed.append(bool(result is not None and result.live))
            for action in ACTIONS:
                result = run(trace, default, start, challenge=(action,))
                single[action].append(bool(result is not None and result.live))
    outcome["live clip replayed"] = replayed
    print("  summary:")
    _summary(outcome)
    genuine_clips = sum(1 for _, kind, _, _ in sources if kind == "live clip")
    print(f"  (replays: {len(replayed)} attempts = {genuine_clips} genuine clips x {args.offsets} random offsets, "
          "one random sequence each)")
    print("  proxy for the secure mode's BPCER: share of single prompts the live clips' own movements answer")
    for action, answered in single.items():
        print(f"    {action:<11} {100 * sum(answered) / max(len(answered), 1):5.1f}%  ({sum(answered)}/{len(answered)})")

    print("\n== genuine clips: when the blinks come (every blink found over the whole clip, default rule)")
    for name, kind, genuine, trace in sources:
        if kind != "live clip":
            continue
        result = run(trace, dataclasses.replace(default, timeout=1e6, required_blinks=10))
        ends = [f"{b.end:.2f}" for b in result.blinks] if result else []
        print(f"  {name:<24} length {trace[-1][0]:5.1f} s  blinks ended at: {' '.join(ends) or 'none'}")

    print("\n== convenience attempts starting every 1 s of the blinking live clips (each needs its whole timeout)")
    blinking = [(n, tr) for n, k, g, tr in sources if k == "live clip" and not any(s in n for s in ("d20", "person1"))]
    for timeout, opening in [(t, default.opening_frames) for t in (2.0, 4.0, 6.0, 8.0, 10.0, 12.0)] + [
            (10.0, o) for o in (0, 1, 2) if o != default.opening_frames]:
        setting = dataclasses.replace(default, timeout=timeout, opening_frames=opening)
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
        print(f"  timeout {timeout:4.1f} s, {opening} reopening frames: BPCER {100 * refused / max(total, 1):5.1f}% "
              f"({refused}/{total}), median time to pass {median}")

    print("\n== an attacker answering prompts with the owner's photo (run live): head turns by bending it along the "
          "nose; dark lenses drawn on (eyes hidden), or blinks by folding it below the eyes (secure mode only)")
    photos = [(p.name, read_bgr(p)) for p in sorted((media / "attack" / "print_and_screen").glob("*.jpg"))]
    for sub in ("print", "real"):
        photos += [(f"nuaa/{sub}/{p.name}", read_bgr(p)) for p in sorted((media / "attack" / "nuaa" / sub).glob("*.jpg"))]
    photos += [(f"{p.stem} frame 0", first_frame(p)) for p in sorted((media / "live").glob("*.mp4"))]
    accepted: dict[str, list[bool]] = {}
    for i, (name, image) in enumerate(photos):
        [(_, points, *_)] = trace_frames([(0.0, image)], detector, landmarks)[0]
        if points is None:
            continue
        attempts = [("fold", "secure", False, True)]
        if "nuaa" not in name:  # dark lenses: the 10 photos of the table's row
            attempts += [("lenses", "convenience", True, False), ("lenses", "secure", True, False)]
        for label, mode, lenses, fold in attempts:
            challenge = random_sequence(ChallengeSettings().steps, random.Random(i)) if mode == "secure" else None
            check = LivenessCheck(default, challenge, landmarks=landmarks)
            result = photo_attacker_attempt(image, points, check, detector, landmarks, lenses, fold, seed=i)
            live = bool(result is not None and result.live)
            accepted.setdefault(f"{label}, {mode}", []).append(live)
            print(f"  {name:<34} {label:<7} {mode:<12} {'LIVE' if live else 'refused':<8} "
                  f"{result.elapsed if result else 0.0:5.2f} s  {result.reason if result else 'no frame'}")
    for key, values in accepted.items():
        print(f"  {key:<22} APCER {100 * sum(values) / max(len(values), 1):5.1f}% ({sum(values)}/{len(values)})")

    print(f"\n== speed: {1.0 / statistics.median(per_frame):.0f} frames/s per source (median; detection + 68 landmarks "
          f"+ chip sharpness + rule) on {args.threads} threads; indicative on a shared machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
