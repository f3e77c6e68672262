"""The ``faceid`` command line, over the same core as the desktop app.

Exit codes: 0 success (``verify``: every input matched), 1 no match (``verify``), 2 bad input or error
(one line on stderr per problem, never a traceback, nothing written). Heavy modules (torch, OpenCV, dlib)
are imported inside the commands, so ``--help`` is instant and Ctrl-C is handled from the start.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
from typing import Sequence

from . import __version__
from .formats import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .model_files import PRETRAINED_MODEL_ID

EXIT_OK, EXIT_NO_MATCH, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2, 3
#: The camera module's default (it imports OpenCV, which ``--help`` must not wait for).
DEFAULT_DARK_THRESHOLD = 60.0
#: A command-line input naming a camera: ``0`` or ``camera:0`` (when no file of that name exists).
CAMERA_SPEC = re.compile(r"^(?:camera:)?(\d+)$")
#: Above this margin the alpha rule rejects most owners (benchmarks/scoring.py: 8% at 0.10).
LOOSE_ALPHA = 0.1


#: Shown next to every liveness option: the 68-point landmark model's training data licence.
_LICENCE_NOTE = ("uses dlib's 68-point landmark model, trained on iBUG 300-W, whose licence excludes "
                 "commercial use")


class InputError(ValueError):
    """A command-line input that cannot be used; the message is shown as is."""


def expand_inputs(inputs: Sequence[str], videos: bool = False) -> list[Path | int]:
    """Expand the inputs into what to read: files, a folder's images (sorted by name), camera indices.

    Args:
        inputs: paths as typed; ``N`` or ``camera:N`` is camera N when no such file exists (with ``videos``).
        videos: accept video files and cameras too (``enroll``, ``verify``).

    Raises:
        InputError: a path does not exist, is not a regular file or folder, a folder holds no image, or a
            file is of a type not accepted.
    """
    from .camera import path_kind

    items: list[Path | int] = []
    accepted = IMAGE_SUFFIXES + (VIDEO_SUFFIXES if videos else ())
    for raw in inputs:
        if not raw.strip():
            raise InputError("empty input name")
        path = Path(raw)
        camera = CAMERA_SPEC.match(raw)
        kind = path_kind(path)
        if videos and camera and kind == "no such file or folder":
            items.append(int(camera.group(1)))
        elif kind == "dir":
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"{path}: folder holds no image ({', '.join(IMAGE_SUFFIXES)})")
            items.extend(found)
        elif kind == "file":
            if path.suffix.lower() not in accepted:
                kinds = "photo or video" if videos else "photo"
                raise InputError(f"{path}: not a {kinds} file (expected one of {', '.join(accepted)})")
            items.append(path)
        elif kind == "device" and videos:
            items.append(path)  # a camera by its device node, e.g. /dev/video2
        elif kind == "device":
            raise InputError(f"{path}: a device, not a photo")
        else:
            raise InputError(f"{path}: {kind}")
    return items


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _emit(args: argparse.Namespace, payload: object, text: str) -> None:
    if args.json:
        json.dump(payload, sys.stdout)
        print()
    elif text:
        print(text)


def _store(args: argparse.Namespace):
    from .storage import ProfileStore

    return ProfileStore(args.data_dir)


def _pipeline():
    from .pipeline import default_pipeline

    return default_pipeline()


# -- embed ---------------------------------------------------------------------------------------------------

def _cmd_embed(args: argparse.Namespace) -> int:
    from .images import ImageError, read_rgb

    paths = expand_inputs(args.inputs)
    pipeline = _pipeline()
    results, status = [], EXIT_OK
    for path in paths:
        try:
            image = read_rgb(path)
        except ImageError as error:
            print(f"faceid: {error}", file=sys.stderr)
            status = EXIT_ERROR
            continue
        detected = pipeline.detector.detect(image)
        found = pipeline.embed_faces(image, detected[:1])
        vector = [round(float(v), 7) for v in found[0].vector] if found else None
        results.append({"path": str(path), "faces": len(detected), "embedding": vector})
        if not args.json:
            if found:
                head = " ".join(f"{v:+.3f}" for v in found[0].vector[:4])
                print(f"{path}: {_plural(len(detected), 'face')}; largest at {found[0].face.box}; "
                      f"embedding [{head} ...] (128-d)")
            else:
                print(f"{path}: no face found")
    if args.json:
        _emit(args, results, "")
    return status


# -- enroll --------------------------------------------------------------------------------------------------

def _cmd_enroll(args: argparse.Namespace) -> int:
    from .enrollment import collect_templates, drop_duplicates, strangers
    from .profile import Profile, check_name
    from .storage import ProfileError

    name = check_name(args.name)
    store = _store(args)
    from .storage import OutdatedProfileError

    if store.exists(name) and not args.add:
        try:
            store.load(name, PRETRAINED_MODEL_ID)
        except OutdatedProfileError:
            pass  # made by the older face model: this enrollment replaces it
        else:
            raise InputError(f"profile {name} exists: use --add to add templates, or 'faceid profiles remove {name}'")
    items = expand_inputs(args.inputs, videos=True)
    store.check_writable()  # fail now, not after a minute of video processing
    pipeline = _pipeline()
    result = collect_templates(pipeline, items, camera_seconds=args.seconds, dark_threshold=args.dark_threshold)
    if result.errors:  # enroll all or nothing: a profile missing photos the user chose would surprise them
        for error in result.errors:
            print(f"faceid: {error} (nothing enrolled)", file=sys.stderr)
        return EXIT_ERROR
    summary: dict = {}

    def change(current: Profile | None) -> Profile:
        if current is not None and not args.add:
            raise InputError(f"profile {name} was created meanwhile by another command; nothing enrolled")
        existing = current.templates if current is not None else ()
        new = drop_duplicates(result.templates, existing)
        if len(new) < len(result.templates):
            result.dropped["already enrolled"] += len(result.templates) - len(new)
        summary["added"] = len(new)
        if not new and current is not None and result.templates:
            return current  # every face is enrolled already: rerunning a command changes nothing
        if not new:
            dropped = ", ".join(f"{n} x {r}" for r, n in result.dropped.most_common()) or "none"
            raise InputError(f"no usable new face in the inputs (dropped: {dropped}); nothing enrolled")
        odd = strangers(new, existing)
        if odd:
            source, distance = odd[0]
            whom = f"profile {name}" if existing else "the other inputs"
            raise InputError(f"{source} looks like a different person from {whom} (distance {distance:.2f}); "
                             "nothing enrolled")
        now = time.time()
        if current is not None:
            return Profile(name, current.model_id, current.templates + tuple(new), current.settings,
                           current.created_at, now)
        return Profile(name, pipeline.embedder.model_id, tuple(new), created_at=now, updated_at=now)

    profile = store.update(name, change, model_id=pipeline.embedder.model_id, replace_outdated=not args.add)
    dropped = ", ".join(f"{count} x {reason}" for reason, count in result.dropped.most_common()) or "none"
    _emit(args, {"profile": name, "templates": len(profile.templates), "added": summary["added"],
                 "dropped": dict(result.dropped)},
          f"Enrolled {name}: kept {_plural(summary['added'], 'template')} "
          f"({len(profile.templates)} in the profile); dropped: {dropped}")
    return EXIT_OK


# -- verify --------------------------------------------------------------------------------------------------

def _is_stream(item: Path | int) -> bool:
    """Whether an input is read as a stream of frames: a camera (index or device node) or a video file."""
    from .camera import is_camera

    return is_camera(item) or item.suffix.lower() in VIDEO_SUFFIXES


def _source_name(item: Path | int) -> str:
    return f"camera:{item}" if isinstance(item, int) else str(item)


def _dark_reason(decision, frame):
    """The frame's decision, with "too dark" as the reason when no face was found in an unlit frame: the
    darkness of the whole frame explains a missing face, and nothing else (an IR camera's lit face on a
    black background is found and judged on its own light)."""
    import dataclasses

    from .verification import NO_FACE, TOO_DARK

    if frame.dark and decision.reason == NO_FACE:
        return dataclasses.replace(decision, reason=TOO_DARK)
    return decision


#: Seconds a stream may run past its timeout on the wall clock before it is cut (the decision rule, on the
#: stream's own clock, normally ends it first).
WALL_MARGIN = 0.5


def _verify_stream(verifier, spec: Path | int, source_name: str, dark_threshold: float) -> dict:
    """The multi-frame rule on a video or camera. A camera's timeout is wall-clock time; a video's is its
    own playback time (so a clip decides the same at any speed)."""
    import cv2

    from .camera import is_camera, open_source
    from .verification import StreamVerifier

    settings = verifier.profile.settings
    stream = StreamVerifier(settings)
    started = time.perf_counter()
    state = None
    wall = settings.timeout + WALL_MARGIN if is_camera(spec) else None
    with open_source(spec, dark_threshold=dark_threshold, wall_timeout=wall) as source:
        for frame in source:
            decision = _dark_reason(verifier.verify_image(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)), frame)
            state = stream.update(decision, frame.timestamp)
            if state.done:
                break
        dark_frames, timed_out = source.dark_frames, source.timed_out
    wall_seconds = time.perf_counter() - started
    if state is None:
        return {"input": source_name, "kind": "stream", "accepted": False, "state": "ended", "elapsed": 0.0,
                "frames": 0, "matches": 0, "wall_seconds": round(wall_seconds, 3), "distance": None,
                "threshold": settings.threshold, "reason": "no frames", "dark_frames": dark_frames}
    if state.done:
        reason = state.last.reason if state.state == "rejected" else "match"
        if state.state == "rejected" and state.last.accepted:
            reason = f"timed out ({state.matches} of {settings.frames_to_accept} matching frames needed)"
    elif timed_out:
        reason = f"timed out after {settings.timeout:g} s ({state.last.reason})"
    else:
        reason = (f"ended before a decision ({state.matches} of {settings.frames_to_accept} "
                  "matching frames needed)")
    if not state.state == "accepted" and dark_frames and state.last.distance is None:
        reason += f"; {_plural(dark_frames, 'frame')} of {state.frames} too dark"
    return {"input": source_name, "kind": "stream", "accepted": state.state == "accepted",
            "state": state.state if state.done else "ended", "elapsed": round(state.elapsed, 3),
            "frames": state.frames, "matches": state.matches, "wall_seconds": round(wall_seconds, 3),
            "distance": state.last.distance, "threshold": settings.threshold, "reason": reason,
            "dark_frames": dark_frames}


def _live_attempt(verifier, source, source_name: str, timeout: float | None = None,
                  challenge: str | None = None, landmarks=None) -> dict:
    """One unlock attempt with liveness on an open frame source (video, image folder or camera): the face
    must match (the profile's M-of-N rule) and liveness must pass, within ``timeout`` seconds (default: the
    profile's face timeout or the liveness timeout, whichever is longer), on the stream's clock (a camera's
    is the wall clock); the source's own ``wall_timeout`` may end it earlier."""
    import dataclasses

    import cv2

    from .liveness import LiveUnlock, LivenessCheck, LivenessSettings
    from .verification import NO_FACE, Decision, find_probe

    settings = verifier.profile.settings
    liveness = LivenessSettings() if timeout is None else LivenessSettings(timeout=timeout)
    if timeout is not None:
        settings = dataclasses.replace(settings, timeout=timeout)
    attempt = LiveUnlock(settings, LivenessCheck(liveness, challenge, landmarks))
    started = time.perf_counter()
    state = None
    with source:
        for frame in source:
            rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
            probe, reason, faces = find_probe(verifier.pipeline, rgb)
            decision = (verifier.scorer.decide(probe.vector, faces) if probe is not None
                        else _dark_reason(Decision(False, reason or NO_FACE, None, settings.threshold, faces), frame))
            state = attempt.update(frame.timestamp, decision, image=rgb, face=None if probe is None else probe.face)
            if state.done:
                break
    wall = time.perf_counter() - started
    dark = source.dark_frames
    if state is None:
        return {"input": source_name, "kind": "live", "accepted": False, "state": "ended", "elapsed": 0.0,
                "wall_seconds": round(wall, 3), "distance": None, "threshold": settings.threshold,
                "reason": "timed out: no frame" if source.timed_out else "no frames", "liveness": None,
                "challenge": challenge, "dark_frames": dark}
    if state.done:
        reason = state.reason
    elif source.timed_out:
        reason = f"timed out after {attempt.timeout:g} s of wall-clock time ({state.reason})"
    else:
        reason = f"ended before a decision ({state.reason})"
    if state.state != "unlocked" and dark and state.match.last.distance is None:
        reason += f"; {_plural(dark, 'frame')} of {state.match.frames} too dark"
    return {"input": source_name, "kind": "live", "accepted": state.state == "unlocked",
            "state": state.state if state.done else "ended", "elapsed": round(state.elapsed, 3),
            "frames": state.match.frames, "matches": state.match.matches, "wall_seconds": round(wall, 3),
            "distance": state.match.last.distance, "threshold": settings.threshold, "reason": reason,
            "liveness": state.liveness.state, "blinks": len(state.liveness.blinks), "challenge": challenge,
            "dark_frames": dark}


def _challenge(args: argparse.Namespace) -> str | None:
    from .liveness import PROMPTS, random_challenge

    if not args.challenge:
        return None
    challenge = random_challenge(None)  # secrets-backed: an attacker cannot prepare for it
    if not args.json:
        print(f"{PROMPTS[challenge]} ...", file=sys.stderr, flush=True)
    return challenge


def _cmd_verify(args: argparse.Namespace) -> int:
    from .camera import SourceError
    from .images import ImageError, read_rgb
    from .verification import Verifier

    if not args.live and (args.challenge or args.timeout is not None):
        raise InputError("--challenge and --timeout apply to a liveness check: add --live")
    store = _store(args)
    if not store.exists(args.name):
        store.load(args.name, PRETRAINED_MODEL_ID)  # raises the store's clear "unknown profile" error
    items = expand_inputs(args.inputs, videos=True)
    pipeline = _pipeline()
    verifier = Verifier(pipeline, store.load(args.name, pipeline.embedder.model_id))
    if args.live:
        return _verify_live(args, verifier)
    results, errors = [], 0
    for item in items:
        name = _source_name(item)
        try:
            if _is_stream(item):
                result = _verify_stream(verifier, item, name, args.dark_threshold)
            else:
                decision = verifier.verify_image(read_rgb(item))
                result = {"input": name, "kind": "photo", **decision.to_dict()}
        except (ImageError, SourceError) as error:
            print(f"faceid: {error}", file=sys.stderr)
            errors += 1
            continue
        results.append(result)
        if not args.json:
            verdict = "MATCH" if result["accepted"] else "NO MATCH"
            distance = "-" if result["distance"] is None else f"{result['distance']:.3f}"
            extra = "" if result["accepted"] or result["reason"] == "no match" else f" ({result['reason']})"
            if result["kind"] == "stream":
                extra += (f"; {result['matches']} matching of {_plural(result['frames'], 'frame')}, "
                          f"{result['elapsed']:.2f} s of video, {result['wall_seconds']:.2f} s wall")
            print(f"{name}: {verdict}{extra}; distance {distance}, threshold {result['threshold']:.3f}")
    if args.json:
        _emit(args, results, "")
    if errors:
        return EXIT_ERROR
    return EXIT_OK if results and all(r["accepted"] for r in results) else EXIT_NO_MATCH


def _live_sources(inputs: Sequence[str]) -> list[Path | int]:
    """Inputs of a live check: videos, cameras (index or device node) and image folders (a folder is one
    stream of frames)."""
    from .camera import path_kind

    items: list[Path | int] = []
    for raw in inputs:
        path = Path(raw)
        camera = CAMERA_SPEC.match(raw)
        kind = path_kind(path)
        if camera and kind == "no such file or folder":
            items.append(int(camera.group(1)))
        elif kind in ("dir", "device") or (kind == "file" and path.suffix.lower() in VIDEO_SUFFIXES):
            items.append(path)
        elif kind == "file":
            raise InputError(f"{path}: a single photo cannot show liveness; give a video, a folder of frames "
                             "or a camera")
        else:
            raise InputError(f"{path}: {kind}")
    return items


def _print_live(args: argparse.Namespace, result: dict) -> None:
    if args.json:
        return
    verdict = "UNLOCKED" if result["accepted"] else "REJECTED"
    distance = "-" if result["distance"] is None else f"{result['distance']:.3f}"
    print(f"{result['input']}: {verdict} ({result['reason']}); liveness {result['liveness']}, "
          f"{_plural(result.get('blinks', 0), 'blink')}; distance {distance}, threshold {result['threshold']:.3f}; "
          f"{result['elapsed']:.2f} s")


def _attempt_limit(verifier, timeout: float | None) -> float:
    """Seconds a live attempt may take: ``timeout``, else what :class:`~faceid_desktop.liveness.LiveUnlock`
    allows by default (the longer of the profile's face timeout and the liveness timeout)."""
    from .liveness import LivenessSettings

    return timeout if timeout is not None else max(verifier.profile.settings.timeout, LivenessSettings().timeout)


def _open_live(item: Path | int, limit: float, dark_threshold: float):
    """Open the source of a live attempt of ``limit`` seconds; a camera's iteration ends on the wall clock
    shortly after the limit, whatever its frames are (dark, faceless, late). A video or folder is timed by
    its playback clock, so that a recorded clip decides the same on a fast or a slow machine."""
    from .camera import is_camera, open_source

    wall = limit + WALL_MARGIN if is_camera(item) else None
    return open_source(item, dark_threshold=dark_threshold, wall_timeout=wall)


def _verify_live(args: argparse.Namespace, verifier) -> int:
    from .camera import SourceError
    from .landmarks68 import Landmarks68

    landmarks = Landmarks68()  # loaded once for every input
    results, errors = [], 0
    for item in _live_sources(args.inputs):
        name = _source_name(item)
        try:
            source = _open_live(item, _attempt_limit(verifier, args.timeout), args.dark_threshold)
            result = _live_attempt(verifier, source, name, args.timeout, _challenge(args), landmarks)
        except SourceError as error:
            print(f"faceid: {error}", file=sys.stderr)
            errors += 1
            continue
        results.append(result)
        _print_live(args, result)
    if args.json:
        _emit(args, results, "")
    if errors:
        return EXIT_ERROR
    return EXIT_OK if results and all(r["accepted"] for r in results) else EXIT_NO_MATCH


# -- auth ----------------------------------------------------------------------------------------------------

#: Environment variables that mark a remote (SSH) session, where the camera is not the person's.
REMOTE_MARKERS = ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")
#: Longest `faceid auth` attempt: one attempt counts once towards the lockout, so it must stay short.
MAX_AUTH_TIMEOUT = 60.0


class _Terminated(BaseException):
    """A termination signal (SIGTERM, SIGHUP) turned into an exception, so that the attempt it ends is
    recorded like any other. A BaseException, as KeyboardInterrupt is: no ``except Exception`` may swallow it."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


@contextlib.contextmanager
def _signals_as_exceptions():
    """Within the block, SIGTERM and SIGHUP raise :class:`_Terminated` (once; a second one is ignored so the
    attempt's record can be written); the previous handlers are restored afterwards. Only the main thread
    can install handlers; elsewhere the block runs unchanged."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {signum: signal.getsignal(signum) for signum in wanted}

    def handler(signum, _frame):
        for other in wanted:
            signal.signal(other, signal.SIG_IGN)
        raise _Terminated(signum)

    for signum in wanted:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _cmd_auth(args: argparse.Namespace) -> int:
    with _signals_as_exceptions():
        try:
            return _auth(args)
        except _Terminated as ended:
            print(f"faceid: terminated by {ended.name}; the attempt is recorded as failed", file=sys.stderr)
            return 128 + ended.signum


def _auth(args: argparse.Namespace) -> int:
    from .camera import SourceError
    from .lockout import AuditLog, Lockout
    from .storage import default_data_dir

    if args.timeout is not None and not 0 < args.timeout <= MAX_AUTH_TIMEOUT:
        raise InputError(f"--timeout must be in (0, {MAX_AUTH_TIMEOUT:g}] seconds, got {args.timeout}")
    store = _store(args)
    root = args.data_dir or default_data_dir()
    audit = AuditLog(root)
    spec = args.camera if args.camera is not None else "0"
    remote = [name for name in REMOTE_MARKERS if os.environ.get(name)]
    if remote and not args.allow_remote:
        audit.log(args.profile, "rejected", None, None, f"refused: remote session ({remote[0]})", spec)
        print(f"faceid: refusing face authentication in a remote session ({remote[0]} is set); "
              "use your password", file=sys.stderr)
        return EXIT_REFUSED
    store.load(args.profile, PRETRAINED_MODEL_ID)  # an unknown or damaged profile: its clear error before the camera opens
    lockout = Lockout(root)
    [source] = _live_sources([spec])
    source_name = _source_name(source)
    status = lockout.status(args.profile)  # early, so a locked profile costs no model load
    if status.locked:
        audit.log(args.profile, "locked out", None, None, status.reason, source_name)
        print(f"faceid: {status.reason}; use your password", file=sys.stderr)
        return EXIT_REFUSED
    try:
        from .verification import Verifier  # torch: only once the attempt may run, so refusals stay quick

        pipeline = _pipeline()
        verifier = Verifier(pipeline, store.load(args.profile, pipeline.embedder.model_id))
    except _Terminated as ended:
        audit.log(args.profile, "rejected", None, None, f"error: terminated by {ended.name} before the camera "
                  "opened", source_name)
        raise
    limit = _attempt_limit(verifier, args.timeout)
    # The check and the reservation are one locked transaction, before any frame is read: attempts started
    # at once cannot all pass the check. The deadline (start-up slack included) ends an attempt whose
    # process was killed outright.
    reservation = lockout.begin(args.profile, limit + 60.0)
    if not reservation.granted:
        audit.log(args.profile, "locked out", None, None, reservation.status.reason, source_name)
        print(f"faceid: {reservation.status.reason}; use your password", file=sys.stderr)
        return EXIT_REFUSED
    try:
        frames = _open_live(source, limit, args.dark_threshold)
    except BaseException as error:
        # No face was looked at: an error (exit 2), not a failed attempt.
        lockout.finish(reservation, None)
        reason = f"terminated by {error.name}" if isinstance(error, _Terminated) else _describe(error)
        audit.log(args.profile, "rejected", None, None, f"error: {reason}", source_name)
        raise
    try:
        result = _live_attempt(verifier, frames, source_name, args.timeout, _challenge(args))
    except BaseException as error:
        # Counted as failed: quitting an attempt early (Ctrl-C, kill) must not be a way to try forever.
        frames.close()
        lockout.finish(reservation, False)
        if isinstance(error, KeyboardInterrupt):
            reason = "interrupted"
        elif isinstance(error, _Terminated):
            reason = f"terminated by {error.name}"
        else:
            reason = f"camera failed: {_describe(error)}" if isinstance(error, SourceError) else _describe(error)
        audit.log(args.profile, "rejected", None, None, reason, source_name)
        raise
    lockout.finish(reservation, bool(result["accepted"]))
    audit.log(args.profile, "unlocked" if result["accepted"] else "rejected", result["distance"],
              result["liveness"], result["reason"], source_name)
    _emit(args, result, "")
    _print_live(args, result)
    return EXIT_OK if result["accepted"] else EXIT_NO_MATCH


# -- profiles, threshold --------------------------------------------------------------------------------------

def _summary(profile) -> dict:
    return {"name": profile.name, "templates": len(profile.templates), "model_id": profile.model_id,
            "settings": vars(profile.settings).copy(), "created_at": profile.created_at,
            "updated_at": profile.updated_at, "adapter": profile.adapter is not None,
            "sources": [t.source for t in profile.templates]}


def _cmd_profiles(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.action == "list":
        names = store.names()
        _emit(args, names, "\n".join(names) if names else "no profiles yet: faceid enroll NAME PHOTO...")
        return EXIT_OK
    if not args.name:
        raise InputError(f"'faceid profiles {args.action}' needs a profile name")
    if args.action == "show":
        summary = _summary(store.load(args.name))
        settings = ", ".join(f"{k} {v}" for k, v in summary["settings"].items())
        _emit(args, summary, f"{summary['name']}: {_plural(summary['templates'], 'template')}; {settings}\n"
              + "\n".join(f"  {s}" for s in summary["sources"]))
        return EXIT_OK
    store.remove(args.name)
    _emit(args, {"removed": args.name}, f"removed profile {args.name}")
    return EXIT_OK


def _estimate(profile) -> str:
    """The estimated FAR (and, without an adapter, FRR) of a profile's threshold, in words."""
    from .calibration import calibrate, describe_frr
    from .loosening import estimate_far

    t = profile.settings.threshold
    far = estimate_far(profile, t)
    if profile.adapter is not None:
        return f"estimated with the adapter: {far.words}"
    return f"estimated: {far.words}; {describe_frr(calibrate(profile).frr_at(t))}"


def _check_loosening(args: argparse.Namespace, profile, threshold: float, apply: bool = True):
    """Say how loose ``threshold`` would be on ``profile``: a warning on stderr above FAR 1e-3, and above
    1e-2 refuse (nothing is changed) unless ``--yes`` was given. Returns the
    :class:`~faceid_desktop.loosening.Loosening`.

    Raises:
        InputError: FAR above 1e-2 without ``--yes`` (when ``apply``).
    """
    import dataclasses

    from .loosening import assess_threshold

    loosening = assess_threshold(dataclasses.replace(profile, settings=dataclasses.replace(
        profile.settings, threshold=threshold)), threshold)
    if loosening.needs_confirmation and apply and not args.yes:
        raise InputError(f"{loosening.message}; nothing changed: add --yes to set it anyway")
    if loosening.level != "ok":
        print(f"faceid: warning: {loosening.message}", file=sys.stderr)
    return loosening


def _change_settings(args: argparse.Namespace, **changes) -> tuple[object, object]:
    """Change a profile's settings atomically; returns (previous, saved) profiles."""
    store = _store(args)
    store.load(args.name, PRETRAINED_MODEL_ID)  # an unknown profile: its clear error (inside update the lock is already held)
    previous: list = []

    def change(current):
        if current is None:
            raise InputError(f"profile {args.name} was removed meanwhile")
        previous.append(current)
        return current.with_settings(**changes)

    saved = store.update(args.name, change)
    return previous[0], saved


def _with_estimate(text: str, profile) -> str:
    estimate = _estimate(profile)
    return f"{text}\n  {estimate}" if estimate else text


def _cmd_threshold(args: argparse.Namespace) -> int:
    from .profile import MAX_DISTANCE, MIN_THRESHOLD

    if args.value is None:
        profile = _store(args).load(args.name)
        old = profile.settings.threshold
        _emit(args, {"name": args.name, "threshold": old}, _with_estimate(f"{args.name}: threshold {old:.3g}", profile))
        return EXIT_OK
    if not MIN_THRESHOLD <= args.value <= MAX_DISTANCE:
        raise InputError(f"threshold must be a distance from {MIN_THRESHOLD} to {MAX_DISTANCE:g}, got {args.value}")
    # Judged before the change, so that a refused loosening writes nothing.
    loosening = _check_loosening(args, _store(args).load(args.name), args.value)
    previous, profile = _change_settings(args, threshold=args.value)
    _emit(args, {"name": args.name, "threshold": args.value, "previous": previous.settings.threshold,
                 "estimated_far": loosening.far, "level": loosening.level},
          _with_estimate(f"{args.name}: threshold {previous.settings.threshold:.3g} -> {args.value:.3g}", profile))
    return EXIT_OK


def _alpha_value(text: str) -> float | str:
    if text == "off":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a distance from 0 to 1 or 'off', got {text!r}") from None


def _cmd_alpha(args: argparse.Namespace) -> int:
    if args.value is None:
        settings = _store(args).load(args.name).settings
        state = f"on, alpha {settings.alpha:.3g}" if settings.rule == "alpha" else f"off (alpha {settings.alpha:.3g})"
        _emit(args, {"name": args.name, "rule": settings.rule, "alpha": settings.alpha},
              f"{args.name}: alpha rule {state}")
        return EXIT_OK
    changes = {"rule": "threshold"} if args.value == "off" else {"rule": "alpha", "alpha": args.value}
    _, profile = _change_settings(args, **changes)
    if args.value != "off" and args.value > LOOSE_ALPHA:
        print(f"faceid: warning: alpha {args.value:.3g} is above {LOOSE_ALPHA}: the owner will often be rejected "
              "(the nearest synthetic stranger is rarely that much farther than the owner)", file=sys.stderr)
    settings = profile.settings
    text = (f"{args.name}: alpha rule on: accept when distance <= {settings.threshold:.3g} and distance + "
            f"{settings.alpha:.3g} <= distance to the nearest cohort stranger" if settings.rule == "alpha"
            else f"{args.name}: alpha rule off: accept when distance <= {settings.threshold:.3g}")
    _emit(args, {"name": args.name, "rule": settings.rule, "alpha": settings.alpha}, text)
    return EXIT_OK


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibration import calibrate, describe_far, describe_frr
    from .profile import MIN_THRESHOLD

    if not 0 < args.far < 1:
        raise InputError(f"--far must be between 0 and 1, got {args.far}")
    store = _store(args)
    profile = store.load(args.name, PRETRAINED_MODEL_ID)
    if profile.adapter is not None:
        raise InputError(f"profile {args.name} is adapted (faceid train); calibration describes the pretrained "
                         f"network: drop the adapter first with faceid train {args.name} --off")
    calibration = calibrate(profile)
    threshold = round(calibration.threshold_for_far(args.far), 3)
    if threshold < MIN_THRESHOLD:
        raise InputError(f"--far {args.far:g} is below what the population statistics can estimate for this "
                         f"profile (about {calibration.far_at(MIN_THRESHOLD):.0e} at the smallest threshold, "
                         f"{MIN_THRESHOLD})")
    far, frr = calibration.far_at(threshold), calibration.frr_at(threshold)
    _check_loosening(args, profile, threshold, apply=not args.dry_run)
    payload = {"name": args.name, "target_far": args.far, "threshold": threshold, "estimated_far": far,
               "estimated_frr": frr, "dry_run": args.dry_run}
    if not args.dry_run:
        previous, _ = _change_settings(args, threshold=threshold)
        payload["previous"] = previous.settings.threshold
    verb = "would set" if args.dry_run else "set"
    _emit(args, payload, f"{args.name}: {verb} threshold {threshold:.3f} for FAR {args.far:g}: "
          f"{describe_far(far)}; {describe_frr(frr)} (estimated from {len(profile.templates)} templates)")
    return EXIT_OK


# -- train ---------------------------------------------------------------------------------------------------

def _cmd_train(args: argparse.Namespace) -> int:
    from .adaptation import adapter_from_result, chips_from_sources, largest_face_chips, with_adapter
    from .background import BackgroundModel
    from .enrollment import SAME_PERSON_DISTANCE
    from .verification import distances
    from .images import read_rgb
    from .training import TrainingConfig, train_owner

    store = _store(args)
    profile = store.load(args.name, PRETRAINED_MODEL_ID)
    if args.off:
        if args.inputs or args.not_me:
            raise InputError("--off takes no photos")
        store.update(args.name, lambda current: with_adapter(current or store.load(args.name), None))
        _emit(args, {"name": args.name, "adapter": False}, f"{args.name}: adapter dropped; threshold back to the default")
        return EXIT_OK
    store.check_writable()
    pipeline = _pipeline()
    profile = store.load(args.name, pipeline.embedder.model_id)
    def far_from_owner(vectors: np.ndarray) -> np.ndarray:
        # The enrollment's own test for "a different person".
        return distances(vectors, profile.embeddings, "mean") > SAME_PERSON_DISTANCE

    if args.inputs:
        owner = largest_face_chips(pipeline, [read_rgb(p) for p in expand_inputs(args.inputs)])
        if len(owner) and far_from_owner(pipeline.embedder.embed(owner)).any():
            raise InputError(f"some of these photos look like a different person from profile {args.name}; "
                             "train only on the owner's photos")
        missing: list[str] = []
    else:
        owner, missing = chips_from_sources(pipeline, profile)
    if len(owner) < 2:
        raise InputError(f"training needs at least 2 photos of the owner; found {len(owner)} "
                         f"({len(missing)} enrollment sources cannot be read again: pass the owner's photos)")
    notes = []
    not_me = None
    if args.not_me:
        not_me = largest_face_chips(pipeline, [read_rgb(p) for p in expand_inputs(args.not_me)])
        keep = far_from_owner(pipeline.embedder.embed(not_me)) if len(not_me) else np.zeros(0, bool)
        if not keep.all():
            notes.append(f"{_plural(int((~keep).sum()), 'not-me photo')} looking like the owner left out")
        not_me = not_me[keep] if keep.any() else None
    others = []
    for other in store.names():
        if other == args.name:
            continue
        try:
            embeddings = store.load(other, pipeline.embedder.model_id).embeddings
        except (ValueError, OSError):
            continue  # a damaged or foreign profile is no reason not to train this one
        if len(embeddings) and far_from_owner(embeddings.mean(axis=0)[None]).all():
            others.append(embeddings)
        else:  # the same person under another name must not be trained away as a stranger
            notes.append(f"profile {other} looks like the same person: not used as a stranger")
    negatives = np.concatenate(others) if others else None
    show = sys.stderr.isatty() and not args.json

    def progress(p) -> None:
        if show:
            print(f"\rtraining {p.step}/{p.steps}: loss {p.loss:.4f}, {p.active_triplets:.0%} active triplets, "
                  f"{p.remaining:.0f} s left ", end="", file=sys.stderr, flush=True)

    result = train_owner(pipeline.embedder.network, owner, not_me_chips=not_me, negative_embeddings=negatives,
                         background=BackgroundModel.load(), config=TrainingConfig(seed=args.seed), progress=progress)
    if show:
        print(file=sys.stderr)
    adapter = adapter_from_result(result)
    saved = store.update(args.name, lambda current: with_adapter(current or profile, adapter),
                         pipeline.embedder.model_id)
    payload = {"name": args.name, "adapter": True, "owner_chips": len(owner), "not_me_chips": 0 if not_me is None else len(not_me),
               "other_profiles": len(others), "skipped_sources": missing, "notes": notes, "seconds": round(result.seconds, 2),
               "final_loss": result.losses[-1] if result.losses else None, "threshold": saved.settings.threshold}
    note = f"; {_plural(len(missing), 'source')} not found again" if missing else ""
    note += "".join(f"; {n}" for n in notes)
    _emit(args, payload, f"{args.name}: adapted on {_plural(len(owner), 'owner chip')}, "
          f"{payload['not_me_chips']} not-me chips, {_plural(len(others), 'other profile')} in {result.seconds:.1f} s"
          f"{note}; threshold {saved.settings.threshold:.2f}. Measured on the owner protocol, adaptation did not "
          f"lower the error rates: undo with faceid train {args.name} --off\n  {_estimate(saved)}")
    return EXIT_OK


# -- parser --------------------------------------------------------------------------------------------------

def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage from 0 to 100, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 600, got {text!r}")
    return value


def _directory(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("empty directory name")
    return Path(text).expanduser()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``faceid`` and its subcommands."""
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print machine-readable JSON")
    data = argparse.ArgumentParser(add_help=False, parents=[as_json])
    data.add_argument("--data-dir", type=_directory, metavar="DIR",
                      help="where profiles are kept (default: $FACEID_HOME, else the user data directory)")
    frames = argparse.ArgumentParser(add_help=False)
    frames.add_argument("--dark-threshold", type=_percent, default=DEFAULT_DARK_THRESHOLD, metavar="PERCENT",
                        help="a frame without a face is reported as too dark when more than PERCENT of its "
                        f"pixels are in the darkest eighth (after contrast equalisation; default "
                        f"{DEFAULT_DARK_THRESHOLD:g}, Howdy's); 100: never")

    parser = argparse.ArgumentParser(prog="faceid", description="FaceID Desktop: face unlock through an ordinary webcam.")
    parser.add_argument("--version", action="version", version=f"faceid {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enroll = commands.add_parser("enroll", parents=[data, frames], help="create a profile from photos, folders, videos or a camera",
                                 description="Create profile NAME from the faces in photos, folders of photos, videos "
                                 "(good frames are picked) or a camera (N or camera:N, filmed for 6 s). Prints how many "
                                 "templates were kept and why others were dropped. All inputs must show one person.")
    enroll.add_argument("name", metavar="NAME", help="profile name (letters, digits, . _ -)")
    enroll.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, folders of photos, videos, camera index")
    enroll.add_argument("--add", action="store_true", help="add templates to profile NAME (created if missing)")
    enroll.add_argument("--seconds", type=_seconds, default=6.0, metavar="SECONDS",
                        help="how long a camera is filmed, wall-clock seconds (default 6)")
    enroll.set_defaults(run=_cmd_enroll)

    verify = commands.add_parser("verify", parents=[data, frames], help="check photos, videos or a camera against a profile",
                                 description="Decide whether each input shows the owner of profile NAME. A photo is "
                                 "one decision; a video or camera (N or camera:N) uses the multi-frame rule. Exit code "
                                 "0 when every input matched, 1 when one did not, 2 on an error. Without --live a photo of "
                                 "the owner matches.")
    verify.add_argument("name", metavar="NAME", help="profile name")
    verify.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, folders, videos, or a camera index")
    verify.add_argument("--live", action="store_true", help="also require liveness (a blink, or the --challenge) "
                        "on each video, folder of frames or camera: " + _LICENCE_NOTE)
    verify.add_argument("--challenge", action="store_true", help="with --live: ask for a random blink or head turn")
    verify.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="with --live: seconds for the match and the liveness (default 10): wall-clock "
                        "seconds for a camera, playback seconds for a video or folder")
    verify.set_defaults(run=_cmd_verify)

    auth = commands.add_parser("auth", parents=[data, frames], help="authenticate a profile's owner live (for PAM and scripts)",
                               description="Open the camera (or --camera VIDEO/FOLDER), and exit 0 only when the "
                               "owner of --profile is matched and shown live within --timeout. Exit 1 no match or "
                               "not live, 2 error, 3 refused (remote session, or locked out after failed attempts). "
                               "Every attempt is logged (no images) in the data directory's audit.jsonl.")
    auth.add_argument("--profile", required=True, metavar="NAME", help="profile name")
    auth.add_argument("--timeout", type=float, metavar="SECONDS",
                      help="seconds for the attempt (default 10): wall-clock seconds for a camera (ended at "
                      "most half a second later whatever it sends), playback seconds for a video or folder")
    auth.add_argument("--camera", metavar="SPEC", help="camera index (default 0) or device (/dev/video2), video "
                      "file or folder of frames")
    auth.add_argument("--challenge", action="store_true", help="ask for a random blink or head turn")
    auth.add_argument("--allow-remote", action="store_true", help="allow running in an SSH session")
    auth.set_defaults(run=_cmd_auth)

    profiles = commands.add_parser("profiles", parents=[data], help="list, show or remove profiles",
                                   description="List the profiles, show one, or remove one.")
    profiles.add_argument("action", choices=("list", "show", "remove"))
    profiles.add_argument("name", nargs="?", metavar="NAME", help="profile name (show, remove)")
    profiles.set_defaults(run=_cmd_profiles)

    threshold = commands.add_parser("threshold", parents=[data], help="show or set a profile's distance threshold",
                                    description="Show the distance threshold of profile NAME, or set it to VALUE "
                                    "(a distance between unit-length embeddings; smaller is stricter: fewer strangers accepted, more "
                                    "retries for the owner; the default 0.95 accepts about 1 in 100,000 strangers' photos).")
    threshold.add_argument("name", metavar="NAME", help="profile name")
    threshold.add_argument("value", nargs="?", type=float, metavar="VALUE", help="new threshold (distance, 0.05-2)")
    threshold.add_argument("--yes", action="store_true",
                           help="set it even when more than 1 stranger in 100 would be accepted")
    threshold.set_defaults(run=_cmd_threshold)

    alpha = commands.add_parser("alpha", parents=[data], help="show, set or turn off a profile's alpha (cohort) rule",
                                description="With VALUE (a distance, 0-1), turn on the alpha rule: accept only when "
                                "distance + VALUE <= the distance to the nearest of a fixed cohort of synthetic strangers, "
                                "besides the threshold. 'off' goes back to the threshold rule alone.")
    alpha.add_argument("name", metavar="NAME", help="profile name")
    alpha.add_argument("value", nargs="?", type=_alpha_value, metavar="VALUE", help="margin (0-1) or off")
    alpha.set_defaults(run=_cmd_alpha)

    calibrate = commands.add_parser("calibrate", parents=[data], help="set a profile's threshold for a target FAR",
                                    description="Estimate the profile's error rates from its own templates and the "
                                    "population statistics shipped with FaceID Desktop, and set the threshold whose "
                                    "estimated false accept rate is --far.")
    calibrate.add_argument("name", metavar="NAME", help="profile name")
    calibrate.add_argument("--far", type=float, default=1e-5, help="target false accept rate (default 1e-5)")
    calibrate.add_argument("--dry-run", action="store_true", help="print the threshold without setting it")
    calibrate.add_argument("--yes", action="store_true",
                           help="set it even when more than 1 stranger in 100 would be accepted")
    calibrate.set_defaults(run=_cmd_calibrate)

    train = commands.add_parser("train", parents=[data], help="adapt the network to a profile's owner (triplet loss)",
                                description="Train an adapter on the owner's photos (the profile's enrollment photos "
                                "and video frames, or INPUTs) against 'not me' photos, the other profiles and the "
                                "population model, and store it in the profile with its threshold. --off drops it.")
    train.add_argument("name", metavar="NAME", help="profile name")
    train.add_argument("inputs", nargs="*", metavar="INPUT", help="owner photos or folders (default: the enrollment sources)")
    train.add_argument("--not-me", nargs="+", metavar="PATH", help="photos or folders of other people")
    train.add_argument("--seed", type=int, default=0, help="random seed (same seed, same adapter)")
    train.add_argument("--off", action="store_true", help="drop the profile's adapter")
    train.set_defaults(run=_cmd_train)

    embed = commands.add_parser("embed", parents=[as_json], help="print the 128-d embedding of the largest face of each photo",
                                description="Detect faces in photos and print the 128-d embedding of the largest one "
                                "(unit length, SFace: distances below about 0.95 mean the same person).")
    embed.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files or folders of photos")
    embed.set_defaults(run=_cmd_embed)
    return parser


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename and error.strerror and not str(error).startswith(str(error.filename)):
        return f"{error.filename}: {error.strerror}"
    return str(error)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``faceid``; returns the exit code."""
    try:
        # OpenCV and FFmpeg would print their own warnings for every unreadable video or missing camera;
        # our one-line errors say the same, so their log is limited to real errors.
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        args = build_parser().parse_args(argv)
        from .threads import configure_threads, prepare_environment

        prepare_environment()
        configure_threads()
        return args.run(args)
    except (ValueError, OSError) as error:  # InputError, ProfileError, ImageError, SourceError, ...
        print(f"faceid: {_describe(error)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("faceid: interrupted; nothing written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `faceid profiles show me | head -1`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:  # a bug: still one line, with the way to see the traceback
        if os.environ.get("FACEID_DEBUG"):
            raise
        print(f"faceid: unexpected error ({type(error).__name__}: {error}); "
              "run with FACEID_DEBUG=1 to see where", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
