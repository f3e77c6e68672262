"""The main window: profile picker, three screens (Enroll, Unlock, Tune), status line, full-screen mode."""

from __future__ import annotations

import dataclasses
import sys
import time
from datetime import datetime

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel, QMainWindow, QMessageBox,
                               QPushButton, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from ..camera import camera_index
from ..camera_list import absolute_spec, preferred_camera
from ..model_files import PRETRAINED_MODEL_ID
from ..liveness import LivenessSettings
from ..lockout import AuditLog, Lockout, LockoutPolicy
from ..profile import DecisionSettings, Profile
from ..storage import OutdatedProfileError, ProfileStore
from . import theme
from .camera_picker import CameraPicker, DeviceLister
from .camera_worker import CameraHub, describe_spec
from .enroll_wizard import EnrollWizard, WizardOptions
from .settings import AppSettings, SettingsError
from .tuning_panel import TuningPanel
from .unlock_logic import BACKOFF, MAX_ATTEMPTS, LivenessOptions
from .unlock_screen import UnlockScreen, liveness_options

SCREENS = ("enroll", "unlock", "tune")

#: The window's least height in pixels (see MainWindow.__init__).
MIN_HEIGHT = 560


class EnrollScreen(QWidget):
    """The profiles enrolled, and the button that starts the enrollment wizard.

    Signals:
        enroll_requested(): start the wizard.
        remove_requested(str): remove the named profile.
    """

    enroll_requested = Signal()
    remove_requested = Signal(str)

    def __init__(self, store: ProfileStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        heading = QLabel("<h2>Enroll a face</h2><p>The wizard films you for a few seconds, keeps about fifteen "
                         "good frames from several head poses as 128 numbers each (no photo), and lets you try "
                         "the new profile live before saving it.</p>")
        heading.setWordWrap(True)
        self.start = QPushButton(theme.icon("app"), "  Enroll a new face...")  # the spaces part it from the icon
        self.start.setAccessibleName("Enroll a new face...")
        self.start.setMinimumHeight(40)
        self.start.clicked.connect(self.enroll_requested)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Profile", "Faces", "Face model", "Decision", "Enrolled"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setTabKeyNavigation(False)  # Tab leaves the list (arrows move in it) instead of cell by cell
        self.table.setAccessibleName("Profiles")
        self.remove = QPushButton("Remove profile")
        self.remove.setToolTip("Remove the profile selected in the list")
        self.remove.clicked.connect(self._remove)
        # enabled only with a row selected: a button that looks ready but does nothing misleads
        self.table.itemSelectionChanged.connect(self._selection_changed)
        row = QHBoxLayout()
        row.addWidget(self.start)
        row.addStretch(1)
        row.addWidget(self.remove)
        self.where = QLabel(f"Profiles are kept in {store.directory}")
        self.where.setStyleSheet("color: palette(placeholder-text);")
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.where)

    def show_profiles(self, profiles: list[Profile | str]) -> None:
        """List profiles (a name alone for a profile that could not be read)."""
        self.table.setRowCount(len(profiles))
        for row, profile in enumerate(profiles):
            if isinstance(profile, str):
                cells = [profile, "unreadable", "", "", ""]
            else:
                when = datetime.fromtimestamp(profile.created_at).strftime("%Y-%m-%d %H:%M") if profile.created_at else ""
                settings = profile.settings
                rule = f"threshold {settings.threshold:.3f}" + (
                    f", alpha {settings.alpha:.2f}" if settings.rule == "alpha" else "")
                model = "adapted to the owner" if profile.adapter is not None else "pretrained"
                cells = [profile.name, str(len(profile.templates)), model, rule, when]
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self._selection_changed()

    def _selection_changed(self) -> None:
        self.remove.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def _remove(self) -> None:
        row = self.table.currentRow()
        if row >= 0 and self.table.item(row, 0) is not None:
            self.remove_requested.emit(self.table.item(row, 0).text())


