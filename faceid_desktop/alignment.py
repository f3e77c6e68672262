"""Face alignment: a numpy port of dlib's ``get_face_chip`` for 5-point landmarks.

The embedding network was trained on chips cut by dlib, so the chips fed to it must be cut the same way, pixel
for pixel. This module reproduces ``dlib.get_face_chip(img, shape, size, padding)`` (the Python binding in
``tools/python/src/numpy_returns.cpp``) without calling dlib, following the C++ sources of dlib 20.0 (checked
against dlib-bin 20.0.1):

* ``dlib/image_transforms/interpolation.h``: ``get_face_chip_details`` (the 5-point mean face and its padding),
  ``chip_details`` (rect, angle, rows, cols from a similarity transform), ``extract_image_chips`` (pyramid depth,
  bounding-box crop, level choice, chip-to-level affine map), ``transform_image`` and ``interpolate_bilinear``;
* ``dlib/image_transforms/image_pyramid.h``: ``pyramid_down<2>`` (5x5 binomial filter on uint16 sums, output
  ``(n-3)/2``, truncating ``/256``) and its ``point_down`` / ``rect_down`` (``p/2 - (1.25, 0.75)``);
* ``dlib/geometry/point_transforms.h``: ``find_similarity_transform`` (Umeyama), ``find_affine_transform``
  (``Q*pinv(P)``), ``rotate_point``;
* ``dlib/matrix/matrix_la.h``: ``svd4`` (the Algol SVD dlib uses when built without LAPACK, as the ``dlib-bin``
  wheels are) and ``pinv``;
* ``dlib/geometry/drectangle.h`` and ``rectangle.h``: ``centered_drect``, ``grow_rect``, ``intersect``, the
  round-half-up conversion of a ``drectangle`` to a ``rectangle``, ``area`` as ``(r-l+1)*(b-t+1)``;
* ``dlib/pixel.h``: ``assign_pixel`` from ``double`` to ``unsigned char`` clamps to [0, 255] and truncates.

Every floating-point operation is done in the order dlib does it, in IEEE double precision, so the output matches
dlib's bit for bit (the dlib-bin binary contains no fused multiply-add instructions, which would round
differently). Scalar geometry uses Python floats and the ``math`` module, because numpy's vectorised ``sin`` and
``cos`` may differ from libm in the last bit. ``cv2`` is used only where it is exact (see :func:`pyramid_down`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

__all__ = [
    "ChipDetails",
    "chip_details",
    "extract_image_chip",
    "face_chip",
    "find_affine_transform",
    "find_similarity_transform",
    "pyramid_depth",
    "pyramid_down",
]

# Mean positions of dlib's 5 landmarks in a unit face square, from get_face_chip_details() in
# dlib/image_transforms/interpolation.h. Order (render_face_detections_abstract.h): the outer and inner corner of
# the eye on the image's right, the outer and inner corner of the other eye, the top of the philtrum.
_MEAN_FACE_5 = (
    (0.8595674595992, 0.2134981538014),
    (0.6460604764104, 0.2289674387677),
    (0.1205750620789, 0.2137274526848),
    (0.3340850613712, 0.2290642403242),
    (0.4901123135679, 0.6277975316475),
)

_DBL_EPSILON = 2.220446049250313e-16
_DBL_MIN = 2.2250738585072014e-308

Matrix2 = tuple[tuple[float, float], tuple[float, float]]
Vector2 = tuple[float, float]


@dataclass(frozen=True)
class ChipDetails:
    """Where a chip is cut from an image: dlib's ``chip_details`` (``dlib/image_transforms/interpolation.h``).

    Attributes:
        rect: ``(left, top, right, bottom)`` of the un-rotated source rectangle in image pixels, a dlib
            ``drectangle`` (inclusive corners, so its width is ``right - left + 1``).
        angle: rotation of the rectangle about its centre, radians (positive turns the x axis towards y).
        rows: chip height in pixels.
        cols: chip width in pixels.
    """

    rect: tuple[float, float, float, float]
    angle: float
    rows: int
    cols: int


# ----------------------------------------------------------------------------------------------------------------
# Small linear algebra, in dlib's exact operation order


def _svd4(a: Sequence[Sequence[float]]) -> tuple[list[list[float]], list[float], list[list[float]]]:
    """Port of ``svd4(SVD_SKINNY_U, true, a, u, q, v)`` from ``dlib/matrix/matrix_la.h`` (non-LAPACK branch).

    ``a`` is m x n with m >= n. Returns ``(u, q, v)`` with ``a == u * diag(q) * v^T``, u m x n, v n x n. The
    statements mirror the C code line by line (including its gotos) because any reordering changes the last bits,
    and those bits decide how uint8 pixels truncate.

    Raises:
        ValueError: the iteration does not converge (dlib would silently return a partial result).
    """
    m = len(a)
    n = len(a[0])
    eps = _DBL_EPSILON
    tol = _DBL_MIN / eps
    u = [[float(val) for val in row] for row in a]
    q = [0.0] * n
    e = [0.0] * n
    v = [[0.0] * n for _ in range(n)]

    # Householder's reduction to bidiagonal form.
    g = x = 0.0
    l = 0
    for i in range(n):
        e[i] = g
        s = 0.0
        l = i + 1
        for j in range(i, m):
            s += u[j][i] * u[j][i]
        if s < tol:
            g = 0.0
        else:
            f = u[i][i]
            g = math.sqrt(s) if f < 0 else -math.sqrt(s)
            h = f * g - s
            u[i][i] = f - g
            for j in range(l, n):
                s = 0.0
                for k in range(i, m):
                    s += u[k][i] * u[k][j]
                f = s / h
                for k in range(i, m):
                    u[k][j] += f * u[k][i]
        q[i] = g
        s = 0.0
        for j in range(l, n):
            s += u[i][j] * u[i][j]
        if s < tol:
            g = 0.0
        else:
            f = u[i][i + 1]
            g = math.sqrt(s) if f < 0 else -math.sqrt(s)
            h = f * g - s
            u[i][i + 1] = f - g
            for j in range(l, n):
                e[j] = u[i][j] / h
            for j in range(l, m):
                s = 0.0
                for k in range(l, n):
                    s += u[j][k] * u[i][k]
                for k in range(l, n):
                    u[j][k] += s * e[k]
        y = abs(q[i]) + abs(e[i])
        if y > x:
            x = y

    # Accumulation of right-hand transformations (l and g carry over from the loop above, as in C).
    for i in range(n - 1, -1, -1):
        if g != 0.0:
            h = u[i][i + 1] * g
            for j in range(l, n):
                v[j][i] = u[i][j] / h
            for j in range(l, n):
                s = 0.0
                for k in range(l, n):
                    s += u[i][k] * v[k][j]
                for k in range(l, n):
                    v[k][j] += s * v[k][i]
        for j in range(l, n):
            v[i][j] = v[j][i] = 0.0
        v[i][i] = 1.0
        g = e[i]
        l = i

    # Accumulation of left-hand transformations (skinny u: m x n, so the identity padding loop is empty).
    for i in range(n - 1, -1, -1):
        l = i + 1
        g = q[i]
        for j in range(l, n):
            u[i][j] = 0.0
        if g != 0.0:
            h = u[i][i] * g
            for j in range(l, n):
                s = 0.0
                for k in range(l, m):
                    s += u[k][i] * u[k][j]
                f = s / h
                for k in range(i, m):
                    u[k][j] += f * u[k][i]
            for j in range(i, m):
                u[j][i] /= g
        else:
            for j in range(i, m):
                u[j][i] = 0.0
        u[i][i] += 1.0

    # Diagonalization of the bidiagonal form.
    eps *= x
    for k in range(n - 1, -1, -1):
        iterations = 0
        while True:  # test_f_splitting
            converged_split = False
            l = k
            while l >= 0:
                if abs(e[l]) <= eps:
                    converged_split = True
                    break
                if abs(q[l - 1]) <= eps:
                    break
                l -= 1
            if not converged_split:  # cancellation of e[l] if l > 0
                c = 0.0
                s = 1.0
                l1 = l - 1
                for i in range(l, k + 1):
                    f = s * e[i]
                    e[i] *= c
                    if abs(f) <= eps:
                        break
                    g = q[i]
                    h = math.sqrt(f * f + g * g)
                    q[i] = h
                    c = g / h
                    s = -f / h
                    for j in range(m):
                        y = u[j][l1]
                        z = u[j][i]
                        u[j][l1] = y * c + z * s
                        u[j][i] = -y * s + z * c
            # test_f_convergence
            z = q[k]
            if l == k:
                break
            iterations += 1
            if iterations > 300:
                raise ValueError("SVD did not converge")
            x = q[l]
            y = q[k - 1]
            g = e[k - 1]
            h = e[k]
            f = ((y - z) * (y + z) + (g - h) * (g + h)) / (2 * h * y)
            g = math.sqrt(f * f + 1.0)
            f = ((x - z) * (x + z) + h * (y / ((f - g) if f < 0 else (f + g)) - h)) / x
            c = s = 1.0
            for i in range(l + 1, k + 1):
                g = e[i]
                y = q[i]
                h = s * g
                g *= c
                z = math.sqrt(f * f + h * h)
                e[i - 1] = z
                c = f / z
                s = h / z
                f = x * c + g * s
                g = -x * s + g * c
                h = y * s
                y *= c
                for j in range(n):
                    x = v[j][i - 1]
                    z = v[j][i]
                    v[j][i - 1] = x * c + z * s
                    v[j][i] = -x * s + z * c
                z = math.sqrt(f * f + h * h)
                q[i - 1] = z
                if z != 0:
                    c = f / z
                    s = h / z
                f = c * g + s * y
                x = -s * g + c * y
                for j in range(m):
                    y = u[j][i - 1]
                    z = u[j][i]
                    u[j][i - 1] = y * c + z * s
                    u[j][i] = -y * s + z * c
            e[l] = 0.0
            e[k] = f
            q[k] = x
        # convergence: make q[k] non-negative
        if z < 0.0:
            q[k] = -z
            for j in range(n):
                v[j][k] = -v[j][k]
    return u, q, v


def _pinv3(p: Sequence[Sequence[float]]) -> list[list[float]]:
    """``pinv()`` of a 3x3 matrix as in ``dlib/matrix/matrix_la.h``: ``v * diag(1/w) * u^T`` with tiny w zeroed."""
    u, w, v = _svd4(p)
    n = len(w)
    cutoff = _DBL_EPSILON * n * max(w)
    inv_w = [(1.0 / val) if (val >= cutoff or val <= -cutoff) else 0.0 for val in w]
    vs = [[v[r][c] * inv_w[c] for c in range(n)] for r in range(n)]
    rows_u = len(u)
    out = []
    for i in range(n):
        row = []
        for j in range(rows_u):
            acc = vs[i][0] * u[j][0]
            for k in range(1, n):
                acc += vs[i][k] * u[j][k]
            row.append(acc)
        out.append(row)
    return out


def find_similarity_transform(
    from_points: Sequence[Vector2], to_points: Sequence[Vector2]
) -> tuple[Matrix2, Vector2]:
    """Least-squares similarity transform (Umeyama) mapping ``from_points`` onto ``to_points``.

    Port of ``find_similarity_transform`` in ``dlib/geometry/point_transforms.h``, bit-exact.

    Args:
        from_points: at least 2 ``(x, y)`` points.
        to_points: as many ``(x, y)`` points.

    Returns:
        ``(m, b)`` with ``to ~= m @ from + b``; ``m`` is a 2x2 nested tuple (scale times rotation).

    Raises:
        ValueError: fewer than 2 points, or the two lists differ in length.
    """
    count = len(from_points)
    if count < 2 or count != len(to_points):
        raise ValueError("find_similarity_transform needs two lists of >= 2 points of equal length")
    mf0 = mf1 = mt0 = mt1 = 0.0
    for (fx, fy), (tx, ty) in zip(from_points, to_points):
        mf0 += fx
        mf1 += fy
        mt0 += tx
        mt1 += ty
    # dlib::vector::operator/= divides; matrix::operator/= multiplies by the reciprocal (see below).
    mf0 /= count
    mf1 /= count
    mt0 /= count
    mt1 /= count
    sigma_from = 0.0
    c00 = c01 = c10 = c11 = 0.0
    for (fx, fy), (tx, ty) in zip(from_points, to_points):
        dfx = fx - mf0
        dfy = fy - mf1
        dtx = tx - mt0
        dty = ty - mt1
        sigma_from += dfx * dfx + dfy * dfy
        c00 += dtx * dfx
        c01 += dtx * dfy
        c10 += dty * dfx
        c11 += dty * dfy
    sigma_from /= count
    inv_count = 1.0 / count
    cov = [[c00 * inv_count, c01 * inv_count], [c10 * inv_count, c11 * inv_count]]

    u, d, v = _svd4(cov)
    s0 = s1 = 1.0
    det_cov = cov[0][0] * cov[1][1] - cov[0][1] * cov[1][0]
    det_u = u[0][0] * u[1][1] - u[0][1] * u[1][0]
    det_v = v[0][0] * v[1][1] - v[0][1] * v[1][0]
    if det_cov < 0 or (det_cov == 0 and det_u * det_v < 0):
        if d[1] < d[0]:
            s1 = -1.0
        else:
            s0 = -1.0
    # r = u*s*trans(v): the zero off-diagonal products of u*s add exactly nothing.
    r = [
        [(u[i][0] * s0) * v[j][0] + (u[i][1] * s1) * v[j][1] for j in range(2)]
        for i in range(2)
    ]
    c = 1.0
    if sigma_from != 0:
        c = 1.0 / sigma_from * (d[0] * s0 + d[1] * s1)
    # dlib rewrites c*r*mean_from as c*(r*mean_from) (scalars percolate out of products in matrix.h).
    t0 = mt0 - (r[0][0] * mf0 + r[0][1] * mf1) * c
    t1 = mt1 - (r[1][0] * mf0 + r[1][1] * mf1) * c
    m = ((r[0][0] * c, r[0][1] * c), (r[1][0] * c, r[1][1] * c))
    return m, (t0, t1)


def find_affine_transform(
    from_points: Sequence[Vector2], to_points: Sequence[Vector2]
) -> tuple[Matrix2, Vector2]:
    """Affine transform through 3 point pairs, as ``find_affine_transform`` (``Q*pinv(P)``) computes it.

    Port of ``dlib/geometry/point_transforms.h`` for exactly 3 points (all extract_image_chips needs).

    Returns:
        ``(m, b)`` with ``to ~= m @ from + b``.

    Raises:
        ValueError: not exactly 3 pairs.
    """
    if len(from_points) != 3 or len(to_points) != 3:
        raise ValueError("find_affine_transform here takes exactly 3 point pairs")
    p = [
        [float(from_points[i][0]) for i in range(3)],
        [float(from_points[i][1]) for i in range(3)],
        [1.0, 1.0, 1.0],
    ]
    pi = _pinv3(p)
    rows = []
    for axis in range(2):
        qrow = [float(to_points[i][axis]) for i in range(3)]
        row = []
        for j in range(3):
            acc = qrow[0] * pi[0][j]
            acc += qrow[1] * pi[1][j]
            acc += qrow[2] * pi[2][j]
            row.append(acc)
        rows.append(row)
    return ((rows[0][0], rows[0][1]), (rows[1][0], rows[1][1])), (rows[0][2], rows[1][2])


def _apply(m: Matrix2, b: Vector2, x: float, y: float) -> Vector2:
    """``point_transform_affine::operator()``: ``m*p + b``."""
    return (m[0][0] * x + m[0][1] * y) + b[0], (m[1][0] * x + m[1][1] * y) + b[1]


def _rotate_point(center: Vector2, p: Vector2, angle: float) -> Vector2:
    """``rotate_point`` of ``dlib/geometry/point_transforms.h`` (sin/cos recomputed each call, as dlib does)."""
    sin_a = math.sin(angle)
    cos_a = math.cos(angle)
    px = p[0] - center[0]
    py = p[1] - center[1]
    return (cos_a * px - sin_a * py) + center[0], (sin_a * px + cos_a * py) + center[1]


# ----------------------------------------------------------------------------------------------------------------
# drectangle helpers (dlib/geometry/drectangle.h); a rect is (left, top, right, bottom)

Rect = tuple[float, float, float, float]


def _is_empty(rect: Rect) -> bool:
    return rect[1] > rect[3] or rect[0] > rect[2]


def _area(rect: Rect) -> float:
    if _is_empty(rect):
        return 0.0
    return (rect[2] - rect[0] + 1) * (rect[3] - rect[1] + 1)


def _center(rect: Rect) -> Vector2:
    return (rect[0] + rect[2]) / 2.0, (rect[1] + rect[3]) / 2.0


def _rect_down(rect: Rect) -> Rect:
    """``pyramid_down<2>::rect_down``: both corners through ``p/2 - (1.25, 0.75)``, then re-sorted."""
    x1 = rect[0] / 2.0 - 1.25
    y1 = rect[1] / 2.0 - 0.75
    x2 = rect[2] / 2.0 - 1.25
    y2 = rect[3] / 2.0 - 0.75
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _to_int_rect(rect: Rect) -> tuple[int, int, int, int]:
    """``drectangle::operator rectangle()``: each coordinate rounded half up."""
    return tuple(int(math.floor(val + 0.5)) for val in rect)  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------------------------
# Public pieces


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks)
    if pts.shape != (5, 2):
        raise ValueError(f"landmarks must have shape (5, 2), got {pts.shape}")
    if not np.issubdtype(pts.dtype, np.number) or np.issubdtype(pts.dtype, np.complexfloating):
        raise ValueError(f"landmarks must be real numbers, got dtype {pts.dtype}")
    pts = pts.astype(np.float64)
    if not np.all(np.isfinite(pts)):
        raise ValueError("landmarks must be finite")
    return pts


def _check_size_padding(size: int, padding: float) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if isinstance(padding, bool) or not isinstance(padding, (int, float, np.floating, np.integer)):
        raise ValueError(f"padding must be a number, got {padding!r}")
    if not math.isfinite(float(padding)) or padding < 0:
        raise ValueError(f"padding must be finite and >= 0, got {padding!r}")


def chip_details(landmarks: np.ndarray, size: int = 150, padding: float = 0.25) -> ChipDetails:
    """Where dlib cuts the face chip for 5 landmarks: ``get_face_chip_details`` for a 5-part detection.

    The 5 mean-face points, padded to ``(padding + p) / (2*padding + 1) * size``, are mapped onto the landmarks by a
    least-squares similarity transform; its rotation is the chip angle and its scale times ``size`` the rectangle
    side (``dlib/image_transforms/interpolation.h``).

    Args:
        landmarks: (5, 2) real array, ``(x, y)`` pixel coordinates in ``shape_predictor_5_face_landmarks`` order.
            dlib stores landmarks as integers; pass them as such to reproduce dlib exactly.
        size: chip side in pixels (> 0).
        padding: border around the mean face as a fraction of the face size (>= 0), used as a C double.

    Returns:
        The :class:`ChipDetails` (rows == cols == size).

    Raises:
        ValueError: wrong landmark shape or values, non-positive size, negative or non-finite padding.
        Degenerate landmarks (e.g. all equal) raise nothing: like dlib they give a zero-size rectangle.
    """
    pts = _check_landmarks(landmarks)
    _check_size_padding(size, padding)
    size = int(size)
    padding = float(padding)
    inv_denominator = 1.0 / (2 * padding + 1)  # dlib divides a matrix expression: multiply by the reciprocal
    from_points = [((padding + px) * inv_denominator * size, (padding + py) * inv_denominator * size)
                   for px, py in _MEAN_FACE_5]
    to_points = [(float(x), float(y)) for x, y in pts]
    m, b = find_similarity_transform(from_points, to_points)
    # p = m*(1, 0): the products with 0 add nothing, so p is the first column of m.
    px, py = m[0][0], m[1][0]
    angle = math.atan2(py, px)
    scale = math.sqrt(px * px + py * py)
    cx, cy = _apply(m, b, size / 2.0, size / 2.0)
    width = size * scale - 1  # centered_drect() shrinks by one: drectangle widths count both end pixels
    height = size * scale - 1
    rect = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    return ChipDetails(rect=rect, angle=angle, rows=size, cols=size)


def pyramid_down(image: np.ndarray) -> np.ndarray:
    """Halve an RGB image as dlib's ``pyramid_down<2>`` does (``dlib/image_transforms/image_pyramid.h``).

    dlib filters with the separable [1 4 6 4 1] kernel, summing in uint16 (at most 16*16*255 = 65280), samples
    output pixel (r, c) at input (2r+2, 2c+2), and divides by 256 with truncation; border pixels are dropped rather
    than padded, so the output is ``((H-3)//2, (W-3)//2)``, and a side of 8 pixels or fewer gives an empty image.

    ``cv2.pyrDown`` on float32 computes the same integer sums exactly (every partial sum is an integer below 2**24)
    and scales them by 1/256, a power of two, so flooring its output at (r+1, c+1), whose 5x5 window never reaches
    the reflected border, gives dlib's pixels bit for bit, about ten times faster than numpy strided sums.

    Args:
        image: (H, W, 3) uint8 RGB (any strides).

    Returns:
        (H', W', 3) uint8, C-contiguous.

    Raises:
        ValueError: not an (H, W, 3) uint8 ndarray.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("pyramid_down needs an (H, W, 3) uint8 array")
    nr, nc = image.shape[:2]
    if nr <= 8 or nc <= 8:
        return np.zeros((0, 0, 3), np.uint8)
    out_r = (nr - 3) // 2
    out_c = (nc - 3) // 2
    used = image[: 2 * out_r + 3, : 2 * out_c + 3].astype(np.float32)
    halved = cv2.pyrDown(used)
    return halved[1 : out_r + 1, 1 : out_c + 1].astype(np.uint8)  # non-negative: the cast truncates like /256


def pyramid_depth(details: ChipDetails) -> int:
    """How many ``pyramid_down<2>`` levels dlib builds before sampling this chip (0: it samples the image itself).

    dlib halves the rectangle (``rect_down``) until one more halving would leave no more pixels than the chip has,
    so that bilinear sampling never skips source pixels (``extract_image_chips`` in
    ``dlib/image_transforms/interpolation.h``). For 150x150 chips that means a source rectangle wider than
    about 300 pixels.

    Args:
        details: a chip location, e.g. from :func:`chip_details`.

    Returns:
        The number of levels, >= 0.
    """
    n_pixels = int(details.rows) * int(details.cols)
    depth = 0
    down = _rect_down(tuple(float(val) for val in details.rect))  # type: ignore[arg-type]
    while _area(down) > n_pixels:
        down = _rect_down(down)
        depth += 1
    return depth


def _transform_bilinear(
    pixels: np.ndarray, width: int, area: tuple[int, int, int, int], m: Matrix2, b: Vector2, rows: int, cols: int
) -> np.ndarray:
    """``transform_image(src, chip, interpolate_bilinear(), affine)`` with a black background.

    ``src`` is the sub-image ``area = (x0, y0, w, h)`` of a C-contiguous image of ``width`` columns given flat as
    ``pixels`` (shape (N, 3)), so a crop needs no copy. Chip pixel (c, r) samples ``src`` at ``m @ (c, r) + b``; a
    sample whose 2x2 neighbourhood is not wholly inside ``src`` is black. The blend and the truncating uint8
    conversion follow ``interpolate_bilinear`` and ``assign_pixel`` exactly.
    """
    out = np.zeros((rows * cols, 3), np.uint8)
    x0, y0, nc, nr = area
    if nr < 2 or nc < 2:
        return out.reshape(rows, cols, 3)
    c = np.arange(cols, dtype=np.float64)[None, :]
    r = np.arange(rows, dtype=np.float64)[:, None]
    x = ((m[0][0] * c + m[0][1] * r) + b[0]).ravel()
    y = ((m[1][0] * c + m[1][1] * r) + b[1]).ravel()
    left = np.floor(x)
    top = np.floor(y)
    inside = (left >= 0) & (top >= 0) & (left < nc - 1) & (top < nr - 1)
    everywhere = bool(inside.all())
    if not everywhere:
        if not inside.any():
            return out.reshape(rows, cols, 3)
        x, y, left, top = x[inside], y[inside], left[inside], top[inside]
    lr = x - left
    tb = y - top
    index = (top.astype(np.intp) + y0) * width + (left.astype(np.intp) + x0)
    corners = pixels.take(np.stack((index, index + 1, index + width, index + width + 1)), axis=0)
    # Channel-major (corner, channel, sample) so the per-sample weights broadcast along the fast axis.
    tl, tr, bl, br = corners.transpose(0, 2, 1).astype(np.float64, order="C")
    # (1-tb)*((1-lr)*tl + lr*tr) + tb*((1-lr)*bl + lr*br), evaluated in place in that same order.
    one_lr = 1 - lr
    upper = tl
    upper *= one_lr
    tr *= lr
    upper += tr
    lower = bl
    lower *= one_lr
    br *= lr
    lower += br
    upper *= 1 - tb
    lower *= tb
    upper += lower
    np.minimum(upper, 255, out=upper)  # the blend of uint8 values is >= 0; assign_pixel clamps, then truncates
    if everywhere:
        out[:] = upper.T
    else:
        out[inside] = upper.T
    return out.reshape(rows, cols, 3)


def _basic_extract(image: np.ndarray, rect: Rect) -> np.ndarray:
    """``impl::basic_extract_image_chip``: a plain copy of the rounded rectangle, zero outside the image."""
    left, top, right, bottom = _to_int_rect(rect)
    rows = max(bottom - top + 1, 0)
    cols = max(right - left + 1, 0)
    out = np.zeros((rows, cols, 3), np.uint8)
    nr, nc = image.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(right, nc - 1), min(bottom, nr - 1)
    if x0 <= x1 and y0 <= y1:
        out[y0 - top : y1 - top + 1, x0 - left : x1 - left + 1] = image[y0 : y1 + 1, x0 : x1 + 1]
    return out


def extract_image_chip(image: np.ndarray, details: ChipDetails) -> np.ndarray:
    """Cut a chip out of an RGB image as dlib's ``extract_image_chip(img, details, chip)`` does.

    When the source rectangle is more than about twice the chip's side, dlib first builds ``pyramid_down<2>``
    levels of a crop of the image (the rotated rectangle's bounding box grown by 2, 6, 14, ... pixels for 0, 1, 2
    ... levels and clipped to the image) and samples the coarsest level whose once-more-halved rectangle would
    still hold more pixels than the chip; otherwise it samples the crop itself. Sampling is bilinear, and pixels
    whose neighbourhood leaves the crop or level are black (``dlib/image_transforms/interpolation.h``).

    Args:
        image: (H, W, 3) uint8 RGB (any strides).
        details: where to cut, e.g. from :func:`chip_details`.

    Returns:
        (details.rows, details.cols, 3) uint8 RGB.

    Raises:
        ValueError: ``image`` is not an (H, W, 3) uint8 array, or ``details`` has a non-positive size.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("image must be an (H, W, 3) uint8 array")
    rows, cols = int(details.rows), int(details.cols)
    if rows <= 0 or cols <= 0:
        raise ValueError("details must have positive rows and cols")
    rect = tuple(float(val) for val in details.rect)
    angle = float(details.angle)
    if angle == 0 and rows == rect[3] - rect[1] + 1 and cols == rect[2] - rect[0] + 1:
        return _basic_extract(image, rect)

    n_pixels = rows * cols
    nr, nc = image.shape[:2]
    depth = pyramid_depth(details)
    grow = 2.0
    for _ in range(depth):
        # Each level halves the image and its filter needs a 2-pixel margin: 2, 6, 14, ... pixels of context.
        grow = grow * 2 + 2
    cent = _center(rect)
    corners = [
        _rotate_point(cent, (rect[0], rect[1]), angle),
        _rotate_point(cent, (rect[2], rect[1]), angle),
        _rotate_point(cent, (rect[0], rect[3]), angle),
        _rotate_point(cent, (rect[2], rect[3]), angle),
    ]
    xs = [p[0] for p in corners]
    ys = [p[1] for p in corners]
    grown = (min(xs) - grow, min(ys) - grow, max(xs) + grow, max(ys) + grow)
    clipped = (max(grown[0], 0.0), max(grown[1], 0.0), min(grown[2], nc - 1.0), min(grown[3], nr - 1.0))
    box = _to_int_rect(clipped)  # rounded only now, after clipping, as dlib converts the drectangle
    if _is_empty(box):
        # The face lies wholly outside the image: dlib samples an empty crop, so every pixel is background.
        box = (0, 0, -1, -1)
        crop_area = (0, 0, 0, 0)
    else:
        crop_area = (box[0], box[1], box[2] - box[0] + 1, box[3] - box[1] + 1)

    # dlib picks the level again from the crop-relative rectangle (normally depth - 1, or -1 for no pyramid).
    level = -1
    local = (rect[0] - box[0], rect[1] - box[1], rect[2] - box[0], rect[3] - box[1])
    while _area(_rect_down(local)) > n_pixels:
        level += 1
        local = _rect_down(local)

    lc = _center(local)
    to_points = [
        _rotate_point(lc, (local[0], local[1]), angle),
        _rotate_point(lc, (local[2], local[1]), angle),
        _rotate_point(lc, (local[0], local[3]), angle),
    ]
    from_points = [(0.0, 0.0), (float(cols - 1), 0.0), (0.0, float(rows - 1))]
    m, b = find_affine_transform(from_points, to_points)

    if level < 0:
        if crop_area[2] < 2 or crop_area[3] < 2:
            return np.zeros((rows, cols, 3), np.uint8)
        if image.flags.c_contiguous:
            # Sample the crop inside the whole image: no copy.
            return _transform_bilinear(image.reshape(-1, 3), nc, crop_area, m, b, rows, cols)
        x0, y0, w, h = crop_area
        crop = np.ascontiguousarray(image[y0 : y0 + h, x0 : x0 + w])
        return _transform_bilinear(crop.reshape(-1, 3), w, (0, 0, w, h), m, b, rows, cols)

    x0, y0, w, h = crop_area
    source = image[y0 : y0 + h, x0 : x0 + w]
    for _ in range(level + 1):
        source = pyramid_down(source)
    h, w = source.shape[:2]
    return _transform_bilinear(source.reshape(-1, 3), w, (0, 0, w, h), m, b, rows, cols)


def face_chip(image: np.ndarray, landmarks: np.ndarray, size: int = 150, padding: float = 0.25) -> np.ndarray:
    """Aligned face chip, identical to ``dlib.get_face_chip(img, shape, size, padding)`` for a 5-point shape.

    Args:
        image: (H, W, 3) uint8 RGB image (any strides; not modified).
        landmarks: (5, 2) real array of ``(x, y)`` full-resolution pixel coordinates in
            ``shape_predictor_5_face_landmarks`` order, e.g. ``[(p.x, p.y) for p in shape.parts()]``. dlib's
            landmarks are integers; non-integer values are used as given (dlib itself cannot take them).
        size: chip side in pixels (> 0).
        padding: border around the mean face as a fraction of the face size (>= 0). The dlib Python binding takes
            it as a C ``float``, so it is rounded to float32 first (0.25 is exact).

    Returns:
        (size, size, 3) uint8 RGB chip; pixels that fall outside the image are black. Degenerate landmarks (e.g.
        all five equal) give the same meaningless chip as dlib rather than an error.

    Raises:
        ValueError: ``image`` is not an (H, W, 3) uint8 ndarray; ``landmarks`` is not (5, 2) finite real
            numbers; ``size`` is not a positive int; ``padding`` is not a number, negative or not finite.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    _check_size_padding(size, padding)
    details = chip_details(landmarks, size, float(np.float32(padding)))
    return extract_image_chip(image, details)
