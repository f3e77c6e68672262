"""The tuning panel: threshold and alpha sliders, the live distance of each frame against the threshold, the
profile's genuine and impostor distance densities, the DET curve with the operating point, and the
estimated FAR and FRR in words. Slider moves apply to the live decision at once; Apply saves them."""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                               QVBoxLayout, QWidget)
from superqt import QLabeledDoubleSlider

from ..profile import DecisionSettings, Profile
from . import theme
from .analysis import FrameAnalysis, profile_embeddings
from .camera_view import CameraView
from .camera_worker import CameraHub
from .jobs import Job
from .unlock_screen import verification_task

try:  # written by the lead at the same time; until it lands the panel says "not calibrated"
    from .. import calibration as _calibration
except ImportError:  # pragma: no cover - depends on the checkout
    _calibration = None

#: Threshold slider range (DecisionSettings accepts 0.05 to 1).
THRESHOLD_RANGE = (0.05, 1.0)
#: Frames kept in the live distance plot.
LIVE_FRAMES = 150


def calibrate_profile(profile: Profile) -> Any:
    """The profile's :class:`faceid_desktop.calibration.Calibration` (runs in a worker thread).

    Raises:
        RuntimeError: the calibration module is not available.
    """
    if _calibration is None:
        raise RuntimeError("calibration is not available in this version")
    if hasattr(_calibration, "calibrate_templates"):  # takes the embeddings whatever Profile's accessor is
        return _calibration.calibrate_templates(profile_embeddings(profile))
    return _calibration.calibrate(profile)


def describe_far(far: float) -> str:
    """The estimated FAR in words (the core's wording)."""
    if _calibration is not None and hasattr(_calibration, "describe_far"):
        return _calibration.describe_far(far)
    return f"estimated false accept rate {far:.1e}"


def describe_frr(frr: float) -> str:
    """The estimated FRR in words (the core's wording)."""
    if _calibration is not None and hasattr(_calibration, "describe_frr"):
        return _calibration.describe_frr(frr)
    return f"estimated false reject rate {frr:.1%}"


def _plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    widget = pg.PlotWidget()
    widget.setTitle(title, size="10pt")
    widget.setLabel("left", left)
    widget.setLabel("bottom", bottom)
    widget.setMenuEnabled(False)
    widget.setMouseEnabled(False, False)
    widget.hideButtons()
    widget.setMinimumSize(260, 180)
    return widget


