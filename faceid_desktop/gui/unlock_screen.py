"""The unlock screen: live preview with the face box, a lock icon that follows the state, unlock under the
multi-frame rule with liveness (blink, or a random challenge), the persistent lock-out, an ``unlocked``
signal and an optional command run on unlock.

Everything that decides (the core's scorer, liveness, lock-out and audit log) runs in the processing thread
through :class:`~faceid_desktop.gui.unlock_logic.UnlockController`; this widget only shows the status each
frame brings and forwards the user's changes as requests.
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Callable

from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..camera import Frame
from ..landmarks68 import LANDMARKS_68_LICENCE
from ..liveness import CONVENIENCE, MODE_TEXT, SECURE, LivenessSettings
from ..lockout import AuditLog, Lockout
from ..pipeline import FacePipeline
from ..profile import DecisionSettings, Profile
from ..verification import ProfileScorer
from . import theme
from .analysis import FrameAnalysis, analyse_for_verification, frame_rgb
from .camera_view import CameraView
from .camera_worker import CameraHub, source_name
from .unlock_logic import (CHECKING_LIVENESS, FACE_FOUND, LOCKED_OUT, REJECTED, SEARCHING, UNLOCKED, VERIFYING,
                           LivenessOptions, UnlockController, UnlockStatus)
from .widgets import LockIcon


def unlock_task(controller: UnlockController, skipped: Callable[[float, float], list[Frame]] | None = None):
    """A processing-thread task: analyse the frame, then let ``controller`` decide it, check liveness and
    record the attempt. Returns (:class:`~faceid_desktop.gui.analysis.FrameAnalysis`, :class:`UnlockStatus`).

    Args:
        controller: the unlock state machine.
        skipped: (after, before) -> the camera frames between two processed ones
            (:meth:`~faceid_desktop.newest_frame.LatestFrame.between`); the liveness check sees them
            first, so a blink is not missed when recognition is slower than the camera.
    """
    last: list[float | None] = [None]

    def task(pipeline: FacePipeline, frame: Frame) -> tuple[FrameAnalysis, UnlockStatus]:
        if skipped is not None and last[0] is not None:
            for older in skipped(last[0], frame.timestamp):
                controller.observe(older.timestamp, frame_rgb(older))
        last[0] = frame.timestamp
        analysis, image = analyse_for_verification(pipeline, frame)
        embedded = analysis.face
        vector = embedded.vector if embedded is not None and analysis.problem is None else None
        status = controller.update(vector, analysis.problem, len(analysis.boxes), frame.timestamp,
                                   image=image, face=embedded.face if embedded is not None else None)
        decision = status.decision
        return dataclasses.replace(analysis, decision=decision,
                                   distance=decision.distance if decision is not None else None), status
    return task


def match_text(matches: int, settings: DecisionSettings) -> str:
    """How far the multi-frame rule is, e.g. ``1 of the last 5 frames matched (2 needed)``."""
    return (f"{matches} of the last {settings.window} frame{'s' if settings.window != 1 else ''} matched "
            f"({settings.frames_to_accept} needed)")


def sentence(text: str) -> str:
    """``text`` as a sentence: first letter upper case, a full stop at the end ('' stays '')."""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def rejected_title(status: UnlockStatus) -> str:
    """The title of a failed attempt: ``Not recognised`` when the face never matched (a stranger must not be
    told to blink), else ``Not unlocked`` (the face matched, liveness did not pass: the liveness result is
    reported only once the face matched)."""
    return "Not recognised" if status.liveness is None else "Not unlocked"


def locked_out_text(outcome: str) -> str:
    """The details line of a locked-out screen: why, then the last attempt's outcome as its own sentence."""
    return " ".join(part for part in ("Too many failed attempts.", sentence(outcome)) if part)


