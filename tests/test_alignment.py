"""faceid_desktop.alignment must cut the same uint8 pixels as dlib.get_face_chip (5-point landmarks).

The photo tests read the shared face folder (``../shared/faces`` next to the repo, or ``$FACEID_DATA/faces``) and
skip when it is absent; the synthetic and bad-input tests always run.
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
dlib = pytest.importorskip("dlib")

from faceid_desktop import alignment  # noqa: E402
from faceid_desktop.alignment import (  # noqa: E402
    ChipDetails,
    chip_details,
    extract_image_chip,
    face_chip,
    pyramid_depth,
    pyramid_down,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("FACEID_DATA") or REPO_ROOT.parent / "shared")
FACES = DATA_ROOT / "faces"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
LFW_SAMPLE = 50
SIZE = 150
PADDING = 0.25


# ----------------------------------------------------------------------------------------------------------------
# Fixtures: real photos, detected and landmarked by dlib once per session


def _load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path))
    assert bgr is not None, f"unreadable image {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


@pytest.fixture(scope="session")
def dlib_models():
    from faceid_desktop.model_files import LANDMARKS_5_MODEL, ModelFileError, model_path

    try:
        landmarks_path = model_path(LANDMARKS_5_MODEL)
    except ModelFileError as err:
        pytest.skip(f"dlib landmark model unavailable: {err}")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(landmarks_path))


@pytest.fixture(scope="session")
def faces(dlib_models):
    """{category: [(label, rgb image, dlib shape)]} for seed, fr-examples and a fixed LFW sample."""
    if not FACES.is_dir():
        pytest.skip(f"face photos not found at {FACES} (set FACEID_DATA to the shared data folder)")
    detector, predictor = dlib_models
    lfw = sorted((FACES / "lfw-devtrain").glob("*/*.jpg"))
    groups = {
        "seed": _photos(FACES / "seed"),
        "fr-examples": _photos(FACES / "fr-examples"),
        "lfw": random.Random(20240601).sample(lfw, min(LFW_SAMPLE, len(lfw))),
    }
    found = {}
    for category, paths in groups.items():
        entries = []
        for path in paths:
            image = _load_rgb(path)
            for rect in detector(image, 1):
                entries.append((path.name, image, predictor(image, rect)))
        found[category] = entries
    return found


def _points(shape) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _compare(image: np.ndarray, shape, ours_image: np.ndarray | None = None) -> tuple[int, int]:
    """(max abs difference, number of differing values) between our chip and dlib's."""
    expected = dlib.get_face_chip(image, shape, size=SIZE, padding=PADDING)
    got = face_chip(image if ours_image is None else ours_image, _points(shape), SIZE, PADDING)
    assert got.shape == expected.shape == (SIZE, SIZE, 3)
    assert got.dtype == np.uint8
    diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    return int(diff.max()), int(np.count_nonzero(diff))


# ----------------------------------------------------------------------------------------------------------------
# Real photos


@pytest.mark.parametrize("category", ["seed", "fr-examples", "lfw"])
def test_chip_details_equal_dlib(faces, category):
    for label, _, shape in faces[category]:
        expected = dlib.get_face_chip_details(shape, SIZE, PADDING)
        got = chip_details(_points(shape), SIZE, PADDING)
        rect = expected.rect
        assert got.rect == (rect.left(), rect.top(), rect.right(), rect.bottom()), label
        assert got.angle == expected.angle, label
        assert (got.rows, got.cols) == (expected.rows, expected.cols) == (SIZE, SIZE), label


@pytest.mark.parametrize("category", ["seed", "fr-examples", "lfw"])
def test_chips_identical_to_dlib(faces, category):
    entries = faces[category]
    assert entries, f"no face detected in {category}"
    failures = [(label, *_compare(image, shape)) for label, image, shape in entries]
    failures = [f for f in failures if f[1] != 0]
    assert not failures, f"(image, max diff, differing values): {failures}"


def test_both_sampling_paths_are_covered(faces):
    depths = {
        category: [pyramid_depth(chip_details(_points(shape), SIZE, PADDING)) for _, _, shape in entries]
        for category, entries in faces.items()
    }
    # Large faces in the seed photos go through dlib's image pyramid, LFW's 250x250 faces are sampled directly.
    assert max(depths["seed"]) >= 1
    assert max(depths["fr-examples"]) >= 1
    assert max(depths["lfw"]) == 0


