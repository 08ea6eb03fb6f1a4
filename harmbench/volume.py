"""The in-memory image type: a float32 3-D array in voxel order plus its 4x4 affine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import numpy as np

from harmbench.errors import DataError
from harmbench.typing import Affine, FloatArray


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D scalar image.

    Attributes:
        data: float32 array of shape (I, J, K) in voxel (nibabel) order.
        affine: 4x4 voxel-to-world (RAS+, mm) matrix.
        meta: free-form metadata (e.g. ``{"scanner": "siemens-mprage"}``); copied, never shared.
    """

    data: FloatArray
    affine: Affine
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 3:
            raise DataError(f"volume must be 3-D; got shape {data.shape}")
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4):
            raise DataError(f"affine must be 4x4; got shape {affine.shape}")
        object.__setattr__(self, "data", data.astype(np.float32, copy=False))
        object.__setattr__(self, "affine", affine)
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along the three array axes (column norms of the affine)."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def orientation(self) -> tuple[str, str, str]:
        """Axis codes, e.g. ``('R', 'A', 'S')``."""
        return tuple(nib.aff2axcodes(self.affine))  # type: ignore[return-value]

    @property
    def axial_axis(self) -> int:
        """Array axis that runs (mostly) inferior-superior, found from the affine."""
        codes = self.orientation
        for i, c in enumerate(codes):
            if c in ("S", "I"):
                return i
        raise DataError(f"cannot find an axial axis in orientation {codes}")

    def with_data(self, data: np.ndarray, **meta: Any) -> Volume:
        """A new volume with the same affine/metadata and new voxel values of equal shape."""
        data = np.asarray(data)
        if data.shape != self.data.shape:
            raise DataError(f"new data has shape {data.shape}; volume has {self.data.shape}")
        return Volume(data, self.affine.copy(), {**self.meta, **meta})

    def copy(self) -> Volume:
        return Volume(self.data.copy(), self.affine.copy(), dict(self.meta))

    def same_grid(self, other: Volume, *, atol: float = 1e-3) -> bool:
        """True when shape and affine agree (within ``atol`` mm)."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=atol))


def count_nonfinite(data: np.ndarray) -> int:
    """Number of NaN/Inf entries of ``data``."""
    return int(np.size(data) - np.count_nonzero(np.isfinite(data)))


def require_same_grid(a: Volume, b: Volume, what_a: str = "FU", what_b: str = "BL") -> None:
    """Raise a one-line ``DataError`` unless ``a`` and ``b`` share shape and affine."""
    if a.shape != b.shape:
        raise DataError(f"{what_a} image has shape {a.shape}; {what_b} has {b.shape}")
    if not np.allclose(a.affine, b.affine, atol=1e-3):
        raise DataError(
            f"{what_a} and {what_b} affines differ (max |diff| "
            f"{np.abs(a.affine - b.affine).max():.3g} mm); register {what_a} to {what_b} first"
        )
