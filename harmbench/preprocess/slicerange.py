"""The kept axial slice range: drop the top and bottom 10 % of the head, by position."""

from __future__ import annotations

import numpy as np

from harmbench.masking import head_mask
from harmbench.volume import Volume


def axial_slice_range(vol: Volume, *, drop: float = 0.10, mask: np.ndarray | None = None) -> tuple[int, int]:
    """Half-open voxel-index range along ``vol.axial_axis`` that keeps the central head slices.

    The slices containing head (``head_mask``) are ordered by their world S coordinate (not by
    storage order), the inferior and superior ``drop`` fractions are removed, and the remaining
    slices are returned as ``(start, stop)`` storage indices (contiguous, since storage index is
    monotone in position). Falls back to the whole axis for an empty image. ``mask`` may pass a
    precomputed head mask of ``vol``.
    """
    ax = vol.axial_axis
    n = vol.shape[ax]
    mask = head_mask(vol.data) if mask is None else np.asarray(mask, bool)
    other = tuple(a for a in range(3) if a != ax)
    occupied = np.flatnonzero(mask.any(axis=other))
    if occupied.size == 0:
        return 0, n
    z = vol.affine[2, ax] * occupied + vol.affine[2, 3]
    order = occupied[np.argsort(z, kind="stable")]
    k = int(np.floor(drop * order.size))
    kept = order[k: order.size - k] if order.size - 2 * k > 0 else order
    return int(kept.min()), int(kept.max()) + 1
