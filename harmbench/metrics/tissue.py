"""Tissue and structure volumes of BL and the scored image from one fixed segmenter.

Segmenter (:func:`segment_tissues`), applied identically and independently to BL, the original FU
and every harmonized FU, all on the BL grid:

* region: the brain minus every lesion (:func:`harmbench.metrics.scanner_features.analysis_mask`),
  the same voxels for both images, so only the tissue classes can differ;
* a 3-class 1-D Gaussian mixture (scikit-learn ``GaussianMixture``, full variance, means
  initialised at the 20th/50th/80th intensity percentiles, ``random_state`` 0) is fitted on a fixed
  random subsample of ``sample`` region voxels (the same voxel positions in both images) and then
  labels every region voxel; classes are ordered by mean intensity: CSF < GM < WM (T1w);
* structures: the label map's structures (:data:`STRUCTURES`); a structure's volume is the volume
  of its voxels that the segmenter gives the structure's expected tissue class (e.g. putamen →
  GM), so it moves when the image's contrast moves and not when only the label map would.

Per region (``csf``, ``gm``, ``wm`` and each structure present) the metric emits
``tissue-volume-diff`` = 100 · |V − V_BL| / V_BL (%), ``tissue-dice`` = Dice of the region's voxels
between the two segmentations, and the volumes ``tissue-volume`` / ``tissue-volume-bl`` (mL),
from which the summary computes the ICC across cases (:mod:`harmbench.leaderboard.downstream`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from sklearn.mixture import GaussianMixture

from harmbench.metrics.base import Metric, MetricValue, ScoringContext
from harmbench.metrics.cnr import CORTEX_PARCELS, region_mask
from harmbench.metrics.scanner_features import analysis_mask
from harmbench.metrics.shared import params_key
from harmbench.volume import require_same_grid

TISSUES = ("csf", "gm", "wm")
#: structure -> (FreeSurfer label IDs, expected tissue class)
STRUCTURES: dict[str, tuple[tuple[int, ...], str]] = {
    "cerebral-cortex": ((3, 42) + CORTEX_PARCELS, "gm"),
    "cerebral-wm": ((2, 41), "wm"),
    "cerebellum-gm": ((8, 47), "gm"),
    "cerebellum-wm": ((7, 46), "wm"),
    "thalamus": ((10, 49), "gm"),
    "caudate": ((11, 50), "gm"),
    "putamen": ((12, 51), "gm"),
    "lateral-ventricles": ((4, 43), "csf"),
}


def segment_tissues(image: np.ndarray, mask: np.ndarray, *, sample: int = 5000, seed: int = 0) -> np.ndarray:
    """Tissue class per voxel: 0 outside ``mask``, 1 CSF, 2 GM, 3 WM (module docstring).

    Args:
        image: 3-D intensities ([0, 1] after preparation).
        mask: boolean region to segment, ``image.shape``.
        sample: voxels the mixture is fitted on (all when the region is smaller).
        seed: seed of the subsample and the mixture.

    Returns:
        uint8 array of ``image.shape``; all 0 when the region has fewer than 3 distinct values.
    """
    out = np.zeros(image.shape, np.uint8)
    out[mask] = tissue_classes(image[mask], sample=sample, seed=seed)
    return out


def tissue_classes(vox: np.ndarray, *, sample: int = 5000, seed: int = 0) -> np.ndarray:
    """:func:`segment_tissues` of the region's voxel values ``vox`` (1-D): classes 1-3, or 0s."""
    vox = np.asarray(vox, np.float64)
    if np.unique(vox[: 10 * sample]).size < 3:
        return np.zeros(vox.shape, np.uint8)
    rng = np.random.default_rng(seed)
    fit = vox[rng.choice(vox.size, sample, replace=False)] if vox.size > sample else vox
    # means_init fixes the start; "random_from_data" only avoids a k-means run whose result it replaces
    gmm = GaussianMixture(3, covariance_type="full", random_state=seed, init_params="random_from_data",
                          means_init=np.percentile(fit, [20, 50, 80]).reshape(-1, 1)).fit(fit.reshape(-1, 1))
    rank = np.empty(3, np.uint8)
    rank[np.argsort(gmm.means_.ravel())] = np.arange(1, 4, dtype=np.uint8)
    return rank[gmm.predict(vox.reshape(-1, 1))]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """2|A∩B| / (|A| + |B|); NaN when both are empty."""
    total = np.count_nonzero(a) + np.count_nonzero(b)
    return 2.0 * int(np.count_nonzero(a & b)) / total if total else math.nan


