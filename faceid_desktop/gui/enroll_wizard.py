"""The enrollment wizard: consent -> name -> capture -> optional adaptation ("not me" photos) -> training
(only when adaptation was asked for) -> live test -> done. Nothing is written until Finish, and then only
through :class:`~faceid_desktop.storage.ProfileStore` (one atomic save of the templates and, if trained, the
adapter), so cancelling at any step leaves no half-made profile and keeps an existing one intact.

On-device adaptation is opt-in and off by default: on the owner protocol it did not lower error rates
(``benchmarks/training.py``; see :mod:`faceid_desktop.training`)."""

from __future__ import annotations

import html
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget, QMessageBox,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget, QWizard, QWizardPage)

from ..model_files import PRETRAINED_MODEL_ID
from ..adaptation import adapter_from_result, with_adapter
from ..camera import Frame
from ..enrollment import strangers
from ..images import IMAGE_SUFFIXES
from ..landmarks68 import Landmarks68
from ..pipeline import FacePipeline
from ..profile import Adapter, Profile
from ..storage import ProfileStore
from ..training import Progress, TrainingConfig, TrainingResult
from . import theme
from ..verification import ProfileScorer
from .analysis import FrameAnalysis, analyse_for_enrollment
from .camera_view import CameraView
from .camera_worker import CameraHub
from .capture import DEFAULT_TARGET, CaptureSession, pose_summary
from .training_worker import TrainingThread
from .tuning_panel import IntegerAxis
from .unlock_logic import REJECTED, UNLOCKED, UnlockController
from .unlock_screen import unlock_task
from .widgets import LockIcon, ProgressRing, show_button


@dataclass(frozen=True)
class WizardOptions:
    """How the wizard captures and trains (tests shrink these).

    Attributes:
        target: faces to capture (default 15).
        min_interval: seconds between two captures.
        patience: seconds without a capture before any good head pose is accepted.
        training: the training configuration; steps etc.
        train: offer adaptation at all (False: the "adapt" box is disabled and training never runs).
        use_background: give training the background model's synthetic negatives.
    """

    target: int = DEFAULT_TARGET
    min_interval: float = 0.3
    patience: float = 3.0
    training: TrainingConfig = field(default_factory=TrainingConfig)
    train: bool = True
    use_background: bool = True


def enrollment_task(landmarks: Callable[[], Landmarks68] | None = None):
    """The processing-thread task of the capture page (``landmarks``: the 68-point model, to measure the
    eyes; the hub's shared one)."""
    def task(pipeline: FacePipeline, frame: Frame) -> FrameAnalysis:
        return analyse_for_enrollment(pipeline, frame, landmarks)
    return task


