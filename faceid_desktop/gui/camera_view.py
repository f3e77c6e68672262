"""A preview plus the camera error bar, wired to a :class:`~faceid_desktop.gui.camera_worker.CameraHub`."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..camera import Frame
from .camera_worker import CameraHub
from .widgets import CameraErrorBar, PreviewWidget


class CameraView(QWidget):
    """Shows the hub's frames while active; on a camera error shows the message and a Retry button.

    Args:
        hub: the camera hub.
        other_camera: how the user gets to another camera from where the view is shown (ends the error).

    Signals:
        frame_shown(object): a frame was shown (the screens use it for timing, not for analysis).
    """

    frame_shown = Signal(object)

    def __init__(self, hub: CameraHub, parent: QWidget | None = None,
                 other_camera: str = "choose another one in the Camera box at the top") -> None:
        super().__init__(parent)
        self.hub = hub
        self._other_camera = other_camera  # how to get to another camera from where this view is shown
        self.active = False
        self.preview = PreviewWidget()
        self.error_bar = CameraErrorBar()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.error_bar)
        layout.addWidget(self.preview, 1)
        hub.frame.connect(self._on_frame)
        hub.camera_failed.connect(self._on_failed)
        hub.camera_opened.connect(self._on_opened)
        self.error_bar.retry.connect(self._retry)
        if hub.error:
            self._on_failed(hub.error)

    def _on_frame(self, frame: Frame) -> None:
        if self.active:
            self.preview.show_frame(frame)
            self.frame_shown.emit(frame)

    def _on_failed(self, message: str) -> None:
        self.error_bar.show_error(f"Camera problem: {message}")
        self.preview.show_message(f"{message}\n\nCheck the camera and press Retry, or {self._other_camera}.")
        self.preview.set_boxes([])
        self.preview.set_guidance("")

    def _on_opened(self, description: str) -> None:
        self.error_bar.clear()
        if self.preview.message:
            self.preview.show_message(f"waiting for {description}...")

    def _retry(self) -> None:
        self.error_bar.clear()
        self.preview.show_message("trying the camera again...")
        self.hub.restart()
