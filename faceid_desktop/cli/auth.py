"""``faceid auth``: one live authentication of a profile's owner, for PAM and scripts: counted towards the
lock-out, logged in the audit file, refused in a remote session."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from ..model_files import PRETRAINED_MODEL_ID
from . import common, live
from .common import (EXIT_INTERRUPTED, EXIT_NO_MATCH, EXIT_OK, EXIT_REFUSED, InputError, Parents, describe_error,
                     emit, input_name, open_store, seconds)
from .live import MODE_HELP, MODES, attempt_limit, live_sources, open_live, pick_challenge, print_live, say_prompt

#: Environment variables that mark a remote (SSH) session, where the camera is not the person's.
REMOTE_MARKERS = ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")
#: Longest `faceid auth` attempt: one attempt counts once towards the lockout, so it must stay short.
MAX_AUTH_TIMEOUT = 60.0


def add_command(commands, parents: Parents) -> None:
    """Define ``auth`` on the subcommand group ``commands``."""
    auth = commands.add_parser("auth", parents=[parents.data, parents.frames], help="authenticate a profile's owner live (for PAM and scripts)",
                               description="Open the camera (or --camera VIDEO/FOLDER), and exit 0 only when the "
                               "owner of --profile is matched and shown live within --timeout. Exit 1 no match or "
                               "not live, 2 error, 3 refused (remote session, or locked out after failed attempts). "
                               "Every attempt is logged (no images) in the data directory's audit.jsonl.")
    auth.add_argument("--profile", required=True, metavar="NAME", help="profile name")
    auth.add_argument("--timeout", type=auth_seconds, metavar="SECONDS",
                      help=f"seconds for the face to match, at most {MAX_AUTH_TIMEOUT:g} (and, in convenience mode, "
                      "to blink; default: the profile's 4 s for the face, 12 s for the blink); secure mode adds 4 s "
                      "per action asked. "
                      "Wall-clock seconds for a camera (ended at most half a second later whatever it sends), "
                      "playback seconds for a video or folder")
    auth.add_argument("--camera", metavar="SPEC", help="camera index (default 0) or device (/dev/video2), video "
                      "file or folder of frames")
    auth.add_argument("--mode", choices=MODES, default="secure", help=f"liveness mode (default secure): {MODE_HELP}")
    auth.add_argument("--allow-remote", action="store_true", help="allow running in an SSH session")
    auth.set_defaults(run=run, error_object=_error_object)


class _Terminated(BaseException):
    """A termination signal (SIGTERM, SIGHUP) turned into an exception, so that the attempt it ends is
    recorded like any other. A BaseException, as KeyboardInterrupt is: no ``except Exception`` may swallow it."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


@contextlib.contextmanager
def signals_as_exceptions():
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


def auth_seconds(text: str) -> float:
    """``--timeout`` of an authentication: seconds above 0 and at most :data:`MAX_AUTH_TIMEOUT` (a PAM
    prompt must not hang the login for minutes).

    Raises:
        argparse.ArgumentTypeError: not a number in that range.
    """
    return seconds(text, MAX_AUTH_TIMEOUT)


def run(args: argparse.Namespace) -> int:
    """Run one attempt; a termination signal ends it as a recorded failure (exit 128 + the signal). With
    ``--json`` every outcome prints one JSON object on stdout, a refusal or an error too (its reason in
    ``reason``; main() prints the one of an error that ends the attempt), so that a script reading it never
    gets an empty line."""
    with signals_as_exceptions():
        try:
            return _auth(args)
        except _Terminated as ended:
            _refusal(args, "error", f"terminated by {ended.name}")
            print(f"faceid: terminated by {ended.name}; the attempt is recorded as failed", file=sys.stderr)
            return 128 + ended.signum
        except KeyboardInterrupt:
            _refusal(args, "error", "interrupted")
            raise


def _attempt(args: argparse.Namespace, state: str, reason: str) -> dict:
    """An attempt that did not run (``refused``) or failed (``error``), as its JSON object."""
    return {"profile": args.profile, "input": args.camera if args.camera is not None else "0",
            "kind": "live", "accepted": False, "state": state, "reason": reason}


def _error_object(args: argparse.Namespace, message: str) -> dict:
    """What ``--json`` prints when an error ends the attempt (main() prints it): the attempt's fields, so
    that every outcome has the same keys, and ``error`` as for every command."""
    return {**_attempt(args, "error", message), "error": message}


