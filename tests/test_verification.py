"""Decision rules: distances, the threshold rule and the multi-frame rule (no face data needed)."""

import numpy as np
import pytest

from faceid_desktop.profile import DecisionSettings, Profile, Template, check_name
from faceid_desktop.verification import Decision, StreamVerifier, decide_distance, distance_to_profile, distances


def test_mean_and_min_distances():
    templates = np.array([[0.0, 0.0], [2.0, 0.0]])
    probes = np.array([[1.0, 0.0], [2.0, 0.0]])
    np.testing.assert_allclose(distances(probes, templates, "mean"), [0.0, 1.0])
    np.testing.assert_allclose(distances(probes, templates, "min"), [1.0, 0.0])
    assert float(distance_to_profile(np.array([1.0, 1.0]), templates)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one template"):
        distances(probes, np.zeros((0, 2)), "mean")
    with pytest.raises(ValueError, match="unknown distance measure"):
        distances(probes, templates, "max")


def test_threshold_rule_is_inclusive():
    settings = DecisionSettings(threshold=0.5)
    assert decide_distance(0.5, settings).accepted
    rejected = decide_distance(0.51, settings)
    assert not rejected.accepted and rejected.reason == "no match" and rejected.distance == 0.51


def _frame(accepted: bool) -> Decision:
    return Decision(accepted, "match" if accepted else "no match", 0.3 if accepted else 0.8, 0.5, 1)


def test_stream_accepts_m_of_last_n():
    stream = StreamVerifier(DecisionSettings(frames_to_accept=2, window=3, timeout=4.0))
    states = [stream.update(_frame(a), t * 0.1).state for t, a in enumerate([True, False, False, True, True])]
    assert states == ["pending", "pending", "pending", "pending", "accepted"]


def test_stream_times_out():
    stream = StreamVerifier(DecisionSettings(frames_to_accept=2, window=5, timeout=1.0))
    assert stream.update(_frame(True), 10.0).state == "pending"
    assert stream.update(_frame(False), 10.5).state == "pending"
    late = stream.update(_frame(True), 11.2)  # the second match comes after the timeout
    assert late.state == "rejected" and late.done and late.elapsed == pytest.approx(1.2)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="frames_to_accept"):
        DecisionSettings(frames_to_accept=6, window=5)
    with pytest.raises(ValueError, match="threshold"):
        DecisionSettings(threshold=-1)
    with pytest.raises(ValueError, match="timeout"):
        DecisionSettings(timeout=0)


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "x" * 65, "sp ace", None])
def test_bad_profile_names(name):
    with pytest.raises(ValueError, match="invalid profile name"):
        check_name(name)


def test_profile_embeddings_matrix():
    t = Template(np.ones(128, np.float32), 0.0, "a.jpg", 1.0)
    profile = Profile("me", "model", (t, t))
    assert profile.embeddings.shape == (2, 128) and profile.embeddings.dtype == np.float32
    assert profile.with_settings(threshold=0.4).settings.threshold == 0.4


def test_primary_face_is_the_largest_or_the_central_one_of_similar_size():
    from faceid_desktop.detection import Face
    from faceid_desktop.verification import primary_face

    points = np.zeros((5, 2))
    big_corner = Face((0, 0, 99, 99), points)  # 100x100 at the corner
    central = Face((270, 190, 364, 284), points)  # 95x95 at the centre of a 640x480 frame: about the same size
    small_central = Face((300, 220, 339, 259), points)  # 40x40
    assert primary_face([big_corner, central], (480, 640, 3)) is central
    assert primary_face([big_corner, small_central], (480, 640, 3)) is big_corner
