"""Small widgets the screens share: the camera preview with face boxes, a progress ring, the lock icon,
the camera error bar with its Retry button and a float slider with its value box."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (QDoubleSpinBox, QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider,
                               QWidget)

from ..camera import Frame
from . import theme

Box = tuple[int, int, int, int]


def to_qimage(image: np.ndarray) -> QImage:
    """An (H, W, 3) uint8 BGR array, or an infrared camera's (H, W) grey one, as a QImage (a copy; the
    array may change afterwards)."""
    if image.dtype == np.uint16:  # 16-bit infrared frames: keep the top 8 bits
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    if image.ndim == 2:
        return QImage(image.data, width, height, image.strides[0], QImage.Format.Format_Grayscale8).copy()
    if image.shape[2] == 4:
        return QImage(image.data, width, height, image.strides[0], QImage.Format.Format_ARGB32).copy()
    return QImage(image.data, width, height, image.strides[0], QImage.Format.Format_BGR888).copy()


class PreviewWidget(QWidget):
    """The live camera picture, scaled to fit, with face boxes, a guidance line and a message overlay.

    Call :meth:`show_frame` with each preview frame and :meth:`set_boxes` with the latest analysis; boxes
    are in the frame's pixels (the analysed frame may be a few frames older than the one shown).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._image: QImage | None = None
        self._boxes: list[tuple[Box, QColor]] = []
        self._guidance = ""
        self._message = "starting the camera..."
        self.frames_shown = 0
        self.setAccessibleName("Camera picture")

    def sizeHint(self) -> QSize:  # noqa: D102
        return QSize(640, 480)

    def show_frame(self, frame: Frame) -> None:
        """Show a frame (clears any message)."""
        self._image = to_qimage(frame.image)
        self._message = ""
        self.frames_shown += 1
        self.update()

    def set_boxes(self, boxes: list[tuple[Box, str]]) -> None:
        """Face boxes to draw: (box, colour name) pairs in frame pixels."""
        self._boxes = [(box, QColor(colour)) for box, colour in boxes]
        self.update()

    def set_guidance(self, text: str) -> None:
        """One line drawn over the bottom of the picture (empty: none)."""
        self._guidance = text
        self.setAccessibleDescription(text)
        self.update()

    def show_message(self, text: str) -> None:
        """A message in place of the picture (the camera is missing, the model loading, ...)."""
        self._message = text
        self._image = None if text else self._image
        self.update()

    @property
    def message(self) -> str:
        """The message shown instead of the picture ('' when the picture is shown)."""
        return self._message

    @property
    def guidance(self) -> str:
        """The guidance line shown."""
        return self._guidance

    def paintEvent(self, event) -> None:  # noqa: D102, N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("#111214"))
        if self._image is None or self._message:
            painter.setPen(QColor("#e8eaed"))
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.2)
            painter.setFont(font)
            painter.drawText(self.rect().adjusted(24, 24, -24, -24),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
            return
        w, h = self._image.width(), self._image.height()
        scale = min(self.width() / w, self.height() / h)
        target = QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)
        painter.drawImage(target, self._image)
        for (left, top, right, bottom), colour in self._boxes:
            pen = QPen(colour, 3)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(target.x() + left * scale, target.y() + top * scale,
                                           (right - left + 1) * scale, (bottom - top + 1) * scale), 6, 6)
        if self._guidance:
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.3)
            font.setBold(True)
            painter.setFont(font)
            # wrapped, the band as tall as the lines need: a long instruction must not run off the picture
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            needed = painter.boundingRect(QRectF(0, 0, max(1.0, target.width() - 16), 1e4), flags, self._guidance)
            height = min(target.height(), max(44.0, needed.height() + 14))
            band = QRectF(target.x(), target.bottom() - height, target.width(), height)
            painter.fillRect(band, QColor(0, 0, 0, 150))
            painter.setPen(QColor("#ffffff"))
            painter.drawText(band.adjusted(8, 0, -8, 0), flags, self._guidance)


