"""Linear intensity scaling to [0, 1] and its exact inverse."""

from __future__ import annotations

import numpy as np

from harmbench.errors import DataError
from harmbench.volume import Volume


def minmax_params(data: np.ndarray, *, what: str = "image") -> tuple[float, float]:
    """(lo, hi) = (min, max) of the image; raises on a constant image."""
    lo, hi = float(np.min(data)), float(np.max(data))
    if not hi > lo:
        raise DataError(f"{what} is constant (all voxels = {lo:g}); cannot scale to [0, 1]")
    return lo, hi


def to_unit(vol: Volume, scale: tuple[float, float]) -> Volume:
    """``(x - lo) / (hi - lo)``."""
    lo, hi = scale
    return vol.with_data((vol.data - lo) / (hi - lo))


def from_unit(vol: Volume, scale: tuple[float, float]) -> Volume:
    """Inverse of :func:`to_unit`: back to the original intensity range."""
    lo, hi = scale
    return vol.with_data(vol.data * (hi - lo) + lo)
