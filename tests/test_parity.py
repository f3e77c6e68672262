"""Our torch embedding against dlib's own compute_face_descriptor (the oracle) on real faces."""

import dlib
import numpy as np
import pytest

from faceid_desktop.alignment import face_chip
from faceid_desktop.datasets import lfw_dir
from faceid_desktop.images import read_rgb
from faceid_desktop.model_files import RECOGNITION_MODEL, model_path

PARITY_TOLERANCE = 1e-5  # max abs error per embedding component
LFW_SAMPLE = 200


@pytest.fixture(scope="module")
def oracle():
    return dlib.face_recognition_model_v1(str(model_path(RECOGNITION_MODEL)))


def chips_of(paths, pipeline):
    chips, names = [], []
    for path in paths:
        image = read_rgb(path)
        for face in pipeline.detector.detect(image):
            chips.append(face_chip(image, face.landmarks))
            names.append(path.name)
    return np.stack(chips), names


def assert_parity(chips, names, pipeline, oracle):
    ours = pipeline.embedder.embed(chips)
    theirs = np.array(oracle.compute_face_descriptor(list(chips)), dtype=np.float64)
    errors = np.abs(ours - theirs).max(axis=1)
    worst = int(errors.argmax())
    assert errors.max() <= PARITY_TOLERANCE, f"{names[worst]}: max abs error {errors.max():.2e}"


def test_parity_on_every_seed_face(shared, pipeline, oracle):
    paths = sorted((shared / "faces" / "seed").glob("*/*"))
    chips, names = chips_of(paths, pipeline)
    assert len(chips) >= 16
    assert_parity(chips, names, pipeline, oracle)


def test_parity_on_lfw_sample(shared, pipeline, oracle):
    lfw = lfw_dir(shared)
    paths = sorted(lfw.glob("*/*.jpg"))
    step = len(paths) // LFW_SAMPLE
    chips, names = chips_of(paths[::step][:LFW_SAMPLE], pipeline)
    assert len(chips) >= 0.9 * LFW_SAMPLE  # faces found in at least 90% of the sample
    assert_parity(chips, names, pipeline, oracle)


def test_seed_owner_is_accepted_and_others_rejected(shared, pipeline):
    seed = shared / "faces" / "seed"

    def embed(path):
        found = pipeline.process(read_rgb(path), max_faces=1)
        assert found, f"no face in {path.name}"
        return found[0].vector

    me = np.stack([embed(p) for p in sorted((seed / "ME").iterdir())])
    not_me = np.stack([embed(p) for p in sorted((seed / "NOT_ME").iterdir())])
    template = me.mean(axis=0)
    for i, vector in enumerate(me):
        others = np.delete(me, i, axis=0).mean(axis=0)
        assert np.linalg.norm(vector - others) <= 0.6, f"ME photo {i} vs the others' mean template"
        assert np.linalg.norm(vector - template) <= 0.6
    assert np.linalg.norm(not_me - template, axis=1).min() > 0.6
