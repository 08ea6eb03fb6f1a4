"""NIfTI-style arrays <-> SimpleITK images, isotropic target grids and resampling.

nibabel arrays are indexed (i, j, k) with a RAS+ affine; SimpleITK images are LPS+ with
``GetArrayFromImage`` returning (k, j, i). These helpers hide both differences.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

_LPS = np.diag([-1.0, -1.0, 1.0])


def to_sitk(data: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """Wrap an (I, J, K) array with a RAS affine as a SimpleITK image (LPS geometry)."""
    img = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data).transpose(2, 1, 0)))
    m = _LPS @ np.asarray(affine, float)[:3, :3]
    spacing = np.linalg.norm(m, axis=0)
    img.SetSpacing([float(s) for s in spacing])
    img.SetDirection([float(v) for v in (m / spacing).ravel()])
    img.SetOrigin([float(v) for v in _LPS @ np.asarray(affine, float)[:3, 3]])
    return img


def from_sitk(img: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """(I, J, K) array and RAS affine of a SimpleITK image."""
    data = sitk.GetArrayFromImage(img).transpose(2, 1, 0)
    return np.ascontiguousarray(data), sitk_affine(img)


def sitk_affine(img: sitk.Image) -> np.ndarray:
    """RAS voxel -> world affine of a SimpleITK image's geometry."""
    d = np.array(img.GetDirection(), float).reshape(3, 3)
    aff = np.eye(4)
    aff[:3, :3] = _LPS @ d @ np.diag(img.GetSpacing())
    aff[:3, 3] = _LPS @ np.array(img.GetOrigin(), float)
    return aff


def isotropic_grid(shape: tuple[int, ...], affine: np.ndarray, spacing: float
                   ) -> tuple[tuple[int, int, int], np.ndarray]:
    """A grid with the same orientation and field of view but ``spacing`` mm isotropic voxels.

    The new grid covers the same physical box (voxel edges, not centres), so a 256 mm FOV at
    0.9 mm becomes 284 voxels at 0.9 mm or 256 at 1 mm.
    """
    affine = np.asarray(affine, float)
    vox = np.linalg.norm(affine[:3, :3], axis=0)
    extent = np.array(shape[:3], float) * vox
    new_shape = np.maximum(np.round(extent / spacing).astype(int), 1)
    dirs = affine[:3, :3] / vox
    corner = affine[:3, 3] - affine[:3, :3] @ np.full(3, 0.5)
    new = np.eye(4)
    new[:3, :3] = dirs * spacing
    new[:3, 3] = corner + new[:3, :3] @ np.full(3, 0.5)
    return tuple(int(s) for s in new_shape), new  # type: ignore[return-value]


def reference_image(shape: tuple[int, int, int], affine: np.ndarray) -> sitk.Image:
    """An empty SimpleITK image with the given grid (for ``sitk.Resample``)."""
    ref = sitk.Image([int(s) for s in shape], sitk.sitkUInt8)
    m = _LPS @ np.asarray(affine, float)[:3, :3]
    spacing = np.linalg.norm(m, axis=0)
    ref.SetSpacing([float(s) for s in spacing])
    ref.SetDirection([float(v) for v in (m / spacing).ravel()])
    ref.SetOrigin([float(v) for v in _LPS @ np.asarray(affine, float)[:3, 3]])
    return ref


def resample(data: np.ndarray, affine: np.ndarray, shape: tuple[int, int, int], target_affine: np.ndarray,
             *, transform: sitk.Transform | None = None, nearest: bool = False) -> np.ndarray:
    """Resample an image onto a target grid.

    Args:
        data: (I, J, K) source voxels.
        affine: source RAS affine.
        shape: target grid shape.
        target_affine: target RAS affine.
        transform: optional SimpleITK transform mapping target physical points to source physical
            points (what :func:`harmbench.preprocess.register.register_rigid` returns).
        nearest: nearest-neighbour (labels, masks) instead of linear interpolation.

    Returns:
        (shape) array: float32 for linear, the source dtype for nearest. Outside the source: 0.
    """
    src = to_sitk(data if nearest else np.asarray(data, np.float32), affine)
    interp = sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear
    out = sitk.Resample(src, reference_image(shape, target_affine),
                        transform if transform is not None else sitk.Transform(), interp, 0.0,
                        src.GetPixelID())
    return from_sitk(out)[0]
