"""Linear intensity scaling to [0, 1] with stored, invertible parameters.

``prepared = clip((raw - lo) / (hi - lo), 0, 1)`` with ``lo`` = image minimum and ``hi`` = the
99.9th percentile of the head-mask voxels. The paper scales by min/max; the robust upper bound
keeps a handful of hot voxels (vessels, fat, noise spikes) from compressing the brain's range
differently in every scan. Inverse: ``raw = lo + prepared * (hi - lo)`` (exact except for the
clipped top 0.1 % of head voxels).

This is the only intensity scaling in harmbench: ``prepare`` applies it to the benchmark's data,
``harmbench harmonize`` to raw files (with a model's recorded settings), and both map results
into the BL scanner's units with the BL image's ``(lo, hi)``.
"""

from __future__ import annotations

import numpy as np

from harmbench.masking import head_mask

UPPER_PERCENTILE = 99.9


def scale_params(data: np.ndarray, mask: np.ndarray | None = None, *,
                 upper: float = UPPER_PERCENTILE) -> tuple[float, float]:
    """``(lo, hi)`` of one image: its minimum and the 99.9th percentile inside the head.

    Args:
        data: (I, J, K) raw intensities.
        mask: boolean head region; default :func:`harmbench.masking.head_mask` of ``data``.
        upper: the percentile taken as ``hi`` (a model's recorded setting; default 99.9).
    """
    a = np.asarray(data, np.float32)
    lo = float(a.min())
    mask = head_mask(a) if mask is None else np.asarray(mask, bool)
    vals = a[mask] if mask.any() else a.ravel()
    hi = float(np.percentile(vals, upper))
    if not hi > lo:
        hi = float(a.max()) if float(a.max()) > lo else lo + 1.0
    return lo, hi


def apply_scale(data: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map raw intensities to [0, 1] (float32, clipped)."""
    out = (np.asarray(data, np.float32) - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(out, 0.0, 1.0, out=out)


def invert_scale(data: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Back from [0, 1] to the raw intensity range (float32)."""
    return (np.asarray(data, np.float32) * np.float32(hi - lo) + np.float32(lo)).astype(np.float32)
