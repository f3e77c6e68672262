"""``faceid verify``: whether photos, videos or a camera show a profile's owner (with ``--live``, alive)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..formats import VIDEO_SUFFIXES
from ..model_files import PRETRAINED_MODEL_ID
from . import common, live
from .common import (EXIT_ERROR, EXIT_NO_MATCH, EXIT_OK, LICENCE_NOTE, InputError, Parents, emit, expand_inputs,
                     is_stream, one_line, open_store, plural, input_name, seconds)
from .live import (MODE_HELP, MODES, WALL_MARGIN, attempt_limit, dark_reason, live_sources, open_live, pick_challenge,
                   print_live, say_prompt)


def add_command(commands, parents: Parents) -> None:
    """Define ``verify`` on the subcommand group ``commands``."""
    verify = commands.add_parser("verify", parents=[parents.data, parents.frames], help="check photos, videos or a camera against a profile",
                                 description="Decide whether each input shows the owner of profile NAME. A photo is "
                                 "one decision; a video or camera (N or camera:N) uses the multi-frame rule. Exit code "
                                 "0 when every input matched, 1 when one did not, 2 on an error. Without --live a photo of "
                                 "the owner matches. A check, not an unlock: it unlocks nothing and counts towards no "
                                 "lockout (faceid auth does both).")
    verify.add_argument("name", metavar="NAME", help="profile name")
    verify.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, folders, videos, or a camera index")
    verify.add_argument("--live", action="store_true", help="also require liveness (see --mode) on each video, "
                        "folder of frames or camera: " + LICENCE_NOTE)
    verify.add_argument("--mode", choices=MODES, help=f"with --live: the liveness mode (default convenience): {MODE_HELP}")
    verify.add_argument("--timeout", type=seconds, metavar="SECONDS",
                        help="with --live: seconds for the match and the blink (default: the profile's 4 s for the "
                        "face, 12 s for the blink; secure mode adds 4 s per action asked): wall-clock seconds for a "
                        "camera, playback seconds for a video or folder")
    verify.set_defaults(run=run)


def _kind(spec: Path | int) -> str:
    """What a stream input is, in a word: ``video`` for a video file, else ``camera``."""
    return "video" if isinstance(spec, Path) and spec.suffix.lower() in VIDEO_SUFFIXES else "camera"


def stream_reason(state, settings, timed_out: bool, kind: str) -> str:
    """Why a stream ended as it did, as one clause (it is printed inside parentheses, so it has none).

    Args:
        state: the last :class:`~faceid_desktop.verification.StreamDecision`.
        settings: the profile's decision settings.
        timed_out: the source stopped on the wall clock before the rule decided.
        kind: ``video`` or ``camera``.
    """
    from ..verification import match_progress

    progress = match_progress(state.matches, state.frames, settings)
    if state.done:
        if state.state != "rejected":
            return "match"
        if state.matches >= settings.frames_to_accept:
            # the timeout is checked first: the frames needed matched, but on a frame after the limit
            return f"timed out after {settings.timeout:g} s: {progress}, but only after the timeout"
        if state.last.accepted:
            return f"timed out after {settings.timeout:g} s: {progress}"
        return state.last.reason
    if timed_out:
        return f"timed out after {settings.timeout:g} s, last frame: {state.last.reason}"
    return f"the {kind} ended before a decision: {progress}"


def verify_stream(verifier, spec: Path | int, source_name: str, dark_threshold: float) -> dict:
    """The multi-frame rule on a video or camera. A camera's timeout is wall-clock time; a video's is its
    own playback time (so a clip decides the same at any speed)."""
    import cv2

    from ..camera import is_camera, open_source
    from ..verification import StreamVerifier

    settings = verifier.profile.settings
    stream = StreamVerifier(settings)
    started = time.perf_counter()
    state = None
    wall = settings.timeout + WALL_MARGIN if is_camera(spec) else None
    with open_source(spec, dark_threshold=dark_threshold, wall_timeout=wall) as source:
        for frame in source:
            decision = dark_reason(verifier.verify_image(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)), frame)
            state = stream.update(decision, frame.timestamp)
            if state.done:
                break
        dark_frames, timed_out = source.dark_frames, source.timed_out
    wall_seconds = time.perf_counter() - started
    if state is None:
        return {"input": source_name, "kind": "stream", "accepted": False, "state": "ended", "elapsed": 0.0,
                "frames": 0, "matches": 0, "wall_seconds": round(wall_seconds, 3), "distance": None,
                "threshold": settings.threshold, "reason": "no frames", "dark_frames": dark_frames}
    reason = stream_reason(state, settings, timed_out, _kind(spec))
    if not state.state == "accepted" and dark_frames and state.last.distance is None:
        reason += f"; {plural(dark_frames, 'frame')} of {state.frames} too dark"
    return {"input": source_name, "kind": "stream", "accepted": state.state == "accepted",
            "state": state.state if state.done else "ended", "elapsed": round(state.elapsed, 3),
            "frames": state.frames, "matches": state.matches, "wall_seconds": round(wall_seconds, 3),
            "distance": state.last.distance, "threshold": settings.threshold, "reason": reason,
            "dark_frames": dark_frames, "nearest_negative": state.last.nearest_negative}


def run(args: argparse.Namespace) -> int:
    """Decide each input; exit 0 when all matched, 1 when one did not, 2 when one could not be read.

    Raises:
        InputError: --mode or --timeout without --live, or an input that cannot be used.
    """
    from ..camera import SourceError
    from ..images import ImageError, read_rgb
    from ..verification import Verifier

    if not args.live and (args.mode is not None or args.timeout is not None):
        raise InputError("--mode and --timeout apply to a liveness check: add --live")
    store = open_store(args)
    if not store.exists(args.name):
        store.load(args.name, PRETRAINED_MODEL_ID)  # raises the store's clear "unknown profile" error
    items = expand_inputs(args.inputs, videos=True)
    pipeline = common.load_pipeline()
    verifier = Verifier(pipeline, store.load(args.name, pipeline.embedder.model_id))
    if args.live:
        return verify_live(args, verifier)
    results, errors = [], 0
    for item in items:
        name = input_name(item)
        try:
            if is_stream(item):
                result = verify_stream(verifier, item, name, args.dark_threshold)
            else:
                decision = verifier.verify_image(read_rgb(item))
                result = {"input": name, "kind": "photo", **decision.to_dict()}
        except (ImageError, SourceError) as error:
            print(f"faceid: {one_line(str(error))}", file=sys.stderr)
            results.append({"input": name, "error": str(error)})  # --json says which input failed too
            errors += 1
            continue
        results.append(result)
        if not args.json:
            verdict = "MATCH" if result["accepted"] else "NO MATCH"
            distance = "-" if result["distance"] is None else f"{result['distance']:.3f}"
            extra = "" if result["accepted"] or result["reason"] == "no match" else f" ({result['reason']})"
            if result["kind"] == "stream":
                extra += (f"; {result['matches']} matching of {plural(result['frames'], 'frame')}, "
                          f"{result['elapsed']:.2f} s of video, {result['wall_seconds']:.2f} s wall")
            cohort = result.get("nearest_negative")
            if cohort is not None:  # the alpha rule's other distance: the decision is not the threshold's alone
                extra += f"; nearest cohort stranger {cohort:.3f} (alpha {verifier.profile.settings.alpha:.3g})"
            print(f"{one_line(name)}: {verdict}{extra}; distance {distance}, threshold {result['threshold']:.3f}")
    if args.json:
        emit(args, results, "")
    if errors:
        return EXIT_ERROR
    return EXIT_OK if results and all(r["accepted"] for r in results) else EXIT_NO_MATCH


def verify_live(args: argparse.Namespace, verifier) -> int:
    """``verify --live``: one live attempt per video, folder of frames or camera."""
    from ..camera import SourceError

    results, errors = [], 0
    for item in live_sources(args.inputs):
        name = input_name(item)
        try:
            challenge = pick_challenge(args.mode or "convenience")
            source = open_live(item, attempt_limit(verifier, args.timeout, challenge), args.dark_threshold)
            result = live.live_attempt(verifier, source, name, args.timeout, challenge,
                                       on_prompt=None if args.json else say_prompt)
        except SourceError as error:
            print(f"faceid: {one_line(str(error))}", file=sys.stderr)
            results.append({"input": name, "error": str(error)})
            errors += 1
            continue
        results.append(result)
        print_live(args, result, accepted="LIVE MATCH")
    if args.json:
        emit(args, results, "")
    if errors:
        return EXIT_ERROR
    return EXIT_OK if results and all(r["accepted"] for r in results) else EXIT_NO_MATCH