def _shifted_shape(shape, dx: int, dy: int):
    parts = [dlib.point(p.x - dx, p.y - dy) for p in shape.parts()]
    r = shape.rect
    rect = dlib.rectangle(r.left() - dx, r.top() - dy, r.right() - dx, r.bottom() - dy)
    return dlib.full_object_detection(rect, parts)


@pytest.mark.parametrize("category", ["seed", "lfw"])
def test_face_cut_by_the_image_border(faces, category):
    """Cut each photo through the face so part of the chip falls outside: those pixels are black, as in dlib."""
    checked = 0
    for label, image, shape in faces[category][:6]:
        pts = _points(shape)
        cx, cy = (int(v) for v in pts.mean(axis=0))
        for crop, (dx, dy) in (
            (image[:, cx:], (cx, 0)),  # left half of the face gone
            (image[:cy], (0, 0)),  # lower half gone
            (image[max(cy - 40, 0) :, : cx + 10], (0, max(cy - 40, 0))),  # two borders at once
        ):
            crop = np.ascontiguousarray(crop)
            shifted = _shifted_shape(shape, dx, dy)
            details = chip_details(_points(shifted), SIZE, PADDING)
            left, top, right, bottom = details.rect
            assert left < 0 or top < 0 or right > crop.shape[1] - 1 or bottom > crop.shape[0] - 1
            max_diff, count = _compare(crop, shifted)
            assert max_diff == 0, f"{label} crop {crop.shape}: max diff {max_diff} on {count} values"
            expected = dlib.get_face_chip(crop, shifted, size=SIZE, padding=PADDING)
            assert np.count_nonzero(expected.max(axis=2) == 0) > SIZE  # the outside really is in the chip
            checked += 1
    assert checked


def test_non_contiguous_input_gives_the_same_chip(faces):
    label, image, shape = faces["seed"][0]
    bgr_view = np.ascontiguousarray(image[..., ::-1])[..., ::-1]  # an RGB view with negative channel stride
    assert not bgr_view.flags.c_contiguous
    assert _compare(image, shape, ours_image=bgr_view)[0] == 0, label
    label, image, shape = faces["lfw"][0]
    fortran = np.asfortranarray(image)
    assert not fortran.flags.c_contiguous
    assert _compare(image, shape, ours_image=fortran)[0] == 0, label


# ----------------------------------------------------------------------------------------------------------------
# Synthetic geometry: any rotation, mirrored faces, faces off the image, flat images (where truncation of
# 99.99999... versus 100.0 shows any floating-point difference)


_MEAN = np.array(alignment._MEAN_FACE_5)


def _random_case(rng: np.random.Generator):
    h, w = (int(v) for v in rng.integers(2, 700, size=2))
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    if rng.random() < 0.3:
        image[:] = rng.integers(0, 256, size=3, dtype=np.uint8)
    side = math.exp(rng.uniform(math.log(5), math.log(1200)))
    angle = rng.uniform(-math.pi, math.pi) if rng.random() < 0.5 else rng.normal(0, 0.1)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    pts = (_MEAN - 0.5) @ rot.T * side + rng.uniform(-0.3, 1.3, 2) * (w, h)
    if rng.random() < 0.2:
        pts[:, 0] = 2 * pts[:, 0].mean() - pts[:, 0]
    pts = np.round(pts + rng.normal(0, side * 0.05, pts.shape))
    size = int(rng.choice([150, 150, 80, 201]))
    padding = float(rng.choice([0.25, 0.25, 0.0, 0.5, 0.1]))
    return image, pts, size, padding


def test_random_geometry_identical_to_dlib():
    rng = np.random.default_rng(7)
    depths = set()
    for case in range(150):
        image, pts, size, padding = _random_case(rng)
        depths.add(pyramid_depth(chip_details(pts, size, float(np.float32(padding)))))
        shape = dlib.full_object_detection(
            dlib.rectangle(0, 0, 1, 1), [dlib.point(int(x), int(y)) for x, y in pts]
        )
        expected = dlib.get_face_chip(image, shape, size=size, padding=padding)
        got = face_chip(image, pts, size, padding)
        assert np.array_equal(got, expected), f"case {case}: {image.shape} size={size} padding={padding}"
    assert {0, 1, 2, 3} <= depths  # direct sampling and pyramids of several levels