class TissueVolumes(Metric):
    """|ΔV| % and Dice vs BL of GM, WM, CSF and label-map structures (module docstring).

    Args:
        sample: voxels the Gaussian mixture is fitted on per image.
        seed: seed of the subsample and the mixture.
        structures: structure -> (label IDs, expected tissue); default :data:`STRUCTURES`.
    """

    name = "tissue-volumes"
    kind = "downstream"
    description = "GMM tissue classes and label-map structures: |V - V_BL| / V_BL in %, Dice vs BL, volumes (mL)"
    emits: ClassVar[dict[str, bool | None]] = {"tissue-volume-diff": False, "tissue-dice": True,
                                                "tissue-volume": None, "tissue-volume-bl": None}

    def __init__(self, *, sample: int = 5000, seed: int = 0,
                 structures: Mapping[str, tuple[tuple[int, ...], str]] | None = None) -> None:
        self.sample = sample
        self.seed = seed
        self.structures = {k: (tuple(ids), tissue) for k, (ids, tissue) in
                           (STRUCTURES if structures is None else structures).items()}

    def policy(self) -> dict[str, object]:
        return {**super().policy(), "icc": "ICC(2,1), two-way random, absolute agreement, single rater "
                                           "(McGraw & Wong), BL vs scored image across cases"}

    def structure_codes(self, labels: np.ndarray) -> np.ndarray:
        """Per value of ``labels``: 1 + index of its structure in ``structures``, 0 for none."""
        codes = np.zeros(labels.shape, np.uint8)
        for k, (ids, _) in enumerate(self.structures.values(), start=1):
            codes[region_mask(labels, ids)] = k
        return codes

    def regions(self, classes: np.ndarray, codes: np.ndarray | None) -> dict[str, np.ndarray]:
        """Region name -> boolean mask over the analysed voxels (tissues, then structures present).

        Args:
            classes: tissue class per analysed voxel (:func:`tissue_classes`).
            codes: :meth:`structure_codes` of the same voxels, or None without a label map.
        """
        out = {t: classes == i for i, t in enumerate(TISSUES, start=1)}
        if codes is not None:
            for k, (name, (_, tissue)) in enumerate(self.structures.items(), start=1):
                struct = codes == k
                if struct.any():
                    out[name] = struct & out[tissue]
        return out

    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        require_same_grid(ctx.fu, ctx.bl)
        mask = analysis_mask(ctx)
        ml = float(np.prod(ctx.bl.spacing)) / 1000.0
        key = params_key(self.policy())
        # BL's classes and the structure codes in the analysis mask: once per case and session
        c_bl = ctx.shared.for_session(("tissue-bl", key), lambda: tissue_classes(
            ctx.bl.data[mask], sample=self.sample, seed=self.seed))
        c_fu = tissue_classes(ctx.fu.data[mask], sample=self.sample, seed=self.seed)
        # structures come from BL's label map for both images: the segmentations differ, not the anatomy
        codes = ctx.shared.for_session(("tissue-codes", key), lambda: self.structure_codes(
            np.ascontiguousarray(ctx.labels_bl[mask]))) if ctx.labels_bl is not None else None
        r_bl, r_fu = self.regions(c_bl, codes), self.regions(c_fu, codes)
        out = []
        for region, m_bl in r_bl.items():
            m_fu = r_fu[region]
            v_bl, v_fu = np.count_nonzero(m_bl) * ml, np.count_nonzero(m_fu) * ml
            out += [MetricValue("tissue-volume-diff", region, 100.0 * abs(v_fu - v_bl) / v_bl if v_bl else math.nan),
                    MetricValue("tissue-dice", region, dice(m_bl, m_fu)),
                    MetricValue("tissue-volume", region, v_fu), MetricValue("tissue-volume-bl", region, v_bl)]
        return out
