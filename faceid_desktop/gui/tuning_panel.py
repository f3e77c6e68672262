"""The tuning panel: the threshold slider, the alpha (cohort) rule and its margin, the live distance of each
frame against the threshold, the profile's estimated genuine and impostor distance densities, the DET curve
with the operating point, and the estimated FAR and FRR in words (the core's calibration). Changes apply to
the live decision at once (decided by the core, as ``faceid verify`` decides); Apply saves them."""

from __future__ import annotations

import dataclasses
import html
import math
import threading
from collections import deque
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QMessageBox, QPushButton, QVBoxLayout, QWidget)

from ..loosening import CONFIRM_FAR, WARN_FAR, calibrate_any
from ..calibration import Calibration, describe_far, describe_frr
from ..camera import Frame
from ..pipeline import FacePipeline
from ..profile import DecisionSettings, Profile
from ..verification import Decision, ProfileScorer, decide_distance
from . import theme
from .analysis import FrameAnalysis, score_frame
from .camera_view import CameraView
from .camera_worker import CameraHub
from .jobs import Job
from .widgets import DoubleSlider

#: The DET plot's corners (log axes): FAR from 1e-9, FRR from 1e-5; a rate beyond them is drawn on the edge.
_DET_FAR_FLOOR, _DET_FRR_FLOOR = 1e-9, 1e-5

#: Threshold slider range (DecisionSettings accepts 0.05 to 2; beyond 1.4 nearly every stranger matches).
THRESHOLD_RANGE = (0.05, 1.4)
#: Alpha slider range and step (a distance margin; the alpha rule's useful margins are small).
ALPHA_RANGE, ALPHA_STEP = (0.0, 0.3), 0.01
#: Frames kept in the live distance plot.
LIVE_FRAMES = 150
#: Estimated FAR above which the FAR is shown in red, and above which Apply asks first: the CLI's limits.
FAR_WARN, FAR_CONFIRM = WARN_FAR, CONFIRM_FAR
#: How an adapted profile's error rates are estimated (said under the rates: they are not the tables').
ADAPTED_NOTE = ("adapted profile: strangers estimated from the population's rates carried into its adapter's space "
                "by synthetic strangers, your rejects from its templates' spread in that space")


def calibrate_profile(profile: Profile) -> Calibration:
    """The profile's :class:`faceid_desktop.calibration.Calibration`, adapted or not (runs in a worker thread).

    Raises:
        ValueError: no templates, or an adapted profile with fewer than 2; CalibrationError: the shipped
            tables cannot be read.
    """
    return calibrate_any(profile)


class SharedValue:
    """One value handed from the GUI thread to the processing thread (the current settings): the task reads
    this holder, never the widget, so nothing of Qt's is touched off the GUI thread."""

    def __init__(self, value: object) -> None:
        self._lock = threading.Lock()
        self._value = value

    def get(self) -> object:
        """The value last set."""
        with self._lock:
            return self._value

    def set(self, value: object) -> None:
        """Replace the value."""
        with self._lock:
            self._value = value


def tuning_task(scorer: ProfileScorer, settings: Callable[[], DecisionSettings]):
    """A processing-thread task deciding each frame with the core's scorer under ``settings()`` (the panel's
    current settings), measuring the cohort distance too when the alpha rule is on."""
    def task(pipeline: FacePipeline, frame: Frame) -> FrameAnalysis:
        current = settings()
        return score_frame(pipeline, scorer, current, frame, nearest=current.rule == "alpha")
    return task


