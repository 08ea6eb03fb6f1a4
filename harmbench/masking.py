"""Foreground (head) masks shared by methods and metrics."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu


def head_mask(data: np.ndarray, *, fraction: float = 0.5) -> np.ndarray:
    """Boolean foreground mask of a 3-D image.

    Voxels above ``fraction`` x Otsu threshold, largest connected component, holes filled.
    Returns an all-False mask for a constant image.
    """
    a = np.asarray(data, dtype=np.float32)
    if not np.isfinite(a).all() or float(a.max()) <= float(a.min()):
        return np.zeros(a.shape, dtype=bool)
    thr = threshold_otsu(a) * fraction
    m = a > thr
    lab, n = ndimage.label(m)
    if n > 1:
        sizes = ndimage.sum_labels(m, lab, index=np.arange(1, n + 1))
        m = lab == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(m)
