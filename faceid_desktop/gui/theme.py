"""Icons from ``assets/icons`` and a light or dark look that follows the desktop (or ``--theme``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle

from ..resources import asset

#: Where the SVG icons live (see faceid_desktop.resources).
ICON_DIR = asset("icons")

#: State colours (lock icon, face box, state text): readable on light and dark backgrounds alike.
STATE_COLOURS = {
    "searching": "#8a8f98",
    "face found": "#3b82f6",
    "verifying": "#e0a100",
    "checking liveness": "#8b5cf6",
    "unlocked": "#22a559",
    "locked out": "#e5484d",
    "rejected": "#e5484d",
}


def icon_path(name: str) -> Path:
    """The path of icon ``name`` (without ``.svg``); it may not exist in a stripped install."""
    return ICON_DIR / f"{name}.svg"


def icon(name: str) -> QIcon:
    """Icon ``name`` from ``assets/icons`` (an empty icon when the file is missing)."""
    path = icon_path(name)
    return QIcon(str(path)) if path.is_file() else QIcon()


def pixmap(name: str, size: int) -> QPixmap:
    """Icon ``name`` rendered at ``size`` x ``size`` device-independent pixels (null when missing)."""
    return icon(name).pixmap(QSize(size, size))


def is_dark(palette: QPalette | None = None) -> bool:
    """True when the window background is dark."""
    palette = palette or QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    """A dark Fusion palette.

    Base (text fields, tables, the inside of check boxes) is lighter than Window: Fusion outlines a check box
    in a shade darker than Window and fills it with Base, so a Base darker than Window left an unticked box
    as a black square with no visible edge.
    """
    p = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#202124", QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#303134", QPalette.ColorRole.AlternateBase: "#38393d",
        QPalette.ColorRole.Text: "#e8eaed", QPalette.ColorRole.Button: "#2d2e31",
        QPalette.ColorRole.ButtonText: "#e8eaed", QPalette.ColorRole.Highlight: "#3b82f6",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2d2e31",
        QPalette.ColorRole.ToolTipText: "#e8eaed", QPalette.ColorRole.PlaceholderText: "#9aa0a6",
        QPalette.ColorRole.Link: "#8ab4f8", QPalette.ColorRole.Mid: "#3c4043",
    }
    for role, value in colours.items():
        p.setColor(role, QColor(value))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7f8389"))
    # a disabled slider's filled part is drawn in Highlight: grey, as the light palette has it, not blue
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Highlight, QColor("#5f6368"))
    return p


class _OutlinedCheckBoxes(QProxyStyle):
    """Fusion, with the edge of check boxes and radio buttons drawn light on a dark palette.

    Fusion outlines them in a shade darker than Window: on a dark window an unticked box (the consent box
    that unlocks Next, the liveness box) was a dark square with no visible edge, about 1.2:1 contrast.
    """

    def drawPrimitive(self, element, option, painter, widget=None) -> None:  # noqa: D102, N802
        super().drawPrimitive(element, option, painter, widget)
        if element in (QStyle.PrimitiveElement.PE_IndicatorCheckBox,
                       QStyle.PrimitiveElement.PE_IndicatorRadioButton) and is_dark(option.palette):
            enabled = bool(option.state & QStyle.StateFlag.State_Enabled)
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor("#9aa0a6" if enabled else "#5f6368"), 1.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            rect = QRectF(option.rect).adjusted(0.5, 0.5, -0.5, -0.5)
            if element == QStyle.PrimitiveElement.PE_IndicatorRadioButton:
                painter.drawEllipse(rect)
            else:
                painter.drawRoundedRect(rect, 2.0, 2.0)
            painter.restore()


def apply_theme(app: QApplication, theme: str = "auto") -> None:
    """Fusion style with a light or dark palette: ``light``, ``dark``, or ``auto`` (the desktop's scheme).

    Raises:
        ValueError: an unknown theme name.
    """
    if theme not in ("auto", "light", "dark"):
        raise ValueError(f"theme must be auto, light or dark, not {theme!r}")
    app.setStyle(_OutlinedCheckBoxes("Fusion"))
    if theme == "auto":
        theme = "dark" if app.styleHints().colorScheme() == Qt.ColorScheme.Dark else "light"
    app.setPalette(dark_palette() if theme == "dark" else app.style().standardPalette())
    app.setWindowIcon(icon("app"))
