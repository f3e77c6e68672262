"""How loose a threshold is: its estimated false accept rate, and whether setting it needs a warning or a
confirmation. Shared by the command line and the app's Tune panel (pure functions, no Qt).

Levels (the FAR is the estimated share of strangers' faces accepted):

- ``ok``: FAR at most :data:`WARN_FAR` (1 in 1,000): stated, nothing more;
- ``warn``: above it: a warning (the command line on stderr; the panel in red);
- ``confirm``: above :data:`CONFIRM_FAR` (1 in 100): the change also needs ``--yes`` (command line) or an
  explicit confirmation (app), since one stranger in a hundred or more would get in.

The FAR of a profile without an adapter comes from the calibration (population statistics, see
:mod:`faceid_desktop.calibration`). Those tables describe the pretrained embedding only; for an adapted
profile synthetic strangers drawn from the population model (:class:`~faceid_desktop.background.BackgroundModel`)
carry them into the adapter's space (:func:`calibrate_adapted`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .profile import Profile

#: Above this estimated FAR, setting a threshold warns.
WARN_FAR = 1e-3
#: Above this estimated FAR, setting a threshold needs a confirmation (``--yes``).
CONFIRM_FAR = 1e-2
#: Synthetic strangers drawn to measure an adapted profile's FAR (resolution 1 in this many).
SYNTHETIC_STRANGERS = 20_000
_SEED = 0  # the same strangers every time: the estimate of a setting must not change between runs

OK, WARN, CONFIRM = "ok", "warn", "confirm"


@dataclass(frozen=True)
class FarEstimate:
    """An estimated false accept rate.

    Attributes:
        far: share of strangers' faces accepted, 0 to 1.
        method: ``calibration`` or ``synthetic strangers``.
        words: the FAR in words, e.g. ``about 1 in 10,000 strangers would be accepted``.
    """

    far: float
    method: str
    words: str


@dataclass(frozen=True)
class Loosening:
    """What setting a threshold with this estimated FAR calls for.

    Attributes:
        level: ``ok``, ``warn`` or ``confirm`` (see the module docstring).
        far: the estimated FAR.
        message: one line for the user: the estimate in words, and for ``warn``/``confirm`` the risk.
    """

    level: str
    far: float
    message: str

    @property
    def needs_confirmation(self) -> bool:
        """True when the change must be confirmed (``--yes``, or a dialog in the app)."""
        return self.level == CONFIRM


def classify_far(far: float, threshold: float | None = None, words: str | None = None) -> Loosening:
    """Classify an estimated FAR as ``ok``, ``warn`` or ``confirm``, with the message to show.

    Args:
        far: estimated share of strangers accepted, 0 to 1.
        threshold: the distance threshold it belongs to, named in the message when given.
        words: the FAR in words (e.g. :attr:`FarEstimate.words`); a plain "1 in N" when None.

    Raises:
        ValueError: ``far`` is not a number from 0 to 1.
    """
    if not (isinstance(far, (int, float)) and 0.0 <= far <= 1.0):
        raise ValueError(f"a false accept rate is a number from 0 to 1, got {far!r}")
    if words is None:
        words = "no stranger would be accepted" if far == 0 else f"about 1 in {max(round(1 / far), 1):,} strangers would be accepted"
    head = f"threshold {threshold:.3g}: " if threshold is not None else ""
    if far > CONFIRM_FAR:
        return Loosening(CONFIRM, far, f"{head}estimated FAR {far:.2g}: {words}; more than 1 stranger in 100 "
                         "would be let in")
    if far > WARN_FAR:
        return Loosening(WARN, far, f"{head}estimated FAR {far:.2g}: {words}; more than 1 stranger in 1,000 "
                         "would be let in")
    return Loosening(OK, far, f"{head}estimated FAR {far:.2g}: {words}")


def estimate_far(profile: Profile, threshold: float) -> FarEstimate:
    """The estimated FAR of ``profile`` at a distance ``threshold`` (see the module docstring).

    Raises:
        ValueError: a profile without templates; a damaged shipped statistics file.
    """
    from .calibration import calibrate, describe_far

    if profile.adapter is None:
        far = float(calibrate(profile).far_at(threshold))
        return FarEstimate(far, "calibration", describe_far(far))
    far = float(calibrate_adapted(profile).far_at(threshold))
    return FarEstimate(far, "synthetic strangers",
                       f"{describe_far(far)} (carried into the adapter's space by {SYNTHETIC_STRANGERS:,} synthetic strangers)")


#: Ranks (among the sorted synthetic strangers' distances) between which the slope of the FAR's lower tail is
#: measured (FAR 1 in 2,000 to 1 in 200 with 20,000 strangers); below the first the tail goes on
#: exponentially, as the shipped calibration's tail does.
TAIL_RANKS = (10, 100)


def _synthetic_strangers() -> np.ndarray:
    """The fixed (:data:`SYNTHETIC_STRANGERS`, 128) synthetic strangers drawn from the population model."""
    from .background import BackgroundModel

    return BackgroundModel.load().sample_images(SYNTHETIC_STRANGERS, np.random.default_rng(_SEED))


def _stranger_distances(profile: Profile, strangers: np.ndarray) -> np.ndarray:
    """(N,) distances of ``strangers`` to ``profile`` in its own (adapted or not) space."""
    from .verification import ProfileScorer

    return ProfileScorer(profile, cohort=strangers[:1]).distance(strangers)


class _StrangerRanks:
    """The fixed synthetic strangers' sorted distances to a profile as a continuous, increasing map between a
    distance threshold and the number of strangers within it (linear between the strangers' own distances;
    below the rank :data:`TAIL_RANKS` [0] the count goes on falling exponentially with the slope between the
    two ranks of :data:`TAIL_RANKS`, as the shipped calibration's tail does)."""

    def __init__(self, distances: np.ndarray) -> None:
        self.distances = np.sort(distances)
        self.ranks = np.arange(1, len(self.distances) + 1, dtype=np.float64)
        self.low, high = (self.distances[r - 1] for r in TAIL_RANKS)
        self.slope = np.log(TAIL_RANKS[1] / TAIL_RANKS[0]) / max(high - self.low, 1e-6)

    def rank(self, thresholds: np.ndarray) -> np.ndarray:
        """(K,) thresholds (distance) -> (K,) float64 strangers within each."""
        rank = np.interp(thresholds, self.distances, self.ranks)
        tail = thresholds < self.low
        rank[tail] = TAIL_RANKS[0] * np.exp(self.slope * (thresholds[tail] - self.low))
        return rank

    def threshold(self, ranks: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`rank`."""
        threshold = np.interp(ranks, self.ranks, self.distances)
        tail = ranks < TAIL_RANKS[0]
        threshold[tail] = self.low + np.log(ranks[tail] / TAIL_RANKS[0]) / self.slope
        return threshold


def calibrate_adapted(profile: Profile, tables=None):
    """Estimated FAR and FRR over :data:`faceid_desktop.calibration.GRID` for a profile with an adapter
    (the shipped tables describe the pretrained network only).

    * FAR: the shipped calibration's FAR of the profile without its adapter, carried over by rank through
      :data:`SYNTHETIC_STRANGERS` synthetic strangers (drawn from the population model): an adapted
      threshold gets the population's FAR at the plain threshold within which the same share of those
      strangers lies without the adapter. The synthetic strangers alone lie much farther from a profile than
      real ones (none of 20,000 within a threshold that accepts about 1 real stranger in 1,900), so their
      own share would loosen an adapted threshold; carried by rank, an adapter that changes nothing keeps
      the plain profile's FAR at every threshold. Below 1 in 2,000 both shares go on exponentially
      (:class:`_StrangerRanks`).
    * FRR: the population's distribution of ``owner distance / leave-one-out spread`` (the tables' ratio)
      scaled by the profile's own leave-one-out spread measured in the adapted space: an assumption that
      the adapter changes the owner's spread, not the shape of its distribution.

    Args:
        profile: a profile with an adapter and at least 2 templates.
        tables: the shipped calibration tables when None (their genuine ratio is used).

    Returns:
        A :class:`~faceid_desktop.calibration.Calibration` (its ``genuine_distances`` are the adapted
        leave-one-out distances).

    Raises:
        ValueError: no adapter, or fewer than 2 templates (no spread to measure); CalibrationError: the
            shipped tables cannot be read.
    """
    from .calibration import (DEFAULT_TARGET_FAR, GRID, RATE_FLOOR, Calibration, CalibrationTables,
                              _survival, _threshold_for, calibrate, leave_one_out)
    from .verification import ProfileScorer

    if profile.adapter is None:
        raise ValueError(f"profile {profile.name} has no adapter: use faceid_desktop.calibration.calibrate")
    if len(profile.templates) < 2:
        raise ValueError(f"profile {profile.name} has {len(profile.templates)} template: an adapted profile "
                         "needs 2 or more to measure the owner's spread")
    tables = tables if tables is not None else CalibrationTables.load()
    grid = GRID
    plain = replace(profile, adapter=None)
    strangers = _synthetic_strangers()
    within = _StrangerRanks(_stranger_distances(profile, strangers)).rank(grid)
    plain_threshold = _StrangerRanks(_stranger_distances(plain, strangers)).threshold(within)
    population = np.log(np.maximum(calibrate(plain, tables).far, RATE_FLOOR))
    far = np.maximum.accumulate(np.clip(np.exp(np.interp(plain_threshold, grid, population)), RATE_FLOOR, 1.0))
    owner = leave_one_out(ProfileScorer(profile).space(profile.embeddings))
    spread = float(owner.mean())
    frr = np.minimum.accumulate(_survival(grid / spread, tables.genuine_ratio, tables.genuine_levels))
    step = grid[1] - grid[0]
    return Calibration(grid, far, frr, np.maximum(-np.gradient(frr, step), 0.0),
                       np.maximum(np.gradient(far, step), 0.0), owner, spread,
                       _threshold_for(grid, far, DEFAULT_TARGET_FAR))


def calibrate_any(profile: Profile):
    """The profile's :class:`~faceid_desktop.calibration.Calibration`, adapted or not.

    Raises:
        ValueError: no templates, or an adapted profile with fewer than 2; CalibrationError: damaged tables.
    """
    from .calibration import calibrate

    return calibrate_adapted(profile) if profile.adapter is not None else calibrate(profile)


def assess_threshold(profile: Profile, threshold: float) -> Loosening:
    """:func:`estimate_far` then :func:`classify_far` for setting ``threshold`` on ``profile``."""
    estimate = estimate_far(profile, threshold)
    return classify_far(estimate.far, threshold, estimate.words)


__all__ = ["CONFIRM", "CONFIRM_FAR", "OK", "WARN", "WARN_FAR", "FarEstimate", "Loosening", "assess_threshold",
           "calibrate_adapted", "calibrate_any", "classify_far", "estimate_far"]
