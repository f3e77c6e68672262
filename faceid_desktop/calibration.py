"""Calibration: what a threshold means for one profile, as estimated false accept and false reject rates.

A profile's decision compares a probe with the profile's centre (the unit-length mean of its unit-length
templates, :func:`faceid_desktop.verification.profile_centre`). For that profile:

* **strangers** (FAR): the distribution of strangers' distances to an owner's centre, measured over all
  owners and strangers of the owner protocol and shipped as quantiles; below the smallest measured quantile
  the tail goes on exponentially. It is the same for every profile: a per-profile location and scale from
  a Gaussian population model (the centre's cosine moments) was tried and made the estimates 5-20 times too
  pessimistic and per-profile thresholds far worse than one global threshold (benchmarks/calibration.py);
* **the owner** (FRR): the profile's own spread, measured leave-one-out (each template against the centre
  of the others) and shrunk towards the population's (few templates say little), scales the measured
  distribution of the ratio ``genuine distance / leave-one-out spread`` over the owners of the protocol.

The tables (``assets/calibration.npz``) hold only aggregate statistics (quantiles), fitted by
``python benchmarks/calibration.py --write``, which also prints how well the estimates hold against
measured rates on people the tables were not fitted on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .profile import Profile
from .resources import asset
from .verification import profile_centre, unit

DEFAULT_PATH = asset("calibration.npz")

#: Distance grid of every :class:`Calibration`: 0 to 2 (the largest distance between unit vectors) in
#: steps of 0.001.
GRID = np.round(np.arange(0.0, 2.0005, 0.001), 6)

#: The target FAR ``faceid calibrate`` uses by default (the Windows Hello bar: 1 in 100,000).
DEFAULT_TARGET_FAR = 1e-5

#: Leave-one-out spreads of this many templates weigh as much as the population's in the shrunk spread.
SHRINK_TEMPLATES = 5

#: Estimates are clipped to this floor: below it no table says anything measured.
RATE_FLOOR = 1e-9


class CalibrationError(ValueError):
    """The calibration tables are missing, damaged or inconsistent; or a request is out of range."""


@dataclass(frozen=True)
class CalibrationTables:
    """The aggregate statistics calibration needs.

    Attributes:
        impostor_levels: (M,) float64 probabilities, descending from 1.
        impostor_distance: (M,) float64 distances d with P(stranger's distance <= d) = level, descending.
        genuine_levels: (R,) float64 survival probabilities, descending from 1.
        genuine_ratio: (R,) float64 ratio r with P(genuine distance / spread >= r) = level, ascending.
        population_spread: the mean leave-one-out spread of owners in the fitting data (distance).
        source: what the tables were fitted on.
    """

    impostor_levels: np.ndarray = field(repr=False)
    impostor_distance: np.ndarray = field(repr=False)
    genuine_levels: np.ndarray = field(repr=False)
    genuine_ratio: np.ndarray = field(repr=False)
    population_spread: float = 0.3
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("impostor_levels", "impostor_distance", "genuine_levels", "genuine_ratio"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if not np.isfinite(value).all():
                raise CalibrationError(f"calibration tables: {name} is not finite")
            object.__setattr__(self, name, value)
        for levels, values, order in (("impostor_levels", "impostor_distance", -1),
                                      ("genuine_levels", "genuine_ratio", 1)):
            p, v = getattr(self, levels), getattr(self, values)
            if p.ndim != 1 or p.shape != v.shape or len(p) < 2 or np.any(np.diff(p) >= 0) \
                    or np.any(order * np.diff(v) < 0) or p[0] > 1 or p[-1] <= 0:
                raise CalibrationError(f"calibration tables: {levels}/{values} are not a survival table")
        if not (np.isfinite(self.population_spread) and self.population_spread > 0):
            raise CalibrationError("calibration tables: population_spread must be positive")

    def save(self, path: Path) -> None:
        """Write the tables as a ``.npz`` of arrays plus a JSON line of metadata (no pickle)."""
        meta = json.dumps({"population_spread": self.population_spread, "source": self.source})
        np.savez_compressed(path, impostor_levels=self.impostor_levels, impostor_distance=self.impostor_distance,
                            genuine_levels=self.genuine_levels, genuine_ratio=self.genuine_ratio,
                            meta=np.array(meta))

    @classmethod
    def load(cls, path: Path | None = None) -> "CalibrationTables":
        """Read tables written by :meth:`save`; the shipped ones when ``path`` is None.

        Raises:
            CalibrationError: the file is missing, not a valid ``.npz``, or its arrays are malformed.
        """
        path = Path(path) if path is not None else DEFAULT_PATH
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return cls(data["impostor_levels"], data["impostor_distance"],
                           data["genuine_levels"], data["genuine_ratio"], float(meta["population_spread"]),
                           str(meta["source"]))
        except FileNotFoundError:
            raise CalibrationError(f"{path}: calibration tables not found") from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CalibrationError(f"{path}: not valid calibration tables ({error})") from None


@dataclass(frozen=True)
class Calibration:
    """Estimated error rates of one profile over a grid of distance thresholds.

    Attributes:
        thresholds: (K,) float64 distance grid (:data:`GRID`), ascending.
        far: (K,) float64 estimated false accept rate (share of strangers accepted) at each threshold.
        frr: (K,) float64 estimated false reject rate (share of the owner's probes rejected).
        genuine_pdf: (K,) float64 estimated density of the owner's distances (per unit distance).
        impostor_pdf: (K,) float64 estimated density of strangers' distances.
        genuine_distances: (G,) float64 leave-one-out distances of the profile's own templates (empty with
            fewer than two templates).
        spread: the owner-distance scale used (distance): the shrunk leave-one-out spread.
        recommended: the threshold for :data:`DEFAULT_TARGET_FAR`.
    """

    thresholds: np.ndarray = field(repr=False)
    far: np.ndarray = field(repr=False)
    frr: np.ndarray = field(repr=False)
    genuine_pdf: np.ndarray = field(repr=False)
    impostor_pdf: np.ndarray = field(repr=False)
    genuine_distances: np.ndarray = field(repr=False)
    spread: float
    recommended: float

    def far_at(self, threshold: float) -> float:
        """Estimated FAR at a distance threshold (interpolated on the grid in log space)."""
        return _log_interp(threshold, self.thresholds, self.far)

    def frr_at(self, threshold: float) -> float:
        """Estimated FRR at a distance threshold (interpolated on the grid in log space)."""
        return _log_interp(threshold, self.thresholds, self.frr)

    def threshold_for_far(self, far: float) -> float:
        """The largest threshold whose estimated FAR is at most ``far``.

        Raises:
            CalibrationError: ``far`` is not within (0, 1).
        """
        return _threshold_for(self.thresholds, self.far, far)

    def threshold_at_far(self, far: float) -> float:
        """The inverse of :meth:`far_at`: the largest threshold whose FAR, interpolated as :meth:`far_at`
        does, is at most ``far``, between grid points (:meth:`threshold_for_far` stops at the grid point
        below), so that ``far_at(threshold_at_far(f)) == f`` wherever the FAR rises.

        Raises:
            CalibrationError: ``far`` is not within (0, 1).
        """
        if not (0 < far < 1):
            raise CalibrationError(f"target FAR must be between 0 and 1, got {far}")
        log_far = np.log(np.maximum(self.far, RATE_FLOOR))
        target = float(np.log(far))
        below = int(np.searchsorted(log_far, target, side="right")) - 1  # the last grid point at most far
        if below < 0:
            return float(self.thresholds[0])
        if below == len(log_far) - 1:
            return float(self.thresholds[-1])
        part = (target - log_far[below]) / (log_far[below + 1] - log_far[below])  # the next one is above far
        return float(self.thresholds[below] + part * (self.thresholds[below + 1] - self.thresholds[below]))


def _threshold_for(grid: np.ndarray, rates: np.ndarray, target: float) -> float:
    if not (0 < target < 1):
        raise CalibrationError(f"target FAR must be between 0 and 1, got {target}")
    ok = np.nonzero(rates <= target)[0]
    return float(grid[ok[-1]]) if len(ok) else float(grid[0])


def _log_interp(x: float, grid: np.ndarray, rates: np.ndarray) -> float:
    return float(np.exp(np.interp(x, grid, np.log(np.maximum(rates, RATE_FLOOR)))))


def _survival(values: np.ndarray, table_values: np.ndarray, table_levels: np.ndarray) -> np.ndarray:
    """P(V >= value) from a quantile table, linear in log-probability; beyond the last quantile the tail
    goes on exponentially with the slope of the table's last decade."""
    log_levels = np.log(table_levels)
    inside = np.interp(values, table_values, log_levels, left=0.0)
    last = np.searchsorted(-log_levels, -(log_levels[-1] + np.log(10.0)))
    last = min(int(last), len(table_values) - 2)
    slope = (log_levels[-1] - log_levels[last]) / max(table_values[-1] - table_values[last], 1e-9)
    beyond = log_levels[-1] + slope * (values - table_values[-1])
    out = np.where(values > table_values[-1], beyond, inside)
    return np.clip(np.exp(out), RATE_FLOOR, 1.0)


def leave_one_out(templates: np.ndarray) -> np.ndarray:
    """Each template's distance to the centre of the others: (T,) float64, empty when T < 2.

    Args:
        templates: (T, 128) float embeddings.
    """
    templates = np.asarray(templates, dtype=np.float64)
    if len(templates) < 2:
        return np.zeros(0)
    units = unit(templates)
    total = units.sum(axis=0)
    return np.array([np.linalg.norm(units[i] - unit(total - units[i])) for i in range(len(units))])


def spread_of(templates: np.ndarray, tables: CalibrationTables) -> float:
    """The owner-distance scale of a profile: its mean leave-one-out distance shrunk towards the population's
    (weights: the number of templates vs :data:`SHRINK_TEMPLATES`). Distance units."""
    loo = leave_one_out(templates)
    n = len(loo)
    own = float(loo.mean()) if n else tables.population_spread
    return (n * own + SHRINK_TEMPLATES * tables.population_spread) / (n + SHRINK_TEMPLATES)


def calibrate_templates(templates: np.ndarray, tables: CalibrationTables | None = None) -> Calibration:
    """Estimated FAR and FRR over :data:`GRID` for a profile with these templates.

    Args:
        templates: (T, 128) float embeddings, T >= 1.
        tables: the aggregate tables; the shipped ones when None.

    Returns:
        The :class:`Calibration`.

    Raises:
        ValueError: no templates; CalibrationError: the tables cannot be read.
    """
    tables = tables if tables is not None else CalibrationTables.load()
    templates = np.asarray(templates, dtype=np.float64)
    profile_centre(templates)  # checks the templates
    grid = GRID
    # FAR(t) = P(D <= t): the survival function of -D at -t.
    far = _survival(-grid, -tables.impostor_distance, tables.impostor_levels)
    spread = spread_of(templates, tables)
    frr = _survival(grid / spread, tables.genuine_ratio, tables.genuine_levels)
    # Interpolation can wobble by rounding; the rates must be monotonic for threshold_for_far.
    far = np.maximum.accumulate(far)
    frr = np.minimum.accumulate(frr)
    step = grid[1] - grid[0]
    impostor_pdf = np.maximum(np.gradient(far, step), 0.0)
    genuine_pdf = np.maximum(-np.gradient(frr, step), 0.0)
    return Calibration(grid, far, frr, genuine_pdf, impostor_pdf, leave_one_out(templates), spread,
                       _threshold_for(grid, far, DEFAULT_TARGET_FAR))


def calibrate(profile: Profile, tables: CalibrationTables | None = None) -> Calibration:
    """Estimated FAR and FRR over :data:`GRID` for a profile (see :func:`calibrate_templates`)."""
    return calibrate_templates(profile.embeddings, tables)


def describe_far(far: float) -> str:
    """A FAR in words, e.g. ``about 1 in 80,000 strangers would be accepted``."""
    if far >= 0.5:
        return "most strangers would be accepted"
    if far <= RATE_FLOOR * 10:
        return "fewer than 1 in 100 million strangers would be accepted"
    one_in = 1.0 / far
    digits = max(int(np.floor(np.log10(one_in))) - 1, 0)
    rounded = int(round(one_in / 10 ** digits) * 10 ** digits)
    return f"about 1 in {rounded:,} strangers would be accepted"


def describe_frr(frr: float) -> str:
    """An FRR in words, e.g. ``about 3 in 100 of your attempts would be rejected``."""
    if frr < 0.001:
        return "fewer than 1 in 1,000 of your attempts would be rejected"
    if frr >= 0.995:
        return "nearly all of your attempts would be rejected"
    if frr >= 0.5:
        return f"most of your attempts would be rejected (about {frr * 100:.0f} in 100)"
    if frr < 0.01:
        return f"about {frr * 1000:.0f} in 1,000 of your attempts would be rejected"
    return f"about {frr * 100:.0f} in 100 of your attempts would be rejected"
