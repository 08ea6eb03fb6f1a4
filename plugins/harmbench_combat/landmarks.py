"""Per-image intensity landmarks and the monotone piecewise-linear map between two landmark sets."""

from __future__ import annotations

import numpy as np

from harmbench.errors import DataError
from harmbench.masking import head_mask

#: Default landmark percentiles (of the head foreground intensities).
DEFAULT_PERCENTILES: tuple[float, ...] = (1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0,
                                          90.0, 95.0, 99.0)


def foreground(data: np.ndarray, mask: str) -> np.ndarray:
    """Voxel values the landmarks are taken from: the head mask (``"head"``) or all voxels (``"none"``)."""
    if mask not in ("head", "none"):
        raise DataError(f"combat: mask must be 'head' or 'none'; got {mask!r}")
    a = np.asarray(data)
    if not np.isfinite(a).all():
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise DataError(f"combat: image has {bad} NaN/Inf voxels; expected finite intensities")
    if mask == "head":
        m = head_mask(a)
        if m.any():
            return a[m]
    return a.ravel()


def image_landmarks(data: np.ndarray, percentiles: np.ndarray, *, mask: str = "head") -> np.ndarray:
    """Intensity percentiles of one image.

    Args:
        data: 3-D image ([0, 1] prepared intensities).
        percentiles: (F,) increasing percentiles in [0, 100].
        mask: ``"head"`` (Otsu head foreground) or ``"none"``.

    Returns:
        (F,) float64 landmark intensities.
    """
    return np.percentile(foreground(data, mask), percentiles).astype(np.float64)


def piecewise_map(data: np.ndarray, src: np.ndarray, dst: np.ndarray, *,
                  anchor_zero: bool = True) -> np.ndarray:
    """Monotone piecewise-linear intensity map taking landmarks ``src`` onto ``dst``.

    ``dst`` is made non-decreasing (a ComBat-adjusted landmark set may cross by a hair) and
    ``src`` strictly increasing. Below the first landmark the map runs linearly to the anchor
    0 -> 0 (background stays background) when ``anchor_zero`` and the image is non-negative,
    otherwise it extrapolates with the first segment's slope; above the last landmark it
    extrapolates with the last segment's slope.

    Args:
        data: image array (any shape).
        src: (F,) landmarks of ``data``.
        dst: (F,) target landmarks.

    Returns:
        float32 array of ``data``'s shape.
    """
    s = np.asarray(src, dtype=np.float64) + np.arange(len(src)) * 1e-9
    s = np.maximum.accumulate(s)
    d = np.maximum.accumulate(np.asarray(dst, dtype=np.float64))
    if anchor_zero and s[0] > 0 and float(np.min(data)) >= 0 and d[0] > 0:
        s = np.concatenate([[0.0], s])
        d = np.concatenate([[0.0], d])
    x = np.asarray(data, dtype=np.float64)
    out = np.interp(x, s, d)
    lo, hi = x < s[0], x > s[-1]
    slope_lo = (d[1] - d[0]) / max(s[1] - s[0], 1e-12)
    slope_hi = (d[-1] - d[-2]) / max(s[-1] - s[-2], 1e-12)
    out[lo] = d[0] + (x[lo] - s[0]) * slope_lo
    out[hi] = d[-1] + (x[hi] - s[-1]) * slope_hi
    return out.astype(np.float32)
