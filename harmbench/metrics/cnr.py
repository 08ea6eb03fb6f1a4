"""Regional contrast-to-noise ratio (paper Table 4) and its BL/FU difference.

CNR(region) = (mean ROI − mean background) / SD(background), on the prepared images, with ROI
and background taken from the case's FreeSurfer label map (left and right merged).

Default background (configurable): **cerebral white matter** (labels 2/41) eroded by one voxel
(6-connectivity) to keep partial-volume edge voxels out of the noise estimate, minus the ROI and
minus the dilated ROI edge. Cerebral WM is the largest homogeneous tissue of a T1w brain, so its
mean is a stable reference and its SD captures noise plus residual bias field — the two things a
scanner change alters. For the cerebral-WM region itself the background is the cerebral cortex
(3/42), eroded the same way. The air outside the head is *not* used: after preparation it is
often zero-filled or skull-stripped, so its SD is not noise.

Regions whose labels are absent, or whose background has fewer than ``min_voxels`` voxels or
zero SD, give NaN (reported, dropped pair-wise by the statistics).

Because CNR is a ratio, a difference can come from the contrast (numerator) or from the noise
(denominator). The metric therefore also splits the signed difference into two additive parts,
CNR_FU − CNR_BL = ``cnr-contrast-shift`` + ``cnr-noise-shift``:

* contrast shift = (contrast_FU − contrast_BL) / SD_BL, the change the contrast alone causes;
* noise shift = contrast_FU · (1/SD_FU − 1/SD_BL), the rest, caused by the background SD;

and reports ``cnr-noise-ratio`` = SD_FU / SD_BL. A harmonizer that fixes the contrast but smooths
away noise (noise ratio below the original FU's) moves CNR *away* from BL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from scipy import ndimage

from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.volume import require_same_grid

#: Table-4 regions -> FreeSurfer label IDs (left + right merged; REFERENCE.md §2).
REGIONS: dict[str, tuple[int, ...]] = {
    "amygdala": (18, 54),
    "brainstem": (16,),
    "caudate": (11, 50),
    "cerebellum-wm": (7, 46),
    "cerebellum-gm": (8, 47),
    "cerebral-wm": (2, 41),
    "insula": (1035, 2035),
    "pallidum": (13, 52),
    "putamen": (12, 51),
    "thalamus": (10, 49),
}
WM_LABELS = (2, 41)
CORTEX_LABELS = (3, 42)
#: aparc+aseg codes cortex per parcel (1000-1035 left, 2000-2035 right) instead of 3/42
CORTEX_PARCELS = tuple(range(1000, 1036)) + tuple(range(2000, 2036))


def region_mask(labels: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """Boolean mask of voxels whose label is in ``ids``."""
    return np.isin(labels, np.asarray(ids))


def cnr_parts(image: np.ndarray, roi: np.ndarray, background: np.ndarray, *,
              min_voxels: int = 20) -> tuple[float, float]:
    """(contrast, noise) = (mean image[roi] − mean image[background], SD(image[background])).

    Population SD. Both NaN when either mask is empty, the background has fewer than
    ``min_voxels`` voxels or the background SD is zero.
    """
    if not roi.any() or int(background.sum()) < min_voxels:
        return math.nan, math.nan
    bg = image[background].astype(np.float64)
    sd = float(bg.std())
    if not np.isfinite(sd) or sd == 0.0:
        return math.nan, math.nan
    return float(image[roi].astype(np.float64).mean()) - float(bg.mean()), sd


def cnr(image: np.ndarray, roi: np.ndarray, background: np.ndarray, *, min_voxels: int = 20) -> float:
    """(mean image[roi] − mean image[background]) / SD(image[background]); NaN as in :func:`cnr_parts`."""
    contrast, sd = cnr_parts(image, roi, background, min_voxels=min_voxels)
    return contrast / sd


class RegionalCnr(Metric):
    """|CNR_BL − CNR_FU| for the ten Table-4 regions (lower is better).

    Emits per region (``region`` = one of :data:`REGIONS`): ``cnr-diff`` = |CNR(BL, labels_bl) −
    CNR(FU, labels_fu)|, ``cnr-fu`` = CNR of the scored image (signed, for plots), the signed
    ``cnr-contrast-shift`` and ``cnr-noise-shift`` (they add up to CNR_FU − CNR_BL; module
    docstring) and ``cnr-noise-ratio`` = background SD(FU) / background SD(BL).
    ``labels_fu`` falls back to ``labels_bl`` (FU is registered to BL). Without any label map all
    values are NaN.

    Args:
        background: label IDs of the default background tissue.
        wm_background: label IDs of the background used when the ROI overlaps ``background``
            (i.e. for cerebral WM itself). Cortex parcels 1000-1035/2000-2035 are added
            automatically when the label map uses aparc+aseg codes.
        erode: background erosion in voxels (6-connectivity) before the ROI is removed.
        min_voxels: smallest usable background.
        regions: region name -> label IDs (default :data:`REGIONS`).
    """

    name = "cnr"
    kind = "cnr"
    higher_is_better = False
    description = "regional CNR = (mean ROI - mean background)/SD(background); |CNR_BL - CNR_FU|"
    emits: ClassVar[dict[str, bool | None]] = {"cnr-diff": False, "cnr-fu": None, "cnr-contrast-shift": None,
                                                "cnr-noise-shift": None, "cnr-noise-ratio": None}

    def __init__(self, *, background: tuple[int, ...] = WM_LABELS, wm_background: tuple[int, ...] = CORTEX_LABELS,
                 erode: int = 1, min_voxels: int = 20, regions: Mapping[str, tuple[int, ...]] | None = None) -> None:
        self.background = tuple(background)
        self.wm_background = tuple(wm_background)
        self.erode = erode
        self.min_voxels = min_voxels
        self.regions = dict(REGIONS if regions is None else regions)

    def _background_ids(self, ids: tuple[int, ...]) -> tuple[int, ...]:
        if not set(ids) & set(self.background):
            return self.background
        if self.wm_background == CORTEX_LABELS:
            return CORTEX_LABELS + CORTEX_PARCELS
        return self.wm_background

    def region_cnrs(self, image: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """CNR of every configured region in ``image`` with the label map ``labels``."""
        return {r: c / sd for r, (c, sd) in self.region_parts(image, labels).items()}

    def region_parts(self, image: np.ndarray, labels: np.ndarray) -> dict[str, tuple[float, float]]:
        """(contrast, background SD) of every configured region (:func:`cnr_parts`)."""
        # NIfTI arrays are often Fortran-ordered; np.isin would copy them to C order on every call
        labels = np.ascontiguousarray(labels)
        eroded: dict[tuple[int, ...], np.ndarray] = {}
        out = {}
        for region, ids in self.regions.items():
            roi = region_mask(labels, ids)
            if not roi.any():
                out[region] = (math.nan, math.nan)
                continue
            bg_ids = self._background_ids(ids)
            if bg_ids not in eroded:
                bg = region_mask(labels, bg_ids)
                eroded[bg_ids] = ndimage.binary_erosion(bg, iterations=self.erode) if self.erode > 0 else bg
            bg = eroded[bg_ids] & ~_grow(roi, self.erode)
            out[region] = cnr_parts(image, roi, bg, min_voxels=self.min_voxels)
        return out

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        require_same_grid(ctx.fu, ctx.bl)
        lab_bl = ctx.labels_bl
        lab_fu = ctx.labels_fu if ctx.labels_fu is not None else lab_bl
        if lab_bl is None or lab_fu is None:
            return [MetricValue(m, r, math.nan) for r in self.regions for m in self.emits]
        p_bl = self.region_parts(ctx.bl.data, lab_bl)
        p_fu = self.region_parts(ctx.fu.data, lab_fu)
        out = []
        for r in self.regions:
            (c_bl, sd_bl), (c_fu, sd_fu) = p_bl[r], p_fu[r]
            out.append(MetricValue("cnr-diff", r, abs(c_bl / sd_bl - c_fu / sd_fu)))
            out.append(MetricValue("cnr-fu", r, c_fu / sd_fu))
            out.append(MetricValue("cnr-contrast-shift", r, (c_fu - c_bl) / sd_bl))
            out.append(MetricValue("cnr-noise-shift", r, c_fu / sd_fu - c_fu / sd_bl))
            out.append(MetricValue("cnr-noise-ratio", r, sd_fu / sd_bl))
        return out


def _grow(mask: np.ndarray, voxels: int) -> np.ndarray:
    """Binary dilation by ``voxels`` (6-connectivity), computed inside the mask's bounding box."""
    if voxels <= 0:
        return mask
    spans = []
    for axis in range(mask.ndim):        # bounding box from per-axis projections (no index arrays)
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        spans.append(slice(max(int(hit[0]) - voxels, 0), int(hit[-1]) + 1 + voxels))
    box = tuple(spans)
    out = np.zeros_like(mask)
    out[box] = ndimage.binary_dilation(mask[box], iterations=voxels)
    return out
