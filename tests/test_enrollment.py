"""Enrollment's choice of face: a bystander behind the user does not block a frame, a second face of about
the same size does (it is unclear who is enrolling), except in a photo, where the face that matches the
owner's other inputs is taken."""

import cv2
import numpy as np
import pytest

from faceid_desktop.enrollment import SEVERAL_FACES_AREA, collect_templates, examine, owner_among
from faceid_desktop.verification import SEVERAL_FACES, distance_to_profile


def test_a_smaller_face_behind_the_user_does_not_block_enrollment(pipeline, two_faces):
    frame, owner = two_faces(stranger_width=90)  # area share 0.36
    faces, found, problem = examine(pipeline, frame)
    assert len(faces) == 2 and faces[1].area < SEVERAL_FACES_AREA * faces[0].area
    assert problem is None
    reference = pipeline.process(owner)[0].vector
    assert float(distance_to_profile(found[0].vector, reference[None])) < 0.6  # the owner, not the stranger


@pytest.mark.parametrize("stranger_width", [135, 150])
def test_a_second_face_of_about_the_same_size_blocks_enrollment(pipeline, two_faces, stranger_width):
    frame, _ = two_faces(stranger_width)
    faces, found, problem = examine(pipeline, frame)
    assert len(faces) == 2 and problem == SEVERAL_FACES and found == []


def _write(path, rgb: np.ndarray):
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.mark.parametrize("owner_right", [False, True])
def test_in_a_group_photo_the_face_that_matches_the_other_photos_is_enrolled(pipeline, shared, two_faces, tmp_path,
                                                                            owner_right):
    frame, owner = two_faces(stranger_width=160)  # the stranger's face is the larger one
    if owner_right:
        frame = np.ascontiguousarray(frame[:, ::-1])
    group = _write(tmp_path / "group.jpg", frame)
    others = sorted((shared / "faces" / "seed" / "ME").glob("ME_[1-4].jpg"))
    result = collect_templates(pipeline, others + [group])
    assert result.dropped.get(SEVERAL_FACES, 0) == 0
    assert [t.source for t in result.templates][-1] == str(group.resolve())
    reference = pipeline.process(owner)[0].vector
    assert float(distance_to_profile(result.templates[-1].embedding, reference[None])) < 0.6  # the owner's face


def test_a_group_photo_alone_or_of_strangers_is_dropped(pipeline, shared, two_faces, tmp_path):
    frame, _ = two_faces(stranger_width=150)
    group = _write(tmp_path / "group.jpg", frame)
    alone = collect_templates(pipeline, [group])  # nothing tells which face is the owner's
    assert alone.templates == [] and alone.dropped[SEVERAL_FACES] == 1
    strangers = sorted((shared / "faces" / "seed" / "NOT_ME").glob("NOT_ME_[3-6].jpg"))  # none of the two
    result = collect_templates(pipeline, strangers[:1] + [group])
    assert len(result.templates) == 1 and result.dropped[SEVERAL_FACES] == 1


def test_owner_among_needs_exactly_one_face_like_the_owner():
    rng = np.random.default_rng(0)
    owner, other = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 128)))
    near = owner + 0.02 * rng.normal(size=128)
    near /= np.linalg.norm(near)
    assert owner_among(np.array([other, near]), owner[None]) == 1
    assert owner_among(np.array([other, near]), np.zeros((0, 128))) is None  # no reference
    assert owner_among(np.array([near, near]), owner[None]) is None  # two faces like the owner: unclear
    assert owner_among(np.array([other]), owner[None]) is None  # nobody like the owner