def test_degenerate_landmarks_match_dlib():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    pts = np.full((5, 2), (70.0, 50.0))
    shape = dlib.full_object_detection(dlib.rectangle(0, 0, 1, 1), [dlib.point(70, 50)] * 5)
    assert np.array_equal(face_chip(image, pts), dlib.get_face_chip(image, shape, size=SIZE, padding=PADDING))


@pytest.mark.parametrize("shape", [(9, 9), (10, 11), (11, 10), (37, 52), (101, 77), (8, 40), (3, 3)])
def test_pyramid_down_identical_to_dlib(shape):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    image[: shape[0] // 3] = 255  # saturated rows: the largest uint16 sums
    expected = dlib.pyramid_down(2)(image)
    got = pyramid_down(image)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_extract_image_chip_takes_chip_details():
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    details = ChipDetails(rect=(100.0, 50.0, 259.0, 209.0), angle=0.0, rows=160, cols=160)
    # No rotation or scaling: dlib copies the rectangle as is.
    assert np.array_equal(extract_image_chip(image, details), image[50:210, 100:260])
    dl = dlib.chip_details(dlib.drectangle(100.3, 50.7, 420.2, 330.9), dlib.chip_dims(90, 120), 0.3)
    ours = ChipDetails(rect=(100.3, 50.7, 420.2, 330.9), angle=0.3, rows=90, cols=120)
    assert np.array_equal(extract_image_chip(image, ours), dlib.extract_image_chip(image, dl))


# ----------------------------------------------------------------------------------------------------------------
# Bad input


GOOD_IMAGE = np.zeros((60, 80, 3), np.uint8)
GOOD_POINTS = np.array([[50, 20], [40, 21], [20, 20], [30, 21], [35, 40]], dtype=np.float64)


@pytest.mark.parametrize(
    "image",
    [
        GOOD_IMAGE.astype(np.float32),
        GOOD_IMAGE.astype(np.uint16),
        GOOD_IMAGE[..., 0],
        np.zeros((60, 80, 4), np.uint8),
        np.zeros((60, 80, 3, 1), np.uint8),
        GOOD_IMAGE.tolist(),
    ],
    ids=["float32", "uint16", "grey", "rgba", "4d", "list"],
)
def test_bad_image_raises(image):
    with pytest.raises(ValueError):
        face_chip(image, GOOD_POINTS)


@pytest.mark.parametrize(
    "points",
    [
        np.zeros((68, 2)),
        np.zeros((5, 3)),
        np.zeros(10),
        np.array([["a", "b"]] * 5),
        np.where(np.eye(5, 2, dtype=bool), np.nan, GOOD_POINTS),
        np.where(np.eye(5, 2, dtype=bool), np.inf, GOOD_POINTS),
        GOOD_POINTS.astype(np.complex128),
    ],
    ids=["68-points", "5x3", "flat", "strings", "nan", "inf", "complex"],
)
def test_bad_landmarks_raise(points):
    with pytest.raises(ValueError):
        face_chip(GOOD_IMAGE, points)
    with pytest.raises(ValueError):
        chip_details(points)


@pytest.mark.parametrize("size", [0, -5, 150.0, True, "150"])
def test_bad_size_raises(size):
    with pytest.raises(ValueError):
        face_chip(GOOD_IMAGE, GOOD_POINTS, size=size)


@pytest.mark.parametrize("padding", [-0.1, math.nan, math.inf, "0.25", None])
def test_bad_padding_raises(padding):
    with pytest.raises(ValueError):
        face_chip(GOOD_IMAGE, GOOD_POINTS, padding=padding)


def test_bad_pyramid_and_extract_inputs_raise():
    with pytest.raises(ValueError):
        pyramid_down(GOOD_IMAGE[..., 0])
    with pytest.raises(ValueError):
        extract_image_chip(GOOD_IMAGE.astype(np.float64), ChipDetails((0.0, 0.0, 9.0, 9.0), 0.1, 10, 10))
    with pytest.raises(ValueError):
        extract_image_chip(GOOD_IMAGE, ChipDetails((0.0, 0.0, 9.0, 9.0), 0.1, 0, 10))


def test_accepts_integer_landmarks_and_list():
    expected = face_chip(GOOD_IMAGE, GOOD_POINTS)
    assert np.array_equal(face_chip(GOOD_IMAGE, GOOD_POINTS.astype(np.int64)), expected)
    assert np.array_equal(face_chip(GOOD_IMAGE, GOOD_POINTS.tolist()), expected)