def _title(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


def _beside_camera(page: QWidget, view: QWidget, side: QVBoxLayout) -> None:
    """Lay ``page`` out as the camera ``view`` with the ``side`` column at its right, 230 pixels wide."""
    panel = QWidget()
    panel.setLayout(side)
    panel.setFixedWidth(230)
    layout = QHBoxLayout(page)
    layout.addWidget(view, 1)
    layout.addWidget(panel)


class ConsentPage(QWizardPage):
    """What is stored and where; the user must agree to go on."""

    def __init__(self, store: ProfileStore) -> None:
        super().__init__()
        self.setTitle("Before you start")
        self.setSubTitle("What FaceID Desktop keeps about your face, and where.")
        text = _title(
            "<p>The camera films you for a few seconds. From about fifteen good frames FaceID Desktop keeps "
            "<b>128 numbers per face</b> (an embedding), with when it was captured and how good the frame was. "
            "<b>No photo or video is stored</b>, and nothing leaves this computer.</p>"
            f"<p>Profiles are kept in <code>{store.directory}</code>, readable only by you. You can remove a profile "
            "at any time (Enroll tab, or <code>faceid profiles remove NAME</code>).</p>"
            "<p>Nothing is saved until you press <b>Finish</b> at the end; <b>Cancel</b> at any step keeps "
            "everything as it was.</p>")
        text.setTextFormat(Qt.TextFormat.RichText)
        self.agree = QCheckBox("I &understand and want to enroll my face")
        self.registerField("consent*", self.agree)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addStretch(1)
        layout.addWidget(self.agree)


class NamePage(QWizardPage):
    """The profile's name (checked as the core checks it); an existing profile is replaced only if asked."""

    def __init__(self, store: ProfileStore) -> None:
        super().__init__()
        self.store = store
        self.setTitle("Name")
        self.setSubTitle("A name for your profile: letters, digits, '.', '_' or '-'.")
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("e.g. alice")
        self.edit.setAccessibleName("Profile name")
        self.registerField("name*", self.edit)
        self.replace = QCheckBox("Replace the existing profile of this name (its old faces are dropped)")
        self.replace.hide()
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.STATE_COLOURS['locked out']};")
        layout = QVBoxLayout(self)
        layout.addWidget(self.edit)
        layout.addWidget(self.replace)
        layout.addWidget(self.error)
        layout.addStretch(1)
        self.edit.textChanged.connect(self._on_text)

    def typed_name(self) -> str:
        """The name as typed, trimmed and in Unicode NFC form: an input method may type "é" as "e" and a
        combining accent, which the core refuses so that two names that look the same are one."""
        return unicodedata.normalize("NFC", self.edit.text().strip())

    def _on_text(self, _text: str) -> None:
        self.error.setText("")
        name = self.typed_name()
        try:
            exists = bool(name) and self.store.exists(name)
        except (ValueError, OSError):
            exists = False
        self.replace.setVisible(exists)

    def validatePage(self) -> bool:  # noqa: D102, N802
        name = self.typed_name()
        if not name:
            self.error.setText("Type a name for the profile.")
            return False
        try:
            self.store.check_new_name(name)  # also checks the name
            exists = self.store.exists(name)
        except (ValueError, OSError) as error:
            self.error.setText(str(error))
            return False
        if exists and not self.replace.isChecked():
            self.replace.show()
            self.error.setText(f"A profile named {name} exists: tick the box to replace it, or choose another name.")
            return False
        return True


