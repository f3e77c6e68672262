"""Error rates on hand-computed cases."""

import math

import numpy as np
import pytest

from faceid_desktop.metrics import eer, eer_value, frr_at_far, rates_at, roc, tar_at_far

GENUINE = np.array([0.1, 0.2, 0.3, 0.4, math.inf])  # one failure to acquire
IMPOSTOR = np.array([0.35, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, math.inf])


def test_rates_at_a_threshold():
    point = rates_at(GENUINE, IMPOSTOR, 0.4)
    assert point.far == pytest.approx(1 / 10)  # 0.35 accepted
    assert point.frr == pytest.approx(1 / 5)  # only the failure to acquire rejected
    assert point.tar == pytest.approx(4 / 5)
    assert rates_at(GENUINE, IMPOSTOR, 10.0).frr == pytest.approx(1 / 5)  # inf is never accepted


def test_frr_at_far():
    zero = frr_at_far(GENUINE, IMPOSTOR, 0.0)
    assert zero.far == 0.0
    assert 0.3 <= zero.threshold < 0.35
    assert zero.frr == pytest.approx(2 / 5)  # 0.4 and inf rejected
    tenth = frr_at_far(GENUINE, IMPOSTOR, 0.1)  # one impostor may pass
    assert tenth.far == pytest.approx(0.1) and tenth.frr == pytest.approx(1 / 5)
    assert tar_at_far(GENUINE, IMPOSTOR, 0.1) == pytest.approx(4 / 5)
    everything = frr_at_far(GENUINE, IMPOSTOR, 1.0)
    assert everything.far == pytest.approx(0.9) and everything.frr == pytest.approx(0.2)
    with pytest.raises(ValueError):
        frr_at_far(GENUINE, IMPOSTOR, 1.5)


def test_roc_is_monotonic():
    thresholds, far, frr = roc(GENUINE, IMPOSTOR)
    assert np.all(np.diff(thresholds) > 0)
    assert np.all(np.diff(far) >= 0) and np.all(np.diff(frr) <= 0)
    assert far[-1] == pytest.approx(0.9) and frr[0] == pytest.approx(0.8)


def test_eer():
    genuine = np.array([0.1, 0.2, 0.3, 0.6])
    impostor = np.array([0.5, 0.7, 0.8, 0.9])
    point = eer(genuine, impostor)
    assert point.far == pytest.approx(0.25) and point.frr == pytest.approx(0.25)
    assert eer_value(point) == pytest.approx(0.25)
    separable = eer(np.array([0.1, 0.2]), np.array([0.8, 0.9]))
    assert eer_value(separable) == 0.0


def test_bad_scores():
    with pytest.raises(ValueError, match="NaN"):
        rates_at(np.array([np.nan]), IMPOSTOR, 0.5)
    with pytest.raises(ValueError, match="at least one"):
        roc(np.array([]), IMPOSTOR)


def test_roc_against_scikit_learn():
    """scikit-learn's roc_curve is the oracle (scores negated: it accepts high scores, we small distances)."""
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(7)
    genuine = rng.normal(0.35, 0.08, 400).round(3)  # rounding makes ties, the tricky part
    impostor = rng.normal(0.8, 0.1, 5000).round(3)
    thresholds, far, frr = roc(genuine, impostor)
    labels = np.r_[np.ones(genuine.size), np.zeros(impostor.size)]
    fpr, tpr, sk_thresholds = roc_curve(labels, -np.r_[genuine, impostor], drop_intermediate=False)
    finite = np.isfinite(sk_thresholds)
    ours = dict(zip(np.round(thresholds, 6), zip(far, 1 - frr)))
    for t, fp, tp in zip(-sk_thresholds[finite], fpr[finite], tpr[finite]):
        assert ours[round(t, 6)] == pytest.approx((fp, tp))
    point = frr_at_far(genuine, impostor, 1e-3)
    best_tpr = tpr[fpr <= 1e-3].max()
    assert point.tar == pytest.approx(best_tpr)
