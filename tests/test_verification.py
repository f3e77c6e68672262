"""Decision rules: distances, the threshold rule and the multi-frame rule (no face data needed)."""

import numpy as np
import pytest

from faceid_desktop.profile import DecisionSettings, Profile, Template, check_name
from faceid_desktop.profile import Adapter
from faceid_desktop.verification import (Decision, ProfileScorer, StreamVerifier, decide_distance,
                                         distance_to_profile, distances, profile_centre)


def test_mean_and_min_distances():
    templates = np.array([[0.0, 0.0], [2.0, 0.0]])
    probes = np.array([[1.0, 0.0], [2.0, 0.0]])
    np.testing.assert_allclose(distances(probes, templates, "raw mean"), [0.0, 1.0])
    np.testing.assert_allclose(distances(probes, templates, "min"), [1.0, 0.0])
    with pytest.raises(ValueError, match="at least one template"):
        distances(probes, np.zeros((0, 2)), "mean")
    with pytest.raises(ValueError, match="unknown distance measure"):
        distances(probes, templates, "max")


def test_profile_distance_is_between_unit_vectors():
    # Templates (3, 0) and (0, 0.5) become (1, 0) and (0, 1); their centre is (1, 1)/sqrt(2).
    templates = np.array([[3.0, 0.0], [0.0, 0.5]])
    np.testing.assert_allclose(profile_centre(templates), [2 ** -0.5, 2 ** -0.5])
    assert float(distance_to_profile(np.array([5.0, 5.0]), templates)) == pytest.approx(0.0)  # length ignored
    # A probe at right angles to the centre: |(1,-1)/sqrt2 - (1,1)/sqrt2| = sqrt(2).
    assert float(distance_to_profile(np.array([1.0, -1.0]), templates)) == pytest.approx(2 ** 0.5)
    assert float(distance_to_profile(np.array([-1.0, -1.0]), templates)) == pytest.approx(2.0)  # opposite


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


def test_alpha_rule_needs_the_margin_and_the_threshold():
    alpha = DecisionSettings(threshold=0.5, alpha=0.1, rule="alpha")
    assert decide_distance(0.3, alpha, nearest_negative=0.4).accepted  # 0.3 + 0.1 <= 0.4
    margin = decide_distance(0.3, alpha, nearest_negative=0.39)
    assert not margin.accepted and margin.nearest_negative == pytest.approx(0.39)
    assert not decide_distance(0.6, alpha, nearest_negative=2.0).accepted  # far from everyone: threshold
    assert decide_distance(0.3, DecisionSettings(threshold=0.5), nearest_negative=0.3).accepted  # rule off
    with pytest.raises(ValueError, match="nearest cohort negative"):
        decide_distance(0.3, alpha)
    with pytest.raises(ValueError, match="rule must be one of"):
        DecisionSettings(rule="majority")


def _profile(vectors, settings=DecisionSettings(), adapter=None) -> Profile:
    templates = tuple(Template(np.asarray(v, np.float32), 0.0, "x", 1.0) for v in vectors)
    return Profile("owner", "m", templates, settings, adapter=adapter)


def test_scorer_with_hand_made_cohort():
    e = np.eye(128)
    owner = _profile([e[0], e[0] + 0.1 * e[1]], DecisionSettings(threshold=0.5, alpha=0.2, rule="alpha"))
    scorer = ProfileScorer(owner, cohort=np.stack([e[1], e[2]]))
    probe = e[0] + 0.3 * e[1]  # near the owner, nearer the negative e[1] than the others
    d, nn = float(scorer.distance(probe)), float(scorer.nearest_negative(probe))
    assert d < 0.5 and nn == pytest.approx(np.linalg.norm(probe / np.linalg.norm(probe) - e[1]))
    assert scorer.decide(probe).accepted == (d + 0.2 <= nn)
    assert scorer.decide(e[0]).accepted  # on the owner: far from every negative
    # The threshold rule ignores the cohort.
    assert scorer.decide(probe, settings=DecisionSettings(threshold=0.5)).accepted


def test_scorer_applies_the_adapter():
    e = np.eye(128)
    swap = np.eye(128)
    swap[[0, 1]] = swap[[1, 0]]  # an adapter that swaps the first two axes
    owner = _profile([e[0]], DecisionSettings(threshold=0.1), Adapter(swap, np.zeros(128)))
    scorer = ProfileScorer(owner)
    assert float(scorer.distance(e[0])) == pytest.approx(0.0)
    np.testing.assert_allclose(scorer.space(e[0]), e[1])
    assert scorer.decide(e[0]).accepted and not scorer.decide(e[2]).accepted