class CapturePage(QWizardPage):
    """Live preview with guidance; good frames covering several head poses are captured automatically."""

    def __init__(self, hub: CameraHub, options: WizardOptions) -> None:
        super().__init__()
        self.hub = hub
        self.options = options
        self.session = CaptureSession(options.target, options.min_interval, options.patience)
        self._task = enrollment_task(hub.landmarks)
        self.setTitle("Capture")
        self.setSubTitle("Look at the camera and turn your head slightly left and right when asked.")
        # the wizard is modal: the main window's Camera box cannot be reached from it
        self.view = CameraView(hub, other_camera="cancel the wizard to choose another one in the Camera box")
        self.ring = ProgressRing()
        self.guidance = QLabel("")
        self.guidance.setWordWrap(True)
        self.guidance.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.poses = QLabel("")
        self.poses.setWordWrap(True)
        self.notes = QLabel("")
        self.notes.setWordWrap(True)
        restart = QPushButton("Start again")
        restart.setAutoDefault(False)  # focused, it took Return (the key for Next) and dropped every capture
        restart.clicked.connect(self.restart)
        # the way out for a person who cannot turn their head: offered once a turn was asked for a while
        self.cannot_turn = QPushButton("I can't turn my head")
        self.cannot_turn.setToolTip("Capture the remaining faces looking straight at the camera")
        self.cannot_turn.setAutoDefault(False)
        self.cannot_turn.clicked.connect(self.skip_turns)
        show_button(self.cannot_turn, False)
        side = QVBoxLayout()
        side.addWidget(self.ring, 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.guidance)
        side.addWidget(self.poses)
        side.addWidget(self.cannot_turn)
        side.addWidget(self.notes)
        side.addStretch(1)
        side.addWidget(restart)
        _beside_camera(self, self.view, side)
        hub.processed.connect(self._on_processed)
        # the side panel agrees with the camera's error bar instead of "look into the camera"
        hub.camera_failed.connect(lambda _text: self._active and self._show("no picture from the camera"))
        hub.camera_opened.connect(lambda _text: self._active and self._show("look into the camera"))
        self._active = False

    def initializePage(self) -> None:  # noqa: D102, N802
        # Captures are kept when the user comes back through this page (Back to fix the name, or to rename
        # the profile after Finish found the name taken); "Start again" drops them.
        if self.session.done:
            self._show("all faces captured: press Next (or Start again to capture again)")
        elif self.session.templates:
            self._show(f"{len(self.session.templates)} faces kept: look into the camera to go on")
        else:
            self.restart()
        self._activate(True)

    def cleanupPage(self) -> None:  # noqa: D102, N802  (Back pressed)
        self._activate(False)

    def validatePage(self) -> bool:  # noqa: D102, N802
        self._activate(False)
        return self.session.done

    def isComplete(self) -> bool:  # noqa: D102, N802
        return self.session.done

    def restart(self) -> None:
        """Drop every capture and start again."""
        self.session.reset()
        show_button(self.cannot_turn, False)
        self.notes.setText("")
        self._show("look into the camera")
        if self._active:  # a finished capture stopped the frames' processing
            self.hub.set_task(self._task)
        self.completeChanged.emit()

    def skip_turns(self) -> None:
        """Capture the remaining faces frontal (the person cannot turn their head)."""
        self.session.skip_turns()
        show_button(self.cannot_turn, False)
        self.notes.setText("Turns skipped: the remaining faces are captured looking at the camera.")
        self._show("look into the camera")

    def _activate(self, on: bool) -> None:
        self._active = on
        self.view.active = on
        self.hub.set_task(self._task if on else None)

    def _show(self, guidance: str) -> None:
        self.ring.set_progress(len(self.session.templates), self.session.target)
        self.guidance.setText(f"<b>{guidance}</b>")
        self.view.preview.set_guidance(guidance)
        self.poses.setText("Poses: " + pose_summary(self.session.poses, self.session.turns_skipped))

    def _on_processed(self, task, analysis: FrameAnalysis) -> None:
        if task is not self._task or not self._active or self.session.done:
            return
        captured, guidance = self.session.offer(analysis)
        colour = theme.STATE_COLOURS["unlocked" if analysis.problem is None else "verifying"]
        self.view.preview.set_boxes([(b, colour if b == analysis.box else "#8a8f98") for b in analysis.boxes])
        if self.session.done:
            odd = strangers(self.session.templates)
            if odd:
                self.session.reset()
                self.notes.setText(f"The captures look like more than one person (distance {odd[0][1]:.2f}); "
                                   "starting again. Only you should be in view.")
                self._show("only one person, please")
                return
            self._show("done: press Next")
            show_button(self.cannot_turn, False)
            self.hub.set_task(None)
            self.completeChanged.emit()
            return
        show_button(self.cannot_turn, self.session.waiting_for_turn(analysis.frame.timestamp))
        self._show("captured" if captured else guidance)


