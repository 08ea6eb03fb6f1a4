"""The fixed automated target-lesion segmenter used by the lesion and change-read metrics.

Algorithm (applied the same way to BL and to every FU being scored; all intensities prepared):

1. **Seed and ROI.** The seed is the ground-truth BL target-lesion mask (``ctx.lesion_bl``).
   The ROI is the seed's bounding box grown by ``max(margin_mm, 0.5 × largest seed extent)`` mm
   per axis, so a lesion that doubles in diameter still fits.
2. **References.** ``W`` = median intensity of white matter (labels 2/41) within ``wm_margin_mm``
   (20 mm) of the seed's bounding box, outside the seed grown by 2 voxels (fallback without labels:
   median of that shell). Local, so it follows the bias field; wide and a median, so hypointense
   oedema around the lesion does not drag it down. ``L`` = 90th
   percentile inside the seed (robust to ring enhancement and partial shrinkage).
3. **Threshold relative to WM.** Half-maximum ratio ``r = 1 + level · (L / W − 1)``
   (``level`` = 0.5), threshold ``T = r · W_image``. ``threshold="own"`` (default): each image uses
   its own L and W, so the mask follows the lesion's extent. ``threshold="bl"``: the BL ratio is
   applied to every image, so stronger FU contrast yields a larger lesion (reader-like). See
   docs/metrics.md for the calibration that chose the default.
4. **Region.** Voxels in the ROI above T; the 26-connected components that overlap the seed are
   kept and 3-D holes are filled (necrotic cores count as lesion).

An image whose lesion is not brighter than its WM (``L ≤ W``) gives an empty mask. Empty masks
are handled by the metrics (NaN, see docs/metrics.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

WM_LABELS = (2, 41)
MIN_OWN_CONTRAST = 0.25
_FULL = ndimage.generate_binary_structure(3, 3)


@dataclass(frozen=True)
class LesionSegmentation:
    """A segmented target lesion and the measurements taken on the way.

    Attributes:
        mask: boolean lesion mask on the full grid.
        wm: local white-matter reference intensity W.
        threshold: intensity threshold T used (NaN when the mask was supplied).
        enhancement: lesion-to-WM enhancement ratio = median intensity of the enhancing voxels
            (mask ∩ image > T; whole mask when supplied) / W. NaN if the mask is empty.
    """

    mask: np.ndarray
    wm: float
    threshold: float
    enhancement: float

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


class LesionSegmenter:
    """Seeded, WM-relative threshold segmenter (see module docstring).

    Args:
        level: fraction of the BL lesion-to-WM contrast at which the threshold sits (0.5 =
            half maximum).
        margin_mm: minimum ROI margin around the seed, mm.
        wm_labels: FreeSurfer labels used as the WM reference.
        percentile: percentile of seed intensities used as the lesion reference L.
        wm_margin_mm: margin around the seed box within which the WM reference is measured.
    """

    def __init__(self, *, level: float = 0.5, margin_mm: float = 10.0, wm_labels: tuple[int, ...] = WM_LABELS,
                 percentile: float = 90.0, wm_margin_mm: float = 20.0, threshold: str = "own") -> None:
        if threshold not in ("own", "bl"):
            raise ValueError(f"threshold must be 'own' or 'bl'; got {threshold!r}")
        self.threshold = threshold
        self.level = level
        self.margin_mm = margin_mm
        self.wm_labels = tuple(wm_labels)
        self.percentile = percentile
        self.wm_margin_mm = wm_margin_mm

    def _refs(self, image: np.ndarray, seed: np.ndarray, labels: np.ndarray | None,
              spacing: tuple[float, float, float]) -> tuple[float, float]:
        """(W, L): WM median around the seed and the seed's ``percentile`` intensity."""
        box = roi_box(seed, spacing, max(self.margin_mm, self.wm_margin_mm))
        img, sd = image[box], seed[box]
        shell = ~ndimage.binary_dilation(sd, iterations=2)
        wm = shell & np.isin(labels[box], self.wm_labels) if labels is not None else shell
        if int(wm.sum()) < 20:
            wm = shell
        w = float(np.median(img[wm])) if wm.any() else math.nan
        lesion = float(np.percentile(img[sd], self.percentile))
        return w, lesion

    def ratio(self, bl: np.ndarray, seed: np.ndarray, spacing: tuple[float, float, float],
              labels: np.ndarray | None) -> float:
        """Threshold ratio r = 1 + level · (L/W − 1) measured on the BL image (NaN if undefined)."""
        if not seed.any():
            return math.nan
        w, lesion = self._refs(bl, seed, labels, spacing)
        if not (w > 0) or not (lesion > w):
            return math.nan
        return 1.0 + self.level * (lesion / w - 1.0)

    def segment(self, image: np.ndarray, seed: np.ndarray, spacing: tuple[float, float, float],
                labels: np.ndarray | None, *, ratio: float) -> LesionSegmentation:
        """Segment the target lesion of ``image`` around ``seed`` with threshold ``ratio · W``.

        Args:
            image: (I, J, K) prepared intensities.
            seed: (I, J, K) boolean BL target-lesion mask (ground truth).
            spacing: voxel size in mm along the array axes.
            labels: FreeSurfer label map on the same grid, or None.
            ratio: threshold ratio from :meth:`ratio` on the BL image.
        """
        empty = np.zeros(image.shape, bool)
        if not seed.any() or not np.isfinite(ratio):
            return LesionSegmentation(empty, math.nan, math.nan, math.nan)
        w, _ = self._refs(image, seed, labels, spacing)
        if not (w > 0):
            return LesionSegmentation(empty, w, math.nan, math.nan)
        box = roi_box(seed, spacing, self.margin_mm)
        thr = ratio * w
        img = image[box]
        above = img > thr
        comp, n = ndimage.label(above, structure=_FULL)
        hit = np.unique(comp[seed[box] & above])
        hit = hit[hit > 0]
        if n == 0 or hit.size == 0:
            return LesionSegmentation(empty, w, thr, math.nan)
        region = ndimage.binary_fill_holes(np.isin(comp, hit))
        mask = empty
        mask[box] = region
        enh = float(np.median(img[region & above])) / w
        return LesionSegmentation(mask, w, thr, enh)

    def measure(self, image: np.ndarray, mask: np.ndarray, seed: np.ndarray,
                spacing: tuple[float, float, float], labels: np.ndarray | None) -> LesionSegmentation:
        """Wrap a supplied mask (``source="manifest"``) with its W and enhancement ratio."""
        mask = np.asarray(mask, bool)
        ref = seed if seed.any() else mask
        if not ref.any():
            return LesionSegmentation(mask, math.nan, math.nan, math.nan)
        w, _ = self._refs(image, ref, labels, spacing)
        enh = float(np.median(image[mask])) / w if mask.any() and w > 0 else math.nan
        return LesionSegmentation(mask, w, math.nan, enh)


