"""Calibration: estimated FAR/FRR curves from the shipped aggregate tables (no face data needed)."""

import numpy as np
import pytest

from faceid_desktop.profile import DEFAULT_THRESHOLD
from faceid_desktop.background import BackgroundModel
from faceid_desktop.calibration import (GRID, CalibrationError, CalibrationTables, calibrate_templates,
                                        describe_far, describe_frr, leave_one_out)


@pytest.fixture(scope="module")
def tables() -> CalibrationTables:
    return CalibrationTables.load()


@pytest.fixture(scope="module")
def templates() -> np.ndarray:
    """Five synthetic images of one synthetic person drawn from the background model."""
    model = BackgroundModel.load()
    rng = np.random.default_rng(1)
    identity = rng.multivariate_normal(model.mean, model.between)
    return identity + rng.multivariate_normal(np.zeros(128), model.within, size=5)


def test_shipped_tables_hold_aggregates_only(tables):
    assert len(tables.impostor_distance) <= 80 and len(tables.genuine_ratio) <= 80  # quantiles, not samples
    assert tables.impostor_levels[0] == 1.0 and tables.impostor_levels[-1] <= 1e-5
    assert "owners" in tables.source


def test_curves_are_monotonic_and_consistent(tables, templates):
    c = calibrate_templates(templates, tables)
    assert c.thresholds is GRID or np.array_equal(c.thresholds, GRID)
    assert np.all(np.diff(c.far) >= 0) and np.all(np.diff(c.frr) <= 0)
    assert c.far[0] <= 1e-8 and c.far[-1] > 0.5 and c.frr[0] == 1.0 and c.frr[-1] < 1e-3
    for target in (1e-3, 1e-4, 1e-5):
        t = c.threshold_for_far(target)
        assert c.far_at(t) <= target * 1.0001 and c.far_at(t + 0.002) > target
    assert c.threshold_for_far(1e-5) == c.recommended
    for target in (1e-3, 1.234e-5, 1e-7):  # threshold_at_far inverts far_at between the grid points
        t = c.threshold_at_far(target)
        assert c.far_at(t) == pytest.approx(target, rel=1e-9)
        assert c.threshold_for_far(target) <= t < c.threshold_for_far(target) + 0.001
    # A stricter threshold always trades false accepts for false rejects.
    assert c.far_at(0.9) < c.far_at(1.0) and c.frr_at(0.9) > c.frr_at(1.0)
    assert len(c.genuine_distances) == 5 and np.all(c.genuine_distances > 0)
    assert np.all(c.genuine_pdf >= 0) and np.all(c.impostor_pdf >= 0)
    with pytest.raises(CalibrationError, match="between 0 and 1"):
        c.threshold_for_far(0)


def test_spread_out_templates_mean_more_false_rejects(tables, templates):
    centre = templates.mean(axis=0)
    tight = calibrate_templates(centre + (templates - centre) * 0.3, tables)
    loose = calibrate_templates(centre + (templates - centre) * 2.0, tables)
    assert loose.frr_at(DEFAULT_THRESHOLD) > tight.frr_at(DEFAULT_THRESHOLD)


def test_leave_one_out():
    assert leave_one_out(np.ones((1, 128))).shape == (0,)
    e = np.eye(128)
    # Each of (1,0) and (0,1) against the other: distance sqrt(2).
    np.testing.assert_allclose(leave_one_out(np.stack([e[0], e[1]])), [2 ** 0.5] * 2)


def test_rates_in_words():
    assert describe_far(1 / 80_000) == "about 1 in 80,000 strangers would be accepted"
    assert describe_far(1 / 123_456) == "about 1 in 120,000 strangers would be accepted"
    assert describe_far(0.7) == "most strangers would be accepted"
    assert describe_frr(0.034) == "about 3 in 100 of your attempts would be rejected"
    assert describe_frr(0.0004).startswith("fewer than 1 in 1,000")
    assert describe_frr(1.0) == "nearly all of your attempts would be rejected"  # not "about 100 in 100"
    assert describe_frr(0.7).startswith("most of your attempts")


def test_bad_tables_refused(tmp_path, tables):
    with pytest.raises(CalibrationError, match="not found"):
        CalibrationTables.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CalibrationError, match="not valid calibration tables"):
        CalibrationTables.load(tmp_path / "junk.npz")
    with pytest.raises(CalibrationError, match="survival table"):
        CalibrationTables(tables.impostor_levels[::-1], tables.impostor_distance,
                          tables.genuine_levels, tables.genuine_ratio)
    path = tmp_path / "copy.npz"
    tables.save(path)
    again = CalibrationTables.load(path)
    np.testing.assert_allclose(again.impostor_distance, tables.impostor_distance)
    assert again.population_spread == tables.population_spread
