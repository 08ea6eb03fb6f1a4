"""The fixed automated target-lesion segmenter used by the lesion and change-read metrics.

Algorithm (version 2; applied the same way to BL and to every FU being scored, each image with
its own references; all intensities prepared):

1. **Seed and ROI.** The seed is the ground-truth BL target-lesion mask (``ctx.lesion_bl``); it
   only *localises* the lesion. The ROI is the seed's bounding box grown by
   ``max(margin_mm, 0.5 × largest seed extent)`` mm per axis.
2. **Finer grid.** The ROI is resampled ``upsample``-fold per axis (trilinear), so the threshold
   crossing of a blurred edge is placed to a fraction of a voxel; a 10 mm lesion at 2 mm voxels
   has most of its voxels on the boundary, where whole-voxel counting errs by tens of per cent.
3. **Half maximum against the lesion's own surroundings.** Plateau ``P`` = ``percentile``
   (85th) of the image inside the seed; background ``B`` = median of a shell 2–6 mm outside the
   current segmentation (the tissue the lesion borders: mostly vasogenic oedema, which is darker
   than white matter); threshold ``T = (B + P) / 2``, the crossing of a symmetric blurred edge.
   Three iterations (segmentation → shell → B → T). A white-matter reference (as in version 1)
   put T far above the half maximum wherever oedema surrounds the lesion and measured 11 mm
   lesions at a quarter of their volume.
4. **Region.** Voxels above T inside the *allowed zone* (the seed grown by
   ``grow_mm + grow_fraction × r_eq`` mm, r_eq the seed's equivalent-sphere radius; room for the
   ±60 % volume changes of the cohorts and residual misregistration), 26-connected to the seed;
   holes are filled in 3-D and slice by slice along each axis (necrotic cores of ring-enhancing
   lesions count as lesion, also where blur opens the ring). The zone bounds the region where a
   lesion is barely brighter than the white matter it touches (no visible border there).
5. **Outputs.** Volume (mm³) from the fine grid; the mask on the image grid (fine mask
   block-averaged, ≥ 0.5) for Dice and surface distances; ``enhancement`` = median of the
   enhancing voxels (mask ∩ image > T) over the local white-matter median ``W`` (labels 2/41
   within ``wm_margin_mm`` of the seed; the contrast a reader perceives).

Accuracy on synth-quick ground truth (54 cases, docs/metrics.md): median |BL volume error| 6.7 %
(version 1: 25 %+ with losses of whole lesions); 6/54 BL volumes are outside ±15 % and 5/54
same-scanner ΔV/V errors exceed 0.10. Its weak spot is lesions only 2–3 noise SDs brighter than
the WM and oedema they border (the benchmark's ``boundary_cnr``): the noise-high P85 plateau
puts the threshold above the half maximum of a solid lesion (too small), and the oedema is as
bright as the blurred rim of a small ring lesion (runs out to the allowed zone). The leaderboard's instrument table measures
it on every dataset with lesion masks.

An image whose plateau does not exceed the background shell's median by ``min_contrast`` robust
SDs (an erased lesion), or with no voxel above T connected to the seed, gives an empty mask
(volume 0).

The default since session 21 is :class:`ModelFitSegmenter` (:func:`default_segmenter`), which
fits a local forward model instead (:mod:`harmbench.metrics.lesion_model`: the seed's shape scaled
about its centre, solid or ring, blurred, on tissue-wise background; volume from the fitted model),
with BL anchored to the seed's volume. Version 2 below was the default until session 19; all three
(version 2, the free fit, the anchored fit) are measured in one run by
``benchmarks/bench_lesion.py`` (docs/metrics.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from harmbench.metrics.lesion_model import SurfaceModel, fit_lesion_model

WM_LABELS = (2, 41)
_FULL = ndimage.generate_binary_structure(3, 3)
VERSION = 2
#: 3: an anchored fit whose centre search keeps the seed's centre reports the levels at that
#: centre (2 reported them at the search's last trial centre)
MODEL_FIT_VERSION = 3
#: core fractions and blurs (mm) the default model fit tries (docs/metrics.md)
ANCHOR_CORES = (0.0, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80)
ANCHOR_BLURS = tuple(round(0.5 + 0.1 * i, 1) for i in range(13))


@dataclass(frozen=True)
class LesionSegmentation:
    """A segmented target lesion and the measurements taken on the way.

    Attributes:
        mask: boolean lesion mask on the image grid.
        wm: local white-matter reference intensity W (NaN if unknown).
        threshold: intensity threshold T used (NaN when the mask was supplied).
        enhancement: lesion-to-WM enhancement ratio = median intensity of the enhancing voxels
            (mask ∩ image > T; whole mask when supplied) / W. NaN if the mask is empty.
        volume_mm3: lesion volume in mm³ (the fitted model's; the mask's volume when supplied).
        core: fitted necrotic-core fraction (0 = solid; NaN when not fitted).
        surface: the fitted lesion surface (model fit only; None otherwise).
    """

    mask: np.ndarray
    wm: float
    threshold: float
    enhancement: float
    volume_mm3: float = math.nan
    core: float = math.nan
    surface: SurfaceModel | None = None

    @property
    def empty(self) -> bool:
        return not bool(self.mask.any())


def roi_box(seed: np.ndarray, spacing: tuple[float, float, float], margin_mm: float) -> tuple[slice, ...]:
    """Seed bounding box grown by ``max(margin_mm, half the largest seed extent)`` mm per axis."""
    idx = np.nonzero(seed)
    extent = max((int(i.max()) - int(i.min()) + 1) * s for i, s in zip(idx, spacing))
    grow_mm = max(margin_mm, 0.5 * extent)
    box = []
    for i, s, n in zip(idx, spacing, seed.shape):
        g = math.ceil(grow_mm / s)
        box.append(slice(max(int(i.min()) - g, 0), min(int(i.max()) + 1 + g, n)))
    return tuple(box)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """3-D hole filling, then 2-D hole filling of every slice along each axis (union).

    The slices along one axis are filled in one call, with a structuring element that connects
    voxels only within a slice (the 2-D cross, no neighbours along the axis): each slice is then
    filled on its own, exactly as a loop over the slices would fill it.
    """
    out = ndimage.binary_fill_holes(mask)
    for axis in range(mask.ndim):
        out = out | ndimage.binary_fill_holes(out, structure=_in_plane(mask.ndim, axis))
    return out


def _in_plane(ndim: int, axis: int) -> np.ndarray:
    """Structuring element of ``ndim`` dimensions: the (ndim-1)-D cross in the slices across ``axis``."""
    st = np.zeros((3,) * ndim, bool)
    index: list[slice | int] = [slice(None)] * ndim
    index[axis] = 1
    st[tuple(index)] = ndimage.generate_binary_structure(ndim - 1, 1)
    return st


def _zoom(a: np.ndarray, k: int, order: int) -> np.ndarray:
    if k == 1:
        return a
    return ndimage.zoom(a, k, order=order, mode="nearest", grid_mode=True)


class _SeedReference:
    """The local WM reference and the supplied-mask path shared by every segmenter version."""

    margin_mm: float
    wm_labels: tuple[int, ...]
    wm_margin_mm: float

    def wm_reference(self, image: np.ndarray, seed: np.ndarray, labels: np.ndarray | None,
                     spacing: tuple[float, float, float]) -> float:
        """Median WM intensity near the seed, outside the seed grown by 2 voxels (NaN if none)."""
        box = roi_box(seed, spacing, max(self.margin_mm, self.wm_margin_mm))
        img, sd = image[box], seed[box]
        shell = ~ndimage.binary_dilation(sd, iterations=2)
        wm = shell & np.isin(labels[box], self.wm_labels) if labels is not None else shell
        if int(wm.sum()) < 20:
            wm = shell
        return float(np.median(img[wm])) if wm.any() else math.nan

    def segment_reference(self, image: np.ndarray, seed: np.ndarray, spacing: tuple[float, float, float],
                          labels: np.ndarray | None = None) -> LesionSegmentation:
        """The reference session (BL) whose contour ``seed`` is; segmented like any image here."""
        return self.segment(image, seed, spacing, labels)  # type: ignore[attr-defined]

    def measure(self, image: np.ndarray, mask: np.ndarray, seed: np.ndarray,
                spacing: tuple[float, float, float], labels: np.ndarray | None) -> LesionSegmentation:
        """Wrap a supplied mask (``source="manifest"``) with its W, enhancement ratio and volume."""
        mask = np.asarray(mask, bool)
        volume = float(mask.sum()) * float(np.prod(spacing))
        ref = seed if seed.any() else mask
        if not ref.any():
            return LesionSegmentation(mask, math.nan, math.nan, math.nan, volume)
        w = self.wm_reference(image, ref, labels, spacing)
        enh = float(np.median(image[mask])) / w if mask.any() and w > 0 else math.nan
        return LesionSegmentation(mask, w, math.nan, enh, volume)


class LesionSegmenter(_SeedReference):
    """Version 2 (not the default; see :func:`default_segmenter`): seeded half-maximum segmenter on a finer grid.

    Plateau P = ``percentile`` of the image in the seed; background B = median of a shell
    ``shell_mm`` outside the current segmentation; T = (B + P)/2, three iterations; voxels above T
    in the allowed zone (seed grown by ``grow_mm + grow_fraction × r_eq``), 26-connected to the
    seed, holes filled; volume counted on the ``upsample``-fold grid.

    Args:
        margin_mm: minimum ROI margin around the seed, mm.
        percentile: percentile of seed intensities used as the lesion plateau P.
        upsample: fine-grid factor per axis.
        shell_mm: (inner, outer) distance (mm) of the background shell outside the segmentation.
        grow_mm, grow_fraction: the allowed zone is the seed grown by
            ``grow_mm + grow_fraction × r_eq`` mm.
        iterations: segmentation → background → threshold iterations.
        min_contrast: the plateau must exceed the background by this many robust SDs (MAD) of
            the background shell, else the lesion is not visible and the mask is empty.
        wm_labels: FreeSurfer labels used as the WM reference of the enhancement ratio.
        wm_margin_mm: margin around the seed box within which W is measured.
    """

    def __init__(self, *, margin_mm: float = 10.0, percentile: float = 85.0, upsample: int = 2,
                 shell_mm: tuple[float, float] = (2.0, 6.0), grow_mm: float = 2.0, grow_fraction: float = 0.2,
                 iterations: int = 3, min_contrast: float = 1.0, wm_labels: tuple[int, ...] = WM_LABELS,
                 wm_margin_mm: float = 20.0) -> None:
        if upsample < 1:
            raise ValueError(f"upsample must be >= 1; got {upsample}")
        self.margin_mm = margin_mm
        self.percentile = percentile
        self.upsample = int(upsample)
        self.shell_mm = tuple(shell_mm)
        self.grow_mm = grow_mm
        self.grow_fraction = grow_fraction
        self.iterations = int(iterations)
        self.min_contrast = float(min_contrast)
        self.wm_labels = tuple(wm_labels)
        self.wm_margin_mm = wm_margin_mm

    def policy(self) -> dict[str, object]:
        """The parameters that define the segmentation (part of the metrics' cache keys)."""
        return {"version": VERSION, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}

    def segment(self, image: np.ndarray, seed: np.ndarray, spacing: tuple[float, float, float],
                labels: np.ndarray | None = None) -> LesionSegmentation:
        """Segment the target lesion of ``image`` around ``seed``.

        Args:
            image: (I, J, K) prepared intensities.
            seed: (I, J, K) boolean BL target-lesion mask (ground truth; localisation only).
            spacing: voxel size in mm along the array axes.
            labels: FreeSurfer label map on the same grid (WM reference), or None.
        """
        empty = np.zeros(image.shape, bool)
        seed = np.asarray(seed, bool)
        if not seed.any():
            return LesionSegmentation(empty, math.nan, math.nan, math.nan, math.nan)
        k = self.upsample
        box = roi_box(seed, spacing, self.margin_mm)
        img = np.asarray(image[box], np.float64)
        sd = seed[box]
        fine = _zoom(img, k, 1)
        fseed = _zoom(sd.astype(np.float32), k, 0) > 0.5
        fine_spacing = [s / k for s in spacing]
        voxel = float(np.prod(spacing))
        plateau = float(np.percentile(img[sd], self.percentile))
        r_eq = (3.0 * float(sd.sum()) * voxel / (4.0 * math.pi)) ** (1.0 / 3.0)
        allowed = ndimage.distance_transform_edt(~fseed, sampling=fine_spacing) <= (
            self.grow_mm + self.grow_fraction * r_eq)
        mask, thr = fseed, math.nan
        for _ in range(self.iterations):
            dist = ndimage.distance_transform_edt(~mask, sampling=fine_spacing)
            shell = (dist > self.shell_mm[0]) & (dist <= self.shell_mm[1])
            if not shell.any():
                break
            ring = fine[shell]
            background = float(np.median(ring))
            spread = 1.4826 * float(np.median(np.abs(ring - background)))
            if plateau - background <= self.min_contrast * spread:   # no lesion stands out here
                mask = np.zeros_like(fseed)
                break
            thr = 0.5 * (background + plateau)
            above = (fine > thr) & allowed
            comp, n = ndimage.label(above, structure=_FULL)
            hit = np.unique(comp[fseed & above])
            hit = hit[hit > 0]
            if n == 0 or hit.size == 0:
                mask = np.zeros_like(fseed)
                break
            mask = fill_holes(np.isin(comp, hit))
        w = self.wm_reference(image, seed, labels, spacing)
        if not mask.any():
            return LesionSegmentation(empty, w, thr, math.nan, 0.0)
        volume = float(mask.sum()) * voxel / k**3
        coarse = mask if k == 1 else mask.reshape(img.shape[0], k, img.shape[1], k, img.shape[2], k).mean(
            axis=(1, 3, 5)) >= 0.5
        out = empty.copy()
        out[box] = coarse
        enhancing = fine[mask & (fine > thr)]
        enh = float(np.median(enhancing)) / w if enhancing.size and w > 0 else math.nan
        return LesionSegmentation(out, w, thr, enh, volume)


class ModelFitSegmenter(_SeedReference):
    """The default: local forward-model fit of a blurred solid-or-ring lesion (module docstring).

    With ``anchor`` (default), the reference session (BL, :meth:`segment_reference`) is not
    measured from its image: its volume is the seed's (the reference contour's voxel volume) and
    its fit only *calibrates* the lesion's structure, the necrotic-core fraction and the blur, with
    the outer surface where the contour puts it. A follow-up is then fitted with that core
    fraction and its own scale and blur. Why: at 2 mm voxels the rim of a small ring lesion is as
    thin as the point-spread function, and its level, thickness and outer edge trade off in the
    image (docs/metrics.md); the contour fixes the edge, and the rim's centre line, which the image
    does determine, then gives the core fraction. Without ``anchor`` every image is fitted freely
    (the BL volume is measured; the FU reuses BL's fitted core).

    Args:
        margin_mm: minimum margin (mm) of the box in which the WM reference W is measured.
        cores: necrotic-core fractions tried on the reference (0 = solid).
        blurs_mm: Gaussian PSF σ values (mm) tried per image (every image has been resampled
            differently); without ``anchor`` the first one is used to pick the core.
        scales: range of the template scale s (the cohorts change volume by up to ±60 %).
        n_scales: grid points over ``scales``.
        band_mm, band_fraction: fit region = template grown by ``band_mm + band_fraction × r_eq``.
        min_contrast: the fitted lesion level must exceed the background level by this many
            residual SDs, else the lesion is not visible and the mask is empty.
        anchor: take the reference session's volume from the seed and calibrate core and blur
            on it (above).
        wm_labels: FreeSurfer labels used as the WM reference of the enhancement ratio.
        wm_margin_mm: margin around the seed box within which W is measured.
    """

    def __init__(self, *, margin_mm: float = 10.0, cores: tuple[float, ...] = ANCHOR_CORES,
                 blurs_mm: tuple[float, ...] = ANCHOR_BLURS, scales: tuple[float, float] = (0.6, 1.6),
                 n_scales: int = 41, band_mm: float = 4.0, band_fraction: float = 0.2, min_contrast: float = 1.0,
                 anchor: bool = True, wm_labels: tuple[int, ...] = WM_LABELS, wm_margin_mm: float = 20.0) -> None:
        if not blurs_mm or min(blurs_mm) <= 0:
            raise ValueError(f"blurs_mm must be positive values; got {blurs_mm}")
        if not 0 < scales[0] < 1 < scales[1]:
            raise ValueError(f"scales must bracket 1 as (low < 1 < high); got {scales}")
        self.margin_mm = margin_mm
        self.cores = tuple(float(c) for c in cores)
        self.blurs_mm = tuple(float(b) for b in blurs_mm)
        self.scales = (float(scales[0]), float(scales[1]))
        self.n_scales = int(n_scales)
        self.band_mm = band_mm
        self.band_fraction = band_fraction
        self.min_contrast = float(min_contrast)
        self.anchor = bool(anchor)
        self.wm_labels = tuple(wm_labels)
        self.wm_margin_mm = wm_margin_mm

    def policy(self) -> dict[str, object]:
        """The parameters that define the segmentation."""
        return {"model_fit_version": MODEL_FIT_VERSION,
                **{k: v for k, v in vars(self).items() if not k.startswith("_")}}

    def segment(self, image: np.ndarray, seed: np.ndarray, spacing: tuple[float, float, float],
                labels: np.ndarray | None = None, core: float | None = None) -> LesionSegmentation:
        """Segment the target lesion of ``image`` around ``seed`` (a follow-up; scale measured).

        Args:
            image: (I, J, K) prepared intensities.
            seed: (I, J, K) boolean BL target-lesion mask (shape and centre only).
            spacing: voxel size in mm along the array axes.
            labels: FreeSurfer label map on the same grid (tissue-wise background, WM reference),
                or None.
            core: necrotic-core fraction to use (e.g. the reference's, :func:`segment_pair`); None
                searches ``cores``.
        """
        return self._fit(image, seed, spacing, labels, self.cores if core is None else (float(core),), None)

    def segment_reference(self, image: np.ndarray, seed: np.ndarray, spacing: tuple[float, float, float],
                          labels: np.ndarray | None = None) -> LesionSegmentation:
        """The reference session (BL) whose contour ``seed`` is: anchored to the seed's volume
        when ``anchor`` (class docstring), else :meth:`segment`."""
        seed = np.asarray(seed, bool)
        if not self.anchor or not seed.any():
            return self.segment(image, seed, spacing, labels)
        return self._fit(image, seed, spacing, labels, self.cores, float(seed.sum()) * float(np.prod(spacing)))

    def _fit(self, image: np.ndarray, seed: np.ndarray, spacing: tuple[float, float, float],
             labels: np.ndarray | None, cores: tuple[float, ...], anchor_mm3: float | None) -> LesionSegmentation:
        empty = np.zeros(image.shape, bool)
        seed = np.asarray(seed, bool)
        if not seed.any():
            return LesionSegmentation(empty, math.nan, math.nan, math.nan, math.nan)
        fit = fit_lesion_model(np.asarray(image, np.float64), seed, spacing, labels, cores=cores,
                               blurs_mm=self.blurs_mm, scales=self.scales, n_scales=self.n_scales,
                               band_mm=self.band_mm, band_fraction=self.band_fraction, anchor_mm3=anchor_mm3)
        w = self.wm_reference(image, seed, labels, spacing)
        contrast = fit.lesion_level - fit.background_level
        thr = 0.5 * (fit.lesion_level + fit.background_level)
        if not contrast > max(self.min_contrast * fit.noise, 1e-6) or not fit.mask.any():
            return LesionSegmentation(empty, w, thr, math.nan, 0.0, fit.core)
        enhancing = np.asarray(image)[fit.mask & (np.asarray(image) > thr)]
        enh = float(np.median(enhancing)) / w if enhancing.size and w > 0 else math.nan
        return LesionSegmentation(fit.mask, w, thr, enh, fit.volume_mm3, fit.core, fit.surface)


Segmenter = LesionSegmenter | ModelFitSegmenter


def default_segmenter(margin_mm: float = 10.0) -> Segmenter:
    """The fixed segmenter the lesion and change-read metrics use: the model fit, BL anchored to its
    contour (since session 21).

    Measured on synth-quick generator 3 (docs/metrics.md): same-scanner FU2 ΔV/V beyond 0.10 in
    2/54 cases (0/18 test cases) against the free fit's 2/54 (1/18) and version 2's 8/54 (3/18);
    FU2 volume beyond ±15 % in 2/54 against 10/54 and 16/54.
    """
    return ModelFitSegmenter(margin_mm=margin_mm)


def segment_pair(segmenter: Segmenter, *, bl: np.ndarray, fu: np.ndarray, seed: np.ndarray | None,
                 spacing: tuple[float, float, float], labels_bl: np.ndarray | None,
                 labels_fu: np.ndarray | None,
                 bl_segmentation: LesionSegmentation | None = None) -> tuple[LesionSegmentation, LesionSegmentation]:
    """Segment the target lesion on BL and on FU, each with its own levels.

    The model-fit candidate fits the core fraction on BL and reuses it on FU (the BL prior); the
    default half-maximum segmenter segments the two independently. ``bl_segmentation``: BL's
    segmentation by this ``segmenter`` with these ``seed``/``labels_bl`` when already computed.
    """
    if seed is None:
        seed = np.zeros(bl.shape, bool)
    seed = np.asarray(seed, bool)
    lab_fu = labels_fu if labels_fu is not None else labels_bl
    first = segmenter.segment_reference(bl, seed, spacing, labels_bl) if bl_segmentation is None else bl_segmentation
    if isinstance(segmenter, ModelFitSegmenter) and math.isfinite(first.core):
        return first, segmenter.segment(fu, seed, spacing, lab_fu, core=first.core)
    return first, segmenter.segment(fu, seed, spacing, lab_fu)
