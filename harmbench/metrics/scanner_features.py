"""Per-case image features for the scanner classifier (the AUC itself: :mod:`scanner_classifier`).

The classifier asks whether a scanner is still recognisable after harmonization. It needs every
case of a run and test set, so the work is split: this metric emits, per (run, case), one feature
vector for BL and one for the scored image into ``results.csv``; the summary then trains and
cross-validates the classifier on them (:func:`harmbench.metrics.scanner_classifier.scanner_auc`),
so ``harmbench leaderboard DIR`` can re-render the AUC from ``results.csv`` alone.

Features (all from the same voxels in BL and the scored image, on the BL grid):

* preprocessing, identical for both images: a Gaussian filter of ``smooth_sigma`` voxels, then
  a scale that puts the region's median at 0.5 (``normalize="median"``). Every FU (and the
  same-scanner FU2) is registered and interpolated onto BL's grid while BL is not, and each image
  is scaled to [0, 1] on its own percentiles; without this step a linear model separates BL from
  the same-scanner FU2 on interpolation smoothness and percentile scale alone (AUC 1.0 on
  synth-quick, so the instrument had no floor). With σ = 2 voxels and the median scale, FU2's
  AUC falls to 0.57 (test A) / 0.62 (test B) with CIs that contain 0.5, while the original FU
  stays at 1.0 (docs/metrics.md);

* region: the brain, ``labels_bl > 0`` (the head mask of BL without a label map), minus every
  lesion (``lesion_bl`` ∪ ``lesion_fu`` and the FreeSurfer lesion labels 25/57), so that a lesion
  that changed between BL and FU cannot tell the sessions apart;
* ``hist-00`` … : fraction of region voxels in each of ``bins`` equal bins of [0, 1];
* ``q05``, ``q50``, ``q95``: intensity quantiles;
* ``glcm-contrast``, ``glcm-homogeneity``, ``glcm-energy``, ``glcm-correlation``: grey-level
  co-occurrence texture (scikit-image ``graycomatrix``, distance 1 voxel, 0° and 90°, symmetric)
  of ``slices`` axial slices evenly spaced through the kept slice range, intensities clipped to
  [0, 1] and quantized to ``levels`` grey levels inside the region only (pairs touching a voxel
  outside the region are dropped), averaged over slices and angles.

Rows: ``scanner-feature`` with region ``bl:<feature>`` or ``fu:<feature>``, and one
``scanner-subject`` row whose value is a 6-digit hash of the case's subject id (results.csv keeps
6 significant digits). The classifier groups its folds by that value; a hash collision can only
merge two subjects into one group, never split a subject across folds.
"""

from __future__ import annotations

import hashlib
import math
from typing import ClassVar

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import graycomatrix, graycoprops

from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.cnr import LESION_LABELS, region_mask
from harmbench.metrics.region import case_head_mask
from harmbench.metrics.shared import params_key
from harmbench.volume import require_same_grid

FEATURE = "scanner-feature"
SUBJECT = "scanner-subject"
GLCM_PROPS = ("contrast", "homogeneity", "energy", "correlation")
#: largest subject hash + 1; below 10**6 so that results.csv's 6 significant digits keep it exact
SUBJECT_HASH_MOD = 999_983
#: the intensity scales ``normalize`` accepts
NORMALIZE = frozenset({"median", "none"})
#: how harmbench.metrics.scanner_classifier turns the feature rows into an AUC (recorded in runs.json)
CLASSIFIER_POLICY = {"model": "StandardScaler + LogisticRegression(C=1, L2)", "folds": 5,
                     "grouping": "subject", "bootstrap": 1000, "ci": 0.95, "seed": 0}


def subject_code(subject: str) -> float:
    """Stable numeric id of a subject (same on every machine and run), exact in results.csv."""
    return float(int(hashlib.sha256(subject.encode()).hexdigest(), 16) % SUBJECT_HASH_MOD)


def analysis_mask(ctx: ScoringContext) -> np.ndarray:
    """The brain minus every lesion (module docstring); the same voxels serve BL and the scored image.

    Computed once per case and session (:mod:`harmbench.metrics.shared`); the array is read-only.
    """
    return ctx.shared.for_session("analysis-mask", lambda: _analysis_mask(ctx))


def _analysis_mask(ctx: ScoringContext) -> np.ndarray:
    mask = ctx.labels_bl > 0 if ctx.labels_bl is not None else case_head_mask(ctx).copy()
    for lesion in (ctx.lesion_bl, ctx.lesion_fu):
        if lesion is not None:
            mask &= lesion == 0
    for labels in (ctx.labels_bl, ctx.labels_fu):
        if labels is not None:
            mask &= ~region_mask(np.ascontiguousarray(labels), LESION_LABELS)
    return mask