def _round_pen(colour: QColor, width: float) -> QPen:
    pen = QPen(colour, width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    return pen


class ProgressRing(QWidget):
    """A ring filling up as captures are made, with "n / total" in the middle."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value, self._maximum = 0, 1
        self.setMinimumSize(120, 120)
        self.setAccessibleName("faces captured: 0 of 1")

    def sizeHint(self) -> QSize:  # noqa: D102
        return QSize(140, 140)

    def set_progress(self, value: int, maximum: int) -> None:
        """Show ``value`` of ``maximum`` (maximum >= 1)."""
        if (value, max(1, maximum)) == (self._value, self._maximum):
            return  # called with every processed frame: no repaint, and no name-changed event to a screen reader
        self._value, self._maximum = value, max(1, maximum)
        self.setAccessibleName(f"faces captured: {self._value} of {self._maximum}")  # the count is only painted
        self.update()

    @property
    def value(self) -> int:
        """Captures shown."""
        return self._value

    def paintEvent(self, event) -> None:  # noqa: D102, N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        side = min(self.width(), self.height()) - 16
        rect = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        track = self.palette().mid().color()
        painter.setPen(_round_pen(track, 10))
        painter.drawArc(rect, 0, 360 * 16)
        share = min(1.0, self._value / self._maximum)
        painter.setPen(_round_pen(QColor(theme.STATE_COLOURS["unlocked" if share >= 1 else "face found"]), 10))
        painter.drawArc(rect, 90 * 16, -int(share * 360 * 16))
        painter.setPen(self.palette().windowText().color())
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"{self._value} / {self._maximum}")


def _with_eye(picture: QPixmap, colour: QColor) -> QPixmap:
    """``picture`` with an eye drawn in a disc at its bottom right (the "checking liveness" badge)."""
    picture = QPixmap(picture)
    side = picture.width() / picture.devicePixelRatio()
    painter = QPainter(picture)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    r = side * 0.2
    centre = QPointF(side - r - 2, side - r - 2)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawEllipse(centre, r, r)
    pen = QPen(QColor("#ffffff"), max(1.5, side / 48))
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    eye = QPainterPath()
    eye.moveTo(centre.x() - r * 0.65, centre.y())
    eye.quadTo(centre.x(), centre.y() - r * 0.75, centre.x() + r * 0.65, centre.y())
    eye.quadTo(centre.x(), centre.y() + r * 0.75, centre.x() - r * 0.65, centre.y())
    painter.drawPath(eye)
    painter.setBrush(QColor("#ffffff"))
    painter.drawEllipse(centre, r * 0.2, r * 0.2)
    painter.end()
    return picture


class LockIcon(QLabel):
    """The lock icon of the unlock screen; :meth:`set_state` picks the icon of a state."""

    ICONS = {"searching": "lock-searching", "face found": "lock-face", "verifying": "lock-verifying",
             "checking liveness": "lock-verifying", "unlocked": "lock-unlocked", "locked out": "lock-lockedout",
             "rejected": "lock-lockedout"}
    #: States drawn with an eye badge over their icon (liveness is being checked: look and blink).
    EYE_BADGE = ("checking liveness",)

    def __init__(self, size: int = 128, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._size = size
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(size, size)
        self.state = ""
        self.set_state("searching")

    def set_state(self, state: str) -> None:
        """Show the icon of ``state`` (one of ``LockIcon.ICONS``)."""
        if state == self.state:
            return
        self.state = state
        picture = theme.pixmap(self.ICONS.get(state, "lock-searching"), self._size)
        if state in self.EYE_BADGE and not picture.isNull():
            picture = _with_eye(picture, QColor(theme.STATE_COLOURS.get(state, "#8b5cf6")))
        if picture.isNull():
            self.setText(state)
        else:
            self.setPixmap(picture)
        self.setToolTip(state)
        self.setAccessibleName(f"lock: {state}")


def show_button(button: QPushButton, shown: bool) -> None:
    """Show or hide ``button``, and let it take the keyboard focus only while shown.

    QWizard gives a new page's focus to its first focusable child, visible or not: on the capture and test
    pages that was the camera's hidden Retry button, where Space or Return restarted the camera (found by a
    keyboard-only try).
    """
    button.setFocusPolicy(Qt.FocusPolicy.StrongFocus if shown else Qt.FocusPolicy.NoFocus)
    button.setVisible(shown)


class CameraErrorBar(QFrame):
    """A red bar with the camera's error message and a Retry button (hidden while the camera works).

    Signals:
        retry(): the user asked to try the camera again.
    """

    retry = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cameraError")
        self.setStyleSheet("#cameraError { background: #fde7e9; border: 1px solid #e5484d; border-radius: 6px; }"
                           "#cameraError QLabel { color: #8c1d22; }")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.button = QPushButton("Retry")
        self.button.clicked.connect(self.retry)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.clear()

    def show_error(self, message: str) -> None:
        """Show the bar with ``message``."""
        self.label.setText(message)
        show_button(self.button, True)
        self.show()

    def clear(self) -> None:
        """Hide the bar."""
        show_button(self.button, False)
        self.hide()



class DoubleSlider(QWidget):
    """A slider over a float range with a spin box beside it showing (and taking) the exact value.

    Qt's own QSlider and QDoubleSpinBox, both in the Tab order and both driven by the keyboard (arrows,
    Page Up/Down, Home/End on the slider; typing or arrows in the box). superqt's labeled double slider was
    used before: its slider ignores every key (a known gap of its generic slider), so the threshold could not
    be moved without a mouse. The slider moves in :meth:`setSingleStep` steps; the box keeps any value of
    the range to :meth:`setDecimals` places (a calibrated threshold such as 0.948 stays 0.948, the handle sits
    at the nearest step).

    Signals:
        valueChanged(float): the value changed, by the user or by :meth:`setValue`; once per change.
    """

    valueChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._box = QDoubleSpinBox()
        self._box.setKeyboardTracking(False)  # typing "0.9" passes through 0 and 0.9 otherwise
        self._minimum, self._step = 0.0, 0.01
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._slider, 1)
        layout.addWidget(self._box)
        self.setFocusProxy(self._slider)
        self._slider.valueChanged.connect(self._from_slider)
        self._box.valueChanged.connect(self._from_box)

    def setRange(self, minimum: float, maximum: float) -> None:  # noqa: N802 (Qt's naming)
        """The range of values (inclusive)."""
        self._minimum = float(minimum)
        self._box.setRange(minimum, maximum)
        self._reset_steps()

    def setDecimals(self, decimals: int) -> None:  # noqa: N802
        """Decimal places the box shows and keeps."""
        self._box.setDecimals(decimals)

    def setSingleStep(self, step: float) -> None:  # noqa: N802
        """The step of the arrow keys (slider and box) and of the slider's positions."""
        self._step = float(step)
        self._box.setSingleStep(step)
        self._reset_steps()

    def setPageStep(self, step: float) -> None:  # noqa: N802
        """The slider's Page Up/Down step."""
        self._slider.setPageStep(max(1, round(step / self._step)))

    def minimum(self) -> float:
        """The lowest value."""
        return self._box.minimum()

    def maximum(self) -> float:
        """The highest value."""
        return self._box.maximum()

    def value(self) -> float:
        """The value, to :meth:`setDecimals` places."""
        return self._box.value()

    def setValue(self, value: float) -> None:  # noqa: N802
        """Set the value (clamped to the range); emits valueChanged when it changes."""
        self._box.setValue(value)

    def setAccessibleName(self, name: str) -> None:  # noqa: N802
        """Name the slider and the box for screen readers."""
        super().setAccessibleName(name)
        self._slider.setAccessibleName(name)
        self._box.setAccessibleName(f"{name} value")

    def setToolTip(self, text: str) -> None:  # noqa: N802
        """The same tool tip on the slider and the box."""
        super().setToolTip(text)
        self._slider.setToolTip(text)
        self._box.setToolTip(text)

    def _reset_steps(self) -> None:
        self._slider.blockSignals(True)
        self._slider.setRange(0, max(1, round((self._box.maximum() - self._minimum) / self._step)))
        self._slider.blockSignals(False)
        self._place_handle(self._box.value())

    def _place_handle(self, value: float) -> None:
        self._slider.blockSignals(True)
        self._slider.setValue(round((value - self._minimum) / self._step))
        self._slider.blockSignals(False)

    def _from_slider(self, position: int) -> None:
        self._box.setValue(self._minimum + position * self._step)

    def _from_box(self, value: float) -> None:
        self._place_handle(value)
        self.valueChanged.emit(value)
