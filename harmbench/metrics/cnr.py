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

Lesions and their oedema are kept out of every background (``exclude_lesions``, default on).
Vasogenic oedema around a metastasis keeps its white-matter label, in the synthetic cohort and in
many real label maps, yet it is hypointense on T1w: left in, it inflates the WM background SD (up
to +15 % in the synthetic cohort), and a FU lesion that grew would make part of |ΔCNR| real biology
rather than a scanner effect. The lesions are the union of the target-lesion masks (``lesion_bl`` ∪
``lesion_fu``) and the voxels labelled ``lesion_labels`` (FreeSurfer 25/57, Left-/Right-Lesion) or,
with ``new_lesions`` (default), a follow-up's new-lesion IDs (30001 + k) in ``labels_bl`` ∪
``labels_fu``: a lesion that appeared at FU is biology, not scanner contrast. Every voxel within d
mm of a connected lesion component is excluded, with d = ``oedema_margin_mm`` +
``oedema_radius_factor`` · r_eq and r_eq = (3V/4π)^(1/3) the equivalent-sphere radius of that component (V in mm³). The defaults (10 mm + 1.5 r_eq) cover the
synthetic oedema, which reaches 0.3-1.4 r + 2-10 mm beyond the lesion surface. One zone per case
serves BL and FU, so both images are measured on the same background voxels. ROIs keep their labels
(lesion voxels are already outside them: they carry the lesion labels). Without lesion masks or
lesion labels nothing is excluded.

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

import itertools
import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from harmbench.errors import DataError
from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.new_lesion import MAX_NEW_LESIONS, NEW_LESION_LABEL, OLD_LESION_LABELS
from harmbench.metrics.shared import params_key
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
#: FreeSurfer Left-/Right-Lesion; the synthetic cohort labels every pre-existing lesion (target or
#: not) with these; a follow-up's new lesions carry 30001 + k (:data:`NEW_LESION_IDS`)
LESION_LABELS = OLD_LESION_LABELS
NEW_LESION_IDS = tuple(range(NEW_LESION_LABEL, NEW_LESION_LABEL + MAX_NEW_LESIONS))