def segment_pair(segmenter: LesionSegmenter, *, bl: np.ndarray, fu: np.ndarray, seed: np.ndarray | None,
                 spacing: tuple[float, float, float], labels_bl: np.ndarray | None,
                 labels_fu: np.ndarray | None) -> tuple[LesionSegmentation, LesionSegmentation]:
    """Segment the target lesion on BL and FU.

    ``segmenter.threshold == "own"``: each image gets its own half-maximum ratio (its own lesion
    and WM references inside the seed), so the segmentation follows the lesion's extent rather
    than its contrast. ``"bl"``: the BL ratio is applied to FU too, so a FU with stronger
    lesion-to-WM contrast segments larger (the contrast effect readers see).
    """
    if seed is None:
        seed = np.zeros(bl.shape, bool)
    seed = np.asarray(seed, bool)
    r = segmenter.ratio(bl, seed, spacing, labels_bl)
    lab_fu = labels_fu if labels_fu is not None else labels_bl
    r_fu = r
    if segmenter.threshold == "own":
        own = segmenter.ratio(fu, seed, spacing, lab_fu)
        # A lesion that lost (nearly) all enhancement has no half maximum of its own: a ratio near 1
        # would flood the WM. Below a quarter of BL's contrast the BL ratio is used, so an erased
        # lesion segments empty instead of huge.
        if np.isfinite(own) and np.isfinite(r) and (own - 1.0) >= MIN_OWN_CONTRAST * (r - 1.0):
            r_fu = own
    return (segmenter.segment(bl, seed, spacing, labels_bl, ratio=r),
            segmenter.segment(fu, seed, spacing, lab_fu, ratio=r_fu))
