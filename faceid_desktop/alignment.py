"""Face alignment: five landmarks onto the ArcFace 112x112 template by a similarity transform.

SFace, like most recognisers of its generation, was trained on chips made this way (J. Deng, J. Guo, N. Xue,
S. Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019; the template is
insightface's ``arcface_dst``, and OpenCV's ``FaceRecognizerSF::alignCrop`` uses the same five points). The
transform (rotation, uniform scale, translation) is the least-squares fit of the five landmarks to the
template (``cv2.estimateAffinePartial2D``, every point an inlier, refined by Levenberg-Marquardt), and the chip
is cut with ``cv2.warpAffine`` (bilinear; pixels outside the frame are black, as in ``alignCrop``).

The five points the pipeline aligns on are not YuNet's own but derived from dlib's 68-point fit of the face
(:func:`five_landmarks`): on the owner protocol (``benchmarks/owner_protocol.py``) that rejects 0.78% of
owners' photos at FAR 1e-5 where YuNet's points reject 1.26% (dlib's 5-point model, public domain: 1.03%).
"""

from __future__ import annotations

import cv2
import numpy as np

#: Chip side in pixels: SFace's input.
CHIP_SIZE = 112

#: Where the five landmarks (YuNet's order: right eye, left eye, nose tip, right and left mouth corners)
#: land in a 112x112 chip: insightface's ``arcface_dst``, identical to OpenCV's ``alignCrop`` template.
TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks must be (5, 2) finite (x, y) pixels, got shape {points.shape}")
    return points


def similarity_transform(landmarks: np.ndarray) -> np.ndarray:
    """The 2x3 similarity transform that maps ``landmarks`` onto :data:`TEMPLATE` in the least-squares sense.

    Args:
        landmarks: (5, 2) float (x, y) full-resolution pixels, in YuNet's order.

    Returns:
        (2, 3) float64 matrix [[s cos a, -s sin a, tx], [s sin a, s cos a, ty]] (chip pixels from frame pixels).

    Raises:
        ValueError: landmarks not (5, 2) finite numbers, or all in one point (no transform exists).
    """
    points = _check_landmarks(landmarks)
    if np.ptp(points, axis=0).max() < 1e-6:
        raise ValueError("the five landmarks coincide: no face geometry to align")
    # A threshold far above any residual makes every point an inlier, so RANSAC's answer is the
    # least-squares fit that the refinement step then polishes.
    matrix, _ = cv2.estimateAffinePartial2D(points, TEMPLATE, method=cv2.RANSAC, ransacReprojThreshold=1e6,
                                            maxIters=1, refineIters=50)
    if matrix is None:
        raise ValueError("no similarity transform fits these landmarks")
    return matrix


def check_image(image: np.ndarray) -> None:
    """Raise ValueError (one line) unless ``image`` is an (H, W, 3) uint8 array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) uint8 array, got {getattr(image, 'dtype', type(image).__name__)} "
                         f"{getattr(image, 'shape', '')}")


def face_chip(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Aligned face chip for SFace.

    Args:
        image: (H, W, 3) uint8 RGB frame (not modified).
        landmarks: (5, 2) float (x, y) pixels of the face in ``image``, YuNet's order.

    Returns:
        (112, 112, 3) uint8 RGB chip; parts of the chip outside the frame are black.

    Raises:
        ValueError: ``image`` is not an (H, W, 3) uint8 array, or bad landmarks (see :func:`similarity_transform`).
    """
    check_image(image)
    matrix = similarity_transform(landmarks)
    return cv2.warpAffine(image, matrix, (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


#: Indices of dlib's 68-point mark-up (iBUG 300-W, 0-based) that make the template's five points: each eye's
#: six contour points (the image-left eye first, as :data:`TEMPLATE`), the nose tip, the outer mouth corners.
_EYES_68 = (tuple(range(36, 42)), tuple(range(42, 48)))
_NOSE_TIP_68, _MOUTH_CORNERS_68 = 30, (48, 54)


def five_landmarks(points68: np.ndarray) -> np.ndarray:
    """The five alignment points (:data:`TEMPLATE`'s order) from a 68-point fit of the face.

    Each eye is the mean of its six contour points (its centre, as the ArcFace template's eye points are),
    the nose tip is point 30 and the mouth corners are points 48 and 54 (the iBUG 300-W mark-up). The mean
    of the inner and outer mouth corners, or the eye corners instead of the contours, did as well within two
    photos on the owner protocol (0.78-0.89% at FAR 1e-5); falling back on YuNet's points where the two sets
    disagree by more than 0.2-0.5 inter-ocular distances did worse (0.85-1.03%).

    Args:
        points68: (68, 2) float (x, y) pixels (:class:`~faceid_desktop.landmarks68.Landmarks68`).

    Returns:
        (5, 2) float64 (x, y) pixels.

    Raises:
        ValueError: ``points68`` is not (68, 2) finite numbers.
    """
    points = np.asarray(points68, dtype=np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise ValueError(f"points68 must be (68, 2) finite (x, y) pixels, got shape {points.shape}")
    eyes = [points[list(eye)].mean(axis=0) for eye in _EYES_68]
    return np.array([*eyes, points[_NOSE_TIP_68], *points[list(_MOUTH_CORNERS_68)]])
