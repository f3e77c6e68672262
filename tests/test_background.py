"""The background model: fitting on synthetic identities, the shipped file, and bad files."""

import numpy as np
import pytest

from faceid_desktop.background import BackgroundModel, BackgroundModelError, fit_background


def synthetic(rng, people=400, per_person=5):
    between = np.diag(np.linspace(0.001, 0.004, 128))
    within = np.diag(np.full(128, 0.0008))
    centres = rng.multivariate_normal(np.full(128, 0.01), between, size=people)
    labels = np.repeat(np.arange(people), per_person)
    vectors = centres[labels] + rng.multivariate_normal(np.zeros(128), within, size=labels.size)
    return vectors, labels, between, within


def test_fit_recovers_the_two_covariances():
    rng = np.random.default_rng(0)
    vectors, labels, between, within = synthetic(rng)
    model = fit_background(vectors, labels, "synthetic")
    assert model.identities == 400 and model.images == 2000
    assert np.trace(model.within) == pytest.approx(np.trace(within), rel=0.05)
    assert np.trace(model.between) == pytest.approx(np.trace(between), rel=0.1)
    samples = model.sample_images(5000, np.random.default_rng(1))
    assert samples.shape == (5000, 128)
    assert np.trace(np.cov(samples.T)) == pytest.approx(np.trace(between + within), rel=0.1)


def test_round_trip(tmp_path):
    vectors, labels, _, _ = synthetic(np.random.default_rng(2), people=50)
    model = fit_background(vectors, labels, "synthetic")
    model.save(tmp_path / "bg.npz")
    again = BackgroundModel.load(tmp_path / "bg.npz")
    np.testing.assert_allclose(again.within, model.within, rtol=1e-5, atol=1e-9)
    assert again.source == "synthetic" and again.identities == 50


def test_the_shipped_model_loads():
    model = BackgroundModel.load()
    assert model.identities > 1000 and model.images > 5000
    assert 0.0 < np.trace(model.within) < np.trace(model.between)  # identity dominates the spread


def test_bad_files(tmp_path):
    with pytest.raises(BackgroundModelError, match="not found"):
        BackgroundModel.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(BackgroundModelError, match="not a valid background model"):
        BackgroundModel.load(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="two identities"):
        fit_background(np.zeros((3, 128)), np.zeros(3))