class NotMePage(QWizardPage):
    """The opt-in adaptation of the face model, with optional photos of other people (family, colleagues)
    that training should keep apart from you. Unticked (the default), the training page is skipped.

    Args:
        available: adaptation can be offered (False: the box is disabled).
    """

    ADAPT_TEXT = "Adapt the face model to me (experimental: on our benchmark it did not lower error rates)"

    def __init__(self, available: bool = True) -> None:
        super().__init__()
        self.setTitle("Adapt to me (optional)")
        self.setSubTitle("The pretrained face model works well as it is. Adapting it trains it on your faces "
                         "for a few seconds on this computer; photos of people who are not you (e.g. people who use "
                         "this computer) help it keep them apart from you.")
        self.adapt = QCheckBox(self.ADAPT_TEXT)
        self.adapt.setEnabled(available)
        if not available:
            self.adapt.setToolTip("Training is turned off (--training-steps 0).")
        self.list = QListWidget()
        self.list.setAccessibleName("Photos of people who are not you")
        self.add_button = QPushButton("Add photos of others...")
        self.remove_button = QPushButton("Remove")
        self.add_button.clicked.connect(self._add)
        self.remove_button.clicked.connect(self._remove_selected)
        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.list)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self._remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        others = QLabel("Photos of people who are not you (optional; used only by the adaptation):")
        others.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.adapt)
        layout.addSpacing(8)
        layout.addWidget(others)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.adapt.toggled.connect(self._on_adapt)
        self._on_adapt(False)
        self.training_id = self.test_id = -1  # set by the wizard once every page is added

    @property
    def adapting(self) -> bool:
        """True when the user asked for adaptation."""
        return self.adapt.isEnabled() and self.adapt.isChecked()

    def nextId(self) -> int:  # noqa: D102, N802  (no adaptation: straight to the live test)
        if self.training_id < 0:
            return super().nextId()
        return self.training_id if self.adapting else self.test_id

    def _remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))

    def _on_adapt(self, on: bool) -> None:
        # the photos of others are only used by training
        for widget in (self.list, self.add_button, self.remove_button):
            widget.setEnabled(bool(on))

    def paths(self) -> list[Path]:
        """The photos chosen."""
        return [Path(self.list.item(i).text()) for i in range(self.list.count())]

    def add_paths(self, paths: list[Path | str]) -> None:
        """Add photos (duplicates ignored)."""
        known = {str(p) for p in self.paths()}
        for path in paths:
            if str(path) not in known:
                self.list.addItem(str(path))
                known.add(str(path))

    def _add(self) -> None:
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(self, "Photos of other people", "", f"Photos ({patterns})")
        self.add_paths(files)