class UnlockScreen(QWidget):
    """Unlock with the selected profile.

    Args:
        hub: the camera hub.
        on_unlock: a command line run (without a shell) each time the screen unlocks, or None.
        lockout: the persistent lock-out (default: the one of the data directory).
        audit: the audit log (default: the one of the data directory).
        liveness: whether and how liveness is checked (default: on, passive blink check).

    Signals:
        unlocked(str, float): the profile's name and the seconds the attempt took (stream time).
        state_changed(str): the new state (``searching``, ``face found``, ``verifying``,
            ``checking liveness``, ``unlocked``, ``locked out``).
        message(str): a one-line message for the status bar (the unlock command failed, ...).
        fullscreen_requested(): the Full screen button was pressed.
        liveness_changed(object): the user changed the liveness options (:class:`LivenessOptions`).
    """

    unlocked = Signal(str, float)
    state_changed = Signal(str)
    message = Signal(str)
    fullscreen_requested = Signal()
    liveness_changed = Signal(object)

    def __init__(self, hub: CameraHub, on_unlock: str | None = None, lockout: Lockout | None = None,
                 audit: AuditLog | None = None, liveness: LivenessOptions | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self.on_unlock = on_unlock
        self.lockout = lockout if lockout is not None else Lockout()
        self.audit = audit if audit is not None else AuditLog()
        self.liveness = liveness or LivenessOptions()
        self.profile: Profile | None = None
        self.controller: UnlockController | None = None
        self.status = UnlockStatus(SEARCHING)
        self._task = None
        self._active = False

        self.view = CameraView(hub)
        self.lock = LockIcon(128)
        self.title = QLabel("Choose a profile")
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.8)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.hint = QLabel("")
        hint_font = QFont(self.hint.font())
        hint_font.setPointSizeF(hint_font.pointSizeF() * 1.4)
        hint_font.setBold(True)
        self.hint.setFont(hint_font)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(f"color: {theme.STATE_COLOURS[CHECKING_LIVENESS]};")
        self.details = QLabel("")
        self.details.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.details.setWordWrap(True)
        self.lock_button = QPushButton("&Lock again")
        self.lock_button.clicked.connect(self.lock_again)
        self.lock_button.setEnabled(False)
        self.fullscreen_button = QPushButton("&Full screen")
        self.fullscreen_button.setToolTip("Full screen (F11; Esc leaves it)")
        self.fullscreen_button.clicked.connect(self.fullscreen_requested)

        self.liveness_box = QCheckBox("Check li&veness before unlocking")
        self.liveness_box.setToolTip("Refuse photos and still images of you: once your face is recognised, "
                                     f"blink within {self.liveness.settings.timeout:g} s (or do what you are asked).")
        self.challenge_box = QCheckBox("&Secure mode: three prompted actions")
        self.challenge_box.setToolTip("Each attempt asks, one after the other and in a random order: blink, turn your "
                                      "head left, turn it right; each within 4 s of its prompt.")
        self.mode_text = QLabel("")
        self.mode_text.setWordWrap(True)
        self.licence = QLabel(LANDMARKS_68_LICENCE)
        self.licence.setWordWrap(True)
        small = QFont(self.licence.font())
        small.setPointSizeF(small.pointSizeF() * 0.85)
        self.licence.setFont(small)
        self.licence.setStyleSheet("color: palette(placeholder-text);")
        self.mode_text.setFont(small)
        self.warning = QLabel("Liveness is off: a photo of you would unlock.")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: {theme.STATE_COLOURS[LOCKED_OUT]};")
        self._set_boxes(self.liveness)
        self.liveness_box.toggled.connect(self._on_liveness_box)
        self.challenge_box.toggled.connect(self._on_liveness_box)

        side = QVBoxLayout()
        side.addStretch(1)
        side.addWidget(self.lock, 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.title)
        side.addWidget(self.hint)
        side.addWidget(self.details)
        side.addStretch(1)
        side.addWidget(self.liveness_box)
        side.addWidget(self.challenge_box)
        side.addWidget(self.mode_text)
        side.addWidget(self.warning)
        side.addWidget(self.licence)
        buttons = QHBoxLayout()
        buttons.addWidget(self.lock_button)
        buttons.addWidget(self.fullscreen_button)
        side.addLayout(buttons)
        panel = QWidget()
        panel.setLayout(side)
        panel.setFixedWidth(340)  # a width that follows the text made the picture jump when the mode changed
        layout = QHBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(panel)
        hub.processed.connect(self._on_processed)
        # the state text follows the camera: "Looking for a face" while no frame can come misled
        hub.camera_failed.connect(self._camera_changed)
        hub.camera_opened.connect(self._camera_changed)
        hub.model_ready.connect(lambda: self._camera_changed(""))  # "Starting..." becomes "Looking for a face"

    # -- control -------------------------------------------------------------------------------------------

    def set_profile(self, profile: Profile | None, problem: str | None = None) -> None:
        """Unlock with ``profile`` (its templates, adapter and settings) from the next frame; None: nothing,
        and the screen says why: ``problem`` (the one-line reason a chosen profile cannot be read, with its
        remedy) or that there is no profile yet."""
        self.profile = profile
        self.controller = None
        self._task = None
        self.view.preview.set_boxes([])  # without a task no analysis comes: the last box would stay frozen
        if profile is not None and profile.templates:
            try:
                scorer = ProfileScorer(profile)
            except ValueError as error:
                self.message.emit(str(error))
            else:
                self.controller = UnlockController(scorer, profile.settings, self.lockout, self.audit,
                                                   self.liveness, self.hub.landmarks, source_name(self.hub.spec))
                self._task = unlock_task(self.controller, self.hub.slot.between)
        self._show(UnlockStatus(SEARCHING))
        if profile is None and problem:
            self.title.setText("Profile cannot be read")
            self.details.setText(problem)
        elif profile is None:
            self.title.setText("No profile yet")
            self.details.setText("Enroll yourself first (Enroll tab).")
        if self._active:
            self.hub.set_task(self._task)

    def set_settings(self, settings: DecisionSettings) -> None:
        """Decide with ``settings`` from the next frame on (the settings just applied and saved)."""
        if self.controller is not None:
            self.controller.set_settings(settings)

    def set_liveness(self, liveness: LivenessOptions) -> None:
        """Check liveness this way from the next frame on (a running attempt starts over)."""
        self.liveness = liveness
        self._set_boxes(liveness)
        if self.controller is not None:
            self.controller.set_liveness(liveness)
        self._show(UnlockStatus(SEARCHING, failures=self.status.failures))

    def activate(self) -> None:
        """Become the screen the camera's frames go to."""
        self._active = True
        self.view.active = True
        self.hub.set_task(self._task)

    def deactivate(self) -> None:
        """Stop receiving frames (another screen is shown)."""
        self._active = False
        self.view.active = False

    def lock_again(self) -> None:
        """Leave the unlocked state (or a failed attempt: try again) and look for a face again."""
        if self.controller is not None:
            self.controller.reset()
        self._show(UnlockStatus(SEARCHING, failures=self.status.failures))

    # -- frames --------------------------------------------------------------------------------------------

    def _on_processed(self, task, result) -> None:
        if task is not self._task or not self._active or self.profile is None or self.controller is None:
            return
        analysis, status = result
        if status.generation != self.controller.generation:
            return  # decided before "lock again" or a liveness change reached the processing thread
        before = self.status.state
        colour = theme.STATE_COLOURS[status.state]
        self.view.preview.set_boxes([(b, colour if b == analysis.box else "#8a8f98") for b in analysis.boxes])
        self._show(status)
        if status.error:
            self.message.emit(status.error)
        if status.state == UNLOCKED and before != UNLOCKED:
            self.unlocked.emit(self.profile.name, status.elapsed)
            self._run_command()

    def _show(self, status: UnlockStatus) -> None:
        changed = status.state != self.status.state
        self.status = status
        self.lock.set_state(status.state)
        controller = self.controller
        settings = controller.settings if controller is not None else DecisionSettings()
        left = max(self.lockout.policy.max_failures - status.failures, 1)
        decision = status.decision
        name = self.profile.name if self.profile else ""
        hint = ""
        if status.state == UNLOCKED:
            self.title.setText(f"Unlocked in {status.elapsed:.2f} s")
            live = " and liveness passed" if status.liveness is not None and status.liveness.live else ""
            self.details.setText(f"Welcome, {name}. {status.matches} of the last {settings.window} frames "
                                 f"matched{live}.")
        elif status.state == REJECTED:
            self.title.setText(rejected_title(status))
            self.details.setText(" ".join((
                sentence(status.outcome), "Look away and back, or press Try again.",
                f"{left} attempt{'s' if left != 1 else ''} left.")))
        elif status.state == LOCKED_OUT:
            self.title.setText(f"Locked out: try again in {status.locked_for:.0f} s")
            self.details.setText(locked_out_text(status.outcome))
        else:
            camera_down = status.state == SEARCHING and self.hub.error is not None
            loading = status.state == SEARCHING and self.hub.pipeline is None and not camera_down
            self.title.setText("Camera not working" if camera_down else "Starting..." if loading else {
                SEARCHING: "Looking for a face...", FACE_FOUND: "Face found", VERIFYING: "Verifying...",
                CHECKING_LIVENESS: "Checking liveness..."}.get(status.state, "Face found"))
            hint = status.hint if status.state in (VERIFYING, CHECKING_LIVENESS, FACE_FOUND) else ""
            parts = (["no frames: see the message on the picture"] if camera_down else
                     ["loading the face model (a few seconds)"] if loading else [])
            if decision is not None and decision.distance is not None:
                parts.append(f"distance {decision.distance:.3f} (threshold {settings.threshold:.3f})")
            elif decision is not None and decision.faces:
                parts.append(decision.reason)
            if status.state != SEARCHING:
                parts.append(match_text(status.matches, settings))
            if status.liveness is not None and status.state != SEARCHING:
                parts.append(f"liveness: {status.liveness.reason}")
            parts.append(f"{left} attempt{'s' if left != 1 else ''} left")
            if status.outcome:
                parts.append(status.outcome)
            self.details.setText((f"Profile {name}: " if name else "") + "; ".join(parts))
        self.hint.setText(hint)
        self.hint.setVisible(bool(hint))
        # one button: "Lock again" once unlocked, "Try again" after a failed attempt (the next one would
        # otherwise wait for the face to leave the picture)
        self.lock_button.setText("T&ry again" if status.state == REJECTED else "&Lock again")
        self.lock_button.setEnabled(status.state in (UNLOCKED, REJECTED))
        self._gate_boxes()
        if changed:
            self.state_changed.emit(status.state)

    def _camera_changed(self, _text: str) -> None:
        if self.profile is not None:  # without one the screen says "No profile yet" whatever the camera does
            self._show(self.status)

    def _set_boxes(self, liveness: LivenessOptions) -> None:
        for box, value in ((self.liveness_box, liveness.enabled), (self.challenge_box, liveness.challenge)):
            box.blockSignals(True)
            box.setChecked(value)
            box.blockSignals(False)
        self.warning.setVisible(not liveness.enabled)
        self.mode_text.setText(MODE_TEXT[SECURE if liveness.challenge else CONVENIENCE])
        self.mode_text.setVisible(liveness.enabled)
        self._gate_boxes()

    def _gate_boxes(self) -> None:
        # Whoever stands at a locked screen may make it stricter, never weaker: turning liveness or the
        # challenge off needs the screen unlocked first (otherwise a photo would get in by unticking a box).
        status = getattr(self, "status", None)
        unlocked = status is not None and status.state == UNLOCKED
        self.liveness_box.setEnabled(unlocked or not self.liveness.enabled)
        self.challenge_box.setEnabled(self.liveness.enabled and (unlocked or not self.liveness.challenge))

    def _on_liveness_box(self, *_: object) -> None:
        options = dataclasses.replace(self.liveness, enabled=self.liveness_box.isChecked(),
                                      challenge=self.challenge_box.isChecked())
        self.set_liveness(options)
        self.liveness_changed.emit(options)

    def _run_command(self) -> None:
        if not self.on_unlock:
            return
        try:
            program, *args = shlex.split(self.on_unlock)
        except ValueError as error:
            self.message.emit(f"unlock command not run: {error}")
            return
        ok, _pid = QProcess.startDetached(program, args)
        if not ok:
            self.message.emit(f"unlock command could not be started: {program}")


def liveness_options(enabled: bool, challenge: bool, settings: LivenessSettings | None = None) -> LivenessOptions:
    """Liveness options from the app's saved settings (``settings``: the core's parameters, default ones)."""
    return LivenessOptions(bool(enabled), bool(challenge), settings or LivenessSettings())
