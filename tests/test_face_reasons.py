"""Issue 13, item 7: a face that is there but cannot be compared gets its own reason (too small, cut by the
image edge, covered below the eyes), not "no face": in the core, in `faceid verify` and in the wizard's words."""

import cv2
import numpy as np
import pytest

from faceid_desktop.cli import main
from faceid_desktop.images import read_rgb
from faceid_desktop.quality import MAX_OUTSIDE, MIN_LOWER_TEXTURE, lower_face_texture
from faceid_desktop.verification import COVERED, CUT_BY_EDGE, analyse_frame, too_small


@pytest.fixture(scope="module")
def owner(shared):
    return read_rgb(shared / "faces" / "seed" / "ME" / "ME_5.jpg")


def _face(pipeline, image):
    return pipeline.detector.detect(image)[0]


def _small(pipeline, owner, width: int, frame=(720, 1280)) -> np.ndarray:
    """The owner's photo scaled so that the face is ``width`` pixels wide, pasted on a grey webcam frame."""
    scale = width / _face(pipeline, owner).width
    small = cv2.resize(owner, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full(frame + (3,), 128, np.uint8)
    top, left = (frame[0] - small.shape[0]) // 2, (frame[1] - small.shape[1]) // 2
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    return canvas


def _covered(pipeline, owner, colour=(40, 90, 160)) -> np.ndarray:
    """The owner's photo with a flat rectangle over the face from the nose tip down (a mask)."""
    face = _face(pipeline, owner)
    left, _, right, bottom = face.box
    covered = owner.copy()
    covered[int(face.landmarks[2, 1]):bottom + 1, left:right + 1] = colour
    return covered


def _cut(pipeline, owner) -> np.ndarray:
    """The owner's photo cut through the face: 35% of the face's width is beyond the left edge."""
    left, _, right, _ = _face(pipeline, owner).box
    return np.ascontiguousarray(owner[:, left + int(0.35 * (right - left)):])


@pytest.mark.parametrize("width", [48, 32])
@pytest.mark.parametrize("frame", [(480, 640), (720, 1280), (1080, 1920)], ids=["vga", "720p", "1080p"])
def test_a_small_face_is_too_small_not_missing(pipeline, owner, width, frame):
    analysis = analyse_frame(pipeline, _small(pipeline, owner, width, frame))
    assert analysis.faces, "the face must be found"
    found = analysis.primary.face.width
    assert abs(found - width) <= 0.2 * width and analysis.reason == too_small(found)
    assert analysis.reason == f"face too small: {found} px wide, need 60 px"


def test_a_face_cut_by_the_edge(pipeline, owner):
    assert analyse_frame(pipeline, owner).reason is None  # the whole photo: no problem
    analysis = analyse_frame(pipeline, _cut(pipeline, owner))
    assert analysis.primary.face.outside > MAX_OUTSIDE and analysis.reason == CUT_BY_EDGE


@pytest.mark.parametrize("colour", [(40, 90, 160), (200, 160, 140)], ids=["blue mask", "skin-coloured hand"])
def test_a_face_covered_below_the_eyes(pipeline, owner, colour):
    analysis = analyse_frame(pipeline, _covered(pipeline, owner, colour))
    assert lower_face_texture(analysis.primary.chip) < MIN_LOWER_TEXTURE
    assert analysis.reason == COVERED


def test_uncovered_seed_faces_are_not_taken_as_covered(pipeline, shared):
    for path in sorted((shared / "faces" / "seed").glob("*/*.jpg")):
        found = pipeline.process(read_rgb(path), max_faces=1)
        if found:
            assert lower_face_texture(found[0].chip) >= MIN_LOWER_TEXTURE + 0.1, path.name


def test_verify_says_why(pipeline, owner, tmp_path, monkeypatch, capsys, shared):
    from faceid_desktop import cli

    monkeypatch.setenv("FACEID_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cli.common, "load_pipeline", lambda: pipeline)
    seed = shared / "faces" / "seed" / "ME"
    assert main(["enroll", "me", *[str(seed / f"ME_{i}.jpg") for i in range(1, 5)]]) == 0
    photos = {"small": _small(pipeline, owner, 40), "cut": _cut(pipeline, owner), "covered": _covered(pipeline, owner)}
    for name, image in photos.items():
        cv2.imwrite(str(tmp_path / f"{name}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    capsys.readouterr()
    code = main(["verify", "me", *[str(tmp_path / f"{name}.png") for name in photos]])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0].startswith(f"{tmp_path / 'small.png'}: NO MATCH (face too small: ")
    assert lines[0].count("(") == 1  # one pair of parentheses
    assert f"NO MATCH ({CUT_BY_EDGE})" in lines[1] and f"NO MATCH ({COVERED})" in lines[2]


def test_the_wizard_tells_what_to_do():
    from faceid_desktop.gui.capture import guidance_for

    assert guidance_for(too_small(40)) == "face too small: 40 px wide, need 60 px: move closer"
    assert guidance_for(CUT_BY_EDGE) == "face cut by the image edge: move to the middle"
    assert guidance_for(COVERED) == "face covered below the eyes: uncover your mouth and chin"