class MainWindow(QMainWindow):
    """The app's window.

    Args:
        hub: the camera hub (started by the window).
        store: the profile store.
        settings: where the app's own settings persist.
        options: enrollment wizard options.
        on_unlock: a command run on each unlock (no shell), or None.
        max_attempts, backoff: the lock-out rule: failed attempts before the first lock-out, and its length
            in seconds (the state is kept in the store's data directory, with the audit log).
        confirm: ask before removing a profile (tests turn it off).
        liveness_settings: the liveness check's parameters (default: the core's; tests shorten the timeout).
        device_lister: lists the camera devices for the camera picker (default: probe indexes 0-9; tests
            pass a fake so that no real device is opened).
        camera_fallback: when the camera does not work, switch to one that does (True when the camera was not
            given on the command line, i.e. it is the remembered one or the default).
    """

    def __init__(self, hub: CameraHub, store: ProfileStore, settings: AppSettings,
                 options: WizardOptions = WizardOptions(), on_unlock: str | None = None,
                 max_attempts: int = MAX_ATTEMPTS, backoff: float = BACKOFF, confirm: bool = True,
                 liveness_settings: LivenessSettings | None = None, device_lister: DeviceLister | None = None,
                 camera_fallback: bool = False) -> None:
        super().__init__()
        self.hub = hub
        self.store = store
        self.settings = settings
        self.options = options
        self.confirm = confirm
        self.profile: Profile | None = None
        self.wizard: EnrollWizard | None = None
        self.camera_fallback = camera_fallback
        self.setWindowTitle("FaceID Desktop")
        self.setWindowIcon(theme.icon("app"))

        self.picker = QComboBox()
        self.picker.setMinimumWidth(180)
        self.picker.currentTextChanged.connect(self._on_pick)
        new = QPushButton("New profile...")
        new.clicked.connect(self.open_wizard)
        logo = QLabel()
        logo.setPixmap(theme.pixmap("app", 28))
        bar = QHBoxLayout()
        bar.addWidget(logo)
        bar.addWidget(QLabel("<b>FaceID Desktop</b>"))
        bar.addStretch(1)
        self.camera_picker = CameraPicker(device_lister)
        self.camera_picker.set_current(str(hub.spec))
        self.camera_picker.chosen.connect(self.use_camera)
        self.camera_picker.listed.connect(lambda devices: self._fall_back())
        for text, box, name in (("&Camera:", self.camera_picker, "Camera"), ("&Profile:", self.picker, "Profile")):
            label = QLabel(text)
            label.setBuddy(box)  # Alt+C / Alt+P, and screen readers name the box by its label
            box.setAccessibleName(name)
            bar.addWidget(label)
            bar.addWidget(box)
            bar.addSpacing(12 if name == "Camera" else 0)
        bar.addWidget(new)

        self.enroll = EnrollScreen(store)
        policy = LockoutPolicy(max_failures=max_attempts, base_delay=backoff,
                               max_delay=max(LockoutPolicy().max_delay, backoff))
        self.lockout = Lockout(store.root, policy)
        self.audit = AuditLog(store.root)
        self.unlock = UnlockScreen(hub, on_unlock, self.lockout, self.audit,
                                   liveness_options(settings.liveness, settings.challenge, liveness_settings))
        self.tune = TuningPanel(hub)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.enroll, theme.icon("app"), "&Enroll")
        self.tabs.addTab(self.unlock, theme.icon("lock-unlocked"), "&Unlock")
        self.tabs.addTab(self.tune, theme.icon("tune"), "&Tune")
        self.tabs.currentChanged.connect(self._on_tab)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(bar)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.camera_label = QLabel("")
        self.statusBar().addPermanentWidget(self.camera_label)

        self.enroll.enroll_requested.connect(self.open_wizard)
        self.enroll.remove_requested.connect(self.remove_profile)
        self.unlock.message.connect(self.show_message)
        self.unlock.fullscreen_requested.connect(self.toggle_fullscreen)
        self.unlock.liveness_changed.connect(self._save_liveness)
        self.unlock.unlocked.connect(lambda name, s: self.statusBar().showMessage(f"{name} unlocked in {s:.2f} s", 10000))
        self.tune.applied.connect(self.apply_settings)
        self.tune.message.connect(self.show_message)
        self._unsaved_camera: str | None = None  # chosen in the Camera box, saved once it opens
        hub.camera_opened.connect(self._camera_opened)
        hub.camera_failed.connect(lambda text: self.camera_label.setText("Camera: not working"))
        hub.camera_failed.connect(lambda text: self._fall_back())
        hub.model_failed.connect(self.show_message)
        hub.model_ready.connect(self._model_ready)

        full = QAction("Full screen", self)
        full.setShortcut(QKeySequence(Qt.Key.Key_F11))
        full.triggered.connect(self.toggle_fullscreen)
        leave = QAction("Leave full screen", self)
        leave.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        leave.triggered.connect(lambda: self.isFullScreen() and self.showNormal())
        self.addActions([full, leave])

        # Qt's own minimum (from the layouts) ignores word wrap: at 516 px the unlock screen's column squeezed
        # its heading over the lock icon; 560 px fits it and any screen of 600 px or more
        self.setMinimumHeight(MIN_HEIGHT)
        geometry = settings.geometry
        if not (geometry and self.restoreGeometry(QByteArray(geometry))):
            self.resize(1100, 720)
        self.refresh_profiles(settings.profile or None)
        screen = settings.screen if settings.screen in SCREENS else "unlock"
        if self.profile is None:
            screen = "enroll"
        self.show_screen(screen)
        hub.start()
        index = camera_index(hub.spec)
        self.camera_picker.refresh(busy=[index] if index is not None else [])

    # -- screens -------------------------------------------------------------------------------------------

    def show_screen(self, name: str) -> None:
        """Show ``enroll``, ``unlock`` or ``tune``.

        Raises:
            ValueError: an unknown screen name.
        """
        if name not in SCREENS:
            raise ValueError(f"unknown screen {name!r} (enroll, unlock or tune)")
        index = SCREENS.index(name)
        if self.tabs.currentIndex() == index:
            self._on_tab(index)
        else:
            self.tabs.setCurrentIndex(index)

    def _on_tab(self, index: int) -> None:
        if self.wizard is not None and self.wizard.isVisible():
            return
        self.unlock.deactivate()
        self.tune.deactivate()
        self.hub.set_task(None)
        screen = self.tabs.widget(index)
        if screen in (self.unlock, self.tune):
            screen.activate()
        self.settings.screen = SCREENS[index]

    def toggle_fullscreen(self) -> None:
        """Enter or leave full-screen mode."""
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

    def show_message(self, text: str) -> None:
        """One line in the status bar (errors included)."""
        self.statusBar().showMessage(text, 15000)

    def _model_ready(self) -> None:
        # A routine notice must not replace a message the user has yet to read (a camera that failed).
        if not self.statusBar().currentMessage():
            self.statusBar().showMessage("face model loaded", 3000)

    # -- camera --------------------------------------------------------------------------------------------

    def use_camera(self, spec: str) -> None:
        """Read frames from ``spec`` (a camera index, a video file or a folder of photos) from now on, and
        remember it (as an absolute path) for the next start once it opens."""
        spec = absolute_spec(spec)
        self.camera_fallback = False  # the user chose: never switch away by ourselves
        self.camera_picker.set_current(spec)
        self.hub.restart(spec)
        self.unlock.set_profile(self.profile)  # the audit log names the new source
        self.remember_once_open(spec)

    def remember_once_open(self, spec: str) -> None:
        """Save ``spec`` (absolute, as :func:`~faceid_desktop.camera_list.absolute_spec` gives it) as the
        camera of the next start once the hub opens it: a camera that does not open must not come back."""
        self._unsaved_camera = spec

    def _camera_opened(self, text: str) -> None:
        self.camera_label.setText(f"Camera: {text}")
        if self._unsaved_camera is not None and self._unsaved_camera == self.hub.spec:
            self.settings.camera, self._unsaved_camera = self._unsaved_camera, None
            try:
                self.settings.sync()
            except SettingsError as error:
                self.show_message(str(error))

    def _fall_back(self) -> None:
        """The remembered (or default) camera does not work: switch once to a device that does."""
        devices = self.camera_picker.devices
        if not self.camera_fallback or not self.hub.error or devices is None:
            return
        current = camera_index(self.hub.spec)
        choice = preferred_camera(d for d in devices if d.index != current)
        if choice is None:
            return
        failed, error = describe_spec(self.hub.spec), self.hub.error
        self.use_camera(choice.spec)
        self.show_message(f"{failed} does not work ({error}); using {choice.label()}")

    # -- profiles ------------------------------------------------------------------------------------------

    def refresh_profiles(self, select: str | None = None) -> None:
        """Re-read the profile list and select ``select`` (else keep the current one, else the first)."""
        try:
            names = self.store.names()
        except (ValueError, OSError) as error:
            self.show_message(f"profiles cannot be listed: {error}")
            names = []
        profiles: list[Profile | str] = []
        for name in names:
            try:
                profiles.append(self.store.load(name, PRETRAINED_MODEL_ID))
            except (ValueError, OSError) as error:
                self.show_message(str(error))
                profiles.append(name)
        self.enroll.show_profiles(profiles)
        current = select or (self.profile.name if self.profile else None)
        self.picker.blockSignals(True)
        self.picker.clear()
        self.picker.addItems(names)
        self.picker.blockSignals(False)
        if names:
            self.picker.setCurrentText(current if current in names else names[0])
            self._on_pick(self.picker.currentText())
        else:
            self._on_pick("")

    def _on_pick(self, name: str) -> None:
        profile, problem = None, None
        if name:
            try:
                profile = self.store.load(name, PRETRAINED_MODEL_ID)
            except OutdatedProfileError as error:
                problem = str(error)
                self._offer_enroll_again(name)
            except (ValueError, OSError) as error:
                problem = str(error)
                self.show_message(problem)
        self.profile = profile
        self.unlock.set_profile(profile, problem)
        self.tune.set_profile(profile, problem)
        if profile is not None:
            self.settings.profile = profile.name

    def _save_liveness(self, options: LivenessOptions) -> None:
        self.settings.liveness = options.enabled
        self.settings.challenge = options.challenge
        self.settings.sync()
        self.show_message("liveness check on" + (" (secure mode)" if options.challenge else " (convenience mode)")
                          if options.enabled else "liveness check off: a photo of you would unlock")

    def apply_settings(self, settings: DecisionSettings) -> None:
        """Save the rule, threshold and alpha of ``settings`` in the current profile (atomically, through the
        store; the profile's other settings, saved meanwhile by ``faceid``, are kept)."""
        if self.profile is None:
            return

        def change(current: Profile) -> Profile:
            changed = current.with_settings(rule=settings.rule, alpha=settings.alpha, threshold=settings.threshold)
            return dataclasses.replace(changed, updated_at=time.time())

        try:
            saved = self.store.update_existing(self.profile.name, change)
        except (ValueError, OSError, TypeError) as error:
            self.show_message(f"settings not saved: {error}")
            return
        self.profile = saved
        self.tune.saved(saved)
        self.unlock.set_settings(saved.settings)
        self.refresh_profiles(saved.name)
        rule = f"alpha rule ({settings.alpha:.2f})" if settings.rule == "alpha" else "threshold rule"
        self.show_message(f"saved: threshold {settings.threshold:.3f}, {rule} for {saved.name}")

    def remove_profile(self, name: str) -> None:
        """Remove profile ``name`` (after asking, when ``confirm``)."""
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        if self.confirm and QMessageBox.question(
                self, "Remove profile", f"Remove profile {name}? Its faces are deleted.", buttons,
                QMessageBox.StandardButton.No) != QMessageBox.StandardButton.Yes:  # Return keeps it
            return
        try:
            self.store.remove(name)
        except (ValueError, OSError) as error:
            self.show_message(str(error))
            return
        self.profile = None if self.profile and self.profile.name == name else self.profile
        self.refresh_profiles()
        self.show_message(f"profile {name} removed")

    def _offer_enroll_again(self, name: str) -> None:
        """A profile of the older face model: say so, and offer the wizard that replaces it (not blocking)."""
        text = f"Profile {name} was made with an older face model and must be enrolled again."
        self.show_message(text)
        if not self.confirm or self.wizard is not None:
            return
        box = QMessageBox(QMessageBox.Icon.Information, "Enroll again", text + " Enroll it now? Until then it "
                          "is kept as it is and cannot unlock.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.finished.connect(lambda result: self.open_wizard(name) if result == QMessageBox.StandardButton.Yes else None)
        box.open()

    def open_wizard(self, replace: str | None = None) -> EnrollWizard:
        """Open the enrollment wizard (window-modal); returns it. With ``replace``, the name page holds that
        profile's name with "replace" ticked (re-enrollment of a profile of the older face model)."""
        self.unlock.deactivate()
        self.tune.deactivate()
        wizard = EnrollWizard(self.hub, self.store, self.options, self, confirm=self.confirm)
        if replace:
            wizard.name.edit.setText(replace)
            wizard.name.replace.setChecked(True)
        wizard.enrolled.connect(lambda profile: self.refresh_profiles(profile.name))
        wizard.finished.connect(self._wizard_closed)
        self.wizard = wizard
        wizard.open()
        return wizard

    def _wizard_closed(self, result: int) -> None:
        wizard, self.wizard = self.wizard, None
        if wizard is not None and wizard.saved is not None:
            self.show_message(f"profile {wizard.saved.name} saved")
            self.show_screen("unlock")
        else:
            self._on_tab(self.tabs.currentIndex())
        if wizard is not None:
            wizard.deleteLater()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: D102, N802
        if self.wizard is not None:
            self.wizard.discard()
        self.settings.geometry = self.saveGeometry().data()
        try:
            self.settings.sync()
        except SettingsError as error:  # the window closes all the same (a signal may have asked it to)
            print(f"faceid-desktop: {error}", file=sys.stderr)
        self.camera_picker.wait()
        self.tune.wait()
        self.hub.stop()
        super().closeEvent(event)
