r"""The RC car's camera: pinhole projection, the road's homography, distances and a frame budget.

A model car carries a camera at height ``h`` above a flat road, pitched down by ``tilt``.
Everything between a detector's box in pixels and a distance in metres is a few 3 x 3 and
3 x 4 matrices [1]_:

- :func:`intrinsic_matrix` and :func:`intrinsics_from_fov`: the intrinsics ``K``;
- :func:`camera_pose`: the extrinsics ``(R, t)`` of a camera at height ``h`` pitched down;
- :func:`projection_matrix` and :func:`project_points`: ``P = K [R | t]`` and world points
  to pixels;
- :func:`ground_homography`, :func:`ground_to_pixel`, :func:`pixel_to_ground`: the road
  plane ``Z = 0`` and the image, both ways, through ``H = K [r1 r2 t]``;
- :func:`distance_from_box`: the forward distance of an object from the bottom edge of its
  box;
- :func:`measure_fps`, :data:`EMBEDDED_GPUS` and :func:`predict_fps`: the real-time budget,
  measured here and bounded by an embedded GPU's roofline [2]_.

Conventions
-----------
World frame: ``X`` to the right, ``Y`` forward, ``Z`` up; the road is ``Z = 0`` and the
camera centre is ``C = (0, 0, h)``. Camera frame: OpenCV's, ``x`` right, ``y`` down, ``z``
along the optical axis. A world point ``X_w`` has camera coordinates ``R X_w + t`` with
``t = -R C``; the rows of ``R`` are the camera's axes written in world coordinates. Pixels
are ``(u, v)``: ``u`` along a row (to the right), ``v`` down the image. Angles are in
radians, lengths in metres (any unit works if used throughout), pixels in pixels.

References
----------
.. [1] R. Hartley and A. Zisserman, *Multiple View Geometry in Computer Vision*, 2nd ed.,
   Cambridge University Press, 2004: the finite projective camera (Sec. 6.1), the depth of a
   point (Sec. 6.2.3), homographies between planes (Sec. 2.3, 8.1) and vanishing points and
   lines (Sec. 8.6).
.. [2] S. Williams, A. Waterman and D. Patterson, "Roofline: an insightful visual performance
   model for multicore architectures", *Communications of the ACM* 52(4), 65-76, 2009.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from lapenna_labs._validation import (
    as_float_array,
    check_name,
    check_nonnegative_int,
    check_positive_int,
)

__all__ = [
    "EMBEDDED_GPUS",
    "PRECISIONS",
    "camera_pose",
    "distance_from_box",
    "ground_homography",
    "ground_to_pixel",
    "intrinsic_matrix",
    "intrinsics_from_fov",
    "measure_fps",
    "pixel_to_ground",
    "predict_fps",
    "project_points",
    "projection_matrix",
]

PRECISIONS = ("fp32", "fp16")
"""The precisions :func:`predict_fps` knows, keys ``fp32_gflops`` / ``fp16_gflops``."""

_JETSON_DOWNLOAD_CENTER = "https://developer.nvidia.com/embedded/downloads"

#: Datasheet figures of embedded GPUs a 1:10 model car can carry: dense peak GFLOP/s in FP32
#: and FP16 and the memory bandwidth in GB/s (10^9 bytes/s), each with its source. NVIDIA's
#: Jetson module datasheets print core counts, the GPU's maximum clock and the memory's peak
#: bandwidth, but mostly not FP32/FP16 rates: those are **derived** here, and each
#: derivation is written in ``derivations``. The memory is shared by the CPU and the GPU
#: (one LPDDR pool), so the bandwidth is the whole module's. Figures are for the modules'
#: maximum power mode as the datasheet specifies it; lower power modes clock lower.
EMBEDDED_GPUS: dict[str, dict[str, Any]] = {
    "Jetson Nano": {
        "variant": "Jetson Nano module, 4 GB LPDDR4, 128-core Maxwell GPU, 5-10 W",
        "cuda_cores": 128,
        "tensor_cores": 0,
        "gpu_clock_mhz": 921.0,
        "fp32_gflops": 235.776,
        "fp16_gflops": 471.552,
        "bandwidth_gbs": 25.6,
        "derivations": {
            "fp32_gflops": "128 CUDA cores x 2 flop per FMA x 0.921 GHz = 235.776 GFLOP/s",
            "fp16_gflops": "2 x the FP32 rate (Maxwell GM20B runs packed half2 FMAs on its "
            "CUDA cores: 2 FP16 FMAs per core per clock) = 471.552 GFLOP/s",
            "bandwidth_gbs": "printed: 'Peak Bandwidth: 25.6 GB/s' (4 channels x 16 bit "
            "LPDDR4 at 1600 MHz: 64 bit / 8 x 3.2 GT/s)",
        },
        "notes": "The datasheet prints 'OpenGL ES Shader Performance (up to): 512 GFLOPS "
        "(FP16)' next to 'Maximum Operating Frequency: 921MHz'; 512 GFLOP/s needs a 1.0 GHz "
        "clock, so the FP16 figure used here is derived from the printed clock instead.",
        "source": {
            "title": "NVIDIA Jetson Nano System-on-Module Data Sheet (Maxwell GPU + ARM "
            "Cortex-A57 + 4GB LPDDR4 + 16GB eMMC), NVIDIA Jetson Download Center",
            "url": _JETSON_DOWNLOAD_CENTER,
        },
    },
    "Jetson Orin Nano 8GB": {
        "variant": "Jetson Orin Nano 8GB module, 8 GB 128-bit LPDDR5, 1024-core Ampere GPU "
        "with 32 tensor cores, 7-15 W (original clocks, not the later 'Super' mode)",
        "cuda_cores": 1024,
        "tensor_cores": 32,
        "gpu_clock_mhz": 625.0,
        "fp32_gflops": 1280.0,
        "fp16_gflops": 10240.0,
        "bandwidth_gbs": 68.0,
        "derivations": {
            "fp32_gflops": "1024 CUDA cores x 2 flop per FMA x 0.625 GHz = 1,280 GFLOP/s",
            "fp16_gflops": "dense tensor-core rate, not printed: the datasheet's 20 dense INT8 "
            "TOPS over 32 tensor cores x 0.625 GHz is 1,000 (i.e. 1,024, the 20 being "
            "rounded) INT8 ops per tensor core per clock; Ampere tensor cores run FP16 at "
            "half their INT8 rate (as the A100's dense 312 FP16 TFLOP/s against 624 INT8 TOPS), "
            "512 flop per clock: 32 x 512 x 0.625 GHz = 10,240 GFLOP/s",
            "bandwidth_gbs": "68 GB/s as NVIDIA quotes it for the Orin Nano 8GB (the data "
            "sheet's memory line reads '8GB 128-bit LPDDR5 DRAM'); consistent with 128-bit "
            "LPDDR5 at 4266 MT/s: 128 / 8 x 4.266 GT/s = 68.3 GB/s",
        },
        "notes": "The datasheet's 'Up to 40 (Sparse) INT8 TOPs and 20 (Dense) INT8 TOPs' are "
        "GPU figures (the Orin Nano has no DLA). The FP16 figure assumes TensorRT/cuDNN "
        "kernels on the tensor cores; on the CUDA cores alone FP16 is not faster than FP32. "
        "JetPack 6.1's 'Super' mode (25 W) raises the GPU clock to 1,020 MHz and the memory "
        "to 102 GB/s; those figures are not used here.",
        "source": {
            "title": "NVIDIA Jetson Orin Nano Series Data Sheet (Ampere GPU + ARM "
            "Cortex-A78AE CPU + LPDDR5), NVIDIA Jetson Download Center",
            "url": _JETSON_DOWNLOAD_CENTER,
        },
    },
}


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _finite_real(value: Any, *, name: str, func: str) -> float:
    """``value`` as a float, unless it is not a finite real number (bool, str, NaN, inf)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{func}: {name} must be a finite real number, got {value!r}")
    return float(value)