def region_mask(labels: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """Boolean mask of voxels whose label is in ``ids``."""
    return np.isin(labels, np.asarray(ids))


def lesion_zone(lesions: np.ndarray, spacing: tuple[float, ...], *, margin_mm: float = 10.0,
                radius_factor: float = 1.5) -> np.ndarray:
    """Voxels within d mm of a lesion, d = ``margin_mm`` + ``radius_factor`` · r_eq per component.

    Components are 26-connected (face, edge or corner neighbours); r_eq = (3V/4π)^(1/3) is the
    radius of the sphere with the component's volume V (mm³). Distances are Euclidean between
    voxel centres, in mm. Each component's distance transform runs only inside its bounding box
    grown by d, and components are found from the lesion voxels alone (no full-volume labelling),
    so beyond one pass over the mask the cost scales with the lesions' size, not the volume's.

    Args:
        lesions: boolean lesion mask, any shape (3-D in practice).
        spacing: voxel size in mm along each array axis.
        margin_mm: distance added to every component (mm).
        radius_factor: distance per mm of equivalent-sphere radius.

    Returns:
        Boolean mask of ``lesions.shape``; it contains the lesions themselves.
    """
    zone = np.zeros(lesions.shape, bool)
    sp = np.asarray(spacing, float)
    for flat in _components(lesions):
        coords = np.unravel_index(flat, lesions.shape)
        d = margin_mm + radius_factor * (3.0 * flat.size * float(sp.prod()) / (4.0 * math.pi)) ** (1.0 / 3.0)
        grow = np.floor(d / sp).astype(int)
        start = [max(int(c.min()) - g, 0) for c, g in zip(coords, grow)]
        stop = [min(int(c.max()) + 1 + g, size) for c, g, size in zip(coords, grow, lesions.shape)]
        outside = np.ones([b - a for a, b in zip(start, stop)], bool)
        outside[tuple(c - a for c, a in zip(coords, start))] = False
        box = tuple(slice(a, b) for a, b in zip(start, stop))
        zone[box] |= ndimage.distance_transform_edt(outside, sampling=sp) <= d
    return zone


def _components(mask: np.ndarray) -> list[np.ndarray]:
    """Flat (C-order) indices of each 26-connected component of a sparse boolean ``mask``.

    A graph over the mask's voxels only: labelling the whole 1e6-voxel volume would cost more than
    the distance transforms that follow.
    """
    flat = np.flatnonzero(mask)
    if flat.size == 0:
        return []
    coords = np.stack(np.unravel_index(flat, mask.shape), axis=1)
    strides = np.array([math.prod(mask.shape[a + 1:]) for a in range(mask.ndim)])
    rows, cols = [], []
    for step in itertools.product((-1, 0, 1), repeat=mask.ndim):
        if not any(step) or next(x for x in step if x) < 0:     # each neighbour pair once
            continue
        nb = coords + np.asarray(step)
        inside = np.flatnonzero(((nb >= 0) & (nb < mask.shape)).all(axis=1))
        nb_flat = nb[inside] @ strides
        pos = np.minimum(np.searchsorted(flat, nb_flat), flat.size - 1)
        hit = flat[pos] == nb_flat
        rows.append(inside[hit])
        cols.append(pos[hit])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = sparse.coo_matrix((np.ones(r.size, bool), (r, c)), shape=(flat.size, flat.size))
    _, comp = csgraph.connected_components(graph, directed=False)
    order = np.argsort(comp, kind="stable")
    return np.split(flat[order], np.flatnonzero(np.diff(comp[order])) + 1)


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

    Lesions and the oedema around them are removed from every background (module docstring):
    oedema keeps its white-matter label in the synthetic cohort and in many real label maps, and
    would inflate the WM background SD. The zone is built once per case from ``lesion_bl`` ∪
    ``lesion_fu`` ∪ the ``lesion_labels`` voxels of ``labels_bl`` ∪ ``labels_fu`` and applied to
    both images. Without lesion masks or lesion labels nothing is excluded.

    Args:
        background: label IDs of the default background tissue.
        wm_background: label IDs of the background used when the ROI overlaps ``background``
            (i.e. for cerebral WM itself). Cortex parcels 1000-1035/2000-2035 are added
            automatically when the label map uses aparc+aseg codes.
        erode: background erosion in voxels (6-connectivity) before the ROI is removed.
        min_voxels: smallest usable background.
        regions: region name -> label IDs (default :data:`REGIONS`).
        exclude_lesions: remove lesions and their oedema zone from the backgrounds.
        lesion_labels: label IDs that mark lesions in the label maps (default 25/57).
        new_lesions: also exclude the follow-ups' new lesions (labels 30001 + k,
            :data:`~harmbench.metrics.new_lesion.NEW_LESION_LABEL`) and their zone.
        oedema_margin_mm: zone distance added to every lesion component (mm).
        oedema_radius_factor: zone distance per mm of the component's equivalent-sphere radius.
    """

    name = "cnr"
    kind = "cnr"
    higher_is_better = False
    description = "regional CNR = (mean ROI - mean background)/SD(background); |CNR_BL - CNR_FU|"
    emits: ClassVar[dict[str, bool | None]] = {"cnr-diff": False, "cnr-fu": None, "cnr-contrast-shift": None,
                                                "cnr-noise-shift": None, "cnr-noise-ratio": None}

    def __init__(self, *, background: tuple[int, ...] = WM_LABELS, wm_background: tuple[int, ...] = CORTEX_LABELS,
                 erode: int = 1, min_voxels: int = 20, regions: Mapping[str, tuple[int, ...]] | None = None,
                 exclude_lesions: bool = True, lesion_labels: tuple[int, ...] = LESION_LABELS,
                 new_lesions: bool = True, oedema_margin_mm: float = 10.0,
                 oedema_radius_factor: float = 1.5) -> None:
        self.background = tuple(background)
        self.wm_background = tuple(wm_background)
        self.erode = erode
        self.min_voxels = min_voxels
        self.regions = dict(REGIONS if regions is None else regions)
        self.exclude_lesions = exclude_lesions
        self.lesion_labels = tuple(lesion_labels)
        self.new_lesions = bool(new_lesions)
        self.oedema_margin_mm = oedema_margin_mm
        self.oedema_radius_factor = oedema_radius_factor

    def _background_ids(self, ids: tuple[int, ...]) -> tuple[int, ...]:
        if not set(ids) & set(self.background):
            return self.background
        if self.wm_background == CORTEX_LABELS:
            return CORTEX_LABELS + CORTEX_PARCELS
        return self.wm_background

    def exclusion_zone(self, ctx: ScoringContext, labels: list[np.ndarray]) -> np.ndarray | None:
        """The case's lesion-and-oedema zone (:func:`lesion_zone`), or None when it is empty.

        Args:
            ctx: the case; its ``lesion_bl``/``lesion_fu`` masks (BL grid) are used when present.
            labels: the label maps in use (BL's and FU's); their ``lesion_labels`` voxels are lesions.
        """
        lesions = np.zeros(ctx.bl.shape, bool)
        for what, mask in (("BL", ctx.lesion_bl), ("FU", ctx.lesion_fu)):
            if mask is None:
                continue
            if mask.shape != lesions.shape:
                raise DataError(f"{what} lesion mask has shape {mask.shape}; BL image has {lesions.shape}")
            lesions |= mask != 0
        ids = self.lesion_labels + (NEW_LESION_IDS if self.new_lesions else ())
        if ids:
            for lab in {id(lab): lab for lab in labels}.values():     # FU may reuse BL's map
                lesions |= region_mask(np.ascontiguousarray(lab), ids)
        if not lesions.any():
            return None
        return lesion_zone(lesions, ctx.bl.spacing, margin_mm=self.oedema_margin_mm,
                           radius_factor=self.oedema_radius_factor)

    def region_cnrs(self, image: np.ndarray, labels: np.ndarray, *,
                    exclude: np.ndarray | None = None) -> dict[str, float]:
        """CNR of every configured region in ``image`` with the label map ``labels``.

        ``exclude`` (boolean, image shape) is removed from every background, as in
        :meth:`region_parts`.
        """
        return {r: c / sd for r, (c, sd) in self.region_parts(image, labels, exclude=exclude).items()}

    def region_parts(self, image: np.ndarray, labels: np.ndarray, *,
                     exclude: np.ndarray | None = None) -> dict[str, tuple[float, float]]:
        """(contrast, background SD) of every configured region (:func:`cnr_parts`).

        Args:
            image: the prepared image.
            labels: its label map (same shape).
            exclude: voxels removed from every background after erosion (e.g. the
                :meth:`exclusion_zone`); None removes nothing.
        """
        masks = self.region_masks(labels, exclude=exclude)
        return {r: (math.nan, math.nan) if m is None else cnr_parts(image, m[0], m[1], min_voxels=self.min_voxels)
                for r, m in masks.items()}

    def region_masks(self, labels: np.ndarray, *, exclude: np.ndarray | None = None
                     ) -> dict[str, tuple[np.ndarray, np.ndarray] | None]:
        """(ROI, background) masks of every configured region (None where the ROI is absent).

        They depend on the label map (and ``exclude``) only, not on the image: :meth:`region_parts`
        without the image.
        """
        # NIfTI arrays are often Fortran-ordered; np.isin would copy them to C order on every call
        labels = np.ascontiguousarray(labels)
        eroded: dict[tuple[int, ...], np.ndarray] = {}
        out: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
        for region, ids in self.regions.items():
            roi = region_mask(labels, ids)
            if not roi.any():
                out[region] = None
                continue
            bg_ids = self._background_ids(ids)
            if bg_ids not in eroded:
                bg = region_mask(labels, bg_ids)
                bg = ndimage.binary_erosion(bg, iterations=self.erode) if self.erode > 0 else bg
                eroded[bg_ids] = bg & ~exclude if exclude is not None else bg
            out[region] = (roi, eroded[bg_ids] & ~_grow(roi, self.erode))
        return out

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        require_same_grid(ctx.fu, ctx.bl)
        lab_bl = ctx.labels_bl
        lab_fu = ctx.labels_fu if ctx.labels_fu is not None else lab_bl
        if lab_bl is None or lab_fu is None:
            return [MetricValue(m, r, math.nan) for r in self.regions for m in self.emits]
        # one zone for both images, so BL and FU are measured on the same background voxels; the
        # zone, the backgrounds and BL's parts depend on the case and session only: once per both
        key = params_key(self.policy())
        zone = ctx.shared.for_session(("cnr-zone", key), lambda: self.exclusion_zone(
            ctx, [lab_bl, lab_fu])) if self.exclude_lesions else None
        p_bl = ctx.shared.for_session(("cnr-bl", key), lambda: self.region_parts(ctx.bl.data, lab_bl, exclude=zone))
        # = region_parts(fu, lab_fu): the masks depend on the label map only
        masks = ctx.shared.for_session(("cnr-fu-masks", key), lambda: self.region_masks(lab_fu, exclude=zone))
        p_fu = {r: (math.nan, math.nan) if m is None else cnr_parts(ctx.fu.data, m[0], m[1],
                                                                   min_voxels=self.min_voxels)
                for r, m in masks.items()}
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
