"""The camera picker: the camera devices found (probed in a worker thread), the camera in use, and entries to
choose a video file or a folder of photos instead."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QWheelEvent
from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget

from ..camera import camera_index
from ..camera_list import CameraDevice, absolute_spec, list_devices
from ..formats import VIDEO_SUFFIXES
from .jobs import Job

#: Lists the camera devices: called in a worker thread with ``skip`` (indexes not to open).
DeviceLister = Callable[..., list[CameraDevice]]

_CHOOSE_FILE, _CHOOSE_FOLDER, _REFRESH = "choose file", "choose folder", "refresh"
#: Keys that open the list rather than choose the next entry of the closed box.
_BROWSE_KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown, Qt.Key.Key_Home,
                Qt.Key.Key_End)


class CameraPicker(QComboBox):
    """Pick the camera: a device, a video file or a folder of photos.

    Args:
        lister: lists the devices (default :func:`faceid_desktop.camera_list.list_devices`; tests pass a fake,
            so that no real device is opened).

    Signals:
        chosen(str): the user chose a camera: a device index or an absolute path.
        listed(object): the devices found (a list of :class:`~faceid_desktop.camera_list.CameraDevice`).
    """

    chosen = Signal(str)
    listed = Signal(object)

    def __init__(self, lister: DeviceLister | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lister = lister or list_devices
        self.devices: list[CameraDevice] | None = None
        self._current = ""
        self._job: Job | None = None
        self.setMinimumWidth(220)
        self.setToolTip("The camera to use: a camera device, a video file or a folder of photos")
        self.activated.connect(self._on_activated)
        self._rebuild()

    @property
    def current(self) -> str:
        """The spec of the camera in use ('' before :meth:`set_current`)."""
        return self._current

    def set_current(self, spec: str) -> None:
        """Show ``spec`` as the camera in use (does not emit :attr:`chosen`)."""
        self._current = str(spec)
        self._rebuild()

    def refresh(self, busy: Iterable[int] = ()) -> None:
        """List the devices again in a worker thread (opening each takes up to a second); ``busy``: indexes the
        app is reading, which are not opened a second time."""
        job = Job(lambda skip=tuple(busy): self._lister(skip=skip), self)
        job.done.connect(lambda devices, j=job: self._on_listed(j, devices))
        job.failed.connect(lambda text, j=job: self._on_listed(j, []))
        job.finished.connect(job.deleteLater)
        self._job = job
        job.start()

    @property
    def listing(self) -> bool:
        """True while the devices are being listed."""
        return self._job is not None

    def wait(self, msecs: int = 10_000) -> None:
        """Wait for a listing under way to end (before the window closes: a running thread must not be
        destroyed)."""
        if self._job is not None:
            self._job.wait(msecs)

    def choose(self, spec: str) -> None:
        """Choose ``spec`` as the user would (made absolute, shown, and :attr:`chosen` emitted)."""
        try:
            spec = absolute_spec(spec)
        except ValueError:
            return
        self.set_current(spec)
        self.chosen.emit(spec)

    def _on_listed(self, job: Job, devices: list[CameraDevice]) -> None:
        if job is not self._job:
            return
        self._job = None
        self.devices = list(devices)
        self._rebuild()
        self.listed.emit(self.devices)

    def _rebuild(self) -> None:
        self.blockSignals(True)
        self.clear()
        shown = set()
        for device in self.devices or []:
            if device.works:
                self.addItem(device.label(), device.spec)
                shown.add(device.spec)
        current = self._current
        if current and current not in shown:
            index = camera_index(current)
            label = f"camera {index}" if index is not None else Path(current).name or current
            self.insertItem(0, label, current)
            self.setItemData(0, current, Qt.ItemDataRole.ToolTipRole)  # the whole path
        if self.devices is not None and not any(d.works for d in self.devices):
            self.addItem("no camera device found", None)
            self.model().item(self.count() - 1).setEnabled(False)
        self.insertSeparator(self.count())
        self.addItem("Video file...", _CHOOSE_FILE)
        self.addItem("Folder of photos...", _CHOOSE_FOLDER)
        self.addItem("Look for cameras again" if self.devices is not None else "Looking for cameras...", _REFRESH)
        if self.devices is None:
            self.model().item(self.count() - 1).setEnabled(False)
        found = self.findData(current)
        self.setCurrentIndex(found if found >= 0 else -1)
        self.blockSignals(False)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: D102, N802
        # On a closed combo box each arrow key activates the next entry at once: a keyboard user looking
        # through the list switched cameras one after another, and one Down reached "Video file..." and
        # opened its dialog (found by a keyboard-only try). The keys open the list instead, where arrows only
        # move and Return chooses.
        if event.key() in _BROWSE_KEYS and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.showPopup()
            return
        super().keyPressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: D102, N802
        event.ignore()  # scrolling the window past the box must not switch the camera

    def _on_activated(self, row: int) -> None:
        data = self.itemData(row)
        if data == _CHOOSE_FILE:
            patterns = " ".join(f"*{s}" for s in VIDEO_SUFFIXES)
            path, _ = QFileDialog.getOpenFileName(self, "Video file as the camera", "", f"Videos ({patterns})")
            self._chose_path(path)
        elif data == _CHOOSE_FOLDER:
            self._chose_path(QFileDialog.getExistingDirectory(self, "Folder of photos as the camera"))
        elif data == _REFRESH:
            index = camera_index(self._current)
            self.refresh(busy=[index] if index is not None else [])
            self.devices = None
            self._rebuild()
        elif data and data != self._current:
            self.choose(str(data))
        else:
            self._rebuild()

    def _chose_path(self, path: str) -> None:
        if path:
            self.choose(path)
        else:  # cancelled: show the camera in use again
            self._rebuild()
