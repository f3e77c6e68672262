"""Face detection and landmarks on real photos and made-up frames."""

import cv2
import numpy as np
import pytest

from faceid_desktop.detection import FaceDetector
from faceid_desktop.images import read_rgb


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


def test_no_face_is_an_empty_result(detector):
    assert detector.detect(np.full((480, 640, 3), 90, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert detector.detect(noise) == []


def test_bad_frames_are_refused(detector):
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        detector.detect(np.zeros((100, 100), np.uint8))
    with pytest.raises(ValueError, match="max_side"):
        FaceDetector(max_side=10)
    with pytest.raises(ValueError, match="score_threshold"):
        FaceDetector(score_threshold=1.5)


def test_one_face_per_seed_photo(shared, detector):
    photos = sorted((shared / "faces" / "seed").glob("*/*"))
    assert len(photos) == 16
    for path in photos:
        faces = detector.detect(read_rgb(path))
        assert len(faces) == 1, path.name
        face = faces[0]
        left, top, right, bottom = face.box
        assert face.landmarks.shape == (5, 2)
        assert 0.6 <= face.score <= 1.0
        # the eye, nose and mouth landmarks sit inside the (slightly grown) box
        assert np.all(face.landmarks[:, 0] > left - face.width * 0.2)
        assert np.all(face.landmarks[:, 0] < right + face.width * 0.2)
        assert np.all(face.landmarks[:, 1] > top - face.height * 0.2)
        assert np.all(face.landmarks[:, 1] < bottom + face.height * 0.2)


def test_boxes_are_in_full_resolution_pixels(shared):
    image = read_rgb(shared / "faces" / "seed" / "NOT_ME" / "NOT_ME_1.jpg")  # 256x256: detected as is
    native = FaceDetector(max_side=640).detect(image)[0]
    big = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)  # 768 px: scaled down to 640
    scaled = FaceDetector(max_side=640).detect(big)[0]
    np.testing.assert_allclose(np.array(scaled.box) / 3, native.box, atol=native.width * 0.12)
    np.testing.assert_allclose(scaled.landmarks / 3, native.landmarks, atol=native.width * 0.05)


def test_several_faces_largest_first(shared, detector):
    seed = shared / "faces" / "seed" / "NOT_ME"
    small = cv2.resize(read_rgb(seed / "NOT_ME_2.jpg"), (180, 180), interpolation=cv2.INTER_AREA)
    large = read_rgb(seed / "NOT_ME_3.jpg")
    frame = np.zeros((256, 256 + 180 + 40, 3), np.uint8)
    frame[:180, :180] = small
    frame[:, 220:] = large
    faces = detector.detect(frame)
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert faces[0].box[0] >= 200 and faces[1].box[2] < 200


def test_landmarks_follow_yunets_order(shared, detector):
    """Right eye (image left), left eye, nose tip, right and left mouth corners on an upright face."""
    face = detector.detect(read_rgb(shared / "faces" / "seed" / "NOT_ME" / "NOT_ME_1.jpg"))[0]
    right_eye, left_eye, nose, mouth_right, mouth_left = face.landmarks
    assert right_eye[0] < nose[0] < left_eye[0]
    assert mouth_right[0] < mouth_left[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_right[1], mouth_left[1])


def test_a_small_face_in_a_large_photo_is_found(shared, detector):
    face = read_rgb(shared / "faces" / "seed" / "NOT_ME" / "NOT_ME_1.jpg")
    canvas = np.full((2400, 3200, 3), 120, np.uint8)  # scaled to 640 px, the face would be 51 px wide
    canvas[1000:1256, 1500:1756] = face
    [found] = detector.detect(canvas)
    assert 1450 < found.box[0] < 1650 and found.width > 100
