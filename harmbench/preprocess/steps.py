"""The per-image steps of preparation, shared by ``prepare`` and ``harmbench harmonize``.

``prepare_manifest`` and the harmonization of raw files both call these functions with the same
:class:`~harmbench.preprocess.settings.PrepareSettings`, so a raw scan harmonized from the
command line is prepared bit for bit like the benchmark's data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from harmbench.masking import head_mask
from harmbench.preprocess.grid import isotropic_grid, resample
from harmbench.preprocess.intensity import apply_scale, scale_params
from harmbench.preprocess.register import register_rigid
from harmbench.preprocess.settings import PrepareSettings
from harmbench.volume import Volume


@dataclass(frozen=True, eq=False)
class TargetGrid:
    """An image resampled onto its prepared grid, with the head mask every session is scaled by.

    Attributes:
        shape, affine: the isotropic grid (``settings.spacing`` mm, the image's orientation and
            field of view).
        data: (shape) float32 intensities in the image's own units.
        head: (shape) boolean head mask of ``data``.
    """

    shape: tuple[int, int, int]
    affine: np.ndarray
    data: np.ndarray
    head: np.ndarray


def target_grid(vol: Volume, settings: PrepareSettings) -> TargetGrid:
    """Step 1: resample ``vol`` (BL, or FU without a BL) onto its isotropic prepared grid.

    ``settings.spacing`` None keeps the image's resolution: isotropic at its smallest voxel size.
    """
    spacing = min(vol.spacing) if settings.spacing is None else settings.spacing
    shape, affine = isotropic_grid(vol.shape, vol.affine, spacing)
    data = resample(vol.data, vol.affine, shape, affine)
    return TargetGrid(shape, affine, data, head_mask(data))


def align_to(grid: TargetGrid, vol: Volume, settings: PrepareSettings) -> tuple[np.ndarray, sitk.Transform]:
    """Step 2: register ``vol`` rigidly to ``grid`` and resample it once from its native grid.

    Returns the (grid.shape) float32 image and the transform (grid points -> ``vol`` points).
    """
    transform = register_rigid(grid.data, grid.affine, vol.data, vol.affine, fixed_mask=grid.head,
                               **settings.registration())
    return resample(vol.data, vol.affine, grid.shape, grid.affine, transform=transform), transform


def scale_to_unit(data: np.ndarray, head: np.ndarray, settings: PrepareSettings
                  ) -> tuple[np.ndarray, float, float]:
    """Step 3: ``(prepared, lo, hi)``, the image scaled to [0, 1] with the head mask's upper percentile."""
    lo, hi = scale_params(data, head, upper=settings.upper_percentile)
    return apply_scale(data, lo, hi), lo, hi
