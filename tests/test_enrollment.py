"""Enrollment's choice of face: a bystander behind the user does not block a frame, a second face of about
the same size does (it is unclear who is enrolling)."""

import cv2
import numpy as np
import pytest

from faceid_desktop.enrollment import SEVERAL_FACES_AREA, examine
from faceid_desktop.images import read_rgb
from faceid_desktop.verification import SEVERAL_FACES, distance_to_profile


def _scaled(pipeline, image: np.ndarray, width: int) -> np.ndarray:
    """``image`` scaled so that its largest face is ``width`` pixels wide."""
    scale = width / pipeline.detector.detect(image)[0].width
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _two_faces(pipeline, shared, stranger_width: int) -> tuple[np.ndarray, np.ndarray]:
    """A 480x960 grey frame with the owner (face 150 px wide) left and a stranger right; and the owner's photo."""
    owner = read_rgb(shared / "faces" / "seed" / "ME" / "ME_5.jpg")
    stranger = read_rgb(shared / "faces" / "seed" / "NOT_ME" / "NOT_ME_2.jpg")
    frame = np.full((480, 960, 3), 128, np.uint8)
    for picture, left in ((_scaled(pipeline, owner, 150), 0), (_scaled(pipeline, stranger, stranger_width), 480)):
        part = picture[:480, :480]
        frame[:part.shape[0], left:left + part.shape[1]] = part
    return frame, owner


def test_a_smaller_face_behind_the_user_does_not_block_enrollment(pipeline, shared):
    frame, owner = _two_faces(pipeline, shared, stranger_width=90)  # area share 0.36
    faces, found, problem = examine(pipeline, frame)
    assert len(faces) == 2 and faces[1].area < SEVERAL_FACES_AREA * faces[0].area
    assert problem is None
    reference = pipeline.process(owner)[0].vector
    assert float(distance_to_profile(found[0].vector, reference[None])) < 0.6  # the owner, not the stranger


@pytest.mark.parametrize("stranger_width", [135, 150])
def test_a_second_face_of_about_the_same_size_blocks_enrollment(pipeline, shared, stranger_width):
    frame, _ = _two_faces(pipeline, shared, stranger_width)
    faces, found, problem = examine(pipeline, frame)
    assert len(faces) == 2 and problem == SEVERAL_FACES and found == []