class TrainingPage(QWizardPage):
    """Training on the device, in a thread: progress bar, live loss plot, time left, Stop."""

    def __init__(self, hub: CameraHub, options: WizardOptions, wizard: "EnrollWizard") -> None:
        super().__init__()
        self.hub = hub
        self.options = options
        self._wizard = wizard
        self.thread: TrainingThread | None = None
        self.result: TrainingResult | None = None
        self._finished = False
        self.setTitle("Training")
        self.setSubTitle("Adapting the face model to you on this computer. Nothing leaves it.")
        self.bar = QProgressBar()
        self.bar.setRange(0, options.training.steps)
        self.bar.setAccessibleName("Training steps")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget(axisItems={"bottom": IntegerAxis("bottom")})
        self.plot.setTitle("Triplet loss", size="10pt")
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(False, False)
        self.plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # nothing to operate
        self.plot.setAccessibleName("Triplet loss per training step")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.setLimits(yMin=0.0)  # a loss is never negative (a flat zero loss showed -0.5..0.5)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#3b82f6", width=2))
        self.stop = QPushButton("&Stop training")
        self.stop.setToolTip("Stop and use the captured faces without adaptation")
        self.stop.clicked.connect(self.cancel)
        self.notes = QLabel("")
        self.notes.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.stop)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.notes)

    def initializePage(self) -> None:  # noqa: D102, N802
        self.result, self._finished = None, False
        self.curve.setData([], [])
        self.bar.setValue(0)
        self.notes.setText("")
        if not self.options.train or not self._wizard.not_me.adapting or self.hub.pipeline is None:
            self._finish("Training skipped: the profile uses the pretrained face model.")
            return
        chips = np.stack(self._wizard.capture.session.chips)
        thread = TrainingThread(self.hub.pipeline, chips, self._wizard.not_me.paths(),
                                self._wizard.other_templates(), self.options.training, self.options.use_background)
        thread.progress.connect(self._on_progress)
        thread.note.connect(lambda text: self.notes.setText((self.notes.text() + "\n" + text).strip()))
        thread.done.connect(self._on_done)
        thread.failed.connect(lambda text: self._finish(f"{text}; the profile uses the captured faces as they are."))
        self.thread = thread
        self.stop.setEnabled(True)
        self.status.setText("preparing the training data (augmented copies of your faces and strangers' "
                            "faces)...")
        self.bar.setRange(0, 0)  # busy: preparation has no steps to count, and 0% for seconds looks stuck
        thread.start()

    def cleanupPage(self) -> None:  # noqa: D102, N802
        self.cancel(wait=True)

    def isComplete(self) -> bool:  # noqa: D102, N802
        return self._finished

    @property
    def running(self) -> bool:
        """True while the training thread runs."""
        return self.thread is not None and self.thread.isRunning()

    def cancel(self, wait: bool = False) -> None:
        """Stop training (within a fraction of a second); with ``wait``, block until the thread ended."""
        if self.thread is not None:
            self.thread.cancel()
            if wait:
                self.thread.wait(30000)

    def _on_progress(self, progress: Progress) -> None:
        self.bar.setRange(0, progress.steps)
        self.bar.setValue(progress.step)
        x, y = self.curve.getData()
        xs = [] if x is None else list(x)
        ys = [] if y is None else list(y)
        self.curve.setData(xs + [progress.step], ys + [progress.loss])
        left = f"about {progress.remaining:.0f} s left" if progress.remaining >= 1 else "under a second left"
        if progress.active_triplets == 0 and progress.loss == 0:
            # the usual case with SFace: a flat zero curve would otherwise read as a training that failed
            self.status.setText(f"step {progress.step} of {progress.steps}: every triplet already meets the "
                                f"margin (loss 0), the face model tells you from the strangers as it is; {left}")
        else:
            self.status.setText(f"step {progress.step} of {progress.steps}; loss {progress.loss:.4f}; "
                                f"{progress.active_triplets:.0%} of triplets still active; {left}")

    def _on_done(self, result: TrainingResult) -> None:
        if result.cancelled:
            self._finish("Training stopped: the profile uses the captured faces as they are.")
            return
        self.result = result
        self.bar.setValue(self.bar.maximum())
        self._finish(f"Training done in {result.seconds:.1f} s (final loss {result.losses[-1]:.4f}). "
                     "The live test uses the adapted model; Finish saves it with your faces.")

    def _finish(self, text: str) -> None:
        self.bar.setRange(0, max(1, self.options.training.steps))
        if self.result is not None:
            self.bar.setValue(self.bar.maximum())
        self.status.setText(text)
        self.stop.setEnabled(False)
        self._finished = True
        self.completeChanged.emit()