def _refusal(args: argparse.Namespace, state: str, reason: str) -> None:
    """With ``--json``: print :func:`_attempt` as one JSON object."""
    if args.json:
        emit(args, _attempt(args, state, reason), "")


def _auth(args: argparse.Namespace) -> int:
    from ..camera import SourceError
    from ..lockout import AuditLog, Lockout
    from ..storage import default_data_dir

    store = open_store(args)
    root = args.data_dir or default_data_dir()
    audit = AuditLog(root)
    spec = args.camera if args.camera is not None else "0"
    remote = [name for name in REMOTE_MARKERS if os.environ.get(name)]
    if remote and not args.allow_remote:
        audit.log(args.profile, "rejected", None, None, f"refused: remote session ({remote[0]})", spec)
        _refusal(args, "refused", f"remote session ({remote[0]} is set)")
        print(f"faceid: refusing face authentication in a remote session ({remote[0]} is set); "
              "use your password", file=sys.stderr)
        return EXIT_REFUSED
    if not store.exists(args.profile):
        # not the store's own message, which lists the enrolled names: a login prompt shows this line to
        # whoever typed the user name
        raise InputError(f"unknown profile {args.profile!r}: nobody is enrolled under that name "
                         f"(faceid enroll {args.profile} PHOTO...)")
    store.load(args.profile, PRETRAINED_MODEL_ID)  # a damaged profile: its clear error before the camera opens
    lockout = Lockout(root)
    [source] = live_sources([spec])
    source_name = input_name(source)
    status = lockout.status(args.profile)  # early, so a locked profile costs no model load
    if status.locked:
        audit.log(args.profile, "locked out", None, None, status.reason, source_name)
        _refusal(args, "refused", status.reason)
        print(f"faceid: {status.reason}; use your password", file=sys.stderr)
        return EXIT_REFUSED
    try:
        from ..verification import Verifier  # torch: only once the attempt may run, so refusals stay quick

        pipeline = common.load_pipeline()
        verifier = Verifier(pipeline, store.load(args.profile, pipeline.embedder.model_id))
    except _Terminated as ended:
        audit.log(args.profile, "rejected", None, None, f"error: terminated by {ended.name} before the camera "
                  "opened", source_name)
        raise
    challenge = pick_challenge(args.mode)
    limit = attempt_limit(verifier, args.timeout, challenge)
    # The check and the reservation are one locked transaction, before any frame is read: attempts started
    # at once cannot all pass the check. The deadline (start-up slack included) ends an attempt whose
    # process was killed outright.
    reservation = lockout.begin(args.profile, limit + 60.0)
    if not reservation.granted:
        audit.log(args.profile, "locked out", None, None, reservation.status.reason, source_name)
        _refusal(args, "refused", reservation.status.reason)
        print(f"faceid: {reservation.status.reason}; use your password", file=sys.stderr)
        return EXIT_REFUSED
    try:
        frames = open_live(source, limit, args.dark_threshold)
    except BaseException as error:
        # No face was looked at: an error (exit 2), not a failed attempt.
        lockout.finish(reservation, None)
        reason = f"terminated by {error.name}" if isinstance(error, _Terminated) else describe_error(error)
        audit.log(args.profile, "rejected", None, None, f"error: {reason}", source_name)
        raise
    try:
        result = live.live_attempt(verifier, frames, source_name, args.timeout, challenge, on_prompt=say_prompt)
    except BaseException as error:
        # Counted as failed: quitting an attempt early (Ctrl-C, kill) must not be a way to try forever.
        frames.close()
        lockout.finish(reservation, False)
        if isinstance(error, KeyboardInterrupt):
            reason = "interrupted"
        elif isinstance(error, _Terminated):
            reason = f"terminated by {error.name}"
        else:
            reason = f"camera failed: {describe_error(error)}" if isinstance(error, SourceError) else describe_error(error)
        audit.log(args.profile, "rejected", None, None, reason, source_name)
        if isinstance(error, KeyboardInterrupt):  # main()'s "nothing written" would be untrue here
            _refusal(args, "error", reason)
            print("faceid: interrupted; the attempt is recorded as failed", file=sys.stderr)
            return EXIT_INTERRUPTED
        raise
    lockout.finish(reservation, bool(result["accepted"]))
    audit.log(args.profile, "unlocked" if result["accepted"] else "rejected", result["distance"],
              result["liveness"], result["reason"], source_name)
    emit(args, result, "")
    print_live(args, result)
    return EXIT_OK if result["accepted"] else EXIT_NO_MATCH
