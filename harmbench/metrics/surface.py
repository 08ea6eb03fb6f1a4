"""Overlap and surface distances between two binary masks, in mm at any voxel spacing.

Definitions (A, B boolean masks on one grid; spacing = voxel size along the array axes):

* Surface voxels ∂A: voxels of A with at least one 6-neighbour outside A (the array border
  counts as outside).
* Directed distances d(A→B): for every voxel of ∂A, the Euclidean distance (mm) to the nearest
  voxel centre of ∂B (``scipy.ndimage.distance_transform_edt`` with ``sampling=spacing``).
* Dice = 2|A∩B| / (|A| + |B|).
* HD = max(max d(A→B), max d(B→A)).
* HD95 = max(P95 d(A→B), P95 d(B→A)) — the *maximum of the two directed 95th percentiles*
  (not the percentile of the pooled distances).
* Average HD = (mean d(A→B) + mean d(B→A)) / 2 — the *mean of the two directed mean surface
  distances* (average symmetric surface distance weighted per direction, not per voxel).

Empty masks: Dice is NaN if both are empty and 0 if exactly one is; every distance is NaN if
either mask is empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class SurfaceScores:
    """Dice (unitless) and HD, HD95, average HD (mm)."""

    dice: float
    hd: float
    hd95: float
    avg_hd: float


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """2|A∩B|/(|A|+|B|); NaN if both masks are empty."""
    na, nb = int(a.sum()), int(b.sum())
    if na + nb == 0:
        return math.nan
    return 2.0 * int(np.logical_and(a, b).sum()) / (na + nb)


def surface(mask: np.ndarray) -> np.ndarray:
    """Boolean surface voxels (6-connectivity; array border counts as outside)."""
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def directed_distances(a: np.ndarray, b: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Distances (mm) from each surface voxel of ``a`` to the nearest surface voxel of ``b``."""
    sa, sb = surface(a), surface(b)
    dist_to_b = ndimage.distance_transform_edt(~sb, sampling=spacing)
    return dist_to_b[sa]


def _crop_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop both masks to their joint bounding box plus one voxel (distances unchanged)."""
    both = a | b
    idx = np.nonzero(both)
    box = tuple(slice(max(int(i.min()) - 1, 0), int(i.max()) + 2) for i in idx)
    return a[box], b[box]


def surface_scores(a: np.ndarray, b: np.ndarray, spacing: tuple[float, ...]) -> SurfaceScores:
    """Dice and the three Hausdorff variants of masks ``a`` and ``b`` (see module docstring)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.shape != b.shape:
        from harmbench.errors import DataError

        raise DataError(f"mask shapes differ: {a.shape} vs {b.shape}")
    d = dice(a, b)
    if not a.any() or not b.any():
        return SurfaceScores(d, math.nan, math.nan, math.nan)
    # every surface voxel lies in the crop, so EDT distances are exact and far faster
    ca, cb = _crop_pair(a, b)
    ab = directed_distances(ca, cb, spacing)
    ba = directed_distances(cb, ca, spacing)
    return SurfaceScores(
        dice=d,
        hd=float(max(ab.max(), ba.max())),
        hd95=float(max(np.percentile(ab, 95), np.percentile(ba, 95))),
        avg_hd=float((ab.mean() + ba.mean()) / 2.0),
    )
