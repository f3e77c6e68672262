"""The unlock screen: live preview with the face box, a lock icon that follows the state, unlock under the
multi-frame rule, lock-out with back-off, an ``unlocked`` signal and an optional command run on unlock."""

from __future__ import annotations

import shlex

import numpy as np
from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..camera import Frame
from ..pipeline import FacePipeline
from ..profile import DecisionSettings, Profile
from . import theme
from .analysis import FrameAnalysis, analyse_for_verification, profile_embeddings
from .camera_view import CameraView
from .camera_worker import CameraHub
from .widgets import LockIcon
from .unlock_logic import (BACKOFF, LOCKED_OUT, MAX_ATTEMPTS, SEARCHING, UNLOCKED, VERIFYING,
                           UnlockController, UnlockStatus)


def verification_task(templates: np.ndarray):
    """A processing-thread task analysing frames against ``templates`` ((T, 128) float32)."""
    def task(pipeline: FacePipeline, frame: Frame) -> FrameAnalysis:
        return analyse_for_verification(pipeline, templates, frame)
    return task


class UnlockScreen(QWidget):
    """Unlock with the selected profile.

    Args:
        hub: the camera hub.
        on_unlock: a command line run (without a shell) each time the screen unlocks, or None.
        max_attempts, backoff: failed attempts before a lock-out, and its first length in seconds.

    Signals:
        unlocked(str, float): the profile's name and the seconds the attempt took (stream time).
        state_changed(str): the new state (``searching``, ``face found``, ``verifying``, ``unlocked``,
            ``locked out``).
        message(str): a one-line message for the status bar (the unlock command failed, ...).
        fullscreen_requested(): the Full screen button was pressed.
    """

    unlocked = Signal(str, float)
    state_changed = Signal(str)
    message = Signal(str)
    fullscreen_requested = Signal()

    def __init__(self, hub: CameraHub, on_unlock: str | None = None, max_attempts: int = MAX_ATTEMPTS,
                 backoff: float = BACKOFF, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self.on_unlock = on_unlock
        self.profile: Profile | None = None
        self.controller = UnlockController(DecisionSettings(), max_attempts, backoff)
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
        self.details = QLabel("")
        self.details.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.details.setWordWrap(True)
        self.lock_button = QPushButton("Lock again")
        self.lock_button.clicked.connect(self.lock_again)
        self.lock_button.setEnabled(False)
        self.fullscreen_button = QPushButton("Full screen")
        self.fullscreen_button.setToolTip("Full screen (F11; Esc leaves it)")
        self.fullscreen_button.clicked.connect(self.fullscreen_requested)

        side = QVBoxLayout()
        side.addStretch(1)
        side.addWidget(self.lock, 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.title)
        side.addWidget(self.details)
        side.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.lock_button)
        buttons.addWidget(self.fullscreen_button)
        side.addLayout(buttons)
        panel = QWidget()
        panel.setLayout(side)
        panel.setMinimumWidth(280)
        panel.setMaximumWidth(380)
        layout = QHBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(panel)
        hub.processed.connect(self._on_processed)

    # -- control -------------------------------------------------------------------------------------------

    def set_profile(self, profile: Profile | None) -> None:
        """Unlock with ``profile`` (its templates and settings) from the next frame; None: nothing to unlock."""
        self.profile = profile
        self.controller = UnlockController(profile.settings if profile else DecisionSettings(),
                                           self.controller.max_attempts, self.controller.backoff,
                                           self.controller.growth)
        self._task = verification_task(profile_embeddings(profile)) if profile and profile.templates else None
        self._show(UnlockStatus(SEARCHING))
        if profile is None:
            self.title.setText("No profile yet")
            self.details.setText("Enroll yourself first (Enroll tab).")
        if self._active:
            self.hub.set_task(self._task)

    def set_settings(self, settings: DecisionSettings) -> None:
        """Decide with ``settings`` from the next frame on (live changes from the tuning panel)."""
        self.controller.set_settings(settings)

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
        """Leave the unlocked state and look for a face again."""
        self.controller.reset()
        self._show(UnlockStatus(SEARCHING, failures=self.controller.failures))

    # -- frames --------------------------------------------------------------------------------------------

    def _on_processed(self, task, analysis: FrameAnalysis) -> None:
        if task is not self._task or not self._active or self.profile is None:
            return
        before = self.status.state
        status = self.controller.update(analysis.distance, analysis.problem, len(analysis.boxes),
                                        analysis.frame.timestamp)
        colour = theme.STATE_COLOURS[status.state]
        self.view.preview.set_boxes([(b, colour if b == analysis.box else "#8a8f98") for b in analysis.boxes])
        self._show(status)
        if status.state == UNLOCKED and before != UNLOCKED:
            self.unlocked.emit(self.profile.name, status.elapsed)
            self._run_command()

    def _show(self, status: UnlockStatus) -> None:
        changed = status.state != self.status.state
        self.status = status
        self.lock.set_state(status.state)
        settings = self.controller.settings
        left = self.controller.max_attempts - status.failures if not self.controller.lockouts else 1
        decision = status.decision
        distance = "" if decision is None or decision.distance is None else \
            f"distance {decision.distance:.3f} (threshold {settings.threshold:.3f})"
        name = self.profile.name if self.profile else ""
        if status.state == UNLOCKED:
            self.title.setText(f"Unlocked in {status.elapsed:.2f} s")
            self.details.setText(f"Welcome, {name}. {status.matches} of the last {settings.window} frames matched.")
        elif status.state == LOCKED_OUT:
            self.title.setText(f"Locked out: try again in {status.locked_for:.0f} s")
            self.details.setText("Too many failed attempts.")
        else:
            self.title.setText({SEARCHING: "Looking for a face...", VERIFYING: "Verifying..."}.get(
                status.state, "Face found"))
            parts = [p for p in (distance, decision.reason if decision and decision.distance is None and
                                 decision.faces else "") if p]
            parts.append(f"{status.matches} of {settings.frames_to_accept} matching frames needed")
            parts.append(f"{left} attempt{'s' if left != 1 else ''} left")
            self.details.setText(f"Profile {name}: " + "; ".join(parts) if name else "; ".join(parts))
        self.lock_button.setEnabled(status.state == UNLOCKED)
        if changed:
            self.state_changed.emit(status.state)

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