class TestPage(QWizardPage):
    """Try the new profile live before saving it."""

    def __init__(self, hub: CameraHub, wizard: "EnrollWizard") -> None:
        super().__init__()
        self.hub = hub
        self._wizard = wizard
        self.setTitle("Try it")
        self.setSubTitle("Look at the camera: the new profile should unlock within a second.")
        # the wizard is modal: the main window's Camera box cannot be reached from it
        self.view = CameraView(hub, other_camera="cancel the wizard to choose another one in the Camera box")
        self.lock = LockIcon(96)
        self.state = QLabel("")
        self.state.setWordWrap(True)
        self.state.setAlignment(Qt.AlignmentFlag.AlignCenter)
        again = QPushButton("Test again")
        again.setAutoDefault(False)  # Return is Finish
        again.clicked.connect(self._restart)
        side = QVBoxLayout()
        side.addStretch(1)
        side.addWidget(self.lock, 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.state)
        side.addStretch(1)
        side.addWidget(again)
        _beside_camera(self, self.view, side)
        self.controller: UnlockController | None = None
        self.unlocked_in: float | None = None
        self._task = None
        hub.processed.connect(self._on_processed)

    def initializePage(self) -> None:  # noqa: D102, N802
        self._restart()
        self.view.active = True

    def cleanupPage(self) -> None:  # noqa: D102, N802
        self._stop()

    def validatePage(self) -> bool:  # noqa: D102, N802
        self._stop()
        return True

    def _stop(self) -> None:
        self.view.active = False
        self.hub.set_task(None)
        self._task = None

    def _restart(self) -> None:
        # the profile as it will be saved (adapted when training ran), decided by the core; no lock-out,
        # no audit and no liveness: this only shows that the new profile recognises its owner
        profile = self._wizard.new_profile()
        self.controller = UnlockController(ProfileScorer(profile), profile.settings)
        self._task = unlock_task(self.controller)
        self.unlocked_in = None
        self.lock.set_state("searching")
        self.state.setText("looking for you...")
        self.hub.set_task(self._task)

    def _on_processed(self, task, result) -> None:
        if task is not self._task or self._task is None or self.controller is None:
            return
        analysis, status = result
        colour = theme.STATE_COLOURS[status.state]
        self.view.preview.set_boxes([(b, colour if b == analysis.box else "#8a8f98") for b in analysis.boxes])
        self.lock.set_state(status.state)
        if status.state == UNLOCKED:
            self.unlocked_in = status.elapsed
            # recognition only: the Unlock screen also asks for liveness, so "it works" would promise more
            self.state.setText(f"<b>Recognised in {status.elapsed:.2f} s.</b><br>The profile knows you: press "
                               "Next.")
        elif status.state == REJECTED:
            self.state.setText(f"<b>Not recognised</b> within {self.controller.settings.timeout:g} s.<br>"
                               "Press Test again.")
        else:
            distance = "" if analysis.distance is None else f" (distance {analysis.distance:.3f})"
            self.state.setText(f"{status.state}{distance}")


class DonePage(QWizardPage):
    """Summary; Finish saves the profile."""

    def __init__(self, wizard: "EnrollWizard") -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Done")
        self.summary = _title("")
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: D102, N802
        w = self._wizard
        session = w.capture.session
        tested = w.test.unlocked_in
        adapted = w.adapter() is not None
        self.summary.setText(
            f"<p>Profile <b>{w.profile_name()}</b>: {len(w.capture.session.templates)} faces "
            f"({pose_summary(session.poses, session.turns_skipped)}), "
            + ("with the face model adapted to you.</p>" if adapted else "pretrained face model.</p>")
            + (f"<p>The live test recognised you in {tested:.2f} s.</p>" if tested is not None else
               "<p>The live test did not recognise you yet; you can go Back and try again.</p>")
            + f"<p>Press <b>Finish</b> to save it in <code>{w.store.directory}</code>.</p>")


