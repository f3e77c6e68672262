"""Biometric error rates from distance scores (ISO/IEC 19795-1 terms).

Scores are distances: a probe is accepted when its distance is <= the threshold, so genuine scores should
be small and impostor scores large. A failure to acquire (no usable face) is a distance of +inf: a false
reject when genuine, a correct reject when impostor, as the owner protocol prescribes.

* FAR(t) = share of impostor scores <= t (false accept rate, also FMR here);
* FRR(t) = share of genuine scores > t (false reject rate, FNMR plus failures to acquire);
* TAR(t) = 1 - FRR(t);
* EER: the rate where FAR and FRR cross.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OperatingPoint:
    """One threshold and its error rates (shares in [0, 1])."""

    threshold: float
    far: float
    frr: float

    @property
    def tar(self) -> float:
        """True accept rate, 1 - FRR."""
        return 1.0 - self.frr


def _sorted_finite(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if np.isnan(scores).any():
        raise ValueError("scores must not be NaN (use +inf for a failure to acquire)")
    return np.sort(scores)


def rates_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> OperatingPoint:
    """FAR and FRR at one distance threshold.

    Args:
        genuine, impostor: 1-d arrays of distances (+inf for failures to acquire); neither may be empty.

    Raises:
        ValueError: an empty array or a NaN score.
    """
    g, i = _sorted_finite(genuine), _sorted_finite(impostor)
    if g.size == 0 or i.size == 0:
        raise ValueError("need at least one genuine and one impostor score")
    far = np.searchsorted(i, threshold, side="right") / i.size
    frr = 1.0 - np.searchsorted(g, threshold, side="right") / g.size
    return OperatingPoint(float(threshold), float(far), float(frr))


def roc(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC over every distinct finite score used as a threshold.

    Returns:
        (thresholds, far, frr), 1-d float64 arrays of equal length, thresholds ascending (so FAR rises and
        FRR falls along them). Plot TAR = 1 - FRR against FAR for the ROC, FRR against FAR for the DET.

    Raises:
        ValueError: an empty array or a NaN score.
    """
    g, i = _sorted_finite(genuine), _sorted_finite(impostor)
    if g.size == 0 or i.size == 0:
        raise ValueError("need at least one genuine and one impostor score")
    thresholds = np.unique(np.concatenate([g, i]))
    thresholds = thresholds[np.isfinite(thresholds)]
    far = np.searchsorted(i, thresholds, side="right") / i.size
    frr = 1.0 - np.searchsorted(g, thresholds, side="right") / g.size
    return thresholds, far, frr


def frr_at_far(genuine: np.ndarray, impostor: np.ndarray, target_far: float) -> OperatingPoint:
    """The operating point with the largest threshold whose FAR is at most ``target_far``.

    The threshold sits just below the first impostor score that would push FAR over the target, so ties
    between impostor and genuine scores there count as rejects; infinite scores are never accepted.

    Raises:
        ValueError: target_far outside [0, 1], an empty array or a NaN score.
    """
    if not 0.0 <= target_far <= 1.0:
        raise ValueError(f"target FAR must be in [0, 1], got {target_far}")
    g, i = _sorted_finite(genuine), _sorted_finite(impostor)
    if g.size == 0 or i.size == 0:
        raise ValueError("need at least one genuine and one impostor score")
    allowed = int(np.floor(target_far * i.size + 1e-9))  # impostors that may be accepted
    finite = np.concatenate([g[np.isfinite(g)], i[np.isfinite(i)]])
    largest = float(finite.max()) if finite.size else 0.0
    if allowed < i.size and np.isfinite(i[allowed]):
        threshold = float(np.nextafter(i[allowed], -np.inf))  # just below the first impostor to reject
    else:
        threshold = largest  # every finite impostor score is allowed
    return rates_at(g, i, threshold)


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, target_far: float) -> float:
    """True accept rate at the operating point of :func:`frr_at_far`."""
    return frr_at_far(genuine, impostor, target_far).tar


def eer(genuine: np.ndarray, impostor: np.ndarray) -> OperatingPoint:
    """The equal error rate: the ROC point where FAR and FRR cross.

    Returns the operating point minimising |FAR - FRR|; its ``far`` and ``frr`` are both reported, and the
    EER is taken as their mean.

    Raises:
        ValueError: an empty array or a NaN score.
    """
    thresholds, far, frr = roc(genuine, impostor)
    if thresholds.size == 0:
        return OperatingPoint(0.0, 0.0, 1.0)
    k = int(np.argmin(np.abs(far - frr)))
    return OperatingPoint(float(thresholds[k]), float(far[k]), float(frr[k]))


def eer_value(point: OperatingPoint) -> float:
    """The single EER figure of an :func:`eer` operating point: the mean of its FAR and FRR."""
    return (point.far + point.frr) / 2.0
