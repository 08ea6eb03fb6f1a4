"""Geometry of the lesion forward model (:mod:`harmbench.metrics.lesion_model`): the blurred-ball
profile, the seed template's ray radii, and each voxel's distance and template radius."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.special import erf


def blurred_ball(r: np.ndarray, radius: np.ndarray | float, sigma: np.ndarray | float) -> np.ndarray:
    """Gaussian(σ mm)-blurred indicator of a ball of ``radius`` mm at centre distance ``r`` mm
    (arrays broadcast)."""
    r = np.maximum(r, 1e-3)
    a = (radius - r) / (math.sqrt(2.0) * sigma)
    b = (radius + r) / (math.sqrt(2.0) * sigma)
    tail = sigma / (r * math.sqrt(2.0 * math.pi)) * (np.exp(-a * a) - np.exp(-b * b))
    return np.clip(0.5 * (erf(a) + erf(b)) - tail, 0.0, 1.0)


def ray_grid(n_theta: int) -> tuple[np.ndarray, np.ndarray]:
    """The (n_theta, 2·n_theta) ray grid: polar angles θ at the cell centres and unit vectors u (3, …)."""
    th = (np.arange(n_theta) + 0.5) * math.pi / n_theta
    n_phi = 2 * n_theta
    T, P = np.meshgrid(th, np.arange(n_phi) * 2 * math.pi / n_phi, indexing="ij")
    return T, np.stack([np.sin(T) * np.cos(P), np.sin(T) * np.sin(P), np.cos(T)])


def ray_radii(seed: np.ndarray, centre: np.ndarray, spacing: np.ndarray, n_theta: int = 24,
              smooth_vox: float = 0.7) -> tuple[np.ndarray, float]:
    """Template radius (mm) on an (n_theta, 2·n_theta) ray grid from ``centre`` (voxel index),
    and the template's volume (mm³)."""
    field = ndimage.gaussian_filter(seed.astype(float), smooth_vox)
    n_phi = 2 * n_theta
    T, u = ray_grid(n_theta)
    step = 0.25
    t = np.arange(0.0, float(np.linalg.norm(np.array(seed.shape) * spacing)), step)
    t = t[:int(np.searchsorted(t, _reach(field, centre, spacing))) + 2]
    pts = centre[:, None, None, None] + u[..., None] * t / spacing[:, None, None, None]
    v = ndimage.map_coordinates(field, pts.reshape(3, -1), order=1, mode="constant").reshape(*T.shape, -1)
    above = v >= 0.5
    last = np.where(above.any(axis=2), above.shape[2] - 1 - np.argmax(above[..., ::-1], axis=2), 0)
    i0 = np.clip(last, 0, len(t) - 2)[..., None]
    a, b = np.take_along_axis(v, i0, 2)[..., 0], np.take_along_axis(v, i0 + 1, 2)[..., 0]
    radius = np.maximum(t[i0[..., 0]] + np.clip((a - 0.5) / np.maximum(a - b, 1e-9), 0, 1) * step, 0.25)
    weight = np.sin(T) * (math.pi / n_theta) * (2 * math.pi / n_phi)
    return radius, float((radius**3 / 3.0 * weight).sum())


def _reach(field: np.ndarray, centre: np.ndarray, spacing: np.ndarray) -> float:
    """Distance (mm) from ``centre`` beyond which no linear interpolation of ``field`` reaches 0.5.

    A sample interpolates (convex weights) the voxels within one index of it; outside the bounding
    box of the voxels above 0.25 grown by one voxel, all of those are ≤ 0.25. So the rays of
    :func:`ray_radii` cut two samples beyond this distance have the same last crossing and the same
    samples around it as uncut rays (the same radii, with fewer samples)."""
    near = np.nonzero(field > 0.25)
    if not near[0].size:
        return 0.0
    box = [(float(i.min()) - 1.0, float(i.max()) + 1.0) for i in near]
    corners = np.stack(np.meshgrid(*box, indexing="ij"), -1).reshape(-1, 3)
    return float(np.linalg.norm((corners - centre) * spacing, axis=1).max())


def voxel_geometry(radius: np.ndarray, shape: tuple[int, ...], centre: np.ndarray,
                   spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per voxel of ``shape``: distance (mm) from ``centre`` and the template radius on its ray."""
    return geometry_at(radius, np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij"),
                       centre, spacing)


def geometry_at(radius: np.ndarray, points: list[np.ndarray], centre: np.ndarray,
                spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`voxel_geometry` at the voxel indices ``points`` (one float array per axis). Every
    step is elementwise per voxel, so a subset of voxels gets the values of the whole grid."""
    n_theta, n_phi = radius.shape
    d = [(x - c) * s for x, c, s in zip(points, centre, spacing)]
    dist = np.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)
    theta = np.arccos(np.clip(d[2] / np.maximum(dist, 1e-9), -1.0, 1.0))
    phi = np.mod(np.arctan2(d[1], d[0]), 2 * math.pi)
    wrapped = np.concatenate([radius, radius[:, :1]], axis=1)
    coords = [np.clip(theta / (math.pi / n_theta) - 0.5, 0, n_theta - 1), phi / (2 * math.pi / n_phi)]
    return dist, ndimage.map_coordinates(wrapped, coords, order=1, mode="nearest")