class IntegerAxis(pg.AxisItem):
    """An axis of whole numbers (frame numbers): no tick between two integers, none labelled ``350.2``."""

    def tickValues(self, minVal: float, maxVal: float, size: float):  # noqa: D102, N802, N803
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size) if spacing >= 1]
        levels = [(spacing, values) for spacing, values in levels if values]
        if not levels:  # a range narrower than one frame: the integers inside it, if any
            levels = [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        return levels

    def tickStrings(self, values, scale, spacing):  # noqa: D102, N802
        return [f"{int(round(v * scale))}" for v in values]


def _plot(title: str, left: str, bottom: str, integer_x: bool = False) -> pg.PlotWidget:
    widget = pg.PlotWidget(axisItems={"bottom": IntegerAxis("bottom")} if integer_x else None)
    widget.setTitle(title, size="10pt")
    widget.setLabel("left", left)
    widget.setLabel("bottom", bottom)
    widget.setMenuEnabled(False)
    widget.setMouseEnabled(False, False)
    widget.hideButtons()
    widget.setMinimumSize(260, 180)
    widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # nothing to do with the keyboard in a plot: no Tab stop
    widget.setAccessibleName(title)
    for axis in ("left", "bottom"):  # distances are read as they are (0.31), not as "310 (x0.001)"
        widget.getAxis(axis).enableAutoSIPrefix(False)
    return widget


#: Width (standard deviation, distance) of the smoothing the density plots get: the calibration's densities
#: are derivatives of interpolated quantile tables, jagged at the table's knots; the rates are not smoothed.
DISPLAY_SMOOTHING = 0.008


def smoothed(values: np.ndarray, step: float, sigma: float = DISPLAY_SMOOTHING) -> np.ndarray:
    """``values`` on a grid of spacing ``step`` convolved with a Gaussian of ``sigma`` (same length; the
    kernel is normalised, so the area under a density is kept)."""
    radius = max(1, int(round(3 * sigma / step)))
    x = np.arange(-radius, radius + 1) * step
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return np.convolve(values, kernel / kernel.sum(), mode="same")


def rate_text(rate: float, floor: float = 1e-6) -> str:
    """A rate as a short number: ``4.0%``, ``0.12%``, ``3.0e-05``; below ``floor``, ``< floor`` (an estimate
    from one profile's few templates and a background model fitted on about a million impostor comparisons
    says nothing about 2.9e-09)."""
    if rate < floor:
        return "< " + rate_text(floor, 0.0)
    if rate >= 0.01:
        return f"{rate:.1%}"
    if rate >= 1e-4:
        return f"{rate:.2%}"
    return f"{rate:.1e}"


class TuningPanel(QWidget):
    """Tune the selected profile's threshold and decision rule while watching what they mean.

    Args:
        hub: the camera hub (the panel shows a small preview and decides each frame live).

    Signals:
        applied(object): the settings to save for the profile (Apply pressed).
        message(str): one line for the status bar.
    """

    applied = Signal(object)
    message = Signal(str)

    def __init__(self, hub: CameraHub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        #: Asked before Apply saves a setting whose estimated FAR is above FAR_CONFIRM: (question) -> yes.
        self.confirm_loosening: Callable[[str], bool] = self._ask
        self.profile: Profile | None = None
        self._shared = SharedValue(DecisionSettings())
        self.settings = DecisionSettings()
        self.calibration: Calibration | None = None
        self.last_decision: bool | None = None
        self.last_analysis: FrameAnalysis | None = None
        self._task = None
        self._active = False
        self._job: Job | None = None  # the calibration whose result is wanted
        self._running: set[Job] = set()  # every calibration thread still running (older ones too)
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
        self.threshold_slider = DoubleSlider()
        self.threshold_slider.setRange(*THRESHOLD_RANGE)
        self.threshold_slider.setDecimals(3)
        self.threshold_slider.setSingleStep(0.005)
        self.threshold_slider.setPageStep(0.05)
        self.threshold_slider.setAccessibleName("Threshold")
        self.alpha_box = QCheckBox("Alpha rule")
        self.alpha_box.setToolTip("Also require distance + alpha <= the distance to the nearest of 1,000 fixed "
                                  "synthetic strangers (the cohort): refuses probes that are near you but nearer "
                                  "to someone else.")
        self.alpha_slider = DoubleSlider()
        self.alpha_slider.setRange(*ALPHA_RANGE)
        self.alpha_slider.setDecimals(2)
        self.alpha_slider.setSingleStep(ALPHA_STEP)
        self.alpha_slider.setPageStep(0.05)
        self.alpha_slider.setAccessibleName("Alpha margin")
        self.alpha_slider.setToolTip("Margin of the alpha rule (a distance); used only with the Alpha rule on.")
        self.recommended_button = QPushButton("&Recommended")
        self.recommended_button.setToolTip("Set the calibrated threshold for this profile (estimated FAR 1 in "
                                           "100,000)")
        self.revert_button = QPushButton("Re&vert")
        self.apply_button = QPushButton("&Apply")
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
        form.addRow(self.alpha_box, self.alpha_slider)
        buttons = QHBoxLayout()
        for button in (self.recommended_button, self.revert_button, self.apply_button):
            buttons.addWidget(button)
        controls = QGroupBox("Setting")
        self._controls = controls
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
        self.live_plot = _plot("Distance of each frame", "distance", "frame", integer_x=True)
        self.live_curve = self.live_plot.plot([], [], pen=pg.mkPen("#3b82f6", width=2), symbol="o", symbolSize=5,
                                              symbolBrush="#3b82f6", symbolPen=None)
        self.live_line = pg.InfiniteLine(angle=0, pen=accent)
        self.live_plot.addItem(self.live_line)
        self.live_plot.setYRange(0.0, 1.6)

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

        self.det_plot = _plot("DET: FRR vs FAR", "FRR", "FAR")
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
        self.alpha_box.toggled.connect(self._on_slider)
        self.recommended_button.clicked.connect(self.use_recommended)
        self.revert_button.clicked.connect(self.revert)
        self.apply_button.clicked.connect(self.apply)
        hub.processed.connect(self._on_processed)
        self._set_sliders(self.settings)
        self._show_calibration()

    @property
    def settings(self) -> DecisionSettings:
        """The settings being tried (the processing thread reads a copy through a lock)."""
        return self._settings

    @settings.setter
    def settings(self, value: DecisionSettings) -> None:
        self._settings = value
        self._shared.set(value)

    # -- control -------------------------------------------------------------------------------------------

    def set_profile(self, profile: Profile | None, problem: str | None = None) -> None:
        """Tune ``profile`` (None: nothing to tune, because of ``problem`` when given: a chosen profile that
        cannot be read); starts its calibration in a worker thread (an adapted
        profile's is carried into its adapter's space by synthetic strangers, see
        :func:`~faceid_desktop.loosening.calibrate_adapted`)."""
        old = self.profile
        # the same faces again (the profile was just saved): keep the live history and the calibration
        same = old is not None and profile is not None and old.name == profile.name and \
            np.array_equal(old.embeddings, profile.embeddings) and (old.adapter is None) == (profile.adapter is None)
        self.profile = profile
        self.settings = profile.settings if profile else DecisionSettings()
        if not same:
            self.calibration = None
            self._job = None
            self.last_analysis = None
            self._distances.clear()
            self._frame_numbers.clear()
            self.live_curve.setData([], [])
        self._task = None
        if profile is not None and profile.templates:
            try:
                self._task = tuning_task(ProfileScorer(profile), self._shared.get)
            except ValueError as error:
                self.message.emit(str(error))
        self._set_sliders(self.settings)
        self.live_label.setText("no frame yet" if profile else
                                "profile cannot be read: see the Unlock tab" if problem else "no profile: enroll first")
        self.live_label.setStyleSheet("")
        for widget in (self.threshold_slider, self.alpha_box):
            widget.setEnabled(profile is not None)
        self._gate_buttons()
        self.alpha_slider.setEnabled(profile is not None and self.settings.rule == "alpha")
        if not (same and self.calibration is not None):
            # without a profile the rates line already says "not calibrated": not a second time here
            self.calibration_label.setText("calibrating..." if profile else "")
        for text in self._placeholders:
            # short, so the plot never clips it; why a profile is not calibrated goes in the wrapped label
            text.setText("calibrating..." if profile else "not calibrated")
        self._show_calibration()
        if self._active:
            self.hub.set_task(self._task)
        if profile is not None and not (same and (self.calibration is not None or self._job)):
            job = Job(lambda p=profile: calibrate_profile(p), self)
            job.done.connect(lambda result, j=job: self._on_calibrated(j, result))
            job.failed.connect(lambda text, j=job: self._on_calibration_failed(j, text))
            job.finished.connect(lambda j=job: self._running.discard(j))
            job.finished.connect(job.deleteLater)
            self._job = job
            self._running.add(job)
            job.start()

    def wait(self, msecs: int = 30_000) -> None:
        """Wait for calibrations under way to end (before the window closes: Qt aborts the whole process
        when a thread object is destroyed while its thread runs; seen when a window closed during the
        calibration of an adapted profile)."""
        for job in list(self._running):
            job.wait(msecs)

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

    def set_alpha_rule(self, on: bool, alpha: float | None = None) -> None:
        """Tick or clear the Alpha rule box and optionally move the alpha slider (as the user would)."""
        if alpha is not None:
            self.alpha_slider.setValue(float(alpha))
        self.alpha_box.setChecked(on)

    def use_recommended(self) -> None:
        """Set the threshold to the calibrated recommendation, estimated FAR 1e-5 (nothing without one)."""
        if self.calibration is not None:
            self.set_threshold(float(np.clip(self.calibration.recommended, *THRESHOLD_RANGE)))

    def revert(self) -> None:
        """Back to the profile's saved settings."""
        if self.profile is not None:
            self._set_sliders(self.profile.settings)
            self._on_slider()

    def apply(self) -> bool:
        """Emit :attr:`applied` with the current settings (the main window saves them in the profile); a
        threshold whose estimated FAR is above FAR_CONFIRM is saved only once confirmed. Returns whether the
        settings were sent for saving."""
        if self.profile is None:
            return False
        far = self.estimated_far()
        if far is not None and far > FAR_CONFIRM:
            question = (f"At threshold {self.settings.threshold:.3f}, {describe_far(far)} (estimated FAR "
                        f"{rate_text(far)}): anyone who looks a little like {self.profile.name} could unlock. "
                        "Save this setting anyway?")
            if not self.confirm_loosening(question):
                self.message.emit("not saved: the threshold was left as it was")
                return False
        self.applied.emit(self.settings)
        return True

    def estimated_far(self) -> float | None:
        """The calibrated FAR estimate at the current threshold (None: not calibrated, e.g. adapted)."""
        if self.calibration is None:
            return None
        return float(self.calibration.far_at(self.settings.threshold))

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.warning(self, "Accept more strangers?", question,
                                     QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
                                     QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Save

    def saved(self, profile: Profile) -> None:
        """The main window saved ``profile``; keep the sliders where they are."""
        self.profile = profile
        self._gate_buttons()

    # -- internals -----------------------------------------------------------------------------------------

    def _set_sliders(self, settings: DecisionSettings) -> None:
        for slider, value in ((self.threshold_slider, settings.threshold), (self.alpha_slider, settings.alpha)):
            slider.blockSignals(True)
            slider.setValue(float(value))
            slider.blockSignals(False)
        self.alpha_box.blockSignals(True)
        self.alpha_box.setChecked(settings.rule == "alpha")
        self.alpha_box.blockSignals(False)
        self.alpha_slider.setEnabled(self.profile is not None and settings.rule == "alpha")
        self._update_lines()

    def _on_slider(self, *_: object) -> None:
        rule = "alpha" if self.alpha_box.isChecked() else "threshold"
        self.alpha_slider.setEnabled(self.profile is not None and rule == "alpha")
        try:
            settings = dataclasses.replace(self.settings, threshold=round(float(self.threshold_slider.value()), 4),
                                           alpha=round(float(self.alpha_slider.value()), 4), rule=rule)
        except ValueError as error:
            self.message.emit(str(error))
            return
        if settings == self.settings:
            return
        self.settings = settings
        self._gate_buttons()
        self._update_lines()
        self._show_live(self.last_analysis)

    def _gate_buttons(self) -> None:
        # Apply and Revert only do something when the setting differs from the saved one
        changed = self.profile is not None and self.settings != self.profile.settings
        self.apply_button.setEnabled(changed)
        self.revert_button.setEnabled(changed)

    def resizeEvent(self, event) -> None:  # noqa: D102, N802
        super().resizeEvent(event)
        self._keep_controls_whole()

    def _keep_controls_whole(self) -> None:
        # Wrapped labels give their group no minimum height of their own: in a small window the lines were
        # drawn over each other. The group keeps the height its lines need at its width; the preview above
        # it shrinks instead (and the window's minimum size grows).
        layout = self._controls.layout()
        needed = layout.totalHeightForWidth(self._controls.width()) if layout.hasHeightForWidth() else -1
        if needed > 0 and needed != self._controls.minimumHeight():
            self._controls.setMinimumHeight(needed)

    def _update_lines(self) -> None:
        threshold = self.settings.threshold
        self.live_line.setPos(threshold)
        self.histogram_line.setPos(threshold)
        calibration = self.calibration
        if calibration is None:
            self.far_label.setText("Estimated error rates: not calibrated")
            self.far_label.setStyleSheet("")
            self.frr_label.setText("")
            self.det_point.setData([], [])
            return
        far, frr = calibration.far_at(threshold), calibration.frr_at(threshold)
        # escaped: "< 0.01%" is the start of a tag to rich text, and the rate vanished from the line
        self.far_label.setText(f"<b>Strangers:</b> {html.escape(f'{describe_far(far)} (FAR {rate_text(far)}).')}")
        # red from FAR 1e-3: one stranger in a thousand is more than a face lock should let in
        self.far_label.setStyleSheet(f"color: {theme.STATE_COLOURS['locked out']};" if far > FAR_WARN else "")
        alpha = (" These estimates leave out the alpha rule, which refuses some more strangers and some more "
                 "of your own attempts." if self.settings.rule == "alpha" else "")
        self.frr_label.setText(f"<b>You:</b> {html.escape(f'{describe_frr(frr)} (FRR {rate_text(frr, 1e-4)}).{alpha}')}")
        self._keep_controls_whole()
        # on the plot's edge when beyond it (an FRR of 3e-6 was drawn below the axis, out of sight)
        self.det_point.setData([np.log10(max(far, _DET_FAR_FLOOR))], [np.log10(max(frr, _DET_FRR_FLOOR))])

    def _decide(self, analysis: FrameAnalysis) -> Decision | None:
        """The core's decision on ``analysis`` under the current settings (None: not decidable yet)."""
        if analysis.distance is None:
            return None
        if self.settings.rule == "alpha" and analysis.nearest_negative is None:
            return None  # the cohort distance is measured from the next frame on
        return decide_distance(analysis.distance, self.settings, len(analysis.boxes), analysis.nearest_negative)

    def _show_live(self, analysis: FrameAnalysis | None) -> None:
        threshold = self.settings.threshold
        if analysis is None or analysis.distance is None:
            self.last_decision = None
            self.live_label.setText((analysis.problem if analysis is not None else None) or "no face")
            self.live_label.setStyleSheet("color: palette(placeholder-text);")
            return
        decision = self._decide(analysis)
        if decision is None:
            self.last_decision = None
            self.live_label.setText(f"distance {analysis.distance:.3f}: measuring the alpha rule...")
            self.live_label.setStyleSheet("color: palette(placeholder-text);")
            return
        accepted = decision.accepted
        self.last_decision = accepted
        colour = theme.STATE_COLOURS["unlocked" if accepted else "locked out"]
        sign = "\u2264" if decision.distance <= threshold else ">"
        text = f"{'MATCH' if accepted else 'NO MATCH'}: distance {decision.distance:.3f} {sign} {threshold:.3f}"
        if self.settings.rule == "alpha" and decision.nearest_negative is not None:
            text += f"; + alpha {self.settings.alpha:.2f} vs nearest stranger {decision.nearest_negative:.3f}"
        self.live_label.setText(text)
        self.live_label.setStyleSheet(f"color: {colour};")

    def _on_processed(self, task, analysis: FrameAnalysis) -> None:
        if task is not self._task or not self._active:
            return
        self.view.preview.set_boxes([(b, "#3b82f6" if b == analysis.box else "#8a8f98") for b in analysis.boxes])
        self._frames += 1
        self.last_analysis = analysis
        if analysis.distance is not None:
            self._distances.append(analysis.distance)
            self._frame_numbers.append(self._frames)
            self.live_curve.setData(list(self._frame_numbers), list(self._distances))
        self._show_live(analysis)

    def _on_calibrated(self, job: Job, calibration: Calibration) -> None:
        if job is not self._job:
            return
        self.calibration = calibration
        how = f" {ADAPTED_NOTE[0].upper()}{ADAPTED_NOTE[1:]}." if self.profile.adapter is not None else ""
        self.calibration_label.setText(f"Calibrated for {self.profile.name}: recommended threshold "
                                       f"{calibration.recommended:.3f} (estimated FAR 1 in 100,000).{how}")
        self._show_calibration()

    def _on_calibration_failed(self, job: Job, text: str) -> None:
        if job is not self._job:
            return
        self.calibration = None
        self.calibration_label.setText(f"Not calibrated: {text}")
        for placeholder in self._placeholders:
            placeholder.setText("not calibrated")
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
            self.histogram_plot.setXRange(0, 1.6)
            self.histogram_plot.setYRange(0, 1)
            self._placeholders[0].setPos(0.5, 0.5)
            self.det_plot.setXRange(np.log10(_DET_FAR_FLOOR), 0)  # log10 units
            self.det_plot.setYRange(np.log10(_DET_FRR_FLOOR), 0)
            self._placeholders[1].setPos(-4.5, -2.5)
            self._update_lines()
            return
        t = np.asarray(calibration.thresholds, dtype=np.float64)
        step = float(t[1] - t[0]) if len(t) > 1 else 1.0
        genuine = smoothed(np.asarray(calibration.genuine_pdf, dtype=np.float64), step)
        impostor = smoothed(np.asarray(calibration.impostor_pdf, dtype=np.float64), step)
        # show the part of the grid where either density lives (plus a margin)
        live = np.flatnonzero((genuine > genuine.max() * 1e-3) | (impostor > impostor.max() * 1e-3))
        lo, hi = (t[live[0]], t[live[-1]]) if len(live) else (t[0], t[-1])
        self.genuine_curve.setData(t, genuine)
        self.impostor_curve.setData(t, impostor)
        ticks = np.asarray(calibration.genuine_distances, dtype=np.float64)
        self.genuine_ticks.setData(ticks, np.zeros_like(ticks))
        self.histogram_plot.setXRange(max(0.0, lo - 0.05), hi + 0.05)
        # headroom above the taller peak: the legend sits in the top right corner, over the strangers' peak
        top = max(float(genuine.max(initial=0.0)), float(impostor.max(initial=0.0)))
        self.histogram_plot.setYRange(-0.03 * top, 1.7 * top if top > 0 else 1.0, padding=0)
        floor = 1e-9
        far = np.clip(np.asarray(calibration.far, dtype=np.float64), floor, 1.0)
        frr = np.clip(np.asarray(calibration.frr, dtype=np.float64), floor, 1.0)
        keep = (far > floor) & (frr > floor) | (far < 1) & (frr < 1)
        self.det_curve.setData(far[keep], frr[keep])
        self.det_plot.setXRange(np.log10(_DET_FAR_FLOOR), 0)
        self.det_plot.setYRange(np.log10(_DET_FRR_FLOOR), 0)
        self._update_lines()