class ScannerFeatures(Metric):
    """Feature vectors of BL and the scored image for the summary-time scanner classifier.

    Args:
        bins: histogram bins over [0, 1].
        levels: grey levels of the co-occurrence matrices.
        slices: axial slices used for texture.
        smooth_sigma: Gaussian filter width in voxels applied to both images first (0: none).
        normalize: ``"median"`` scales both images so that the region's median is 0.5;
            ``"none"`` keeps the prepared [0, 1] scale.
    """

    name = "scanner-features"
    kind = "downstream"
    description = "BL and scored-image features (histogram, quantiles, GLCM texture) for the scanner classifier"
    emits: ClassVar[dict[str, bool | None]] = {FEATURE: None, SUBJECT: None}

    def __init__(self, *, bins: int = 16, levels: int = 32, slices: int = 5, smooth_sigma: float = 2.0,
                 normalize: str = "median") -> None:
        if normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {sorted(NORMALIZE)}, got {normalize!r}")
        if not smooth_sigma >= 0:
            raise ValueError(f"smooth_sigma must be >= 0, got {smooth_sigma!r}")
        self.bins = bins
        self.levels = levels
        self.slices = slices
        self.smooth_sigma = float(smooth_sigma)
        self.normalize = normalize

    def policy(self) -> dict[str, object]:

        return {**super().policy(), "classifier": dict(CLASSIFIER_POLICY)}

    def preprocess(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``image`` smoothed and scaled as the module docstring says (a new float32 array)."""
        out = np.asarray(image, dtype=np.float32)
        if self.smooth_sigma > 0:
            out = ndi.gaussian_filter(out, self.smooth_sigma)
        if self.normalize == "median" and mask.any():
            median = float(np.median(out[mask]))
            if median > 0:
                out = out * np.float32(0.5 / median)
        return out

    def features(self, image: np.ndarray, mask: np.ndarray, axial_axis: int,
                 slice_range: tuple[int, int] | None) -> dict[str, float]:
        """``{feature name: value}`` of ``image`` inside ``mask`` (NaN everywhere for an empty mask)."""
        names = [f"hist-{i:02d}" for i in range(self.bins)] + ["q05", "q50", "q95"] + [f"glcm-{p}" for p in GLCM_PROPS]
        vox = image[mask].astype(np.float64)
        if vox.size == 0:
            return dict.fromkeys(names, math.nan)
        hist, _ = np.histogram(np.clip(vox, 0.0, 1.0), bins=self.bins, range=(0.0, 1.0))
        out = {n: float(h) / vox.size for n, h in zip(names, hist)}
        out.update(zip(("q05", "q50", "q95"), (float(q) for q in np.quantile(vox, [0.05, 0.5, 0.95]))))
        out.update(self._texture(np.moveaxis(image, axial_axis, 0), np.moveaxis(mask, axial_axis, 0), slice_range))
        return out

    def _texture(self, stack: np.ndarray, mask: np.ndarray, slice_range: tuple[int, int] | None) -> dict[str, float]:
        start, stop = slice_range if slice_range is not None else (0, stack.shape[0])
        filled = [k for k in range(start, stop) if mask[k].any()]
        if not filled:
            return {f"glcm-{p}": math.nan for p in GLCM_PROPS}
        picks = sorted({filled[int(i)] for i in np.linspace(0, len(filled) - 1, self.slices)})
        acc = {p: 0.0 for p in GLCM_PROPS}
        for k in picks:
            # level 0 marks voxels outside the region; its row and column are dropped below
            q = 1 + np.minimum((np.clip(stack[k], 0.0, 1.0) * self.levels).astype(np.int64), self.levels - 1)
            q[~mask[k]] = 0
            glcm = graycomatrix(q.astype(np.uint16), [1], [0.0, np.pi / 2], levels=self.levels + 1,
                                symmetric=True)[1:, 1:].astype(np.float64)
            glcm /= np.maximum(glcm.sum(axis=(0, 1), keepdims=True), 1.0)
            for p in GLCM_PROPS:
                acc[p] += float(np.nanmean(graycoprops(glcm, p)))
        return {f"glcm-{p}": v / len(picks) for p, v in acc.items()}

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        require_same_grid(ctx.fu, ctx.bl)
        mask = analysis_mask(ctx)
        out = [MetricValue(SUBJECT, "", subject_code(ctx.case.subject))]
        for session, vol in (("bl", ctx.bl), ("fu", ctx.fu)):
            def feats_of(v=vol) -> dict[str, float]:
                return self.features(self.preprocess(v.data, mask), mask, ctx.bl.axial_axis, ctx.slice_range)

            # BL's features depend on the case only: once per case
            feats = ctx.shared.for_session(("scanner-bl", params_key(self.policy())), feats_of) if session == "bl" \
                else feats_of()
            out += [MetricValue(FEATURE, f"{session}:{name}", value) for name, value in feats.items()]
        return out