class EnrollWizard(QWizard):
    """The enrollment wizard.

    Args:
        hub: the camera hub (its pipeline must be loaded before the capture page).
        store: where the profile is saved on Finish.
        options: capture and training options.
        confirm: ask before Cancel discards captured faces (tests turn it off).

    Signals:
        enrolled(object): the saved :class:`~faceid_desktop.profile.Profile` (after Finish).

    Attributes:
        training_result: the :class:`~faceid_desktop.training.TrainingResult` of the training step, or None
            (its adapter is saved with the profile at Finish).
        saved: the saved profile, or None.
    """

    enrolled = Signal(object)

    def __init__(self, hub: CameraHub, store: ProfileStore, options: WizardOptions = WizardOptions(),
                 parent: QWidget | None = None, confirm: bool = True) -> None:
        super().__init__(parent)
        self.confirm = confirm
        self.hub = hub
        self.store = store
        self.options = options
        self.saved: Profile | None = None
        self.setWindowTitle("Enroll a face")
        self.setWindowIcon(theme.icon("app"))
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.consent = ConsentPage(store)
        self.name = NamePage(store)
        self.capture = CapturePage(hub, options)
        self.not_me = NotMePage(options.train)
        self.training = TrainingPage(hub, options, self)
        self.test = TestPage(hub, self)
        self.done_page = DonePage(self)
        ids = {}
        for page in (self.consent, self.name, self.capture, self.not_me, self.training, self.test, self.done_page):
            ids[page] = self.addPage(page)
        self.not_me.training_id, self.not_me.test_id = ids[self.training], ids[self.test]
        self.resize(900, 620)
        self._created_at = time.time()

    @property
    def training_result(self) -> TrainingResult | None:
        """The training step's result (None when skipped, stopped or failed)."""
        return self.training.result

    def profile_name(self) -> str:
        """The name typed on the name page (see :meth:`NamePage.typed_name`)."""
        return self.name.typed_name()

    def adapter(self) -> Adapter | None:
        """The adapter training made, when adaptation was asked for and training finished; else None."""
        result = self.training.result
        if result is None or not self.not_me.adapting:
            return None
        try:
            return adapter_from_result(result)
        except ValueError:  # cancelled, or a variant a profile cannot store: the pretrained model is used
            return None

    def new_profile(self) -> Profile:
        """The profile the captures make, with the trained adapter and its threshold if any (not saved).

        Raises:
            ValueError: no captures yet, or an invalid name.
        """
        model_id = self.hub.pipeline.embedder.model_id if self.hub.pipeline is not None else ""
        now = time.time()
        profile = Profile(self.profile_name(), model_id, tuple(self.capture.session.templates),
                          created_at=now, updated_at=now)
        adapter = self.adapter()
        return with_adapter(profile, adapter) if adapter is not None else profile

    def other_templates(self) -> np.ndarray | None:
        """Templates of the other profiles (negatives for training), or None; unreadable profiles are skipped."""
        vectors = []
        for name in self.store.names():
            if name == self.profile_name():
                continue
            try:
                vectors.append(self.store.load(name, PRETRAINED_MODEL_ID).embeddings)
            except (ValueError, OSError):
                continue
        return np.concatenate(vectors) if vectors else None

    def accept(self) -> None:  # noqa: D102
        profile = self.new_profile()
        replace = self.name.replace.isChecked()

        def change(current: Profile | None) -> Profile:
            if current is not None and not replace:
                raise ValueError(f"profile {profile.name} was created meanwhile; nothing saved")
            return profile

        try:
            self.saved = self.store.update(profile.name, change, model_id=profile.model_id, replace_outdated=replace)
        except (ValueError, OSError) as error:
            # the captures are kept: Back leads to the name page (another name, or Replace) and Finish again
            self.done_page.summary.setText(f"<p><b>Not saved:</b> {html.escape(str(error))}</p>"
                                           "<p>Go <b>Back</b> to the name page to choose another name (or to "
                                           "replace that profile), then Next to Finish: your captures are kept."
                                           "</p>")
            return
        self.enrolled.emit(self.saved)
        super().accept()

    def reject(self) -> None:
        """Cancel, Esc or the close box: nothing is written; with faces captured, after asking (Esc is also
        the key that leaves full screen, easy to press by reflex)."""
        captured = len(self.capture.session.templates)
        if captured and self.confirm and QMessageBox.question(
                self, "Cancel enrollment", f"Discard the {captured} face{'s' if captured != 1 else ''} captured? "
                "Nothing is saved.", QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel) != QMessageBox.StandardButton.Discard:
            return
        self.discard()

    def discard(self) -> None:
        """Close without saving and without asking (the app is closing)."""
        self.training.cancel(wait=True)
        self.capture._activate(False)
        self.test._stop()
        super().reject()

    def done(self, result: int) -> None:  # noqa: D102
        self.hub.set_task(None)
        for view in (self.capture.view, self.test.view):
            view.active = False
        super().done(result)