def _positive_finite(value: Any, *, name: str, func: str) -> float:
    number = _finite_real(value, name=name, func=func)
    if number <= 0:
        raise ValueError(f"{func}: {name} must be positive, got {value!r}")
    return number


def _check_height_tilt(height: Any, tilt: Any, func: str) -> tuple[float, float]:
    """The camera's height (> 0) and tilt in [0, pi/2]: level, pitched down, or straight down."""
    height = _positive_finite(height, name="height", func=func)
    tilt = _finite_real(tilt, name="tilt", func=func)
    if not 0.0 <= tilt <= math.pi / 2:
        raise ValueError(
            f"{func}: tilt must be in [0, pi/2] radians (0: level, pi/2: straight down), "
            f"got {tilt!r}; pass radians, e.g. np.deg2rad(12.0)"
        )
    return height, tilt


def _as_matrix(value: Any, shape: tuple[int, int], *, name: str, func: str) -> np.ndarray:
    arr = as_float_array(value, name=name, func=func).astype(np.float64)
    if arr.shape != shape:
        raise ValueError(f"{func}: {name} must have shape {shape}, got shape {arr.shape}")
    return arr


def _as_intrinsics(K: Any, func: str) -> np.ndarray:
    """A checked intrinsic matrix: (3, 3), last row (0, 0, 1), positive focal lengths."""
    K = _as_matrix(K, (3, 3), name="K", func=func)
    if not np.allclose(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0.0:
        raise ValueError(
            f"{func}: K must be an intrinsic matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]], "
            f"got rows {K[1].tolist()} and {K[2].tolist()}"
        )
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(
            f"{func}: K's focal lengths must be positive, got fx={K[0, 0]!r}, fy={K[1, 1]!r}"
        )
    return K


def _as_pose(R: Any, t: Any, func: str) -> tuple[np.ndarray, np.ndarray]:
    """A checked rotation (3, 3) and translation, returned as (3,) (a (3, 1) column is fine)."""
    R = _as_matrix(R, (3, 3), name="R", func=func)
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or not np.isclose(
        np.linalg.det(R), 1.0, atol=1e-6
    ):
        raise ValueError(
            f"{func}: R must be a rotation matrix (R R^T = I, det R = 1), "
            f"got det R = {np.linalg.det(R):.6g}"
        )
    t = as_float_array(t, name="t", func=func).astype(np.float64)
    if t.shape not in ((3,), (3, 1)):
        raise ValueError(f"{func}: t must have shape (3,) or (3, 1), got shape {t.shape}")
    return R, t.reshape(3)


def _as_rows(value: Any, width: int, *, name: str, func: str) -> tuple[np.ndarray, bool]:
    """A checked (n, width) float64 array, and whether a single row (width,) was given."""
    arr = as_float_array(value, name=name, func=func).astype(np.float64)
    single = arr.ndim == 1 and arr.shape == (width,)
    if single:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(
            f"{func}: {name} must have shape (n, {width}) (one point per row) or ({width},), "
            f"got shape {arr.shape}"
        )
    return arr, single


def _as_homography(H: Any, func: str) -> np.ndarray:
    H = _as_matrix(H, (3, 3), name="H", func=func)
    # cond > 1/eps: H is singular to working precision (the camera centre on the road).
    if np.linalg.cond(H) > 1.0 / np.finfo(np.float64).eps:
        raise ValueError(
            f"{func}: H is singular (a camera on the road plane has no ground homography)"
        )
    return H


# --------------------------------------------------------------------------------------------
# the camera
# --------------------------------------------------------------------------------------------


def intrinsic_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    r"""The intrinsic matrix ``K`` of a pinhole camera with zero skew.

    Parameters
    ----------
    fx, fy : float
        Focal lengths in pixels (the focal length over the pixel's width and height), > 0.
    cx, cy : float
        The principal point in pixels: where the optical axis meets the image.

    Returns
    -------
    ndarray of float64, shape (3, 3)
        ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.

    Notes
    -----
    A point at camera coordinates :math:`(x, y, z)`, :math:`z > 0`, is seen at the pixel

    .. math:: \lambda (u, v, 1)^{\mathsf T} = K (x, y, z)^{\mathsf T},\qquad
       u = f_x \frac{x}{z} + c_x,\quad v = f_y \frac{y}{z} + c_y,\quad \lambda = z

    (Hartley and Zisserman, Sec. 6.1, eq. 6.4 [1]_).

    Examples
    --------
    >>> intrinsic_matrix(500.0, 500.0, 320.0, 240.0)
    array([[500.,   0., 320.],
           [  0., 500., 240.],
           [  0.,   0.,   1.]])
    """
    func = "intrinsic_matrix"
    fx = _positive_finite(fx, name="fx", func=func)
    fy = _positive_finite(fy, name="fy", func=func)
    cx = _finite_real(cx, name="cx", func=func)
    cy = _finite_real(cy, name="cy", func=func)
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def intrinsics_from_fov(width: float, height: float, hfov: float) -> np.ndarray:
    r"""``K`` of a camera with square pixels from its image size and horizontal field of view.

    Parameters
    ----------
    width, height : float
        Image size in pixels, > 0.
    hfov : float
        Horizontal field of view in radians, in (0, pi).

    Returns
    -------
    ndarray of float64, shape (3, 3)
        :func:`intrinsic_matrix` ``(f, f, width / 2, height / 2)``.

    Notes
    -----
    The image's left and right edges are :math:`w/2` pixels from the principal point and are
    seen at :math:`\pm\,\mathrm{hfov}/2` from the optical axis, so
    :math:`\tan(\mathrm{hfov}/2) = (w/2)/f` and :math:`f = (w/2)/\tan(\mathrm{hfov}/2)`;
    square pixels give :math:`f_y = f_x`, and the principal point is the image centre.

    Examples
    --------
    >>> K = intrinsics_from_fov(640, 480, np.pi / 2)  # 90 degrees: f = 320 / tan(45 deg)
    >>> K.round(6)
    array([[320.,   0., 320.],
           [  0., 320., 240.],
           [  0.,   0.,   1.]])
    """
    func = "intrinsics_from_fov"
    width = _positive_finite(width, name="width", func=func)
    height = _positive_finite(height, name="height", func=func)
    hfov = _finite_real(hfov, name="hfov", func=func)
    if not 0.0 < hfov < math.pi:
        raise ValueError(
            f"{func}: hfov must be in (0, pi) radians, got {hfov!r}; "
            "pass radians, e.g. np.deg2rad(70.0)"
        )
    focal = (width / 2) / math.tan(hfov / 2)
    return intrinsic_matrix(focal, focal, width / 2, height / 2)


def camera_pose(height: float, tilt: float) -> tuple[np.ndarray, np.ndarray]:
    r"""The extrinsics ``(R, t)`` of a camera ``height`` above the road, pitched down by ``tilt``.

    Parameters
    ----------
    height : float
        The camera centre's height above the road, > 0 (metres).
    tilt : float
        Pitch below the horizontal in radians, in [0, pi/2]: 0 looks level along the road,
        pi/2 straight down.

    Returns
    -------
    R : ndarray of float64, shape (3, 3)
        World to camera rotation; its rows are the camera's x (right), y (image down) and z
        (optical axis) axes written in world coordinates.
    t : ndarray of float64, shape (3,)
        ``-R C`` with the camera centre ``C = (0, 0, height)``; a camera-frame vector, a
        flat ``(3,)`` array (``t[:, None]`` is the column of ``[R | t]``).

    Notes
    -----
    With :math:`s = \sin\theta`, :math:`c = \cos\theta` for the tilt :math:`\theta`:
    the camera's right is the world's :math:`X`, :math:`(1, 0, 0)`; its optical axis points
    forward and down, :math:`(0, c, -s)`; its image-down axis is perpendicular to both,
    :math:`(0, -s, -c)`. Stacked as rows,

    .. math:: R = \begin{pmatrix} 1 & 0 & 0 \\ 0 & -s & -c \\ 0 & c & -s \end{pmatrix},
       \qquad t = -R\,C = (0,\ h c,\ h s)^{\mathsf T},

    a rotation (orthonormal rows, :math:`\det R = 1`). A world point :math:`X_w` has camera
    coordinates :math:`R X_w + t = R (X_w - C)` (Hartley and Zisserman, Sec. 6.1, eq. 6.6).

    Examples
    --------
    >>> R, t = camera_pose(0.2, 0.0)  # level: the optical axis is the world's Y
    >>> R
    array([[ 1.,  0.,  0.],
           [ 0., -0., -1.],
           [ 0.,  1., -0.]])
    >>> t
    array([0. , 0.2, 0. ])
    """
    height, tilt = _check_height_tilt(height, tilt, "camera_pose")
    s, c = math.sin(tilt), math.cos(tilt)
    R = np.array([[1.0, 0.0, 0.0], [0.0, -s, -c], [0.0, c, -s]])
    t = -R @ np.array([0.0, 0.0, height])
    return R, t


def projection_matrix(K: Any, R: Any, t: Any) -> np.ndarray:
    r"""The camera matrix ``P = K [R | t]``.

    Parameters
    ----------
    K : array_like, shape (3, 3)
        Intrinsics, ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` with ``fx, fy > 0``.
    R : array_like, shape (3, 3)
        A rotation, world to camera.
    t : array_like, shape (3,) or (3, 1)
        The translation, ``-R C``.

    Returns
    -------
    ndarray of float64, shape (3, 4)

    Notes
    -----
    A world point in homogeneous coordinates :math:`(X, Y, Z, 1)` maps to
    :math:`\lambda (u, v, 1)^{\mathsf T} = P (X, Y, Z, 1)^{\mathsf T}`; with :math:`K`'s last
    row :math:`(0, 0, 1)`, :math:`\lambda` is the point's depth along the optical axis
    (Hartley and Zisserman, Sec. 6.1 and 6.2.3).

    Examples
    --------
    >>> K = intrinsic_matrix(100.0, 100.0, 50.0, 40.0)
    >>> projection_matrix(K, np.eye(3), [0.0, 0.0, 2.0])
    array([[100.,   0.,  50., 100.],
           [  0., 100.,  40.,  80.],
           [  0.,   0.,   1.,   2.]])
    """
    func = "projection_matrix"
    K = _as_intrinsics(K, func)
    R, t = _as_pose(R, t, func)
    return K @ np.column_stack([R, t])


def _dehomogenize(
    points: np.ndarray, depth: np.ndarray, *, what: str, name: str, func: str
) -> np.ndarray:
    """``points[:, :2] / points[:, 2:]``, raising for the first row whose depth is not > 0."""
    behind = ~(depth > 0)
    if behind.any():
        row = int(np.flatnonzero(behind)[0])
        raise ValueError(
            f"{func}: {name}[{row}] is {what} (depth {float(depth[row]):.6g}); it has no "
            "image in front of the camera"
        )
    return points[:, :2] / points[:, 2:3]


def project_points(P: Any, points: Any) -> np.ndarray:
    r"""World points to pixels through a camera matrix ``P``.

    Parameters
    ----------
    P : array_like, shape (3, 4)
        A finite camera, e.g. :func:`projection_matrix` ``(K, R, t)``.
    points : array_like, shape (n, 3) or (3,)
        World points ``(X, Y, Z)``, one per row.

    Returns
    -------
    ndarray of float64, shape (n, 2) or (2,)
        Pixels ``(u, v)``, one per point (a single point gives a single pixel).

    Raises
    ------
    ValueError
        For a point at or behind the camera (depth <= 0), which a camera does not see; the
        message names the first such row.

    Notes
    -----
    :math:`(a, b, w)^{\mathsf T} = P (X, Y, Z, 1)^{\mathsf T}` and :math:`(u, v) = (a/w,
    b/w)`. The depth of the point is :math:`\operatorname{sign}(\det M)\, w / \lVert m^3
    \rVert` for :math:`P = [M \mid p_4]` with third row :math:`m^3` of :math:`M` (Hartley
    and Zisserman, Sec. 6.2.3, eq. 6.15): for :math:`P = K[R\,|\,t]` it is :math:`w` itself.
    Without the check, a point behind the camera would land on a pixel too, mirrored through
    the principal point.

    Examples
    --------
    >>> P = projection_matrix(intrinsic_matrix(100.0, 100.0, 50.0, 40.0), np.eye(3), [0, 0, 0])
    >>> project_points(P, [[0.0, 0.0, 5.0], [1.0, -0.5, 2.0]])
    array([[ 50.,  40.],
           [100.,  15.]])
    """
    func = "project_points"
    P = _as_matrix(P, (3, 4), name="P", func=func)
    M = P[:, :3]
    det = np.linalg.det(M)
    if abs(det) <= np.finfo(np.float64).eps * np.linalg.norm(M) ** 3:
        raise ValueError(f"{func}: P's left 3 x 3 block is singular (not a finite camera)")
    pts, single = _as_rows(points, 3, name="points", func=func)
    image = np.column_stack([pts, np.ones(len(pts))]) @ P.T
    depth = np.sign(det) * image[:, 2] / np.linalg.norm(M[2])
    pixels = _dehomogenize(image, depth, what="at or behind the camera", name="points", func=func)
    return pixels[0] if single else pixels


def ground_homography(K: Any, R: Any, t: Any) -> np.ndarray:
    r"""The homography ``H = K [r1 r2 t]`` from road points ``(X, Y)`` (``Z = 0``) to pixels.

    Parameters
    ----------
    K : array_like, shape (3, 3)
        Intrinsics.
    R : array_like, shape (3, 3)
        A rotation, world to camera; ``r1``, ``r2`` are its first two columns.
    t : array_like, shape (3,) or (3, 1)
        The translation, ``-R C``.

    Returns
    -------
    ndarray of float64, shape (3, 3)
        Not normalised: ``H @ (X, Y, 1)`` has the point's depth as its third coordinate,
        which :func:`ground_to_pixel` and :func:`pixel_to_ground` use to tell points in front
        of the camera from points behind it. Pass ``H`` as returned (a homography is defined
        up to scale, but a negative scale would swap front and back).

    Notes
    -----
    On the road :math:`Z = 0`, so the third column of :math:`[R\,|\,t]` multiplies zero:

    .. math:: \lambda (u, v, 1)^{\mathsf T} = K [r_1\ r_2\ r_3\ t]\,(X, Y, 0, 1)^{\mathsf T}
       = K [r_1\ r_2\ t]\,(X, Y, 1)^{\mathsf T} = H\,(X, Y, 1)^{\mathsf T}

    (Hartley and Zisserman, Sec. 8.1.1). :math:`\det [r_1\ r_2\ t] = t \cdot (r_1 \times
    r_2) = t \cdot r_3 = -C \cdot e_3 = -h`, so :math:`H` is invertible exactly when the
    camera is off the road.

    Examples
    --------
    >>> K = intrinsic_matrix(100.0, 100.0, 50.0, 40.0)
    >>> R, t = camera_pose(1.0, np.pi / 2)  # straight down from 1 m: the road is a plane at z = 1
    >>> H = ground_homography(K, R, t)
    >>> ground_to_pixel(H, [[0.0, 0.0], [0.5, 0.2]])  # u = 50 + 100 X, v = 40 - 100 Y
    array([[ 50.,  40.],
           [100.,  20.]])
    """
    func = "ground_homography"
    K = _as_intrinsics(K, func)
    R, t = _as_pose(R, t, func)
    return K @ np.column_stack([R[:, 0], R[:, 1], t])


def ground_to_pixel(H: Any, xy: Any) -> np.ndarray:
    r"""Road points ``(X, Y)`` on ``Z = 0`` to pixels through ``H`` of :func:`ground_homography`.

    Parameters
    ----------
    H : array_like, shape (3, 3)
        ``K [r1 r2 t]``, as :func:`ground_homography` returns it.
    xy : array_like, shape (n, 2) or (2,)
        Road points, one per row.

    Returns
    -------
    ndarray of float64, shape (n, 2) or (2,)
        Pixels ``(u, v)``.

    Raises
    ------
    ValueError
        For a road point at or behind the camera (depth <= 0).

    Notes
    -----
    :math:`(a, b, w)^{\mathsf T} = H (X, Y, 1)^{\mathsf T}`, :math:`(u, v) = (a/w, b/w)`;
    :math:`w` is the point's depth for :math:`H = K[r_1\ r_2\ t]`.

    Examples
    --------
    >>> K = intrinsic_matrix(100.0, 100.0, 50.0, 40.0)
    >>> H = ground_homography(K, *camera_pose(1.0, np.pi / 4))
    >>> ground_to_pixel(H, [0.0, 1.0]).round(6)  # on the optical axis: the principal point
    array([50., 40.])
    """
    func = "ground_to_pixel"
    H = _as_homography(H, func)
    pts, single = _as_rows(xy, 2, name="xy", func=func)
    image = np.column_stack([pts, np.ones(len(pts))]) @ H.T
    pixels = _dehomogenize(
        image, image[:, 2], what="a road point at or behind the camera", name="xy", func=func
    )
    return pixels[0] if single else pixels


def pixel_to_ground(H: Any, uv: Any) -> np.ndarray:
    r"""Pixels to the road points ``(X, Y)`` they show, through ``H^-1``.

    Parameters
    ----------
    H : array_like, shape (3, 3)
        ``K [r1 r2 t]``, as :func:`ground_homography` returns it.
    uv : array_like, shape (n, 2) or (2,)
        Pixels ``(u, v)``, one per row, below the horizon.

    Returns
    -------
    ndarray of float64, shape (n, 2) or (2,)
        Road points ``(X, Y)`` on ``Z = 0``.

    Raises
    ------
    ValueError
        For a pixel at or above the horizon: its ray never meets the road ahead (the plane
        equation has a solution only behind the camera, or at infinity on the horizon). The
        message names the first such row. Select pixels below the horizon first, e.g.
        ``v > cy - fy * tan(tilt)`` for the camera of :func:`camera_pose`.

    Notes
    -----
    :math:`H (X, Y, 1)^{\mathsf T} = w\,(u, v, 1)^{\mathsf T}` with depth :math:`w`, so
    :math:`H^{-1} (u, v, 1)^{\mathsf T} = (X, Y, 1)^{\mathsf T} / w`: the third coordinate
    :math:`q_3 = 1/w` is positive for a pixel below the horizon, zero on it and negative
    above. The horizon is the line :math:`l = H^{-\mathsf T} (0, 0, 1)^{\mathsf T}` (the third
    row of :math:`H^{-1}`), the image of the road's line at infinity (Hartley and Zisserman,
    Sec. 8.6.2). The inverse is applied with a linear solve, not an explicit inverse.

    Examples
    --------
    >>> K = intrinsic_matrix(100.0, 100.0, 50.0, 40.0)
    >>> H = ground_homography(K, *camera_pose(1.0, np.pi / 4))
    >>> pixel_to_ground(H, [[50.0, 40.0], [150.0, 40.0]]).round(6)  # the axis, 45 deg right
    array([[0.      , 1.      ],
           [1.414214, 1.      ]])
    """
    func = "pixel_to_ground"
    H = _as_homography(H, func)
    pix, single = _as_rows(uv, 2, name="uv", func=func)
    ground = np.linalg.solve(H, np.column_stack([pix, np.ones(len(pix))]).T).T
    above = ~(ground[:, 2] > 0)
    if above.any():
        row = int(np.flatnonzero(above)[0])
        raise ValueError(
            f"{func}: uv[{row}] = {pix[row].tolist()} is at or above the horizon; its ray "
            "does not meet the road ahead of the camera"
        )
    points = ground[:, :2] / ground[:, 2:3]
    return points[0] if single else points


def distance_from_box(box: Any, K: Any, height: float, tilt: float) -> float | np.ndarray:
    r"""Forward distance along the road to an object from the bottom edge of its box.

    Parameters
    ----------
    box : array_like, shape (4,) or (n, 4)
        Boxes ``(x1, y1, x2, y2)`` in pixels (xyxy, ``y2`` the bottom edge, where the object
        touches the road).
    K : array_like, shape (3, 3)
        Intrinsics; only ``fy = K[1, 1]`` and ``cy = K[1, 2]`` enter.
    height : float
        The camera's height above the road, > 0.
    tilt : float
        The camera's pitch below the horizontal in radians, in [0, pi/2].

    Returns
    -------
    float or ndarray of float64, shape (n,)
        The forward ground distance ``Y`` of the bottom edge (a float for one box). A bottom
        edge below the camera's foot (ray steeper than straight down) gives ``Y <= 0``.

    Raises
    ------
    ValueError
        For a bottom edge at or above the horizon row ``cy - fy tan(tilt)``: its ray does not
        meet the road ahead.

    Notes
    -----
    The ray through row :math:`v` leaves the camera at :math:`\alpha = \arctan((v - c_y) /
    f_y)` below the optical axis, so at :math:`\theta + \alpha` below the horizontal, and
    meets the road :math:`h` lower at the forward distance

    .. math:: Y = \frac{h}{\tan(\theta + \alpha)},\qquad \theta + \alpha \in (0, \pi/2].

    The row alone fixes :math:`Y` (the column gives :math:`X`); it is the :math:`Y` that
    :func:`pixel_to_ground` returns for any pixel of that row. Far ahead,
    :math:`\partial Y / \partial v \approx Y^2 / (f_y h)` per pixel and :math:`\partial Y /
    \partial \theta \approx -Y^2 / h`: errors grow with the square of the distance.

    Examples
    --------
    >>> K = intrinsic_matrix(100.0, 100.0, 50.0, 40.0)
    >>> round(distance_from_box([40.0, 10.0, 60.0, 40.0], K, 1.0, np.pi / 4), 12)  # on the axis
    1.0
    >>> distance_from_box([[40, 10, 60, 40], [0, 0, 10, 40 + 100 * np.tan(np.pi / 12)]], K,
    ...                   1.0, np.pi / 6).round(6)  # 30 and 45 degrees down
    array([1.732051, 1.      ])
    """
    func = "distance_from_box"
    boxes, single = _as_rows(box, 4, name="box", func=func)
    if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise ValueError(f"{func}: box must be xyxy with x2 >= x1 and y2 >= y1")
    K = _as_intrinsics(K, func)
    height, tilt = _check_height_tilt(height, tilt, func)
    fy, cy = K[1, 1], K[1, 2]
    angle = tilt + np.arctan((boxes[:, 3] - cy) / fy)
    if (angle <= 0).any():
        row = int(np.flatnonzero(angle <= 0)[0])
        raise ValueError(
            f"{func}: the bottom edge y2 = {boxes[row, 3]:.6g} of box[{row}] is at or above the "
            f"horizon row v = {cy - fy * math.tan(tilt):.6g}; it does not meet the road ahead"
        )
    distance = height / np.tan(angle)
    # At angle = pi/2 (straight down), tan is ~1.6e16, not inf: the distance is ~1e-17, 0.
    distance = np.where(np.isclose(angle, np.pi / 2, rtol=0, atol=1e-12), 0.0, distance)
    return float(distance[0]) if single else distance


# --------------------------------------------------------------------------------------------
# the real-time budget
# --------------------------------------------------------------------------------------------


def measure_fps(
    fn: Callable[..., Any],
    *args: Any,
    repeats: int = 10,
    warmup: int = 2,
    device: str = "cpu",
) -> dict[str, Any]:
    r"""Frames per second of ``fn(*args)``: the median of timed repeats after warm-up calls.

    Parameters
    ----------
    fn : callable
        One frame's work, called as ``fn(*args)`` (e.g. a model's forward pass at batch 1).
    *args
        Its arguments (e.g. the frame tensor).
    repeats : int, default 10
        Timed calls.
    warmup : int, default 2
        Untimed calls first (allocations, kernel selection, thread start-up).
    device : {"cpu", "cuda", "cuda:N"}, default "cpu"
        Where ``fn`` works; on CUDA each call is timed with CUDA events.

    Returns
    -------
    dict
        ``"fps"`` (1 / median seconds), ``"fps_best"`` (1 / fastest repeat),
        ``"median_s"``, ``"min_s"``, ``"max_s"``, ``"iqr_s"`` (seconds per frame),
        ``"repeats"``, ``"warmup"``, ``"device"``, ``"device_name"``, ``"method"``
        (``"perf_counter"`` or ``"cuda_event"``). A rate is ``inf`` if the clock did not tick.

    Raises
    ------
    ValueError
        For a non-callable ``fn``, bad ``repeats``/``warmup`` or an unknown device.
    RuntimeError
        For ``device="cuda"`` without CUDA.

    Notes
    -----
    Built on :func:`lapenna_labs.blas.time_callable` (warm-up, repeats, synchronised clocks).
    The median of the per-frame times :math:`t_i` gives :math:`\mathrm{fps} = 1 /
    \operatorname{median}_i t_i`; the median (not the mean) is robust to one preempted repeat.
    This is latency-bound throughput at batch 1, what a camera loop that handles one frame
    at a time gets.

    Examples
    --------
    >>> A = np.ones((100, 100))
    >>> result = measure_fps(np.matmul, A, A, repeats=3, warmup=1)
    >>> result["fps"] > 0, result["repeats"], result["method"]
    (True, 3, 'perf_counter')
    """
    from lapenna_labs.blas.devices import _parse_device
    from lapenna_labs.blas.timing import time_callable

    func = "measure_fps"
    if not callable(fn):
        raise ValueError(f"{func}: fn must be callable, got {type(fn).__name__}")
    repeats = check_positive_int(repeats, name="repeats", func=func)
    warmup = check_nonnegative_int(warmup, name="warmup", func=func)
    _parse_device(device, func)
    timing = time_callable(lambda: fn(*args), warmup=warmup, repeats=repeats, device=device)
    return {
        "fps": 1.0 / timing.median if timing.median > 0 else math.inf,
        "fps_best": 1.0 / timing.min if timing.min > 0 else math.inf,
        "median_s": timing.median,
        "min_s": timing.min,
        "max_s": timing.max,
        "iqr_s": timing.iqr,
        "repeats": len(timing.times),
        "warmup": timing.warmup,
        "device": timing.device,
        "device_name": timing.device_name,
        "method": timing.method,
    }


def predict_fps(
    flops: float, bytes: float, device_name: str, precision: str = "fp32"
) -> dict[str, Any]:
    r"""The roofline's bound on frames per second for one frame's work on an embedded GPU.

    Parameters
    ----------
    flops : float
        Floating-point operations per frame, > 0 (e.g. ``detector_cost(...)["flops"]``).
    bytes : float
        Bytes moved to and from memory per frame, > 0, at the chosen precision (halve a
        float32 count for float16 tensors).
    device_name : str
        A key of :data:`EMBEDDED_GPUS` (case-insensitive), e.g. ``"Jetson Orin Nano 8GB"``.
    precision : {"fp32", "fp16"}, default "fp32"
        Which peak rate applies.

    Returns
    -------
    dict
        ``"device"``, ``"precision"``, ``"flops"``, ``"bytes"``,
        ``"peak_flops"`` (flop/s), ``"bandwidth"`` (bytes/s),
        ``"compute_s"`` (flops / peak), ``"memory_s"`` (bytes / bandwidth),
        ``"seconds"`` (the larger), ``"fps"`` (1 / seconds, an upper bound),
        ``"bound"`` (``"compute"`` or ``"memory"``, the term that sets ``seconds``; a tie
        counts as compute), ``"intensity"`` (flops / bytes, flop/byte) and
        ``"ridge_point"`` (peak / bandwidth, flop/byte).

    Raises
    ------
    ValueError
        For an unknown device (the message lists the known ones), an unknown precision, a
        precision the device has no sourced figure for, or non-positive counts.

    Notes
    -----
    The roofline model (Williams, Waterman and Patterson [2]_): a kernel of arithmetic
    intensity :math:`I = F / B` runs at most at :math:`\min(\pi, \beta I)` flop/s for peak
    rate :math:`\pi` and bandwidth :math:`\beta`, so a frame takes at least

    .. math:: T = \max\left(\frac{F}{\pi}, \frac{B}{\beta}\right),\qquad
       \mathrm{fps} \le \frac{1}{T},

    memory-bound when :math:`I` is below the ridge point :math:`\pi / \beta`. It is a bound:
    kernel launches, the layers' own lower intensities and the clocks of a power mode make
    the measured rate lower.

    Examples
    --------
    >>> bound = predict_fps(2.0e9, 1.0e8, "Jetson Nano")
    >>> bound["bound"], round(bound["fps"], 1), round(bound["ridge_point"], 2)
    ('compute', 117.9, 9.21)
    """
    func = "predict_fps"
    flops = _positive_finite(flops, name="flops", func=func)
    nbytes = _positive_finite(bytes, name="bytes", func=func)
    by_lower = {name.lower(): name for name in EMBEDDED_GPUS}
    key = by_lower.get(device_name.strip().lower()) if isinstance(device_name, str) else None
    if key is None:
        known = ", ".join(repr(name) for name in EMBEDDED_GPUS)
        raise ValueError(f"{func}: unknown device {device_name!r}; known devices are {known}")
    precision = check_name(precision, PRECISIONS, what="precision", func=func)
    spec = EMBEDDED_GPUS[key]
    gflops = spec.get(f"{precision}_gflops")
    if gflops is None:
        raise ValueError(f"{func}: {key} has no sourced {precision} peak in EMBEDDED_GPUS")
    peak = gflops * 1e9
    bandwidth = spec["bandwidth_gbs"] * 1e9
    compute_s, memory_s = flops / peak, nbytes / bandwidth
    seconds = max(compute_s, memory_s)
    return {
        "device": key,
        "precision": precision,
        "flops": flops,
        "bytes": nbytes,
        "peak_flops": peak,
        "bandwidth": bandwidth,
        "compute_s": compute_s,
        "memory_s": memory_s,
        "seconds": seconds,
        "fps": 1.0 / seconds,
        "bound": "compute" if compute_s >= memory_s else "memory",
        "intensity": flops / nbytes,
        "ridge_point": peak / bandwidth,
    }