class TuningPanel(QWidget):
    """Tune the selected profile's threshold and alpha while watching what they mean.

    Args:
        hub: the camera hub (the panel shows a small preview and decides each frame live).

    Signals:
        settings_changed(object): the :class:`~faceid_desktop.profile.DecisionSettings` being tried (live).
        applied(object): the settings to save for the profile (Apply pressed).
        message(str): one line for the status bar.
    """

    settings_changed = Signal(object)
    applied = Signal(object)
    message = Signal(str)

    def __init__(self, hub: CameraHub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self.profile: Profile | None = None
        self.settings = DecisionSettings()
        self.calibration: Any = None
        self.last_decision: bool | None = None
        self._task = None
        self._active = False
        self._job: Job | None = None
        self._distances: deque[float] = deque(maxlen=LIVE_FRAMES)
        self._frame_numbers: deque[int] = deque(maxlen=LIVE_FRAMES)
        self._frames = 0
        dark = theme.is_dark(self.palette())
        pg.setConfigOptions(antialias=True, background=self.palette().base().color(),
                            foreground=self.palette().text().color())

        # -- controls
        self.view = CameraView(hub)
        self.view.preview.setMinimumSize(240, 180)
        self.live_label = QLabel("no frame yet")
        font = QFont(self.live_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.live_label.setFont(font)
        self.live_label.setWordWrap(True)
        self.threshold_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(*THRESHOLD_RANGE)
        self.threshold_slider.setDecimals(3)
        self.threshold_slider.setSingleStep(0.005)
        self.alpha_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0.0, 1.0)
        self.alpha_slider.setDecimals(2)
        self.alpha_slider.setSingleStep(0.01)
        self.alpha_slider.setToolTip("Margin of the cohort rule, used with an on-device adapted profile.")
        self.recommended_button = QPushButton("Recommended")
        self.recommended_button.setToolTip("Reset the threshold to the calibrated value for this profile")
        self.revert_button = QPushButton("Revert")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setDefault(True)
        self.far_label = QLabel("not calibrated")
        self.frr_label = QLabel("")
        for label in (self.far_label, self.frr_label):
            label.setWordWrap(True)
        self.calibration_label = QLabel("not calibrated")
        self.calibration_label.setWordWrap(True)
        self.calibration_label.setStyleSheet("color: palette(placeholder-text);")

        form = QFormLayout()
        form.addRow("Threshold", self.threshold_slider)
        form.addRow("Alpha", self.alpha_slider)
        buttons = QHBoxLayout()
        for button in (self.recommended_button, self.revert_button, self.apply_button):
            buttons.addWidget(button)
        controls = QGroupBox("Setting")
        box = QVBoxLayout(controls)
        box.addLayout(form)
        box.addWidget(self.far_label)
        box.addWidget(self.frr_label)
        box.addWidget(self.calibration_label)
        box.addLayout(buttons)

        left = QVBoxLayout()
        left.addWidget(self.view, 1)
        left.addWidget(self.live_label)
        left.addWidget(controls)

        # -- plots
        accent = pg.mkPen(theme.STATE_COLOURS["verifying"], width=2, style=Qt.PenStyle.DashLine)
        self.live_plot = _plot("Distance of each frame", "distance", "frame")
        self.live_curve = self.live_plot.plot([], [], pen=pg.mkPen("#3b82f6", width=2), symbol="o", symbolSize=5,
                                              symbolBrush="#3b82f6", symbolPen=None)
        self.live_line = pg.InfiniteLine(angle=0, pen=accent)
        self.live_plot.addItem(self.live_line)
        self.live_plot.setYRange(0.0, 1.0)

        self.histogram_plot = _plot("Distances: you and strangers", "density", "distance")
        self.legend = self.histogram_plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.genuine_curve = self.histogram_plot.plot([], [], pen=pg.mkPen("#22a559", width=2),
                                                      fillLevel=0, brush=(34, 165, 89, 60), name="you (estimated)")
        self.impostor_curve = self.histogram_plot.plot([], [], pen=pg.mkPen("#e5484d", width=2),
                                                       fillLevel=0, brush=(229, 72, 77, 60), name="strangers (estimated)")
        self.genuine_ticks = pg.ScatterPlotItem(size=9, symbol="t1", pen=None, brush="#22a559",
                                                name="your templates")
        self.histogram_plot.addItem(self.genuine_ticks)
        self.histogram_line = pg.InfiniteLine(angle=90, pen=accent)
        self.histogram_plot.addItem(self.histogram_line)

        self.det_plot = _plot("DET: false rejects vs false accepts", "FRR", "FAR")
        self.det_plot.setLogMode(x=True, y=True)
        self.det_curve = self.det_plot.plot([], [], pen=pg.mkPen("#3b82f6", width=2))
        self.det_point = pg.ScatterPlotItem(size=12, pen=pg.mkPen("#ffffff" if dark else "#202124"),
                                            brush=theme.STATE_COLOURS["verifying"])
        self.det_plot.addItem(self.det_point)
        self._placeholders = []
        for plot in (self.histogram_plot, self.det_plot):
            text = pg.TextItem("not calibrated", color=self.palette().placeholderText().color(), anchor=(0.5, 0.5))
            plot.addItem(text, ignoreBounds=True)
            self._placeholders.append(text)

        plots = QGridLayout()
        plots.addWidget(self.live_plot, 0, 0, 1, 2)
        plots.addWidget(self.histogram_plot, 1, 0)
        plots.addWidget(self.det_plot, 1, 1)

        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addLayout(plots, 3)

        self.threshold_slider.valueChanged.connect(self._on_slider)
        self.alpha_slider.valueChanged.connect(self._on_slider)
        self.recommended_button.clicked.connect(self.use_recommended)
        self.revert_button.clicked.connect(self.revert)
        self.apply_button.clicked.connect(self.apply)
        hub.processed.connect(self._on_processed)
        self._set_sliders(self.settings)
        self._show_calibration()

    # -- control -------------------------------------------------------------------------------------------

    def set_profile(self, profile: Profile | None) -> None:
        """Tune ``profile`` (None: nothing to tune); starts its calibration in a worker thread."""
        self.profile = profile
        self.settings = profile.settings if profile else DecisionSettings()
        self.calibration = None
        self._distances.clear()
        self._frame_numbers.clear()
        self._task = verification_task(profile_embeddings(profile)) if profile and profile.templates else None
        self._set_sliders(self.settings)
        self.live_label.setText("no frame yet" if profile else "no profile: enroll first")
        for widget in (self.threshold_slider, self.alpha_slider, self.apply_button, self.revert_button):
            widget.setEnabled(profile is not None)
        self.calibration_label.setText("calibrating..." if profile else "not calibrated")
        self._show_calibration()
        if self._active:
            self.hub.set_task(self._task)
        if profile is not None:
            job = Job(lambda p=profile: calibrate_profile(p), self)
            job.done.connect(lambda result, j=job: self._on_calibrated(j, result))
            job.failed.connect(lambda text, j=job: self._on_calibration_failed(j, text))
            job.finished.connect(job.deleteLater)
            self._job = job
            job.start()

    def activate(self) -> None:
        """Become the screen the camera's frames go to."""
        self._active = True
        self.view.active = True
        self.hub.set_task(self._task)

    def deactivate(self) -> None:
        """Stop receiving frames."""
        self._active = False
        self.view.active = False

    def set_threshold(self, value: float) -> None:
        """Move the threshold slider (as the user would)."""
        self.threshold_slider.setValue(float(value))

    def use_recommended(self) -> None:
        """Set the threshold to the calibrated recommendation (nothing without a calibration)."""
        if self.calibration is not None:
            self.set_threshold(float(np.clip(self.calibration.recommended, *THRESHOLD_RANGE)))

    def revert(self) -> None:
        """Back to the profile's saved settings."""
        if self.profile is not None:
            self._set_sliders(self.profile.settings)
            self._on_slider()

    def apply(self) -> None:
        """Emit :attr:`applied` with the current settings (the main window saves them in the profile)."""
        if self.profile is not None:
            self.applied.emit(self.settings)

    def saved(self, profile: Profile) -> None:
        """The main window saved ``profile``; keep the sliders where they are."""
        self.profile = profile

    # -- internals -----------------------------------------------------------------------------------------

    def _set_sliders(self, settings: DecisionSettings) -> None:
        for slider, value in ((self.threshold_slider, settings.threshold), (self.alpha_slider, settings.alpha)):
            slider.blockSignals(True)
            slider.setValue(float(value))
            slider.blockSignals(False)
        self._update_lines()

    def _on_slider(self, *_: object) -> None:
        try:
            settings = dataclasses.replace(self.settings, threshold=round(float(self.threshold_slider.value()), 4),
                                           alpha=round(float(self.alpha_slider.value()), 4))
        except ValueError as error:
            self.message.emit(str(error))
            return
        if settings == self.settings:
            return
        self.settings = settings
        self._update_lines()
        self._redecide()
        self.settings_changed.emit(settings)

    def _update_lines(self) -> None:
        threshold = self.settings.threshold
        self.live_line.setPos(threshold)
        self.histogram_line.setPos(threshold)
        calibration = self.calibration
        if calibration is None:
            self.far_label.setText("Estimated error rates: not calibrated")
            self.frr_label.setText("")
            self.det_point.setData([], [])
            return
        far, frr = calibration.far_at(threshold), calibration.frr_at(threshold)
        self.far_label.setText(f"<b>Strangers:</b> {describe_far(far)} (FAR {far:.1e}).")
        self.frr_label.setText(f"<b>You:</b> {describe_frr(frr)} (FRR {frr:.1%}).")
        floor = 1e-9
        self.det_point.setData([np.log10(max(far, floor))], [np.log10(max(frr, floor))])

    def _redecide(self) -> None:
        if self._distances:
            self._show_live(self._distances[-1])

    def _show_live(self, distance: float | None, reason: str | None = None) -> None:
        threshold = self.settings.threshold
        if distance is None:
            self.last_decision = None
            self.live_label.setText(f"{reason or 'no face'}")
            self.live_label.setStyleSheet("color: palette(placeholder-text);")
            return
        accepted = distance <= threshold
        self.last_decision = accepted
        colour = theme.STATE_COLOURS["unlocked" if accepted else "locked out"]
        sign = "\u2264" if accepted else ">"
        self.live_label.setText(f"{'MATCH' if accepted else 'NO MATCH'}: distance {distance:.3f} {sign} {threshold:.3f}")
        self.live_label.setStyleSheet(f"color: {colour};")

    def _on_processed(self, task, analysis: FrameAnalysis) -> None:
        if task is not self._task or not self._active:
            return
        self.view.preview.set_boxes([(b, "#3b82f6" if b == analysis.box else "#8a8f98") for b in analysis.boxes])
        self._frames += 1
        if analysis.distance is not None:
            self._distances.append(analysis.distance)
            self._frame_numbers.append(self._frames)
            self.live_curve.setData(list(self._frame_numbers), list(self._distances))
        self._show_live(analysis.distance, analysis.problem)

    def _on_calibrated(self, job: Job, calibration: Any) -> None:
        if job is not self._job:
            return
        self.calibration = calibration
        self.calibration_label.setText(f"Calibrated for {self.profile.name}: recommended threshold "
                                       f"{calibration.recommended:.3f}.")
        self._show_calibration()

    def _on_calibration_failed(self, job: Job, text: str) -> None:
        if job is not self._job:
            return
        self.calibration = None
        self.calibration_label.setText(f"Not calibrated: {text}")
        self._show_calibration()

    def _show_calibration(self) -> None:
        calibration = self.calibration
        self.recommended_button.setEnabled(calibration is not None)
        for text in self._placeholders:
            text.setVisible(calibration is None)
        self.legend.setVisible(calibration is not None)
        if calibration is None:
            for curve in (self.genuine_curve, self.impostor_curve, self.det_curve):
                curve.setData([], [])
            self.genuine_ticks.setData([], [])
            self.histogram_plot.setXRange(0, 1)
            self.histogram_plot.setYRange(0, 1)
            self._placeholders[0].setPos(0.5, 0.5)
            self.det_plot.setXRange(-9, 0)  # log10 units
            self.det_plot.setYRange(-5, 0)
            self._placeholders[1].setPos(-4.5, -2.5)
            self._update_lines()
            return
        t = np.asarray(calibration.thresholds, dtype=np.float64)
        genuine = np.asarray(calibration.genuine_pdf, dtype=np.float64)
        impostor = np.asarray(calibration.impostor_pdf, dtype=np.float64)
        # show the part of the grid where either density lives (plus a margin)
        live = np.flatnonzero((genuine > genuine.max() * 1e-3) | (impostor > impostor.max() * 1e-3))
        lo, hi = (t[live[0]], t[live[-1]]) if len(live) else (t[0], t[-1])
        self.genuine_curve.setData(t, genuine)
        self.impostor_curve.setData(t, impostor)
        ticks = np.asarray(calibration.genuine_distances, dtype=np.float64)
        self.genuine_ticks.setData(ticks, np.zeros_like(ticks))
        self.histogram_plot.setXRange(max(0.0, lo - 0.05), hi + 0.05)
        self.histogram_plot.enableAutoRange(axis="y")
        floor = 1e-9
        far = np.clip(np.asarray(calibration.far, dtype=np.float64), floor, 1.0)
        frr = np.clip(np.asarray(calibration.frr, dtype=np.float64), floor, 1.0)
        keep = (far > floor) & (frr > floor) | (far < 1) & (frr < 1)
        self.det_curve.setData(far[keep], frr[keep])
        self.det_plot.setXRange(-9, 0)
        self.det_plot.setYRange(-5, 0)
        self._update_lines()
